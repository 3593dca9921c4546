"""Cursor pagination: stable while rows are inserted, bounded page size."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination as DRFCursorPagination


class CursorPagination(DRFCursorPagination):
    """A cursor the client garbled is a 400 on ``cursor`` (DRF answers 404, or 500 when a
    decodable cursor holds a position of the wrong type)."""

    invalid_cursor_message = "Invalid cursor: follow the `next` or `previous` link as given."

    def _invalid(self) -> exceptions.ValidationError:
        return exceptions.ValidationError({self.cursor_query_param: [self.invalid_cursor_message]})

    def decode_cursor(self, request: Any) -> Any:
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise self._invalid() from None

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        try:
            return super().paginate_queryset(queryset, request, view)
        except (ValueError, TypeError, OverflowError, DjangoValidationError) as exc:
            if request.query_params.get(self.cursor_query_param) is None:
                raise
            raise self._invalid() from exc


class SyncCursorPagination(CursorPagination):
    """Lists that CRMs sync: oldest change first, so a client resumes where it stopped."""

    ordering = ("updated_at", "id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class NewestFirstPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class TimelinePagination(CursorPagination):
    """A case's history, in the order it happened."""

    ordering = ("at", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500
