"""Errors services raise. Each carries a message fit to show a support agent or an API client."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import RestrictedError


class SocialCareError(ValidationError):
    """Base class: a request a service refuses. A ``ValidationError``, so forms and the API show it."""

    code = "invalid"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message, code=code or self.code)


class IllegalTransition(SocialCareError):
    """A case status change the workflow does not allow (e.g. closed → waiting on customer)."""

    code = "illegal_transition"


class MergeError(SocialCareError):
    """A merge that would lose or tangle data (merging into itself, into a merged record, ...)."""

    code = "merge_refused"


class CustomerDeleteRefused(RestrictedError):
    """Deleting a customer who still has cases, with ``SOCIALCARE["CUSTOMER_DELETE"] = "refuse"``.

    A ``RestrictedError`` (an ``IntegrityError``), so Django's admin shows its "cannot delete,
    protected objects" page listing the cases, and ``str(exc)`` names them. Not a
    ``ProtectedError``: Django's deletion collector catches those from an ``on_delete`` handler and
    raises a generic one instead, which would lose this message. Nothing is deleted or changed.
    """

    def __init__(self, message: str, cases: Iterable[Any]) -> None:
        self.message = message
        super().__init__(message, set(cases))

    def __str__(self) -> str:
        return self.message
