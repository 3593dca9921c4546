"""Errors services raise. Each carries a message fit to show a support agent or an API client."""

from __future__ import annotations

from django.core.exceptions import ValidationError


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
