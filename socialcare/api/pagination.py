"""Cursor pagination: signed cursors, stable while rows are inserted or changed, bounded pages."""

from __future__ import annotations

import binascii
from base64 import b64decode
from typing import Any
from urllib import parse

from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.pagination import Cursor
from rest_framework.pagination import CursorPagination as DRFCursorPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from socialcare.services.timeline import ORDERING

#: The salt of cursor signatures: a cursor signs nothing else, and nothing else passes for one.
CURSOR_SALT = "socialcare.api.cursor"
#: The cursor format. Version 1 was DRF's unsigned base64 (``o=…&r=…&p=…``).
CURSOR_VERSION = 2


class CursorPagination(DRFCursorPagination):
    """Cursors are the server's own: ``signing.dumps`` of ``{v, o, r, p, k}`` (version, offset,
    reverse, position, ordering) under :data:`CURSOR_SALT`, so a cursor the server did not issue
    (made up, edited, or for another ordering) is a 400 on ``cursor``, never a page. A cursor of
    the earlier unsigned format is a 400 that says to restart the sync."""

    invalid_cursor_message = "Invalid cursor: follow the `next` or `previous` link as given."
    old_cursor_message = (
        "This cursor is from an earlier version of the API: restart the sync from the first page "
        "(or from your last `changed_after` / `updated_since` high-water mark)."
    )

    def _invalid(self, message: str | None = None) -> exceptions.ValidationError:
        return exceptions.ValidationError(
            {self.cursor_query_param: [message or self.invalid_cursor_message]}
        )

    def encode_cursor(self, cursor: Cursor) -> str:
        token = signing.dumps(
            {
                "v": CURSOR_VERSION,
                "o": cursor.offset,
                "r": int(cursor.reverse),
                "p": cursor.position,
                "k": list(self.ordering),
            },
            salt=CURSOR_SALT,
        )
        return replace_query_param(self.base_url, self.cursor_query_param, token)

    def decode_cursor(self, request: Any) -> Cursor | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            data = signing.loads(encoded, salt=CURSOR_SALT)
        except signing.BadSignature:
            raise self._invalid(
                self.old_cursor_message if _is_unsigned_cursor(encoded) else None
            ) from None
        if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
            raise self._invalid(self.old_cursor_message)
        offset, reverse, position = data.get("o"), data.get("r"), data.get("p")
        if (
            data.get("k") != list(self.ordering)
            or not isinstance(offset, int)
            or not 0 <= offset <= self.offset_cutoff
            or reverse not in (0, 1)
            or not (position is None or isinstance(position, str))
        ):
            raise self._invalid()
        return Cursor(offset=offset, reverse=bool(reverse), position=position)

    def get_paginated_response(self, data: Any) -> Response:
        """DRF's page plus ``next_cursor`` / ``previous_cursor``: the ``cursor`` of ``next`` /
        ``previous`` alone, for clients that call the list operation with a ``cursor`` parameter
        (a generated client) instead of following the URL."""
        following, preceding = self.get_next_link(), self.get_previous_link()
        return Response(
            {
                "next": following,
                "previous": preceding,
                "next_cursor": self._cursor_of(following),
                "previous_cursor": self._cursor_of(preceding),
                "results": data,
            }
        )

    def _cursor_of(self, url: str | None) -> str | None:
        if url is None:
            return None
        return parse.parse_qs(parse.urlsplit(url).query).get(self.cursor_query_param, [None])[0]

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        page = super().get_paginated_response_schema(schema)
        properties = page["properties"]
        for name, link in (("next_cursor", "next"), ("previous_cursor", "previous")):
            properties[name] = {
                "type": "string",
                "nullable": True,
                "description": f"The `{self.cursor_query_param}` of `{link}`: pass it to the same "
                "list operation (same filters and ordering) to get that page.",
                # drf-spectacular builds a list's examples from each field's example.
                "example": None if name == "previous_cursor" else "ImV5SjJJam9…",
            }
        order = ("next", "previous", "next_cursor", "previous_cursor", "results")
        page["properties"] = {name: properties[name] for name in order}
        return page

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        try:
            return super().paginate_queryset(queryset, request, view)
        except (ValueError, TypeError, OverflowError, DjangoValidationError) as exc:
            if request.query_params.get(self.cursor_query_param) is None:
                raise
            raise self._invalid() from exc


def _is_unsigned_cursor(encoded: str) -> bool:
    """Whether ``encoded`` is DRF's unsigned format (base64 of ``o=…&r=…&p=…``)."""
    try:
        tokens = parse.parse_qs(b64decode(encoded, validate=True).decode("ascii"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return False
    return bool(tokens) and set(tokens) <= {"o", "r", "p"}


class SyncCursorPagination(CursorPagination):
    """Lists that CRMs sync: oldest change first, so a client resumes where it stopped. A model
    with a change sequence (cases) is ordered by it: unique and in commit order, so a row changed
    between two pages moves behind the cursor and comes again, and none is skipped."""

    ordering = ("updated_at", "id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_ordering(self, request: Any, queryset: Any, view: Any) -> tuple[str, ...]:
        ordering = super().get_ordering(request, queryset, view)
        if (
            ordering == tuple(self.ordering)
            and not request.query_params.get("ordering")
            and _has_field(queryset.model, "change_seq")
        ):
            return ("change_seq", "id")
        return ordering


def _has_field(model: Any, name: str) -> bool:
    return any(f.name == name for f in model._meta.get_fields())


class NewestFirstPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class TimelinePagination(CursorPagination):
    """A case's history, in the order it happened: ``services.timeline``'s order rule (its
    queryset carries the order keys, ``timeline_events``)."""

    ordering = ORDERING
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500
