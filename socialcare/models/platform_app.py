"""A platform app (an X developer app, a Meta app): one webhook URL for every brand account on it.

X and Meta register one webhook per app (Meta: per app and object type), signed with the app's
secret, and say in each event which account it is for (X ``for_user_id`` or the X Activity API's
``filter.user_id``, Meta ``entry[].id``). Deliveries to the app's URL are stored first, then
routed to the channel of that account (``services.account_routing``); see docs/ingestion.md,
"One webhook per app".
"""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from socialcare.models.delivery import WebhookDelivery
from socialcare.models.fields import EncryptedJSONField, redacted

#: The secret slots an app holds, with the label an admin sees. The names are the channel's, so
#: the platform adapters check an app's signature and challenge exactly as a channel's.
APP_SECRET_NAMES: dict[str, str] = {
    "webhook_secret": _("Signing secret (X consumer secret / API secret key, Meta app secret)"),
    "verify_token": _("Webhook verify token (Meta)"),
}


def new_app_key() -> str:
    """A random URL key: the app's webhook URL is not guessable from its name or id."""
    return secrets.token_urlsafe(12)


class PlatformAppQuerySet(models.QuerySet):
    def active(self) -> PlatformAppQuerySet:
        return self.filter(is_active=True)

    def with_unrouted_count(self) -> PlatformAppQuerySet:
        """Annotated with ``unrouted_count``: how many of its deliveries wait for a channel (read
        through the deliveries' status index, never by counting all its deliveries)."""
        waiting = (
            WebhookDelivery.objects.unrouted()
            .filter(app=models.OuterRef("pk"))
            .order_by()
            .values("app")
            .annotate(n=models.Count("pk"))
            .values("n")
        )
        return self.annotate(
            unrouted_count=Coalesce(models.Subquery(waiting, output_field=models.IntegerField()), 0)
        )


class PlatformApp(models.Model):
    class Platform(models.TextChoices):
        X = "x", _("X (Account Activity API, X Activity API)")
        META = "meta", _("Meta (Facebook Pages, Messenger, Instagram)")

    #: The channel platforms (and webhook URL segments) each platform's app serves.
    CHANNEL_PLATFORMS: dict[str, tuple[str, ...]] = {
        "x": ("x",),
        "meta": ("facebook", "instagram"),
    }

    name = models.CharField(_("name"), max_length=100)
    platform = models.CharField(_("platform"), max_length=10, choices=Platform.choices)
    key = models.SlugField(
        _("URL key"),
        max_length=64,
        unique=True,
        default=new_app_key,
        help_text=_("The last part of the app's webhook URL. Random by default."),
    )
    app_id = models.CharField(
        _("app id on the platform"),
        max_length=100,
        blank=True,
        help_text=_("For reference only (X app id, Meta app id)."),
    )
    secrets = EncryptedJSONField(_("secrets"))
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Inactive: its webhook URL answers 404.")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = PlatformAppQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("platform app")
        verbose_name_plural = _("platform apps")

    def __str__(self) -> str:
        return f"{self.name} ({self.get_platform_display()})"

    @property
    def channel_platforms(self) -> tuple[str, ...]:
        """The channel platforms whose events this app delivers (its webhook URL segments)."""
        return self.CHANNEL_PLATFORMS.get(self.platform, ())

    def get_secret(self, name: str) -> str:
        return str(self.secrets.get(name) or "")

    def set_secret(self, name: str, value: str) -> None:
        if name not in APP_SECRET_NAMES:
            raise ValueError(f"Unknown app secret {name!r}; known: {', '.join(APP_SECRET_NAMES)}")
        stored = dict(self.secrets)
        if value:
            stored[name] = value
        else:
            stored.pop(name, None)
        self.secrets = stored

    def redacted_secrets(self) -> dict[str, str]:
        """Secret names with redacted values, safe to show in admin, API and logs."""
        return {
            name: redacted(self.get_secret(name))
            for name in APP_SECRET_NAMES
            if self.get_secret(name)
        }
