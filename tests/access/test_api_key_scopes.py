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
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.test import APIClient

from socialcare.admin.apikeys import ApiKeyCreateForm
from socialcare.api.errors import exception_handler
from socialcare.api.permissions import ACTION_SCOPES, ROUTE_ACTIONS, ROUTE_SCOPES
from socialcare.api.urls import router, urlpatterns
from socialcare.exceptions import SocialCareError
from socialcare.models import ApiKey, CaseEvent, IdentityVerification, Post
from socialcare.services.apikeys import READ_SCOPES, SCOPES, create_api_key, revoke_api_key
from socialcare.services.incidents import open_incident
from tests.test_api_cases import WORK, grant

pytestmark = pytest.mark.django_db
API = "/socialcare/api/v1"


@pytest.fixture(autouse=True)
def fresh_throttle() -> Any:
    """No failed key attempts counted from another test (they live in the cache)."""
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


def test_every_action_is_checked_by_a_decision_not_a_default() -> None:
    """Each extra action is either an action of its route's own resource (``ROUTE_ACTIONS``) or
    names the scopes of the resource it reaches (``ACTION_SCOPES``): never both, never neither."""
    actions = {
        (basename, extra.__name__)
        for _, viewset, basename in router.registry
        for extra in viewset.get_extra_actions()
    }
    assert actions == set(ACTION_SCOPES) | ROUTE_ACTIONS
    assert not set(ACTION_SCOPES) & ROUTE_ACTIONS
    for reads, writes in ACTION_SCOPES.values():
        assert reads and writes and set(reads) | set(writes) <= set(SCOPES)


VERIFY = ("view_case", "change_case", "view_identityverification")


def test_verification_links_need_the_verification_scopes(
    agent: Any, case: Any, robustness: Any
) -> None:
    """Issue #23: a cases-only key created links and a verification key was refused."""
    grant(agent, *VERIFY)
    links = f"{API}/cases/{case.pk}/verification-links/"
    _, cases_only = create_api_key(agent, "cases", scopes=["cases:read", "cases:write"])
    api = client(cases_only)
    refused = [api.post(links), api.get(links), api.get(f"{API}/verification-links/")]
    robustness.bad_inputs(len(refused))
    for response in refused:
        assert response.status_code == 403, response.content
        assert "lacks the scope verification:" in response.json()["detail"]
    assert not IdentityVerification.objects.exists()

    _, verifier = create_api_key(
        agent, "verify", scopes=["verification:read", "verification:write"]
    )
    api = client(verifier)
    made = api.post(links)
    assert made.status_code == 201, made.content
    assert made.json()["url"].startswith("http://testserver/socialcare/verify/")
    assert [link["id"] for link in api.get(links).json()] == [made.json()["id"]]
    assert api.get(f"{API}/verification-links/").status_code == 200
    assert api.get(f"{API}/cases/{case.pk}/").status_code == 403  # not a cases key

    _, reader = create_api_key(agent, "verify-read", scopes=["verification:read"])
    api = client(reader)
    assert api.get(links).status_code == 200
    response = api.post(links)
    assert response.status_code == 403
    assert response.json()["detail"] == "This API key lacks the scope verification:write."
    assert IdentityVerification.objects.count() == 1


def test_linking_cases_to_an_incident_needs_cases_write(
    agent: Any, case: Any, robustness: Any
) -> None:
    """Linking changes the cases (and runs the incident's done steps on them)."""
    grant(agent, "view_incident", "change_incident", "view_case", "change_case")
    incident, _ = open_incident(title="Outage", scope="platform=x;channel=*", evidence={})
    _, plain = create_api_key(agent, "war room", scopes=["incidents:read", "incidents:write"])
    api = client(plain)
    attempts = [
        api.post(f"{API}/incidents/{incident.pk}/cases/", {"cases": [case.pk]}, format="json"),
        api.post(f"{API}/incidents/open-from-case/", {"case": case.pk}, format="json"),
    ]
    robustness.bad_inputs(len(attempts))
    for response in attempts:
        assert response.status_code == 403, response.content
        assert response.json()["detail"] == "This API key lacks the scope cases:write."
    case.refresh_from_db()
    assert case.incident_id is None
    assert api.get(f"{API}/incidents/{incident.pk}/").status_code == 200
    _, both = create_api_key(
        agent, "war room 2", scopes=["incidents:read", "incidents:write", "cases:write"]
    )
    linked = client(both).post(
        f"{API}/incidents/{incident.pk}/cases/", {"cases": [case.pk]}, format="json"
    )
    assert linked.status_code == 200, linked.content


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
    # The scopes as they were when the migration ran (later scopes are never granted silently).
    assert set(ro.scopes) == set(migration.READ_SCOPES)
    assert set(rw.scopes) == set(migration.SCOPES)


def test_a_key_with_no_scopes_cannot_read_the_schema_or_its_viewers(
    agent: Any, admin_user: Any, robustness: Any
) -> None:
    """Issue #23: a key with no scopes fetched ``schema/``; it can do nothing."""
    _, nothing = create_api_key(agent, "nothing", scopes=[])
    _, some = create_api_key(agent, "teams", scopes=["teams:read"])
    urls = ["/socialcare/api/schema/", "/socialcare/api/docs/", "/socialcare/api/redoc/"]
    robustness.bad_inputs(len(urls))
    for url in urls:
        refused = client(nothing).get(url)
        assert refused.status_code == 403, (url, refused.content)
        assert refused["Content-Type"] == "application/json"
        assert refused.json() == {
            "code": "permission_denied",
            "detail": "This API key has no scopes: it can do nothing.",
        }
        assert client(some).get(url).status_code == 200, url
        staff = APIClient()
        staff.force_login(admin_user)
        assert staff.get(url).status_code == 200, url


def test_key_errors_are_clean_messages_on_their_field(agent: Any, robustness: Any) -> None:
    """Issue #23: refusals read ``"['The key you use lacks …']"``, a Python list printed."""
    grant(agent, "view_apikey", "add_apikey")
    _, plain = create_api_key(
        agent, "ops", scopes=["api-keys:manage", "cases:read"], read_only=False
    )
    api = client(plain)
    cases = [
        (
            {"name": "more", "scopes": ["cases:write"]},
            "scopes",
            "The key you use lacks cases:write",
        ),
        ({"name": "ro", "read_only": True, "scopes": ["cases:write"]}, "scopes", "A read-only"),
        ({"name": " ", "scopes": ["cases:read"]}, "name", ""),
        ({"name": "odd", "scopes": ["root"]}, "scopes", '"root" is not a valid choice.'),
    ]
    robustness.bad_inputs(len(cases))
    for data, field, start in cases:
        body = api.post(f"{API}/api-keys/", data, format="json").json()
        assert set(body) == {"code", "detail", "errors"} and body["code"] == "invalid", body
        assert field in body["errors"], body
        assert not body["detail"].startswith(("[", "{")), body
        assert "['" not in body["detail"] and "{'" not in body["detail"], body
        assert body["detail"].startswith(start), body
    body = api.post(f"{API}/api-keys/", {"name": "x", "scopes": ["cases:write"]}, format="json")
    assert body.json()["errors"] == {
        "scopes": ["The key you use lacks cases:write: it cannot grant more than it has."]
    }


@pytest.mark.parametrize(
    "exc",
    [
        ValidationError({"scopes": {0: ['"root" is not a valid choice.']}}),
        ValidationError([{"name": ['"root" is not a valid choice.']}]),
        PermissionDenied(['"root" is not a valid choice.']),
        SocialCareError('"root" is not a valid choice.'),
    ],
)
def test_error_detail_is_a_sentence_never_a_printed_structure(exc: Exception) -> None:
    body = exception_handler(exc, {}).data
    assert body["detail"] == '"root" is not a valid choice.', body


def test_admin_form_shows_scope_errors_as_sentences(agent: Any) -> None:
    form = ApiKeyCreateForm(
        data={"name": "bi", "user": agent.pk, "read_only": "on", "scopes": ["cases:write"]}
    )
    assert not form.is_valid()
    assert form.errors["scopes"] == ["A read-only key cannot hold cases:write."]
