"""Issuing and revoking API keys, and their scopes. The plain key is shown once; only its hash
is stored."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from socialcare.exceptions import SocialCareError
from socialcare.models import ApiKey
from socialcare.models.apikey import hash_key

KEY_PREFIX = "sc_"

#: Every scope a key can hold, named after the API's resources, with what it allows.
SCOPES: dict[str, str] = {
    "cases:read": "Read cases and their timelines (cases/, cases/{id}/timeline/).",
    "cases:write": "Open and change cases, add notes, merge cases.",
    "replies:write": "Send replies to customers (cases/{id}/replies/).",
    "posts:read": "Read posts (posts/).",
    "customers:read": "Read customers and social identities.",
    "customers:write": "Create, change and merge customers; link and unlink identities.",
    "teams:read": "Read teams and who is on duty.",
    "sla-policies:read": "Read SLA policies.",
    "sla-policies:write": "Create and change SLA policies.",
    "incidents:read": "Read incidents, playbooks and detectors.",
    "incidents:write": "Tick incident steps, change their status, link cases, escalate.",
    "verification:read": "Read identity verification links.",
    "verification:write": "Create identity verification links.",
    "webhooks:read": "Read outbound webhook subscriptions (never their secrets).",
    "webhooks:manage": "Create, change and delete outbound webhook subscriptions.",
    "privacy": "Customers' data exports and erasure requests.",
    "api-keys:manage": "List, issue and revoke API keys (the caller's own scopes at most).",
}
#: What a read-only key of before scopes could do (and ``read_only=True`` still means).
READ_SCOPES: tuple[str, ...] = tuple(s for s in SCOPES if s.endswith(":read"))


def clean_scopes(scopes: Iterable[str] | None, *, read_only: bool = False) -> list[str]:
    """The scopes as stored: known names, sorted, each once. ``None`` means every scope (or
    every read scope for a read-only key); an unknown name raises ``SocialCareError``."""
    if scopes is None:
        return sorted(READ_SCOPES if read_only else SCOPES)
    if isinstance(scopes, str):
        raise SocialCareError('Scopes are a list of names, e.g. ["cases:read"].')
    names = [str(s).strip() for s in scopes]
    unknown = sorted({n for n in names if n not in SCOPES})
    if unknown:
        raise SocialCareError(
            f"Unknown scope(s): {', '.join(unknown)}. Known: {', '.join(SCOPES)}."
        )
    if read_only:
        writes = sorted({n for n in names if n not in READ_SCOPES})
        if writes:
            raise SocialCareError(f"A read-only key cannot hold {', '.join(writes)}.")
    return sorted(set(names))


@transaction.atomic
def create_api_key(
    user: Any,
    name: str,
    *,
    read_only: bool = False,
    expires_at: dt.datetime | None = None,
    scopes: Iterable[str] | None = None,
    within: ApiKey | None = None,
) -> tuple[ApiKey, str]:
    """A new key acting as ``user`` with ``scopes`` (None: every scope, or every read scope
    when ``read_only``). ``within``: the key that asks for this one (through the API); the new
    key gets no scope that key lacks, and is read-only when it is. Returns the row and the
    plain key (shown to people once)."""
    cleaned = clean_scopes(scopes, read_only=read_only)
    if within is not None:
        if within.read_only and not read_only:
            raise SocialCareError("A read-only key can only issue read-only keys.")
        beyond = sorted(set(cleaned) - set(within.scopes or []))
        if beyond:
            raise SocialCareError(
                f"The key you use lacks {', '.join(beyond)}: it cannot grant more than it has."
            )
    if not name.strip():
        raise SocialCareError("Give the key a name that says who uses it.")
    if not user.is_active:
        raise SocialCareError("A key must act as an active user.")
    if expires_at and expires_at <= timezone.now():
        raise SocialCareError("The expiry must be in the future.")
    prefix = secrets.token_hex(4)
    plain = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        name=name.strip()[:100],
        prefix=prefix,
        key_hash=hash_key(plain),
        user=user,
        read_only=read_only,
        expires_at=expires_at,
        scopes=cleaned,
    )
    return key, plain


def revoke_api_key(key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
        key.refresh_from_db()
    return key


def authenticate_key(plain: str) -> ApiKey | None:
    """The usable key for ``plain``, or None (unknown, revoked, expired, or its user inactive).

    Read from the database on every request, never cached: a revoked key stops at once."""
    if not plain.startswith(KEY_PREFIX):
        return None
    key = ApiKey.objects.usable().select_related("user").filter(key_hash=hash_key(plain)).first()
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > dt.timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key
