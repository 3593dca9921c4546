"""Replay protection for inbound webhooks: the id of every accepted delivery, unique per channel.

A delivery whose id was seen (the platform's delivery id, else a hash of the signed body) is
answered "duplicate" and not stored again. The row lives as long as its delivery: a retention
purge that deletes deliveries forgets their ids too.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class DeliveryFingerprint(models.Model):
    channel = models.ForeignKey(
        "socialcare.Channel", on_delete=models.CASCADE, related_name="+", verbose_name=_("channel")
    )
    key = models.CharField(_("delivery id"), max_length=128)
    delivery = models.OneToOneField(
        "socialcare.WebhookDelivery",
        on_delete=models.CASCADE,
        related_name="fingerprint",
        verbose_name=_("delivery"),
    )
    seen_at = models.DateTimeField(_("seen"), default=timezone.now)

    class Meta:
        verbose_name = _("delivery fingerprint")
        verbose_name_plural = _("delivery fingerprints")
        constraints = [
            models.UniqueConstraint(fields=["channel", "key"], name="socialcare_delivery_id_once")
        ]

    def __str__(self) -> str:
        return f"{self.key} (channel {self.channel_id})"
