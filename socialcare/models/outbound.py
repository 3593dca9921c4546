"""Outbound webhooks: subscriptions of CRMs to socialcare events, the events, and each delivery."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from socialcare.models.fields import EncryptedJSONField

#: Event types a subscription can ask for.
EVENT_TYPES: dict[str, str] = {
    "case.created": _("A case was opened"),
    "case.updated": _("A case's priority, team, assignee, tags or customer changed"),
    "case.status_changed": _("A case changed status"),
    "case.sla_warning": _("A case's response or resolution is due soon"),
    "case.sla_breached": _("A case missed a response or resolution target"),
    "case.csat_received": _("A customer answered a case's satisfaction survey"),
    "post.created": _("A customer post arrived"),
    "reply.sent": _("A reply reached the customer"),
    "post.moderated": _("A customer's comment was hidden, shown again or deleted on the platform"),
    "identity.merged": _("Customers were merged"),
    "incident.opened": _("A crisis incident was opened"),
    "incident.updated": _("A crisis incident changed"),
}


class WebhookSubscription(models.Model):
    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(_("URL"), max_length=500)
    secrets = EncryptedJSONField(_("signing secret"))
    event_types = models.JSONField(
        _("events"), default=list, blank=True, help_text=_("Empty: every event.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    consecutive_failures = models.PositiveIntegerField(_("failures in a row"), default=0)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    disabled_at = models.DateTimeField(_("disabled automatically at"), null=True, blank=True)
    disabled_reason = models.TextField(_("why disabled"), blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")

    def __str__(self) -> str:
        return self.name

    @property
    def secret(self) -> str:
        return str(self.secrets.get("secret") or "")

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class OutboundEvent(models.Model):
    """One thing that happened, as sent to subscribers (the ``id`` is the event id they see)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(_("type"), max_length=40, db_index=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    payload = models.JSONField(_("payload"), default=dict)

    class Meta:
        ordering = ["created_at"]
        verbose_name = _("outbound event")
        verbose_name_plural = _("outbound events")

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class OutboundDelivery(models.Model):
    """One event to one subscription: the delivery log, with every attempt's outcome."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed (will retry)")
        GAVE_UP = "gave_up", _("Gave up")

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(OutboundEvent, on_delete=models.CASCADE, related_name="deliveries")
    sequence = models.PositiveBigIntegerField(
        _("order"), help_text=_("Deliveries to one subscription are made in this order.")
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    response_status = models.PositiveIntegerField(_("HTTP status"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        ordering = ["subscription", "sequence"]
        verbose_name = _("outbound delivery")
        verbose_name_plural = _("outbound deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event"], name="socialcare_outbound_once"
            ),
            models.UniqueConstraint(
                fields=["subscription", "sequence"], name="socialcare_outbound_sequence"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="socialcare_outbound_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event.type} → {self.subscription} ({self.get_status_display()})"
