"""The API contract, checked on every test: each response of ``/socialcare/api/v1/`` that a test
gets through Django's test client (DRF's ``APIClient`` included) is validated with openapi-core
against the schema that ``/socialcare/api/schema/`` serves, generated once per test process. A
response the schema does not describe (an undocumented status, a field of the wrong type, a
``null`` where the schema says never) fails the test that got it, naming the operation, the
field and the rule.

Skipped: answers to URLs or methods the schema has no operation for (a 404 for an unknown path,
a 405), 5xx (the test fails anyway), non-JSON bodies, and tests marked
``@pytest.mark.no_api_contract`` (say why next to the marker)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

import pytest
from django.test.client import Client
from openapi_core import OpenAPI
from openapi_core.exceptions import OpenAPIError
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.testing import MockRequest, MockResponse

API_PREFIX = "/socialcare/api/v1/"


class ContractViolation(AssertionError):
    """A response outside the API's schema."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "no_api_contract: do not validate this test's API responses against the schema"
    )


@cache
def api_schema() -> dict[str, Any]:
    """The schema as ``/socialcare/api/schema/`` serves it (without a request: ``servers`` is
    ``/``), generated once per process."""
    from socialcare.api.schema import schema_document

    return schema_document()


@cache
def openapi() -> OpenAPI:
    return OpenAPI.from_dict(api_schema())


def _reasons(error: BaseException) -> list[str]:
    """The schema errors under an openapi-core exception, each with where in the body it is."""
    reasons = []
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        for schema_error in getattr(error, "schema_errors", ()) or ():
            where = "/".join(str(part) for part in schema_error.absolute_path) or "(body)"
            reasons.append(f"  at {where}: {schema_error.message}")
            for sub in schema_error.context or ():
                sub_where = "/".join(str(part) for part in sub.absolute_path) or "(body)"
                reasons.append(f"    - at {sub_where}: {sub.message}")
        error = error.__cause__ or error.__context__
    return reasons


def check_response(method: str, path: str, query: str, response: Any) -> None:
    """Raise ``ContractViolation`` when ``response`` (to ``method path?query``) is not what the
    schema documents for that operation."""
    if not path.startswith(API_PREFIX) or response.status_code >= 500:
        return
    if getattr(response, "streaming", False):
        return
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    if response.content and content_type != "application/json":
        return
    request = MockRequest(
        "http://testserver", method.lower(), path, args=parse_qsl(query, keep_blank_values=True)
    )
    mock = MockResponse(
        response.content,
        status_code=response.status_code,
        content_type=content_type or "application/json",
        headers=dict(response.headers),
    )
    # Validation only: openapi-core's unmarshal_response also builds Python objects from the body,
    # which costs about ten times as much and finds nothing more.
    try:
        openapi().validate_response(request, mock)
    except (PathNotFound, OperationNotFound):
        return
    except OpenAPIError as error:
        body = response.content[:600].decode(errors="replace")
        details = "\n".join(_reasons(error)) or f"  {error!r}"
        raise ContractViolation(
            f"{method.upper()} {path}{'?' + query if query else ''} answered "
            f"{response.status_code}, which the API schema does not describe: "
            f"{type(error).__name__}: {str(error)[:200]}\n{details}\nbody: {body}"
        ) from error


@pytest.fixture(autouse=True)
def api_contract(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Validate every API response this test gets (see the module's docstring)."""
    if request.node.get_closest_marker("no_api_contract"):
        yield
        return
    original = Client.request

    def validated(client: Client, **environ: Any) -> Any:
        response = original(client, **environ)
        wsgi = getattr(response, "wsgi_request", None)
        if wsgi is not None:
            check_response(
                wsgi.method or "GET", wsgi.path_info, wsgi.META.get("QUERY_STRING", ""), response
            )
        return response

    monkeypatch.setattr(Client, "request", validated)
    yield
