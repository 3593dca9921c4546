"""``Channel.polling_enabled``: a per-channel switch for the scheduled poll.

Existing channels keep being polled (the default is on). With it off, ``poll_due_channels`` (the
"poll channels" schedule) skips the channel; ``socialcare_poll --channel`` still polls it.
"""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("socialcare", "0013_triage_order_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="channel",
            name="polling_enabled",
            field=models.BooleanField(
                default=True,
                help_text=(
                    "For polled platforms (Mastodon, Bluesky). Off: the scheduled poll skips this "
                    "channel, e.g. while it is being set up, or a demo channel fed only by the "
                    "simulator. A manual poll (manage.py socialcare_poll --channel) still works."
                ),
                verbose_name="poll automatically",
            ),
        ),
    ]
