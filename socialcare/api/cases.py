"""Cases, their timeline, replies, notes and merges; posts."""

from __future__ import annotations

from rest_framework.routers import BaseRouter


def register(router: BaseRouter) -> None:
    """Add this module's viewsets to the API router."""
