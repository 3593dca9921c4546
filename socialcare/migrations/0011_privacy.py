import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("socialcare", "0010_access_controls"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="PrivacyRequest",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("export", "Data export"),
                            ("erasure", "Erasure"),
                            ("retention", "Retention purge"),
                        ],
                        max_length=10,
                        verbose_name="what",
                    ),
                ),
                (
                    "customer_id",
                    models.CharField(
                        blank=True,
                        db_index=True,
                        help_text="The customer record's id (empty for a retention purge).",
                        max_length=64,
                        verbose_name="customer id",
                    ),
                ),
                (
                    "customer_pseudonym",
                    models.CharField(
                        blank=True,
                        help_text=(
                            "The stable pseudonym an erased customer is shown under; never "
                            "their name."
                        ),
                        max_length=64,
                        verbose_name="customer pseudonym",
                    ),
                ),
                (
                    "source",
                    models.CharField(
                        choices=[
                            ("admin", "Admin"),
                            ("api", "API"),
                            ("command", "Management command"),
                            ("schedule", "Schedule"),
                            ("code", "Code"),
                        ],
                        default="code",
                        max_length=10,
                        verbose_name="from",
                    ),
                ),
                ("reason", models.TextField(blank=True, verbose_name="reason")),
                (
                    "counts",
                    models.JSONField(
                        blank=True,
                        default=dict,
                        help_text="What was exported, removed or kept.",
                        verbose_name="counts",
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(
                        db_index=True, default=django.utils.timezone.now, verbose_name="at"
                    ),
                ),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True,
                        help_text="Empty: done by the system (a schedule).",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="by",
                    ),
                ),
            ],
            options={
                "verbose_name": "privacy request",
                "verbose_name_plural": "privacy requests",
                "ordering": ["-created_at", "-pk"],
                "permissions": [
                    ("export_customer_data", "Can export a customer's data"),
                    ("erase_customer_data", "Can erase a customer's personal data"),
                ],
            },
        ),
    ]
