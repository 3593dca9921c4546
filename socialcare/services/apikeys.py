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
    "replies:write": "Send replies to customers (cases/{id}/replies/, with cases:write).",
    "posts:read": "Read posts (posts/).",
    "posts:moderate": "Hide, unhide and delete customers' comments on the platform "
    "(posts/{id}/hide/, unhide/, delete-on-platform/; with cases:write).",
    "customers:read": "Read customers and social identities (with cases:read, a customer's "
    "history).",
    "customers:write": "Create, change and merge customers; link and unlink identities.",
    "teams:read": "Read teams and who is on duty.",
    "sla-policies:read": "Read SLA policies.",
    "sla-policies:write": "Create and change SLA policies.",
    "incidents:read": "Read incidents, playbooks and detectors.",
    "incidents:write": "Tick incident steps, change their status; with cases:write, link cases "
    "and open an incident from a case.",
    "verification:read": "Read identity verification links (verification-links/, "
    "cases/{id}/verification-links/).",
    "verification:write": "Create identity verification links (cases/{id}/verification-links/).",
    "webhooks:read": "Read outbound webhook subscriptions (never their secrets).",
    "webhooks:manage": "Create, change and delete outbound webhook subscriptions.",
    "privacy": "Customers' data exports and erasure requests.",
    "api-keys:manage": "List, issue and revoke API keys (the caller's own scopes at most).",
}
#: What a read-only key of before scopes could do (and ``read_only=True`` still means).
READ_SCOPES: tuple[str, ...] = tuple(s for s in SCOPES if s.endswith(":read"))


#: How deep keys issue keys through the API: a key issued in admin (or by a command) may issue
#: keys, which may issue keys, down to this many levels below it. It bounds the one query that
#: checks a key's issuers on every request.
MAX_ISSUE_DEPTH = 3
_ISSUERS = "__".join(["issued_by"] * MAX_ISSUE_DEPTH)


class ApiKeyError(SocialCareError):
    """A key that cannot be issued as asked; ``field`` names the input at fault."""

    def __init__(self, message: str, field: str = "non_field_errors") -> None:
        super().__init__(message)
        self.field = field


def clean_scopes(scopes: Iterable[str] | None, *, read_only: bool = False) -> list[str]:
    """The scopes as stored: known names, sorted, each once. ``None`` means every scope (or
    every read scope for a read-only key); an unknown name raises ``ApiKeyError``."""
    if scopes is None:
        return sorted(READ_SCOPES if read_only else SCOPES)
    if isinstance(scopes, str):
        raise ApiKeyError('Scopes are a list of names, e.g. ["cases:read"].', "scopes")
    names = [str(s).strip() for s in scopes]
    unknown = sorted({n for n in names if n not in SCOPES})
    if unknown:
        raise ApiKeyError(
            f"Unknown scope(s): {', '.join(unknown)}. Known: {', '.join(SCOPES)}.", "scopes"
        )
    if read_only:
        writes = sorted({n for n in names if n not in READ_SCOPES})
        if writes:
            raise ApiKeyError(f"A read-only key cannot hold {', '.join(writes)}.", "scopes")
    return sorted(set(names))


def issuers(key: ApiKey) -> list[ApiKey] | None:
    """The keys that issued ``key``, nearest first (empty for a key issued in admin); None when
    the chain is deeper than ``MAX_ISSUE_DEPTH``. No query for a key read with its issuers
    (``authenticate_key`` reads them)."""
    chain: list[ApiKey] = []
    current = key
    while current.issued_by_id is not None:
        if len(chain) == MAX_ISSUE_DEPTH:
            return None
        current = current.issued_by
        chain.append(current)
    return chain


def _within_issuer(
    within: ApiKey, read_only: bool, scopes: list[str], expires_at: dt.datetime | None
) -> dt.datetime | None:
    """The expiry of a key ``within`` issues (never later than its own), or why it cannot."""
    if within.read_only and not read_only:
        raise ApiKeyError("A read-only key can only issue read-only keys.", "read_only")
    beyond = sorted(set(scopes) - set(within.scopes or []))
    if beyond:
        raise ApiKeyError(
            f"The key you use lacks {', '.join(beyond)}: it cannot grant more than it has.",
            "scopes",
        )
    chain = issuers(within)
    if chain is None or len(chain) >= MAX_ISSUE_DEPTH:
        raise ApiKeyError(
            f"Keys issue keys at most {MAX_ISSUE_DEPTH} levels deep: ask for this key in admin."
        )
    if within.expires_at is not None and (expires_at is None or expires_at > within.expires_at):
        return within.expires_at
    return expires_at


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
    when ``read_only``). ``within``: the key that asks for this one (through the API), recorded
    as its ``issued_by``; the new key gets no scope that key lacks, is read-only when it is, and
    expires when it does at the latest (an expiry asked later, or none, becomes that key's).
    Returns the row and the plain key (shown to people once). Raises ``ApiKeyError``."""
    cleaned = clean_scopes(scopes, read_only=read_only)
    if within is not None:
        expires_at = _within_issuer(within, read_only, cleaned, expires_at)
    if not name.strip():
        raise ApiKeyError("Give the key a name that says who uses it.", "name")
    if not user.is_active:
        raise ApiKeyError("A key must act as an active user.")
    if expires_at and expires_at <= timezone.now():
        raise ApiKeyError("The expiry must be in the future.", "expires_at")
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
        issued_by=within,
    )
    return key, plain


@transaction.atomic
def revoke_api_key(key: ApiKey) -> ApiKey:
    """Revoke ``key`` now, with every key it issued, and every key those issued, and so on.
    A key revoked before keeps its time."""
    now = timezone.now()
    frontier, seen = [key.pk], {key.pk}
    while frontier:
        ApiKey.objects.filter(pk__in=frontier, revoked_at__isnull=True).update(revoked_at=now)
        issued = ApiKey.objects.filter(issued_by__in=frontier).values_list("pk", flat=True)
        frontier = [pk for pk in issued if pk not in seen]
        seen.update(frontier)
    key.refresh_from_db()
    return key


def authenticate_key(plain: str) -> ApiKey | None:
    """The usable key for ``plain``, or None (unknown, revoked, expired, its user inactive, or
    any key up its chain of issuers revoked or expired).

    Read from the database on every request, never cached: a revoked key stops at once. One
    query reads the key, its user and its issuers."""
    if not plain.startswith(KEY_PREFIX):
        return None
    key = (
        ApiKey.objects.usable()
        .select_related("user", _ISSUERS)
        .filter(key_hash=hash_key(plain))
        .first()
    )
    if key is None:
        return None
    chain = issuers(key)
    if chain is None or not all(issuer.is_usable for issuer in chain):
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > dt.timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key
