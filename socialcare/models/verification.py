"""A link an agent sends so a customer can prove, by signing in with the platform, that they own
a social identity. One use, expiring; the URL carries a signed token, the row only its hash."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class IdentityVerificationQuerySet(models.QuerySet):
    def usable(self, now: timezone.datetime | None = None) -> IdentityVerificationQuerySet:
        """Links not used yet and not expired."""
        return self.filter(used_at__isnull=True, expires_at__gt=now or timezone.now())

    def with_people(self) -> IdentityVerificationQuerySet:
        return self.select_related("case", "identity", "created_by")


class IdentityVerification(models.Model):
    class Outcome(models.TextChoices):
        PENDING = "pending", _("Waiting for the customer")
        VERIFIED = "verified", _("Verified")
        MISMATCH = "mismatch", _("Signed in as another account")
        DENIED = "denied", _("Customer declined")
        FAILED = "failed", _("Sign-in failed")

    case = models.ForeignKey(
        "socialcare.Case",
        verbose_name=_("case"),
        on_delete=models.CASCADE,
        related_name="verifications",
    )
    identity = models.ForeignKey(
        "socialcare.SocialIdentity",
        verbose_name=_("social identity"),
        on_delete=models.CASCADE,
        related_name="verifications",
    )
    provider = models.CharField(
        _("sign-in service"), max_length=100, help_text=_("The social-auth backend name.")
    )
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    used_at = models.DateTimeField(_("used"), null=True, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=Outcome.choices, default=Outcome.PENDING
    )
    attempts = models.PositiveIntegerField(_("sign-in attempts"), default=0)
    signed_in_as = models.CharField(
        _("signed in as"),
        max_length=255,
        blank=True,
        help_text=_("The account the customer last signed in with (platform id and handle)."),
    )
    failure_reason = models.CharField(_("failure reason"), max_length=500, blank=True)

    objects = IdentityVerificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("identity verification")
        verbose_name_plural = _("identity verifications")
        indexes = [
            models.Index(fields=["case", "created_at"], name="socialcare_verif_case"),
        ]

    def __str__(self) -> str:
        return f"Verification of {self.identity} ({self.get_outcome_display()})"

    @property
    def is_expired(self) -> bool:
        return self.used_at is None and self.expires_at <= timezone.now()

    @property
    def state(self) -> str:
        """``used``, ``expired`` or the outcome of the last attempt."""
        if self.used_at is not None:
            return "used"
        if self.is_expired:
            return "expired"
        return self.outcome
