"""OpenAPI 3 schema and its viewers (Swagger UI, Redoc) served from package files, no CDN."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from django.templatetags.static import static
from drf_spectacular import utils as spectacular_utils
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework import authentication
from rest_framework.renderers import JSONRenderer

from socialcare import __version__
from socialcare.api.auth import ApiKeyAuthentication
from socialcare.api.errors import exception_handler
from socialcare.api.permissions import KeyHasScopes, StaffOnly

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
#: Staff only; a key with no scopes can do nothing, so not read the schema either.
PERMISSIONS = [StaffOnly, KeyHasScopes]


def sidecar(path: str) -> str:
    """The URL of a file of drf-spectacular-sidecar's Swagger UI or Redoc build (its static
    files, under ``drf_spectacular_sidecar/``): the docs load nothing from a CDN."""
    return static(f"drf_spectacular_sidecar/{path}")


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
    ``DEFAULT_SCHEMA_CLASS`` in the host's settings. Their errors are the API's: JSON in the
    one shape, whatever the page itself is rendered as (YAML, HTML)."""

    schema = AutoSchema()
    authentication_classes = AUTH
    permission_classes = PERMISSIONS
    #: The viewer's template variables that name its assets → the sidecar file each loads,
    #: put in place of drf-spectacular's defaults (a CDN unless the host sets its
    #: ``SWAGGER_UI_DIST``/``REDOC_DIST``). ``test_viewers_use_only_local_static_files`` fails if
    #: a drf-spectacular release renames one.
    assets: dict[str, str] = {}

    @extend_schema(exclude=True)
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().get(request, *args, **kwargs)
        for name, path in self.assets.items():
            response.data[name] = sidecar(path)
        return response

    def get_exception_handler(self) -> Callable[..., Any]:
        return exception_handler

    def handle_exception(self, exc: Exception) -> Any:
        response = super().handle_exception(exc)
        # Content negotiation picked YAML or HTML for the page; an error is JSON like the API's.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


class SchemaView(Unlisted, SpectacularAPIView):
    custom_settings = SCHEMA_SETTINGS


class SwaggerView(Unlisted, SpectacularSwaggerView):
    title = "socialcare API"
    assets = {
        "swagger_ui_css": "swagger-ui-dist/swagger-ui.css",
        "swagger_ui_bundle": "swagger-ui-dist/swagger-ui-bundle.js",
        "swagger_ui_standalone": "swagger-ui-dist/swagger-ui-standalone-preset.js",
        "favicon_href": "swagger-ui-dist/favicon-32x32.png",
    }


class RedocView(Unlisted, SpectacularRedocView):
    title = "socialcare API"
    template_name = "socialcare/api/redoc.html"  # no Google Fonts: nothing from a CDN
    assets = {"redoc_standalone": "redoc/bundles/redoc.standalone.js"}
