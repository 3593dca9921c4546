"""Template context of the demo project (not of the socialcare app: hosts get none of this)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def demo_debug(request: HttpRequest) -> dict[str, Any]:
    """``demo_debug``: whether DEBUG is on, read at each request, so the demo's admin pages
    (templates/admin/base_site.html) can warn that error pages show code and settings."""
    return {"demo_debug": settings.DEBUG}
