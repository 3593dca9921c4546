"""Throttling per API key (or per user for session clients)."""

from __future__ import annotations

from typing import Any

from rest_framework.throttling import SimpleRateThrottle

from socialcare.conf import app_settings
from socialcare.models import ApiKey


class PerKeyThrottle(SimpleRateThrottle):
    scope = "socialcare"

    def get_rate(self) -> str:
        return app_settings.API_THROTTLE_RATE

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if isinstance(request.auth, ApiKey):
            ident = f"key-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
