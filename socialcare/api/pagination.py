"""Cursor pagination: stable while rows are inserted, bounded page size."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


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
