"""The ledger of automatic customer-facing messages (issue #25: "automatic replies exactly once
per customer"): one row per (customer identity, purpose, conversation) while pending or sent,
under a partial unique constraint; and the case timeline's "automatic message" event kind.
Reversing it drops the table (the messages already sent stay on their cases as posts)."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("socialcare", "0025_delivery_lease"),
    ]

    operations = [
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
                    ("sla_withdrawn", "SLA breach withdrawn"),
                    ("handed_off", "Taken private"),
                    ("merged", "Merged"),
                    ("incident_linked", "Linked to incident"),
                    ("playbook_step", "Playbook step"),
                    ("verification_sent", "Verification link created"),
                    ("identity_verified", "Identity verified"),
                    ("verification_failed", "Identity verification failed"),
                    ("moderated", "Moderated"),
                    ("automatic_message", "Automatic message"),
                ],
                max_length=24,
                verbose_name="what",
            ),
        ),
        migrations.CreateModel(
            name="AutomaticMessage",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "purpose",
                    models.CharField(
                        help_text='What it is for, e.g. "incident:12:holding_reply".',
                        max_length=200,
                        verbose_name="purpose",
                    ),
                ),
                (
                    "conversation",
                    models.CharField(
                        help_text='The thread it answers ("x:<root id>", "dm:<identity>"), or "*" when the purpose allows one message per customer whatever the thread (an incident\'s holding reply).',
                        max_length=600,
                        verbose_name="conversation",
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Waiting for the settle window"),
                            ("sent", "Sent"),
                            ("cancelled", "Cancelled"),
                            ("failed", "Failed"),
                        ],
                        default="pending",
                        max_length=12,
                        verbose_name="status",
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(default=django.utils.timezone.now, verbose_name="decided"),
                ),
                (
                    "due_at",
                    models.DateTimeField(
                        help_text="Sent after this: the settle window while a thread may be re-linked.",
                        verbose_name="due",
                    ),
                ),
                (
                    "done_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="sent or cancelled"),
                ),
                (
                    "reason",
                    models.CharField(
                        blank=True, max_length=500, verbose_name="why cancelled or failed"
                    ),
                ),
                (
                    "case",
                    models.ForeignKey(
                        help_text="The case it was (or is to be) sent on.",
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="automatic_messages",
                        to="socialcare.case",
                        verbose_name="case",
                    ),
                ),
                (
                    "identity",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="automatic_messages",
                        to="socialcare.socialidentity",
                        verbose_name="customer identity",
                    ),
                ),
                (
                    "incident_step",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="automatic_messages",
                        to="socialcare.incidentstep",
                        verbose_name="playbook step",
                    ),
                ),
                (
                    "post",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="socialcare.post",
                        verbose_name="message",
                    ),
                ),
            ],
            options={
                "verbose_name": "automatic message",
                "verbose_name_plural": "automatic messages",
                "ordering": ["-created_at", "-pk"],
                "indexes": [
                    models.Index(
                        condition=models.Q(("status", "pending")),
                        fields=["status", "due_at"],
                        name="socialcare_automatic_due",
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("status__in", ["pending", "sent"])),
                        fields=("identity", "purpose", "conversation"),
                        name="socialcare_automatic_message_once",
                    )
                ],
            },
        ),
    ]
