"""OpenAPI 3 schema and its viewers (Swagger UI, Redoc) served from package files, no CDN."""

from __future__ import annotations

from typing import Any

from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
    _get_sidecar_url,
)
from rest_framework import authentication

from socialcare import __version__
from socialcare.api.auth import ApiKeyAuthentication
from socialcare.api.permissions import StaffOnly

SCHEMA_SETTINGS: dict[str, Any] = {
    "TITLE": "socialcare API",
    "DESCRIPTION": (
        "Cases, posts, customers and their social identities, for CRMs and reporting clients. "
        "Authenticate with `Authorization: Api-Key sc_…` (keys are created in admin) or a staff "
        'session. Every 4xx answer has the shape `{"code": ..., "detail": ..., "errors": '
        "{field: [messages]}}`. Lists use cursor pagination: follow `next`."
    ),
    "VERSION": __version__,
    "PREPROCESSING_HOOKS": ["socialcare.api.schema.only_socialcare_endpoints"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/(?:.*/)?api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
}

AUTH = [ApiKeyAuthentication, authentication.SessionAuthentication]


def only_socialcare_endpoints(endpoints: list, **kwargs: Any) -> list:
    """Keep socialcare's API in its schema, whatever else the host project serves."""
    return [
        endpoint
        for endpoint in endpoints
        if getattr(endpoint[3], "__module__", "").startswith("socialcare.api")
    ]


class SchemaView(SpectacularAPIView):
    custom_settings = SCHEMA_SETTINGS
    authentication_classes = AUTH
    permission_classes = [StaffOnly]


class SwaggerView(SpectacularSwaggerView):
    authentication_classes = AUTH
    permission_classes = [StaffOnly]
    title = "socialcare API"

    @staticmethod
    def _swagger_ui_resource(filename: str) -> str:
        return _get_sidecar_url(f"swagger-ui-dist/{filename}")

    @staticmethod
    def _swagger_ui_favicon() -> str:
        return _get_sidecar_url("swagger-ui-dist/favicon-32x32.png")


class RedocView(SpectacularRedocView):
    authentication_classes = AUTH
    permission_classes = [StaffOnly]
    title = "socialcare API"

    @staticmethod
    def _redoc_standalone() -> str:
        return _get_sidecar_url("redoc/bundles/redoc.standalone.js")
