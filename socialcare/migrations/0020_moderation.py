"""Moderation (docs/moderation.md): what the brand did to a customer's comment on the platform
(``Post.moderation``, ``moderated_at``, ``moderated_by``), the permissions to hide and to delete,
and the "moderated" case event. Existing posts are not moderated ("")."""

from __future__ import annotations

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("socialcare", "0019_platform_apps"),
    ]

    operations = [
        migrations.AddField(
            model_name="post",
            name="moderation",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "Not moderated"),
                    ("hidden", "Hidden on the platform"),
                    ("deleted", "Deleted on the platform by the brand"),
                ],
                db_default="",
                default="",
                max_length=10,
                verbose_name="moderation",
            ),
        ),
        migrations.AddField(
            model_name="post",
            name="moderated_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="moderated"),
        ),
        migrations.AddField(
            model_name="post",
            name="moderated_by",
            field=models.ForeignKey(
                blank=True,
                help_text="Empty: by the system (a playbook step).",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="socialcare_moderated_posts",
                to=settings.AUTH_USER_MODEL,
                verbose_name="moderated by",
            ),
        ),
        migrations.AlterModelOptions(
            name="post",
            options={
                "ordering": ["posted_at", "pk"],
                "permissions": [
                    ("hide_post", "Can hide and unhide customers' comments on the platform"),
                    (
                        "moderate_post",
                        "Can hide, unhide and delete customers' comments on the platform",
                    ),
                ],
                "verbose_name": "post",
                "verbose_name_plural": "posts",
            },
        ),
        migrations.AlterField(
            model_name="caseevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("created", "Case opened"),
                    ("post_added", "Post added"),
                    ("post_edited", "Post edited"),
                    ("post_deleted", "Post deleted on platform"),
                    ("replied", "Replied"),
                    ("note", "Internal note"),
                    ("status_changed", "Status changed"),
                    ("priority_changed", "Priority changed"),
                    ("assignee_changed", "Assignee changed"),
                    ("team_changed", "Team changed"),
                    ("tags_changed", "Tags changed"),
                    ("customer_changed", "Customer changed"),
                    ("escalated", "Escalated"),
                    ("sla_breached", "SLA breached"),
                    ("handed_off", "Taken private"),
                    ("merged", "Merged"),
                    ("incident_linked", "Linked to incident"),
                    ("playbook_step", "Playbook step"),
                    ("verification_sent", "Verification link created"),
                    ("identity_verified", "Identity verified"),
                    ("verification_failed", "Identity verification failed"),
                    ("moderated", "Moderated"),
                ],
                max_length=24,
                verbose_name="what",
            ),
        ),
    ]
