"""Re-encrypting every secret at rest under the newest encryption key.

Rotation (docs/security.md): put a new key first in ``SOCIALCARE["ENCRYPTION_KEYS"]`` and keep the
old ones, deploy, run ``manage.py socialcare_rotate_keys``, then drop the old keys. Every
``EncryptedJSONField`` of every installed model is covered (channels' platform tokens and webhook
secrets, outbound webhook signing secrets, and any a host adds).

A stored value that no configured key decrypts is left exactly as stored and reported: rewriting
it would destroy the secret, and restoring the missing key brings it back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.db import models, transaction
from django.db.models.functions import Cast

from socialcare import crypto
from socialcare.models.fields import EncryptedJSONField

CHUNK = 500


@dataclass
class RotationResult:
    """What happened to one encrypted column."""

    label: str  # "socialcare.Channel.secrets"
    rotated: int = 0
    current: int = 0  # already under the newest key
    empty: int = 0
    undecryptable: list[int] | None = None  # primary keys no configured key decrypts

    @property
    def failed(self) -> int:
        return len(self.undecryptable or [])


def encrypted_fields() -> Iterator[tuple[type[models.Model], EncryptedJSONField]]:
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedJSONField):
                yield model, field


def _stored_tokens(
    model: type[models.Model], field: EncryptedJSONField, after: object | None
) -> list[tuple[object, str | None]]:
    """The next chunk of (pk, stored token) in key order. The raw column, not the decrypted dict:
    Cast to text skips the field's from_db_value."""
    rows = model._default_manager.order_by("pk")
    if after is not None:
        rows = rows.filter(pk__gt=after)
    return list(
        rows.annotate(_token=Cast(field.attname, models.TextField())).values_list("pk", "_token")[
            :CHUNK
        ]
    )


def rotate_field(
    model: type[models.Model], field: EncryptedJSONField, *, dry_run: bool = False
) -> RotationResult:
    result = RotationResult(f"{model._meta.label}.{field.name}", undecryptable=[])
    newest = crypto.newest_key()
    after: object | None = None
    while True:
        rows = _stored_tokens(model, field, after)
        if not rows:
            return result
        with transaction.atomic():
            for pk, token in rows:
                if not token:
                    result.empty += 1
                    continue
                try:
                    newest.decrypt(token.encode())
                    result.current += 1
                    continue
                except InvalidToken:
                    pass
                try:
                    fresh = crypto.rotate(token)
                except InvalidToken:
                    result.undecryptable.append(pk)
                    continue
                result.rotated += 1
                if not dry_run:
                    # A Value expression is written as is (no get_prep_value: it is a token).
                    # Only if unchanged since read (a secret edited meanwhile is already new).
                    model._default_manager.annotate(
                        _token=Cast(field.attname, models.TextField())
                    ).filter(pk=pk, _token=token).update(
                        **{field.attname: models.Value(fresh, output_field=models.TextField())}
                    )
        after = rows[-1][0]


def rotate_all(*, dry_run: bool = False) -> list[RotationResult]:
    """Re-encrypt every encrypted column under the newest key; one result per column."""
    return [rotate_field(model, field, dry_run=dry_run) for model, field in encrypted_fields()]
