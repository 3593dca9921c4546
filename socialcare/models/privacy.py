"""The audit trail of customers' data rights: each export, erasure and retention purge.

A record never holds the personal data it is about: the customer is kept as an id and the
pseudonym their identities were given, the outcome as counts.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class PrivacyRequestQuerySet(models.QuerySet):
    def for_customer(self, customer_id: object) -> PrivacyRequestQuerySet:
        return self.filter(customer_id=str(customer_id))

    def erasures(self) -> PrivacyRequestQuerySet:
        return self.filter(kind=PrivacyRequest.Kind.ERASURE)


class PrivacyRequest(models.Model):
    class Kind(models.TextChoices):
        EXPORT = "export", _("Data export")
        ERASURE = "erasure", _("Erasure")
        RETENTION = "retention", _("Retention purge")

    class Source(models.TextChoices):
        ADMIN = "admin", _("Admin")
        API = "api", _("API")
        COMMAND = "command", _("Management command")
        SCHEDULE = "schedule", _("Schedule")
        CODE = "code", _("Code")

    kind = models.CharField(_("what"), max_length=10, choices=Kind.choices)
    customer_id = models.CharField(
        _("customer id"),
        max_length=64,
        blank=True,
        db_index=True,
        help_text=_("The customer record's id (empty for a retention purge)."),
    )
    customer_pseudonym = models.CharField(
        _("customer pseudonym"),
        max_length=64,
        blank=True,
        help_text=_("The stable pseudonym an erased customer is shown under; never their name."),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Empty: done by the system (a schedule)."),
    )
    source = models.CharField(_("from"), max_length=10, choices=Source.choices, default=Source.CODE)
    reason = models.TextField(_("reason"), blank=True)
    counts = models.JSONField(
        _("counts"), default=dict, blank=True, help_text=_("What was exported, removed or kept.")
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    objects = PrivacyRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("privacy request")
        verbose_name_plural = _("privacy requests")
        permissions = [
            ("export_customer_data", "Can export a customer's data"),
            ("erase_customer_data", "Can erase a customer's personal data"),
        ]

    def __str__(self) -> str:
        who = f"customer {self.customer_id}" if self.customer_id else "closed cases and payloads"
        return f"{self.get_kind_display()} of {who} at {self.created_at:%Y-%m-%d %H:%M}"
