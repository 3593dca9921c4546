"""OpenAPI 3 schema and its viewers (Swagger UI, Redoc) served from package files, no CDN."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

from django.templatetags.static import static
from drf_spectacular import utils as spectacular_utils
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework import authentication
from rest_framework.renderers import JSONRenderer

from socialcare import __version__
from socialcare.api.auth import ApiKeyAuthentication
from socialcare.api.errors import exception_handler
from socialcare.api.permissions import KeyHasScopes, StaffOnly
from socialcare.models import get_customer_model

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
    # OpenAPI 3.1: a nullable object is ``oneOf: [{$ref}, {type: 'null'}]``, which openapi-core
    # and the generators read alike. OpenAPI 3.0 has no way to say it that a validator accepts
    # (``nullable: true`` beside ``allOf: [$ref]`` still validates ``null`` against the $ref).
    "OAS_VERSION": "3.1.0",
    "PREPROCESSING_HOOKS": ["socialcare.api.schema.only_socialcare_endpoints"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "socialcare.api.schema.strict_schema",
    ],
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


COMPONENTS = "#/components/schemas/"

#: The answers in the one error shape that any operation may give, added by ``strict_schema``
#: where an operation does not document them itself: status → (description, example body).
COMMON_ERRORS: dict[int, tuple[str, dict[str, Any]]] = {
    400: (
        "Invalid input (a field, a filter or a cursor); `errors` names what is wrong.",
        {
            "code": "invalid",
            "detail": "Invalid cursor.",
            "errors": {"cursor": ["Invalid cursor."]},
        },
    ),
    401: (
        "No credentials, or an unknown, revoked or expired API key.",
        {"code": "not_authenticated", "detail": "Authentication credentials were not provided."},
    ),
    403: (
        "Not a staff user, a missing permission or key scope, or a read-only key that writes.",
        {"code": "permission_denied", "detail": "This API key is read-only."},
    ),
    404: (
        "No such object, or one the caller's teams may not see (the same answer on purpose).",
        {"code": "not_found", "detail": "Not found."},
    ),
    405: (
        "The method is not allowed at this URL (an action's URL read with GET, say).",
        {"code": "method_not_allowed", "detail": 'Method "GET" not allowed.'},
    ),
    406: (
        "The `Accept` header asks for something other than JSON.",
        {"code": "not_acceptable", "detail": "Could not satisfy the request Accept header."},
    ),
    415: (
        "The body is not JSON (`Content-Type: application/json`); form bodies are refused.",
        {
            "code": "unsupported_media_type",
            "detail": 'Unsupported media type "application/x-www-form-urlencoded" in request.',
        },
    ),
    429: (
        "Too many requests for this key; retry after `Retry-After` seconds.",
        {"code": "throttled", "detail": "Request was throttled. Expected available in 12 seconds."},
    ),
}


def _errors_for(path: str, operation: dict[str, Any]) -> list[int]:
    """The common errors ``operation`` can answer: every one 401, 403 and 429; one with a path
    parameter 404; one with a body 400 and 415; one with query parameters 400. 405 and 406 on
    every one too: a method the URL does not take, an ``Accept`` that is not JSON."""
    statuses = [401, 403, 405, 406, 429]
    if "{" in path:
        statuses.append(404)
    if "requestBody" in operation:
        statuses += [400, 415]
    elif any(param.get("in") == "query" for param in operation.get("parameters", [])):
        statuses.append(400)
    return statuses


def _blank_or_format(node: dict[str, Any]) -> dict[str, Any] | None:
    """``oneOf: [{type: string, format: uri}, {type: string, maxLength: 0}]`` (a URL or email
    field that may be blank): an empty string matches both, which strict clients refuse. The
    same as one plain string, its format said in the description."""
    options = node.get("oneOf")
    if not isinstance(options, list) or len(options) != 2:
        return None
    formatted = [option for option in options if "format" in option]
    blank = [option for option in options if option.get("maxLength") == 0]
    if len(formatted) != 1 or len(blank) != 1 or formatted[0] is blank[0]:
        return None
    if any(option.get("type") != "string" for option in options):
        return None
    plain = {key: value for key, value in node.items() if key != "oneOf"}
    plain["type"] = "string"
    if "maxLength" in formatted[0]:
        plain["maxLength"] = formatted[0]["maxLength"]
    kind = {"uri": "A URL", "email": "An email address"}.get(formatted[0]["format"], "A value")
    said = f"{kind}, or an empty string."
    plain["description"] = f"{plain['description']} {said}" if plain.get("description") else said
    return plain


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI 3.0 ``nullable`` schema written the 3.1 way."""
    node = dict(node)
    if not node.pop("nullable"):
        return node
    kind = node.get("type")
    if isinstance(kind, str):
        node["type"] = [kind, "null"]
    elif isinstance(kind, list):
        node["type"] = [*kind, *(["null"] if "null" not in kind else [])]
    elif "oneOf" in node:
        node["oneOf"] = [*node["oneOf"], {"type": "null"}]
    else:
        meta = {key: node.pop(key) for key in ("description", "readOnly", "title") if key in node}
        node = {"oneOf": [node, {"type": "null"}], **meta}
    if "enum" in node and None not in node["enum"]:
        node["enum"] = [*node["enum"], None]
    return node


def _strict(node: Any) -> Any:
    """``node`` with the null enum inlined as ``{type: 'null'}``, blank-or-format strings made
    plain strings, 3.0 ``nullable`` written the 3.1 way and free-form objects said to be so, at
    any depth."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("$ref") == f"{COMPONENTS}NullEnum":
        return {"type": "null"}
    node = _blank_or_format(node) or node
    if "nullable" in node:  # OpenAPI 3.0's keyword, left by schemas written by hand
        node = _nullable(node)
    kind = node.get("type")
    if (kind == "object" or (isinstance(kind, list) and "object" in kind)) and not (
        {"properties", "additionalProperties", "$ref", "allOf", "oneOf", "anyOf"} & set(node)
    ):
        # A free-form object said explicitly: generators otherwise warn "map of undefined type".
        node = {**node, "additionalProperties": True}
    return {key: _strict(value) for key, value in node.items()}


def strict_schema(
    result: dict[str, Any], generator: Any, request: Any = None, **kwargs: Any
) -> dict:
    """drf-spectacular's schema made acceptable to strict tools (openapi-core,
    openapi-generator, openapi-python-client, datamodel-code-generator):

    - no ``NullEnum`` (``{"enum": [null]}``, which generators turn into a class that does not
      import): a nullable choice is ``oneOf: [{$ref: XEnum}, {type: 'null'}]``;
      ``BlankEnum`` gets its ``type: string``;
    - no ambiguous ``oneOf`` (see ``_blank_or_format``);
    - ``servers``: the host the schema was asked from, or ``/`` (same origin) when generated
      without a request (``manage.py spectacular``);
    - every operation documents the common errors it can answer (``COMMON_ERRORS``), in the
      one error shape.
    """
    schemas = result.get("components", {}).get("schemas", {})
    schemas.pop("NullEnum", None)
    if "BlankEnum" in schemas:
        schemas["BlankEnum"] = {"type": "string", "enum": [""]}
    result["components"] = _strict(result.get("components", {}))
    result["paths"] = _strict(result.get("paths", {}))
    # The origin the schema was asked from (the paths carry the URL prefix), or, generated
    # without a request, "/": relative to where the schema is read from.
    server = request.build_absolute_uri("/").rstrip("/") if request is not None else "/"
    result["servers"] = [{"url": server or "/"}]
    for path, operations in result["paths"].items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for status in _errors_for(path, operation):
                description, example = COMMON_ERRORS[status]
                content = {
                    "schema": {"$ref": f"{COMPONENTS}Error"},
                    "examples": {
                        f"Error{status}": {"value": example, "summary": f"Error {status}"}
                    },
                }
                responses.setdefault(
                    str(status),
                    {"description": description, "content": {"application/json": content}},
                )
            operation["responses"] = dict(sorted(responses.items()))
    return result


def schema_document(request: Any = None) -> dict[str, Any]:
    """The schema as ``SchemaView`` serves it, in plain JSON types, for scripts and tests
    (``manage.py spectacular`` reads the host's ``SPECTACULAR_SETTINGS``, not these)."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.settings import patched_settings

    with patched_settings(SCHEMA_SETTINGS):
        schema = SchemaGenerator().get_schema(request=request, public=True)
    return json.loads(json.dumps(schema, default=str))


class CustomerPkFieldExtension(OpenApiSerializerFieldExtension):
    """A customer's id typed as the (possibly swapped) customer model's primary key, the type
    ``customers/{id}/...`` takes."""

    target_class = "socialcare.api.case_serializers.CustomerPkField"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        from django.db import models
        from drf_spectacular.plumbing import build_basic_type
        from drf_spectacular.types import OpenApiTypes

        pk = get_customer_model()._meta.pk
        pk = getattr(pk, "target_field", None) or pk  # a one-to-one primary key: its target's
        if isinstance(pk, models.UUIDField):
            kind = OpenApiTypes.UUID
        elif isinstance(pk, models.IntegerField):  # AutoField and BigAutoField included
            kind = OpenApiTypes.INT
        else:
            kind = OpenApiTypes.STR
        return {**build_basic_type(kind), "description": "Customer id."}


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
