"""Model fields shared by socialcare models."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models

from socialcare import crypto
from socialcare.conf import platform_choices


def has_field(model: type[models.Model], name: str) -> bool:
    """Whether ``model`` has a field called ``name`` (a host's customer model may not)."""
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


class PlatformField(models.CharField):
    """A platform key; choices are read from settings at run time, so hosts can add platforms."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("choices", platform_choices)
        super().__init__(*args, **kwargs)


class EncryptedJSONField(models.TextField):
    """A JSON object stored as one Fernet token. Never logged or shown: see ``redacted()``.

    A value that no configured key decrypts reads as ``{}`` plus the marker key ``"__undecryptable__"``
    (holding the stored token) rather than raising, so an admin can still open the row and enter
    fresh secrets. Saving the row without new secrets keeps the stored token, so restoring the
    missing key brings the secrets back.
    """

    UNDECRYPTABLE = "__undecryptable__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("default", dict)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> dict:
        if not value:
            return {}
        try:
            return json.loads(crypto.decrypt(value))
        except crypto.InvalidToken:
            return {self.UNDECRYPTABLE: value}

    def to_python(self, value: Any) -> dict:
        if isinstance(value, dict):
            return value
        if not value:
            return {}
        if isinstance(value, str) and not value.lstrip().startswith("{"):
            # A token, as dumpdata writes it (loaddata reads it back).
            return self.from_db_value(value, None, None)
        return json.loads(value)

    def value_to_string(self, obj: Any) -> str:
        """Serialized (dumpdata) as the ciphertext, never as the secrets themselves."""
        return self.get_prep_value(self.value_from_object(obj))

    def get_prep_value(self, value: Any) -> str:
        value = dict(value or {})
        token = value.pop(self.UNDECRYPTABLE, None)
        if not value:
            return token if isinstance(token, str) else ""
        return crypto.encrypt(json.dumps(value, sort_keys=True))


def redacted(secret: str | None) -> str:
    """How a secret is shown to people: never more than its last 4 characters."""
    if not secret:
        return ""
    if len(secret) <= 8:
        return "••••"
    return "••••" + secret[-4:]
