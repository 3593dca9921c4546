"""Access controls (#9): API key scopes (existing keys keep what they could do: a read-only key
gets every read scope, any other key every scope) and replay protection for inbound webhooks."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

# The scopes as they were when this migration was written (services.apikeys.SCOPES may grow;
# a migration must not change with it).
SCOPES = [
    "api-keys:manage",
    "cases:read",
    "cases:write",
    "customers:read",
    "customers:write",
    "incidents:read",
    "incidents:write",
    "posts:read",
    "privacy",
    "replies:write",
    "sla-policies:read",
    "sla-policies:write",
    "teams:read",
    "verification:read",
    "verification:write",
    "webhooks:manage",
    "webhooks:read",
]
READ_SCOPES = [s for s in SCOPES if s.endswith(":read")]


def scopes_from_read_only(apps, schema_editor):
    ApiKey = apps.get_model("socialcare", "ApiKey")
    ApiKey.objects.filter(read_only=True).update(scopes=READ_SCOPES)
    ApiKey.objects.filter(read_only=False).update(scopes=SCOPES)


class Migration(migrations.Migration):
    dependencies = [("socialcare", "0009_post_text_search")]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="scopes",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="What the key may use, e.g. cases:read, replies:write. None: nothing.",
                verbose_name="scopes",
            ),
        ),
        migrations.RunPython(scopes_from_read_only, migrations.RunPython.noop),
        migrations.CreateModel(
            name="DeliveryFingerprint",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("key", models.CharField(max_length=128, verbose_name="delivery id")),
                (
                    "seen_at",
                    models.DateTimeField(default=django.utils.timezone.now, verbose_name="seen"),
                ),
                (
                    "channel",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="socialcare.channel",
                        verbose_name="channel",
                    ),
                ),
                (
                    "delivery",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="fingerprint",
                        to="socialcare.webhookdelivery",
                        verbose_name="delivery",
                    ),
                ),
            ],
            options={
                "verbose_name": "delivery fingerprint",
                "verbose_name_plural": "delivery fingerprints",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("channel", "key"), name="socialcare_delivery_id_once"
                    )
                ],
            },
        ),
    ]
