"""Customer identity verification: a one-use, expiring link an agent sends from a case; the
customer signs in with the platform and the account they signed in with must be the case's
social identity.

The URL carries ``django.core.signing`` token ``{"v": <row id>, "n": <nonce>}``; the row stores
only the nonce's SHA-256, so a database read does not reveal working links. "One use" is a
conditional UPDATE (``used_at IS NULL AND expires_at > now``): of two concurrent completions,
exactly one wins. A sign-in as another account, or a cancelled sign-in, is recorded on the row
and the case timeline but does not use the link up: the customer may retry with the right
account until it expires.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from socialcare import signals
from socialcare.conf import app_settings
from socialcare.exceptions import SocialCareError
from socialcare.models import Case, CaseEvent, IdentityVerification, SocialIdentity
from socialcare.services.customers import link_identity
from socialcare.services.events import record_event, user_label

logger = logging.getLogger("socialcare.verification")

SALT = "socialcare.identity-verification"


class VerificationError(SocialCareError):
    """A link that cannot be used. ``code``: invalid, expired, used, mismatch, unavailable."""

    code = "verification_refused"


@dataclass(frozen=True)
class VerificationLink:
    """A new link: ``path`` (relative URL, shown once; make it absolute for the customer)."""

    verification: IdentityVerification
    token: str

    @property
    def path(self) -> str:
        return reverse("socialcare:verify", args=[self.token])


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def provider_for(platform: str) -> str:
    """The social-auth backend that signs in accounts of ``platform`` (``OAUTH_BACKENDS``), or ""
    when none is set or its client id (``SOCIAL_AUTH_<BACKEND>_KEY``) is empty."""
    from social_core.utils import setting_name

    name = str(app_settings.OAUTH_BACKENDS.get(platform) or "")
    if not name or not getattr(settings, setting_name(name, "KEY"), ""):
        return ""
    return name


def create_link(
    case: Case, *, actor: Any, identity: SocialIdentity | None = None
) -> VerificationLink:
    """A new verification link for ``case``'s social identity (or ``identity``), valid for
    ``VERIFICATION_LINK_MAX_AGE``. Raises ``VerificationError`` when the case has no identity
    or its platform has no sign-in service (``OAUTH_BACKENDS``)."""
    identity = identity or case.identity
    if identity is None:
        raise VerificationError("This case has no social identity to verify.", code="unavailable")
    provider = provider_for(identity.platform)
    if not provider:
        raise VerificationError(
            f"No sign-in service is configured for {identity.get_platform_display()} "
            "(SOCIALCARE['OAUTH_BACKENDS'] and the backend's SOCIAL_AUTH_<BACKEND>_KEY).",
            code="unavailable",
        )
    nonce = secrets.token_urlsafe(24)
    now = timezone.now()
    with transaction.atomic():
        verification = IdentityVerification.objects.create(
            case=case,
            identity=identity,
            provider=provider,
            token_hash=_hash(nonce),
            created_by=actor if getattr(actor, "pk", None) else None,
            created_at=now,
            expires_at=now + app_settings.VERIFICATION_LINK_MAX_AGE,
        )
        record_event(
            case,
            CaseEvent.Kind.VERIFICATION_SENT,
            actor=actor,
            text=f"Verification link for {identity} created by {user_label(actor) or 'system'}; "
            f"valid until {verification.expires_at:%Y-%m-%d %H:%M} UTC.",
            verification=verification.pk,
            identity=str(identity),
        )
    token = signing.dumps({"v": verification.pk, "n": nonce}, salt=SALT)
    return VerificationLink(verification, token)


def check_link(token: str) -> IdentityVerification:
    """The verification ``token`` opens, if it may still be used. Raises ``VerificationError``
    (code ``invalid``, ``used`` or ``expired``) otherwise."""
    try:
        data = signing.loads(token, salt=SALT)
        pk, nonce = int(data["v"]), str(data["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise VerificationError("This verification link is not valid.", code="invalid") from exc
    verification = (
        IdentityVerification.objects.with_people().filter(pk=pk, token_hash=_hash(nonce)).first()
    )
    if verification is None:
        raise VerificationError("This verification link is not valid.", code="invalid")
    _refuse_spent(verification)
    return verification


def _refuse_spent(verification: IdentityVerification) -> None:
    if verification.used_at is not None:
        raise VerificationError(
            "This verification link was already used. Ask the support team for a new one if "
            "you need to verify again.",
            code="used",
        )
    if verification.expires_at <= timezone.now():
        raise VerificationError(
            "This verification link has expired. Ask the support team for a new one.",
            code="expired",
        )


def complete(
    verification_id: int, *, provider: str, uid: str, handle: str = ""
) -> IdentityVerification:
    """The customer came back from signing in with ``provider`` as platform account ``uid``.

    Same account as the identity: the link is used up, the identity is marked owner-verified
    (time and provider), linked to the case's customer (when the case has one), and the case
    timeline records it. Another account: nothing is linked, the attempt is recorded and
    ``VerificationError`` (code ``mismatch``) is raised. A used or expired link raises too.
    """
    verification = IdentityVerification.objects.with_people().get(pk=verification_id)
    _refuse_spent(verification)
    identity = verification.identity
    signed_in_as = f"{uid} (@{handle})" if handle else str(uid)
    if provider != verification.provider or str(uid) != identity.external_id:
        record_failure(
            verification_id,
            outcome=IdentityVerification.Outcome.MISMATCH,
            reason=f"Signed in as {signed_in_as} instead of {identity}.",
            signed_in_as=signed_in_as,
        )
        raise VerificationError(
            f"You signed in as another account than {identity}. Nothing was linked. Sign out "
            "of that account on the platform, then open the link again and sign in as "
            f"{identity}.",
            code="mismatch",
        )
    now = timezone.now()
    with transaction.atomic():
        claimed = IdentityVerification.objects.filter(
            pk=verification_id, used_at__isnull=True, expires_at__gt=now
        ).update(
            used_at=now,
            outcome=IdentityVerification.Outcome.VERIFIED,
            attempts=F("attempts") + 1,
            signed_in_as=signed_in_as[:255],
            failure_reason="",
        )
        if not claimed:
            verification.refresh_from_db()
            _refuse_spent(verification)
            raise VerificationError("This verification link is not valid.", code="invalid")
        SocialIdentity.objects.filter(pk=identity.pk).update(
            owner_verified_at=now, owner_verified_via=provider[:100]
        )
        case = verification.case
        if case.customer_id is not None:
            link_identity(identity, case.customer, actor=None)
        record_event(
            case,
            CaseEvent.Kind.IDENTITY_VERIFIED,
            text=f"The customer proved they own {identity} by signing in with {provider}.",
            verification=verification.pk,
            identity=str(identity),
            provider=provider,
        )
        verification.refresh_from_db()
        transaction.on_commit(
            lambda: signals.identity_verified.send(
                IdentityVerification,
                identity=verification.identity,
                case=verification.case,
                verification=verification,
            )
        )
    logger.info("Identity %s verified through %s (case %s)", identity.pk, provider, case.pk)
    return verification


def record_failure(
    verification_id: int, *, outcome: str, reason: str, signed_in_as: str = ""
) -> None:
    """Note a failed attempt (another account, declined consent, provider error) on the link and
    the case timeline. The link stays usable until it expires."""
    with transaction.atomic():
        verification = (
            IdentityVerification.objects.select_for_update()
            .select_related("case", "identity")
            .filter(pk=verification_id)
            .first()
        )
        if verification is None or verification.used_at is not None:
            return
        verification.outcome = outcome
        verification.failure_reason = reason[:500]
        verification.attempts += 1
        if signed_in_as:
            verification.signed_in_as = signed_in_as[:255]
        verification.save(update_fields=["outcome", "failure_reason", "attempts", "signed_in_as"])
        record_event(
            verification.case,
            CaseEvent.Kind.VERIFICATION_FAILED,
            text=f"Verification of {verification.identity} failed: {reason}",
            verification=verification.pk,
            outcome=outcome,
        )
    logger.info("Identity verification %s failed: %s", verification_id, outcome)
