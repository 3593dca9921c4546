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


class FailedKeyThrottle(SimpleRateThrottle):
    """Bounds guessing keys: ``API_AUTH_FAILURE_RATE`` failed key attempts per client address,
    then every key attempt from it is a 429 until the period ends (good keys too: the client
    is told to wait, the guesser learns nothing)."""

    scope = "socialcare-key-failures"

    def get_rate(self) -> str:
        return app_settings.API_AUTH_FAILURE_RATE

    def get_cache_key(self, request: Any, view: Any = None) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def blocked(self, request: Any) -> bool:
        """True when this address already failed too often (records nothing)."""
        self.key = self.get_cache_key(request)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        return len(self.history) >= self.num_requests

    def record_failure(self, request: Any) -> None:
        self.blocked(request)
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)
