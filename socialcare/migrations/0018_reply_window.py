"""``Channel.human_agent_tag``: the Meta app has the Human Agent permission (docs/replies.md).

Off for existing channels: a private message on Facebook or Instagram may then go only within
24 hours of the customer's last message, which is what Meta allows every app.
"""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("socialcare", "0017_customer_delete_and_merge"),
    ]

    operations = [
        migrations.AddField(
            model_name="channel",
            name="human_agent_tag",
            field=models.BooleanField(
                db_default=False,
                default=False,
                help_text=(
                    "Facebook and Instagram: on when the Meta app has the Human Agent permission. "
                    "Agents may then answer a private message up to 7 days after the customer's "
                    "last one (tag HUMAN_AGENT) instead of 24 hours. Turn it on only once Meta "
                    "granted it: without it, Meta refuses such messages."
                ),
                verbose_name="Human Agent permission (Meta)",
            ),
        ),
    ]
