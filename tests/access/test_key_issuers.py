"""A key issued through the API never outlives or outranks the key that issued it: its expiry is
capped at the issuer's, revoking the issuer revokes it (and what it issued), and a key whose
issuer is revoked or expired is refused even when its own row says nothing (issue #23)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from socialcare.exceptions import SocialCareError
from socialcare.models import ApiKey
from socialcare.services.apikeys import (
    MAX_ISSUE_DEPTH,
    authenticate_key,
    create_api_key,
    revoke_api_key,
)

# fresh_throttle: autouse, imported to run here too.
from tests.access.test_api_key_scopes import client, fresh_throttle  # noqa: F401
from tests.test_api_cases import grant

pytestmark = pytest.mark.django_db
API = "/socialcare/api/v1"
MANAGE = ["api-keys:manage", "teams:read"]


@pytest.fixture
def issuer(agent: Any) -> tuple[ApiKey, str]:
    """A key of Alice that may issue keys and expires in an hour."""
    grant(agent, "view_apikey", "add_apikey", "view_team")
    return create_api_key(
        agent, "short", scopes=MANAGE, expires_at=timezone.now() + dt.timedelta(hours=1)
    )


def issue(plain: str, **data: Any) -> dict:
    response = client(plain).post(f"{API}/api-keys/", {"scopes": MANAGE, **data}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_child_never_expires_after_its_issuer(issuer: tuple[ApiKey, str]) -> None:
    key, plain = issuer
    for asked in (None, "2099-01-01T00:00:00Z"):
        data = {"name": f"child {asked}"}
        if asked:
            data["expires_at"] = asked
        body = issue(plain, **data)
        assert parse_datetime(body["expires_at"]) == key.expires_at  # the answer says so
        assert ApiKey.objects.get(pk=body["id"]).expires_at == key.expires_at
        assert body["issued_by"] == key.pk
    sooner = (key.expires_at - dt.timedelta(minutes=5)).isoformat()
    assert parse_datetime(issue(plain, name="sooner", expires_at=sooner)["expires_at"]) == (
        key.expires_at - dt.timedelta(minutes=5)
    )


def test_a_key_issued_in_admin_or_by_a_session_has_no_issuer(agent: Any) -> None:
    grant(agent, "view_apikey", "add_apikey")
    key, _ = create_api_key(agent, "admin-made")
    assert key.issued_by is None and key.expires_at is None
    session = APIClient()
    session.force_login(agent)
    made = session.post(f"{API}/api-keys/", {"name": "by session"}, format="json")
    assert made.status_code == 201, made.content
    assert made.json()["issued_by"] is None and made.json()["expires_at"] is None


def test_revoking_a_key_revokes_every_key_it_issued(
    issuer: tuple[ApiKey, str], agent: Any, robustness: Any
) -> None:
    key, plain = issuer
    child = issue(plain, name="child")
    grandchild = issue(child["key"], name="grandchild")
    _, bystander = create_api_key(agent, "other", scopes=MANAGE)
    for one in (plain, child["key"], grandchild["key"]):
        assert client(one).get(f"{API}/teams/").status_code == 200
    revoked = client(bystander).post(f"{API}/api-keys/{key.pk}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    robustness.bad_inputs(3)
    for one in (plain, child["key"], grandchild["key"]):
        assert client(one).get(f"{API}/teams/").status_code == 401
    states = dict(ApiKey.objects.values_list("pk", "revoked_at"))
    assert states[child["id"]] and states[grandchild["id"]]
    assert client(bystander).get(f"{API}/teams/").status_code == 200


def test_a_key_whose_issuer_chain_is_dead_is_refused(
    issuer: tuple[ApiKey, str], robustness: Any
) -> None:
    """Defense in depth: even when a row was changed without the service (a bulk update, a
    restore), a key with a revoked or expired issuer up its chain authenticates nothing."""
    key, plain = issuer
    child = issue(plain, name="child")
    grandchild = issue(child["key"], name="grandchild")
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    robustness.bad_inputs(2)
    assert authenticate_key(grandchild["key"]) is None
    assert client(child["key"]).get(f"{API}/teams/").status_code == 401
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=None)
    assert authenticate_key(grandchild["key"]) is not None
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert authenticate_key(grandchild["key"]) is None


def test_the_chain_is_checked_in_one_query_and_bounded(issuer: tuple[ApiKey, str]) -> None:
    _, plain = issuer
    keys = [plain]
    for depth in range(1, MAX_ISSUE_DEPTH + 1):
        keys.append(issue(keys[-1], name=f"depth {depth}")["key"])
    ApiKey.objects.update(last_used_at=timezone.now())  # no last-used write in the count
    with CaptureQueriesContext(connection) as queries:
        assert authenticate_key(keys[-1]) is not None
    assert len(queries) == 1
    too_deep = client(keys[-1]).post(
        f"{API}/api-keys/", {"name": "deeper", "scopes": MANAGE}, format="json"
    )
    assert too_deep.status_code == 400
    assert f"at most {MAX_ISSUE_DEPTH} levels deep" in too_deep.json()["detail"]


def test_a_child_never_outranks_its_issuer(agent: Any) -> None:
    reader, _ = create_api_key(agent, "ro", read_only=True, scopes=["teams:read"])
    with pytest.raises(SocialCareError, match="read-only"):
        create_api_key(agent, "rw", scopes=["teams:read"], within=reader)
    with pytest.raises(SocialCareError, match="lacks cases:read"):
        create_api_key(agent, "more", read_only=True, scopes=["cases:read"], within=reader)


def test_deleting_an_issuer_deletes_its_keys(issuer: tuple[ApiKey, str]) -> None:
    key, plain = issuer
    child = issue(plain, name="child")
    key.delete()
    assert not ApiKey.objects.filter(pk=child["id"]).exists()


def test_admin_shows_who_issued_a_key(issuer: tuple[ApiKey, str], admin_user: Any) -> None:
    key, plain = issuer
    child = issue(plain, name="child of short")
    web = APIClient()
    web.force_login(admin_user)
    page = web.get(f"/admin/socialcare/apikey/{child['id']}/change/").content.decode()
    assert "issued by" in page.lower() and str(key) in page
    parent_page = web.get(f"/admin/socialcare/apikey/{key.pk}/change/").content.decode()
    assert "child of short" in parent_page
    revoke_api_key(key)
    assert ApiKey.objects.get(pk=child["id"]).revoked_at is not None
