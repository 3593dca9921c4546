"""One webhook per platform app (docs/ingestion.md, "One webhook per app").

- ``PlatformApp``: an X or Meta app with its URL key and encrypted secrets.
- ``Channel.app``: the app that delivers the channel's events (SET_NULL).
- ``WebhookDelivery``: ``channel`` may be empty (a delivery to an app's URL before it is
  routed); ``app``, ``account_id`` and ``routed_from`` say where it came from and for whom; the
  status ``unrouted`` keeps an event for an account no channel has.
"""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models

import socialcare.models.fields
import socialcare.models.platform_app


class Migration(migrations.Migration):
    dependencies = [
        ("socialcare", "0018_reply_window"),
    ]

    operations = [
        migrations.CreateModel(
            name="PlatformApp",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100, verbose_name="name")),
                (
                    "platform",
                    models.CharField(
                        choices=[
                            ("x", "X (Account Activity API, X Activity API)"),
                            ("meta", "Meta (Facebook Pages, Messenger, Instagram)"),
                        ],
                        max_length=10,
                        verbose_name="platform",
                    ),
                ),
                (
                    "key",
                    models.SlugField(
                        default=socialcare.models.platform_app.new_app_key,
                        help_text="The last part of the app's webhook URL. Random by default.",
                        max_length=64,
                        unique=True,
                        verbose_name="URL key",
                    ),
                ),
                (
                    "app_id",
                    models.CharField(
                        blank=True,
                        help_text="For reference only (X app id, Meta app id).",
                        max_length=100,
                        verbose_name="app id on the platform",
                    ),
                ),
                (
                    "secrets",
                    socialcare.models.fields.EncryptedJSONField(
                        blank=True, default=dict, editable=False, verbose_name="secrets"
                    ),
                ),
                (
                    "is_active",
                    models.BooleanField(
                        default=True,
                        help_text="Inactive: its webhook URL answers 404.",
                        verbose_name="active",
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created")),
            ],
            options={
                "verbose_name": "platform app",
                "verbose_name_plural": "platform apps",
                "ordering": ["name"],
            },
        ),
        migrations.AddField(
            model_name="channel",
            name="app",
            field=models.ForeignKey(
                blank=True,
                help_text=(
                    "The X or Meta app whose one webhook URL delivers this account's events. "
                    "Empty: events reach it through its own URL, or through any app's URL that "
                    "names it."
                ),
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="channels",
                to="socialcare.platformapp",
                verbose_name="platform app",
            ),
        ),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="channel",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="deliveries",
                to="socialcare.channel",
                verbose_name="channel",
            ),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="app",
            field=models.ForeignKey(
                blank=True,
                help_text="Set when it came to the app's webhook URL.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="deliveries",
                to="socialcare.platformapp",
                verbose_name="platform app",
            ),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="account_id",
            field=models.CharField(
                blank=True,
                db_default="",
                help_text="The brand account it is for, as routed from an app's URL.",
                max_length=255,
                verbose_name="account id",
            ),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="routed_from",
            field=models.ForeignKey(
                blank=True,
                help_text=(
                    "The app delivery naming several accounts that this part was split from."
                ),
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="routed",
                to="socialcare.webhookdelivery",
                verbose_name="split from",
            ),
        ),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("processing", "Processing"),
                    ("processed", "Processed"),
                    ("failed", "Failed"),
                    ("unrouted", "Waiting for its channel"),
                ],
                default="pending",
                max_length=10,
                verbose_name="status",
            ),
        ),
    ]
