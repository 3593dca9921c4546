"""API-key authentication: ``Authorization: Api-Key sc_…`` (or ``Bearer sc_…``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from socialcare.api.throttling import FailedKeyThrottle
from socialcare.services.apikeys import authenticate_key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keywords = ("api-key", "bearer")

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, value = header.partition(" ")
        if keyword.lower() not in self.keywords or not value.strip().startswith("sc_"):
            return None
        throttle = FailedKeyThrottle()
        if throttle.blocked(request):
            raise exceptions.Throttled(
                wait=throttle.wait(), detail="Too many failed API key attempts from here."
            )
        key = authenticate_key(value.strip())
        if key is None:
            throttle.record_failure(request)
            raise exceptions.AuthenticationFailed("Unknown, revoked or expired API key.")
        return key.user, key

    def authenticate_header(self, request: Any) -> str:
        return 'Api-Key realm="socialcare"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "socialcare.api.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key sc_…` — create keys in admin (Social care › API keys).",
        }
