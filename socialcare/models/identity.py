"""One account of a person on one platform."""

from __future__ import annotations

import swapper
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from socialcare.models.fields import PlatformField


class SocialIdentityQuerySet(models.QuerySet):
    def unresolved(self) -> SocialIdentityQuerySet:
        return self.filter(customer__isnull=True)

    def verified(self) -> SocialIdentityQuerySet:
        return self.filter(owner_verified_at__isnull=False)

    def by_handle(self, platform: str, handle: str) -> SocialIdentityQuerySet:
        return self.filter(platform=platform, handle__iexact=handle.lstrip("@"))


class SocialIdentity(models.Model):
    platform = PlatformField(_("platform"))
    external_id = models.CharField(
        _("platform user id"),
        max_length=255,
        help_text=_("The platform's stable id for the account (not the handle, which can change)."),
    )
    handle = models.CharField(_("handle"), max_length=255, blank=True)
    display_name = models.CharField(_("display name"), max_length=255, blank=True)
    profile_url = models.URLField(_("profile URL"), max_length=500, blank=True)
    avatar_url = models.URLField(_("avatar URL"), max_length=500, blank=True)
    followers_count = models.PositiveIntegerField(_("followers"), default=0)
    platform_verified = models.BooleanField(
        _("verified by platform"), default=False, help_text=_("The platform's own badge.")
    )
    owner_verified_at = models.DateTimeField(
        _("owner verified at"),
        null=True,
        blank=True,
        help_text=_("When the customer proved they own this account by signing in with it."),
    )
    owner_verified_via = models.CharField(_("verified via"), max_length=100, blank=True)
    customer = models.ForeignKey(
        swapper.get_model_name("socialcare", "Customer"),
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="social_identities",
    )
    csat_opt_out = models.BooleanField(
        _("no satisfaction surveys"),
        default=False,
        db_default=False,
        help_text=_("On: this account never gets a CSAT survey (the customer asked not to)."),
    )
    first_seen_at = models.DateTimeField(_("first seen"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last seen"), default=timezone.now)

    objects = SocialIdentityQuerySet.as_manager()

    class Meta:
        verbose_name = _("social identity")
        verbose_name_plural = _("social identities")
        ordering = ["platform", "handle"]
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "external_id"], name="socialcare_identity_unique_platform_id"
            ),
        ]
        indexes = [
            models.Index(Lower("handle"), "platform", name="socialcare_identity_handle"),
            models.Index(fields=["customer", "platform"], name="socialcare_identity_customer"),
        ]

    def __str__(self) -> str:
        label = f"@{self.handle}" if self.handle else self.display_name or self.external_id
        return f"{label} ({self.get_platform_display()})"

    @property
    def is_owner_verified(self) -> bool:
        return self.owner_verified_at is not None
