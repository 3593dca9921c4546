"""The schema as strict tools read it (issue #24): OpenAPI 3.1 that openapi-spec-validator
accepts, no null enums, no ``oneOf`` an empty string matches twice, ``servers``, every error an
operation can answer documented in the one shape; and the contract check (tests/api_contract.py)
that validates every API response of the suite really fails on a response outside it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.http import JsonResponse
from openapi_spec_validator import validate

from socialcare.api.errors import exception_handler
from socialcare.exceptions import SocialCareError
from tests.api_contract import ContractViolation, api_schema, check_response

SCHEMA = "/socialcare/api/schema/"
API = "/socialcare/api/v1"
METHODS = {"get", "post", "put", "patch", "delete"}


def nodes(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object in ``node`` with its JSON pointer."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from nodes(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from nodes(value, f"{where}/{index}")


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, items in schema["paths"].items():
        for method, operation in items.items():
            if method in METHODS:
                yield path, method, operation


@pytest.fixture
def served(admin_client: Any) -> dict[str, Any]:
    response = admin_client.get(SCHEMA, {"format": "json"}, HTTP_HOST="crm.example.com")
    assert response.status_code == 200
    return response.json()


def test_the_schema_is_valid_openapi_3_1(served: dict[str, Any]) -> None:
    assert served["openapi"].startswith("3.1")
    validate(served)


def test_no_null_enum_and_nullable_written_the_3_1_way(served: dict[str, Any]) -> None:
    schemas = served["components"]["schemas"]
    assert "NullEnum" not in schemas
    for where, node in nodes(served):
        assert node.get("enum") != [None], where
        assert "nullable" not in node, where  # an OpenAPI 3.0 keyword 3.1 tools ignore
    sla_state = schemas["Case"]["properties"]["sla_state"]
    assert sla_state["oneOf"] == [{"$ref": "#/components/schemas/SlaStateEnum"}, {"type": "null"}]
    assert schemas["BlankEnum"] == {"type": "string", "enum": [""]}


def test_no_one_of_that_a_value_matches_twice(served: dict[str, Any]) -> None:
    """Two plain strings in one ``oneOf`` (a URL field that may be blank was
    ``[{format: uri}, {maxLength: 0}]``): "" matched both and generated clients refused it."""
    for where, node in nodes(served):
        plain = [
            option
            for option in node.get("oneOf", [])
            if option.get("type") == "string" and "enum" not in option
        ]
        assert len(plain) <= 1, where
    # openapi-generator's client failed on it: "Multiple matches found … HistoryPostUrl".
    url = served["components"]["schemas"]["HistoryPost"]["properties"]["url"]
    assert url["type"] == "string" and "oneOf" not in url
    assert "A URL, or an empty string" in url["description"]


def test_servers_name_the_host_the_schema_was_read_from(served: dict[str, Any]) -> None:
    assert served["servers"] == [{"url": "http://crm.example.com"}]
    # Generated without a request (manage.py spectacular): relative to the document.
    assert api_schema()["servers"] == [{"url": "/"}]


def test_every_operation_documents_the_errors_it_can_answer(served: dict[str, Any]) -> None:
    error = {"$ref": "#/components/schemas/Error"}
    for path, method, operation in operations(served):
        where = f"{method.upper()} {path}"
        statuses = {int(code) for code in operation["responses"]}
        expected = {401, 403, 405, 406, 429}
        if "{" in path:
            expected.add(404)
        if "requestBody" in operation:
            expected |= {400, 415}
        if any(param["in"] == "query" for param in operation.get("parameters", [])):
            expected.add(400)
        assert expected <= statuses, (where, sorted(expected - statuses))
        for code, response in operation["responses"].items():
            if code.startswith("4"):
                content = response["content"]["application/json"]
                assert content["examples"], (where, code)
                if int(code) in expected:  # the one shape (a 409 may say more)
                    assert content["schema"] == error, (where, code)


def test_customer_ids_are_typed_as_the_history_url_takes_them(served: dict[str, Any]) -> None:
    summary_id = served["components"]["schemas"]["CustomerSummary"]["properties"]["id"]
    history = served["paths"][f"{API}/customers/{{id}}/history/"]["get"]
    (path_id,) = [param for param in history["parameters"] if param["in"] == "path"]
    assert summary_id["type"] == path_id["schema"]["type"] == "integer"


def test_a_400_always_names_what_is_wrong() -> None:
    response = exception_handler(SocialCareError("This channel is paused."), {})
    assert response.status_code == 400
    assert response.data["errors"] == {"non_field_errors": ["This channel is paused."]}


def test_the_contract_check_fails_a_response_outside_the_schema() -> None:
    page = {"next": None, "previous": None, "results": [{"id": "not a number"}]}
    with pytest.raises(ContractViolation) as failure:
        check_response("GET", f"{API}/cases/", "", JsonResponse(page))
    message = str(failure.value)
    assert f"GET {API}/cases/ answered 200" in message
    assert "at results/0" in message
    # An undocumented status is one too.
    with pytest.raises(ContractViolation, match="418"):
        check_response("GET", f"{API}/cases/", "", JsonResponse({"detail": "x"}, status=418))


def test_the_contract_check_passes_what_the_schema_describes() -> None:
    error = {"code": "not_found", "detail": "Not found."}
    check_response("GET", f"{API}/cases/1/", "", JsonResponse(error, status=404))
    # Not an operation of the schema: not checked (the URL's own test says what it answers).
    check_response("GET", f"{API}/no-such-thing/", "", JsonResponse(error, status=404))
    assert json.loads(JsonResponse(error).content) == error
