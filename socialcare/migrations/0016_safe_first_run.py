"""``Detector.counting_since``: when a detector's counters started holding the stream.

A volume spike or negative surge does not fire before it has counted posts for one baseline period
(``baseline_hours``) from then (``services.detectors``, docs/crisis.md): a fresh install's first
burst of posts is not a spike over "the usual 0.0".

Existing detectors get the minute of their oldest counter (what they are known to have counted;
nothing for those that have counted nothing yet, whose history starts with their next post).
"""

from __future__ import annotations

from django.db import migrations, models
from django.db.models import Min


def oldest_counter(apps, schema_editor) -> None:
    Detector = apps.get_model("socialcare", "Detector")
    for detector in Detector.objects.annotate(oldest=Min("counts__minute")).filter(
        oldest__isnull=False
    ):
        Detector.objects.filter(pk=detector.pk).update(counting_since=detector.oldest)


class Migration(migrations.Migration):
    dependencies = [
        ("socialcare", "0015_apikey_issued_by"),
    ]

    operations = [
        migrations.AddField(
            model_name="detector",
            name="counting_since",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text=(
                    "When its counters started holding the stream: its first counted post, or "
                    "the oldest stored post when it was installed. A volume spike or negative "
                    "surge warms up for one baseline period from then before it can fire (see "
                    "docs/crisis.md)."
                ),
                null=True,
                verbose_name="counting posts since",
            ),
        ),
        migrations.RunPython(oldest_counter, migrations.RunPython.noop),
    ]
