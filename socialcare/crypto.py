"""Secrets at rest: Fernet encryption with key rotation.

Keys come from ``SOCIALCARE["ENCRYPTION_KEYS"]`` (first encrypts, all decrypt). Without them a key is
derived from ``SECRET_KEY`` with HKDF, and check ``socialcare.W001`` says so.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from socialcare.conf import app_settings

__all__ = [
    "InvalidToken",
    "decrypt",
    "encrypt",
    "get_fernet",
    "get_keys",
    "newest_key",
    "reset",
    "secret_key",
]


def secret_key() -> str:
    """``settings.SECRET_KEY``, or "" when it is empty (Django raises on reading an empty one)."""
    try:
        return settings.SECRET_KEY or ""
    except ImproperlyConfigured:
        return ""


def derive_key(secret: str) -> bytes:
    """A Fernet key derived from a project secret (used when no ENCRYPTION_KEYS are set)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"socialcare", info=b"secrets-at-rest")
    return base64.urlsafe_b64encode(hkdf.derive(secret.encode()))


@functools.cache
def get_keys() -> tuple[Fernet, ...]:
    """The configured keys as Fernet objects, newest (the one that encrypts) first.

    socialcare keeps this list itself: ``MultiFernet`` does not expose its keys (and its internals
    changed when cryptography moved it to Rust), so nothing here reads them back out of it.
    """
    keys = list(app_settings.ENCRYPTION_KEYS)
    if not keys:
        secret = secret_key()
        if not secret:
            raise ImproperlyConfigured(
                "socialcare needs SOCIALCARE['ENCRYPTION_KEYS'] (or SECRET_KEY) to encrypt secrets."
            )
        keys = [derive_key(secret)]
    try:
        return tuple(Fernet(k) for k in keys)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "SOCIALCARE['ENCRYPTION_KEYS'] must hold Fernet keys "
            "(generate one with cryptography.fernet.Fernet.generate_key())."
        ) from exc


def newest_key() -> Fernet:
    """The key that encrypts: the first of ``SOCIALCARE["ENCRYPTION_KEYS"]``."""
    return get_keys()[0]


@functools.cache
def get_fernet() -> MultiFernet:
    """Encrypts with the newest key, decrypts with any configured key."""
    return MultiFernet(list(get_keys()))


def reset() -> None:
    get_keys.cache_clear()
    get_fernet.cache_clear()


def encrypt(plain: str) -> str:
    return get_fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt with any configured key; raises ``InvalidToken`` when no key fits."""
    return get_fernet().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    """Re-encrypt a token under the first (newest) key."""
    return get_fernet().rotate(token.encode()).decode()
