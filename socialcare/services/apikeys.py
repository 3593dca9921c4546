"""Issuing and revoking API keys. The plain key is shown once; only its hash is stored."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone

from socialcare.exceptions import SocialCareError
from socialcare.models import ApiKey
from socialcare.models.apikey import hash_key

KEY_PREFIX = "sc_"


@transaction.atomic
def create_api_key(
    user: Any, name: str, *, read_only: bool = False, expires_at: dt.datetime | None = None
) -> tuple[ApiKey, str]:
    """A new key acting as ``user``. Returns the row and the plain key (shown to people once)."""
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
    )
    return key, plain


def revoke_api_key(key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
        key.refresh_from_db()
    return key


def authenticate_key(plain: str) -> ApiKey | None:
    """The usable key for ``plain``, or None (unknown, revoked, expired, or its user inactive)."""
    if not plain.startswith(KEY_PREFIX):
        return None
    key = ApiKey.objects.usable().select_related("user").filter(key_hash=hash_key(plain)).first()
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > dt.timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key
