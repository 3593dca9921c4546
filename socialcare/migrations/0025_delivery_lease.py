"""A delivery's claim names its worker and carries a lease (issue #25, "claims that die with
their worker"): ``claimed_by`` (host:pid), ``claim_token`` (random per claim) and ``lease_until``.

Rows in processing when this runs have no lease; ``services.deliveries`` takes over a processing
delivery by its ``claimed_at`` too (older than STALE_DELIVERY_AFTER), so nothing is
taken from a worker of the previous release mid-deploy. Reversing it drops the columns.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("socialcare", "0024_timeline_post_events"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookdelivery",
            name="claimed_by",
            field=models.CharField(
                blank=True,
                db_default="",
                help_text="The worker processing it (host:pid).",
                max_length=100,
                verbose_name="claimed by",
            ),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="claim_token",
            field=models.CharField(
                blank=True,
                db_default="",
                help_text="Random per claim: a worker that lost its claim cannot finish it.",
                max_length=32,
                verbose_name="claim token",
            ),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="lease_until",
            field=models.DateTimeField(
                blank=True,
                help_text="The claim lapses then unless its worker renews it; then another takes over.",
                null=True,
                verbose_name="lease until",
            ),
        ),
    ]
