"""API key scopes: each route needs its scope, keys cannot grant more than they hold, and a
revoked or expired key is refused at once."""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

import pytest
from django.apps import apps
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from socialcare.api.permissions import ROUTE_SCOPES
from socialcare.api.urls import router, urlpatterns
from socialcare.models import ApiKey, CaseEvent, Post
from socialcare.services.apikeys import READ_SCOPES, SCOPES, create_api_key, revoke_api_key
from tests.test_api_cases import WORK, grant

pytestmark = pytest.mark.django_db
API = "/socialcare/api/v1"


@pytest.fixture(autouse=True)
def _fresh_throttle() -> Any:
    cache.clear()
    yield
    cache.clear()


def client(plain: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    return api


def test_every_api_route_names_its_scopes() -> None:
    routes = {basename for _, _, basename in router.registry}
    routes |= {
        n for p in urlpatterns if (n := getattr(p, "name", None)) and n.startswith("customer-")
    }
    assert routes <= set(ROUTE_SCOPES), routes - set(ROUTE_SCOPES)
    for read, write in ROUTE_SCOPES.values():
        assert read in SCOPES and write in SCOPES


def test_a_key_uses_only_its_scopes(agent: Any, case: Any, robustness: Any) -> None:
    grant(agent, *WORK)
    _, plain = create_api_key(agent, "cases only", scopes=["cases:read", "cases:write"])
    api = client(plain)
    assert api.get(f"{API}/cases/{case.pk}/").status_code == 200
    assert api.post(f"{API}/cases/{case.pk}/notes/", {"text": "ok"}, format="json").status_code in (
        200,
        201,
    )
    refused = [
        api.get(f"{API}/posts/"),
        api.get(f"{API}/customers/"),
        api.get(f"{API}/webhook-subscriptions/"),
        api.post(f"{API}/cases/{case.pk}/replies/", {"text": "hi", "visibility": "public"}),
        api.get(f"{API}/api-keys/"),
    ]
    robustness.bad_inputs(len(refused))
    for response in refused:
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "permission_denied"
        assert "lacks the scope" in response.json()["detail"]
    assert not Post.objects.filter(direction="outbound").exists()
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.NOTE).count() == 1


def test_a_key_with_no_scopes_can_do_nothing(agent: Any, case: Any, robustness: Any) -> None:
    grant(agent, *WORK)
    key, plain = create_api_key(agent, "nothing", scopes=[])
    assert key.scopes == []
    robustness.bad_inputs(1)
    assert client(plain).get(f"{API}/cases/").status_code == 403


def test_revoked_or_expired_key_is_401_json_at_once(agent: Any, case: Any, robustness: Any) -> None:
    grant(agent, *WORK)
    key, plain = create_api_key(agent, "crm")
    api = client(plain)
    assert api.get(f"{API}/cases/").status_code == 200  # used once: nothing cached after this
    revoke_api_key(key)
    response = api.get(f"{API}/cases/")
    assert response.status_code == 401 and response.json()["code"] == "authentication_failed"
    other, plain2 = create_api_key(
        agent, "short", expires_at=timezone.now() + dt.timedelta(hours=1)
    )
    assert client(plain2).get(f"{API}/cases/").status_code == 200
    ApiKey.objects.filter(pk=other.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = client(plain2).get(f"{API}/cases/")
    robustness.bad_inputs(2)
    assert response.status_code == 401 and response["Content-Type"] == "application/json"


def test_issue_keys_through_the_api_never_beyond_the_callers_scopes(
    agent: Any, robustness: Any
) -> None:
    grant(agent, "view_apikey", "add_apikey", "view_case")
    _, plain = create_api_key(agent, "ops", scopes=["api-keys:manage", "cases:read"])
    api = client(plain)
    made = api.post(f"{API}/api-keys/", {"name": "bi", "scopes": ["cases:read"]}, format="json")
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["key"].startswith("sc_") and body["scopes"] == ["cases:read"]
    new = ApiKey.objects.get(pk=body["id"])
    assert new.user == agent and "key_hash" not in body
    listed = api.get(f"{API}/api-keys/").json()["results"]
    assert all("key" not in item and "key_hash" not in item for item in listed)
    assert new.key_hash not in api.get(f"{API}/api-keys/").content.decode()
    hostile = [
        {"name": "more", "scopes": ["cases:write"]},
        {"name": "all"},  # no scopes: every scope, which the caller lacks
        {"name": "odd", "scopes": ["root"]},
        {"name": "odd", "scopes": "cases:read"},
        {"name": "", "scopes": ["cases:read"]},
    ]
    robustness.bad_inputs(len(hostile))
    for data in hostile:
        response = api.post(f"{API}/api-keys/", data, format="json")
        assert response.status_code == 400, (data, response.content)
        assert response.json()["code"] == "invalid"
    assert ApiKey.objects.count() == 2
    revoked = api.post(f"{API}/api-keys/{new.pk}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert client(body["key"]).get(f"{API}/cases/").status_code == 401


def test_read_only_keys_hold_read_scopes_only(agent: Any) -> None:
    key, _ = create_api_key(agent, "bi", read_only=True)
    assert set(key.scopes) == set(READ_SCOPES) and all(s.endswith(":read") for s in key.scopes)
    with pytest.raises(Exception, match="read-only"):
        create_api_key(agent, "bi", read_only=True, scopes=["cases:write"])


def test_data_migration_gives_old_keys_their_old_meaning(agent: Any) -> None:
    migration = importlib.import_module("socialcare.migrations.0010_access_controls")
    ro, _ = create_api_key(agent, "old reporting", read_only=True)
    rw, _ = create_api_key(agent, "old sync")
    ApiKey.objects.update(scopes=[])
    migration.scopes_from_read_only(apps, None)
    ro.refresh_from_db()
    rw.refresh_from_db()
    assert set(ro.scopes) == set(READ_SCOPES)
    assert set(rw.scopes) == set(SCOPES)
