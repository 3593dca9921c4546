"""Guessing API keys is bounded: API_AUTH_FAILURE_RATE failures per address, then 429."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from socialcare.services.apikeys import create_api_key

pytestmark = pytest.mark.django_db
TEAMS = "/socialcare/api/v1/teams/"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Any:
    cache.clear()
    yield
    cache.clear()


def get(plain: str, ip: str) -> Any:
    client = APIClient(REMOTE_ADDR=ip)
    return client.get(TEAMS, HTTP_AUTHORIZATION=f"Api-Key {plain}")


def test_key_guessing_is_throttled_per_address(
    make_user: Any, socialcare_settings: Any, robustness: Any
) -> None:
    _, good = create_api_key(make_user("root", is_superuser=True), "crm")
    with socialcare_settings(API_AUTH_FAILURE_RATE="5/min"):
        answers = [
            get(f"sc_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}", "203.0.113.9")
            for _ in range(8)
        ]
        robustness.bad_inputs(len(answers))
        assert [a.status_code for a in answers] == [401] * 5 + [429] * 3
        last = answers[-1]
        assert last.json()["code"] == "throttled" and int(last["Retry-After"]) > 0
        # The guesser's address is stopped even with a good key; others are not.
        assert get(good, "203.0.113.9").status_code == 429
        assert get(good, "198.51.100.7").status_code == 200
