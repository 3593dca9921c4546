"""Every date-time filter of the API answers 200 or 400, never 500, for a value Python parses but
a database refuses: an offset beyond PostgreSQL's ±15:59 (found by the schema fuzz on
``privacy-requests/?created_before=``, which used django-filter's plain filter), and a date at
the calendar's edge that overflows once converted to UTC."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.api_contract import api_schema

pytestmark = pytest.mark.django_db


def date_time_filters() -> list[tuple[str, str]]:
    """(list URL, parameter) for every query parameter the schema says is a date-time."""
    found = []
    for path, item in api_schema()["paths"].items():
        if "{" in path or "get" not in item:
            continue
        for param in item["get"].get("parameters", []):
            schema = param.get("schema", {})
            if param.get("in") == "query" and schema.get("format") == "date-time":
                found.append((path, param["name"]))
    return found


def test_the_schema_has_date_time_filters_to_check() -> None:
    filters = date_time_filters()
    assert ("/socialcare/api/v1/privacy-requests/", "created_before") in filters
    assert len(filters) >= 10


@pytest.mark.parametrize(
    ("value", "statuses"),
    [
        # PostgreSQL refuses "+20:43" outright; converted to UTC it is an ordinary instant.
        ("2000-01-01T00:00:00+20:43", {200}),
        ("0023-02-28T06:54:36.0+20:43", {200}),
        # Overflows when converted to UTC: a 400 that names the parameter.
        ("0001-01-01T00:00:00+05:00", {400}),
    ],
)
def test_every_date_time_filter_takes_any_parsable_value_without_a_500(
    admin_user: Any, value: str, statuses: set[int]
) -> None:
    api = APIClient()
    api.force_authenticate(admin_user)
    answers = {}
    for path, name in date_time_filters():
        response = api.get(path, {name: value})
        answers[f"{path}?{name}"] = response.status_code
        if response.status_code == 400:
            assert name in response.json().get("errors", {}), (path, response.json())
    wrong = {where: status for where, status in answers.items() if status not in statuses}
    assert not wrong, wrong
