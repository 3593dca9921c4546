"""OpenAPI 3 schema and its viewers (Swagger UI, Redoc) served from package files, no CDN."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from drf_spectacular import utils as spectacular_utils
from drf_spectacular.openapi import AutoSchema
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
        "Cases, posts, customers and their social identities, crisis incidents and playbooks, "
        "for CRMs and reporting clients. "
        "Authenticate with `Authorization: Api-Key sc_…` (keys are created in admin) or a staff "
        'session. Every 4xx answer has the shape `{"code": ..., "detail": ..., "errors": '
        "{field: [messages]}}`. Lists use cursor pagination: follow `next`."
    ),
    "VERSION": __version__,
    "PREPROCESSING_HOOKS": ["socialcare.api.schema.only_socialcare_endpoints"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/(?:.*/)?api/v1",
}

AUTH = [ApiKeyAuthentication, authentication.SessionAuthentication]


def extend_schema(**kwargs: Any) -> Callable[[Any], Any]:
    """drf-spectacular's ``@extend_schema``, for view methods too when the host has no
    ``DEFAULT_SCHEMA_CLASS``: on a method, drf-spectacular derives from that DRF setting, and a
    schema derived from DRF's own AutoSchema breaks generation. Use this one in socialcare.api."""
    decorate = spectacular_utils.extend_schema(**kwargs)

    def decorator(target: Any) -> Any:
        context = getattr(target, "kwargs", {})
        if not inspect.isclass(target) and "schema" not in context:
            target.kwargs = {**context, "schema": AutoSchema}
        return decorate(target)

    return decorator


def only_socialcare_endpoints(endpoints: list, **kwargs: Any) -> list:
    """Keep socialcare's API in its schema, whatever else the host project serves."""
    return [
        endpoint
        for endpoint in endpoints
        if getattr(endpoint[3], "__module__", "").startswith("socialcare.api")
    ]


class Unlisted:
    """The schema and its viewers are not operations of the API. drf-spectacular's AutoSchema on
    them too, so generating the schema (this view or ``manage.py spectacular``) works without
    ``DEFAULT_SCHEMA_CLASS`` in the host's settings."""

    schema = AutoSchema()

    @extend_schema(exclude=True)
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)


class SchemaView(Unlisted, SpectacularAPIView):
    custom_settings = SCHEMA_SETTINGS
    authentication_classes = AUTH
    permission_classes = [StaffOnly]


class SwaggerView(Unlisted, SpectacularSwaggerView):
    authentication_classes = AUTH
    permission_classes = [StaffOnly]
    title = "socialcare API"

    @staticmethod
    def _swagger_ui_resource(filename: str) -> str:
        return _get_sidecar_url(f"swagger-ui-dist/{filename}")

    @staticmethod
    def _swagger_ui_favicon() -> str:
        return _get_sidecar_url("swagger-ui-dist/favicon-32x32.png")


class RedocView(Unlisted, SpectacularRedocView):
    authentication_classes = AUTH
    permission_classes = [StaffOnly]
    title = "socialcare API"
    template_name = "socialcare/api/redoc.html"  # no Google Fonts: nothing from a CDN

    @staticmethod
    def _redoc_standalone() -> str:
        return _get_sidecar_url("redoc/bundles/redoc.standalone.js")
