"""The ledger of automatic customer-facing messages (issue #25): a playbook's holding reply, its
hand-off note, … Each is sent at most once per (customer identity, purpose, conversation): the row
is inserted before anything is sent, under the unique constraint below, in the transaction that
decides to send (``socialcare.services.automatic_messages``)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AutomaticMessage(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for the settle window")
        SENT = "sent", _("Sent")
        CANCELLED = "cancelled", _("Cancelled")
        FAILED = "failed", _("Failed")

    #: The statuses that hold the (identity, purpose, conversation) key: a cancelled or failed
    #: message leaves it free for a later attempt.
    HOLDING = (Status.PENDING, Status.SENT)

    identity = models.ForeignKey(
        "socialcare.SocialIdentity",
        verbose_name=_("customer identity"),
        on_delete=models.CASCADE,
        related_name="automatic_messages",
    )
    purpose = models.CharField(
        _("purpose"),
        max_length=200,
        help_text=_('What it is for, e.g. "incident:12:holding_reply".'),
    )
    conversation = models.CharField(
        _("conversation"),
        max_length=600,
        help_text=_(
            'The thread it answers ("x:<root id>", "dm:<identity>"), or "*" when the purpose '
            "allows one message per customer whatever the thread (an incident's holding reply)."
        ),
    )
    case = models.ForeignKey(
        "socialcare.Case",
        verbose_name=_("case"),
        on_delete=models.CASCADE,
        related_name="automatic_messages",
        help_text=_("The case it was (or is to be) sent on."),
    )
    incident_step = models.ForeignKey(
        "socialcare.IncidentStep",
        verbose_name=_("playbook step"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="automatic_messages",
    )
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PENDING
    )
    post = models.ForeignKey(
        "socialcare.Post",
        verbose_name=_("message"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("decided"), default=timezone.now)
    due_at = models.DateTimeField(
        _("due"), help_text=_("Sent after this: the settle window while a thread may be re-linked.")
    )
    done_at = models.DateTimeField(_("sent or cancelled"), null=True, blank=True)
    reason = models.CharField(_("why cancelled or failed"), max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("automatic message")
        verbose_name_plural = _("automatic messages")
        constraints = [
            models.UniqueConstraint(
                fields=["identity", "purpose", "conversation"],
                condition=models.Q(status__in=["pending", "sent"]),
                name="socialcare_automatic_message_once",
            )
        ]
        indexes = [
            models.Index(
                fields=["status", "due_at"],
                condition=models.Q(status="pending"),
                name="socialcare_automatic_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} to {self.identity_id} ({self.get_status_display()})"
