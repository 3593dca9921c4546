"""API keys for CRMs and reporting clients. Only a hash of the key is stored."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def hash_key(key: str) -> str:
    """SHA-256 of a key. Keys are 256-bit random strings, so a fast hash is enough."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet):
    def usable(self) -> ApiKeyQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True, user__is_active=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiKey(models.Model):
    """A key acts as its user (same team rules) and may use only the API resources its scopes
    name (``services.apikeys.SCOPES``); a read-only key may only read, whatever its scopes.

    A key issued through the API by another key (``issued_by``) never outlives or outranks it:
    no later expiry, no scope or write access it lacks, revoked with it."""

    name = models.CharField(
        _("name"), max_length=100, help_text=_("Who uses it, e.g. 'Salesforce sync'.")
    )
    prefix = models.CharField(_("key starts with"), max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acts as"),
        on_delete=models.CASCADE,
        related_name="socialcare_api_keys",
    )
    read_only = models.BooleanField(_("read-only"), default=False)
    scopes = models.JSONField(
        _("scopes"),
        default=list,
        blank=True,
        help_text=_("What the key may use, e.g. cases:read, replies:write. None: nothing."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    issued_by = models.ForeignKey(
        "self",
        verbose_name=_("issued by"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        editable=False,
        related_name="issued_keys",
        help_text=_("The key that issued this one through the API; empty: issued in admin."),
    )

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])

    @property
    def is_usable(self) -> bool:
        if self.revoked_at:
            return False
        return not (self.expires_at and self.expires_at <= timezone.now())
