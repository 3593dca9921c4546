"""API authentication and its edges: keys (read-only, revoked, expired), session auth, throttling,
the one error shape for every 4xx, the OpenAPI schema and its viewers, and the API key admin."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.utils import timezone
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from socialcare.models import ApiKey, WebhookSubscription
from socialcare.models.apikey import hash_key
from socialcare.services.apikeys import create_api_key, revoke_api_key

pytestmark = pytest.mark.django_db

V1 = "/socialcare/api/v1"
TEAMS = f"{V1}/teams/"
ERROR_KEYS = {"code", "detail", "errors"}


@pytest.fixture(autouse=True)
def _fresh_throttle() -> Any:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def admin_user(make_user: Callable[..., Any]) -> Any:
    return make_user("root", is_superuser=True)


def key_client(plain: str, scheme: str = "Api-Key") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {plain}")
    return client


@pytest.fixture
def key(admin_user: Any) -> tuple[ApiKey, str]:
    return create_api_key(admin_user, "CRM sync")


def error(response: Any, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert {"code", "detail"} <= set(body) <= ERROR_KEYS
    assert body["code"] == code and isinstance(body["detail"], str) and body["detail"]
    return body


# Authentication ---------------------------------------------------------------------------------


def test_no_credentials_is_401_with_challenge() -> None:
    response = APIClient().get(TEAMS)
    error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Api-Key realm="socialcare"'


def test_key_in_either_scheme(key: tuple[ApiKey, str]) -> None:
    row, plain = key
    assert key_client(plain).get(TEAMS).status_code == 200
    assert key_client(plain, "Bearer").get(TEAMS).status_code == 200
    row.refresh_from_db()
    assert row.last_used_at is not None


def test_unknown_key_is_401(key: tuple[ApiKey, str]) -> None:
    _, plain = key
    error(key_client(plain + "x").get(TEAMS), 401, "authentication_failed")
    # Not one of our keys at all: no credentials as far as socialcare is concerned.
    error(key_client("some-other-token", "Bearer").get(TEAMS), 401, "not_authenticated")


def test_revoked_key_is_401(key: tuple[ApiKey, str]) -> None:
    row, plain = key
    revoke_api_key(row)
    error(key_client(plain).get(TEAMS), 401, "authentication_failed")


def test_expired_key_is_401(admin_user: Any) -> None:
    row, plain = create_api_key(
        admin_user, "short", expires_at=timezone.now() + dt.timedelta(hours=1)
    )
    assert key_client(plain).get(TEAMS).status_code == 200
    ApiKey.objects.filter(pk=row.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    error(key_client(plain).get(TEAMS), 401, "authentication_failed")


def test_key_of_inactive_user_is_401(key: tuple[ApiKey, str], admin_user: Any) -> None:
    _, plain = key
    admin_user.is_active = False
    admin_user.save()
    error(key_client(plain).get(TEAMS), 401, "authentication_failed")


def test_key_of_non_staff_user_is_403(make_user: Callable[..., Any]) -> None:
    user = make_user("customer-portal", is_staff=False, is_superuser=True)
    _, plain = create_api_key(user, "portal")
    body = error(key_client(plain).get(TEAMS), 403, "permission_denied")
    assert "staff" in body["detail"]


def test_only_hashes_are_stored(key: tuple[ApiKey, str]) -> None:
    row, plain = key
    assert row.key_hash == hash_key(plain) and plain not in (row.key_hash, row.prefix)
    assert plain.startswith(f"sc_{row.prefix}_")


def test_read_only_key_reads_but_never_writes(admin_user: Any) -> None:
    _, plain = create_api_key(admin_user, "reporting", read_only=True)
    client = key_client(plain)
    sub = WebhookSubscription.objects.create(
        name="A", url="https://a.example/", secrets={"secret": "x" * 32}
    )
    url = f"{V1}/webhook-subscriptions/"
    assert client.get(url).status_code == 200
    assert client.get(f"{V1}/customers/").status_code == 200
    body = error(
        client.post(url, {"name": "B", "url": "https://b.example/"}, format="json"),
        403,
        "permission_denied",
    )
    assert "read-only" in body["detail"]
    error(client.patch(f"{url}{sub.pk}/", {"name": "C"}, format="json"), 403, "permission_denied")
    error(client.delete(f"{url}{sub.pk}/"), 403, "permission_denied")
    error(client.post(f"{V1}/customers/", {"name": "C"}, format="json"), 403, "permission_denied")
    assert WebhookSubscription.objects.get().name == "A"


def test_session_auth_for_staff_with_csrf(admin_user: Any, make_user: Callable[..., Any]) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.get(TEAMS).status_code == 200
    error(client.post(f"{V1}/customers/", {"name": "Ada"}, format="json"), 403, "permission_denied")
    token = "k" * 32  # Django compares the X-CSRFToken header with the csrftoken cookie
    client.cookies["csrftoken"] = token
    response = client.post(
        f"{V1}/customers/", {"name": "Ada"}, format="json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 201

    outsider = APIClient()
    outsider.force_login(make_user("not-staff", is_staff=False))
    error(outsider.get(TEAMS), 403, "permission_denied")


# Throttling -------------------------------------------------------------------------------------


def test_throttled_per_key(socialcare_settings: Any, admin_user: Any) -> None:
    _, first = create_api_key(admin_user, "one")
    _, second = create_api_key(admin_user, "two")
    with socialcare_settings(API_THROTTLE_RATE="3/min"):
        client = key_client(first)
        for _ in range(3):
            assert client.get(TEAMS).status_code == 200
        response = client.get(TEAMS)
        error(response, 429, "throttled")
        assert int(response["Retry-After"]) > 0
        # Another key has its own budget.
        assert key_client(second).get(TEAMS).status_code == 200


def test_throttled_per_session_user(socialcare_settings: Any, admin_user: Any) -> None:
    client = APIClient()
    client.force_login(admin_user)
    with socialcare_settings(API_THROTTLE_RATE="2/min"):
        assert client.get(TEAMS).status_code == 200
        assert client.get(TEAMS).status_code == 200
        error(client.get(TEAMS), 429, "throttled")


# The one error shape ----------------------------------------------------------------------------


def test_error_shapes(key: tuple[ApiKey, str]) -> None:
    _, plain = key
    client = key_client(plain)
    error(client.get(f"{V1}/customers/999999/"), 404, "not_found")
    error(client.delete(f"{V1}/customers/"), 405, "method_not_allowed")
    error(client.put(TEAMS, {}, format="json"), 405, "method_not_allowed")
    error(
        client.post(
            f"{V1}/customers/", "name=Ada", content_type="application/x-www-form-urlencoded"
        ),
        415,
        "unsupported_media_type",
    )
    error(
        client.post(f"{V1}/customers/", "{not json", content_type="application/json"),
        400,
        "parse_error",
    )
    body = error(client.post(f"{V1}/customers/", {"email": "nope"}, format="json"), 400, "invalid")
    assert body["errors"]["email"] and isinstance(body["errors"]["email"], list)
    body = error(client.post(f"{V1}/customers/", [1, 2], format="json"), 400, "invalid")
    assert "non_field_errors" in body["errors"]
    body = error(
        client.get(f"{V1}/identities/", {"linked": "x", "updated_since": "nope"}), 400, "invalid"
    )
    assert "updated_since" in body["errors"]
    # A NUL byte would be a database error on PostgreSQL: refused up front.
    body = error(client.get(f"{V1}/customers/", {"search": "a\x00b"}), 400, "invalid")
    assert body["errors"]


def test_unsupported_accept_is_406_in_the_shape(key: tuple[ApiKey, str]) -> None:
    _, plain = key
    response = key_client(plain).get(TEAMS, HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert response.json()["code"] == "not_acceptable"


# OpenAPI schema and its viewers -----------------------------------------------------------------


def schema_of(client: APIClient) -> dict:
    response = client.get("/socialcare/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content
    return json.loads(response.content)


PEOPLE_PATHS = [
    "/socialcare/api/v1/customers/",
    "/socialcare/api/v1/customers/{id}/",
    "/socialcare/api/v1/customers/{id}/merge/",
    "/socialcare/api/v1/customers/{id}/history/",
    "/socialcare/api/v1/identities/",
    "/socialcare/api/v1/identities/{id}/",
    "/socialcare/api/v1/identities/{id}/link/",
    "/socialcare/api/v1/identities/{id}/unlink/",
    "/socialcare/api/v1/teams/",
    "/socialcare/api/v1/teams/{id}/",
    "/socialcare/api/v1/sla-policies/",
    "/socialcare/api/v1/sla-policies/{id}/",
    "/socialcare/api/v1/webhook-subscriptions/",
    "/socialcare/api/v1/webhook-subscriptions/{id}/",
]


def test_schema_is_valid_openapi_3(key: tuple[ApiKey, str]) -> None:
    _, plain = key
    schema = schema_of(key_client(plain))
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)
    assert set(PEOPLE_PATHS) <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["ApiKey"]["in"] == "header"


def test_every_people_operation_is_documented(key: tuple[ApiKey, str]) -> None:
    _, plain = key
    schema = schema_of(key_client(plain))
    error_ref = None
    for path in PEOPLE_PATHS:
        for method, operation in schema["paths"][path].items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), where
            statuses = {int(code) for code in operation["responses"]}
            assert {401, 403, 429} <= statuses, where
            for code, response in operation["responses"].items():
                if code.startswith("4"):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    error_ref = error_ref or ref
                    assert ref == error_ref, where  # one error shape
                    assert response["content"]["application/json"]["examples"], where
            if method != "delete":
                success = next(r for c, r in operation["responses"].items() if c.startswith("2"))
                assert success["content"]["application/json"].get("examples"), where
    error_schema = schema["components"]["schemas"][error_ref.rsplit("/", 1)[1]]
    assert {"code", "detail"} <= set(error_schema["required"])
    assert set(error_schema["properties"]) == ERROR_KEYS


def test_webhook_secret_is_write_only_in_the_schema(key: tuple[ApiKey, str]) -> None:
    _, plain = key
    schemas = schema_of(key_client(plain))["components"]["schemas"]
    assert "secret" not in schemas["WebhookSubscription"]["properties"]
    assert "secret" in schemas["WebhookSubscriptionRequest"]["properties"]
    assert "secret" in schemas["WebhookSubscriptionCreated"]["properties"]


def test_schema_and_viewers_are_for_staff_only(make_user: Callable[..., Any]) -> None:
    for url in ("/socialcare/api/schema/", "/socialcare/api/docs/", "/socialcare/api/redoc/"):
        assert APIClient().get(url).status_code in (401, 403)
        client = APIClient()
        client.force_login(make_user(f"user-{len(url)}", is_staff=False))
        assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", ["/socialcare/api/docs/", "/socialcare/api/redoc/"])
def test_viewers_use_only_local_static_files(url: str, admin_user: Any) -> None:
    client = APIClient()
    client.force_login(admin_user)
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"https?://", html), "the docs must not load anything from a CDN"
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/static/drf_spectacular_sidecar/") for a in assets), assets
    assert "/socialcare/api/schema/" in html


# The API key admin ------------------------------------------------------------------------------


def test_admin_creates_a_key_and_shows_it_once(
    admin_user: Any, make_user: Callable[..., Any]
) -> None:
    agent = make_user("crm-bot", is_superuser=True)
    client = APIClient()
    client.force_login(admin_user)
    form = client.get("/admin/socialcare/apikey/add/").content.decode()
    assert 'name="name"' in form and 'name="read_only"' in form and "key_hash" not in form
    response = client.post(
        "/admin/socialcare/apikey/add/",
        {
            "name": "Reporting",
            "user": agent.pk,
            "read_only": "on",
            "scopes": ["teams:read", "cases:read"],
            "expires_at_0": "",
            "expires_at_1": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    key = ApiKey.objects.get()
    assert key.user == agent and key.read_only and key.name == "Reporting"
    assert key.scopes == ["cases:read", "teams:read"]
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    plain = re.search(r"(sc_[A-Za-z0-9_\-]+)", " ".join(messages)).group(1)
    assert hash_key(plain) == key.key_hash
    # Shown on the page the admin lands on, once.
    assert plain in client.get(response["Location"]).content.decode()
    assert key_client(plain).get(TEAMS).status_code == 200

    change = client.get(f"/admin/socialcare/apikey/{key.pk}/change/").content.decode()
    assert key.key_hash not in change and plain not in change and key.prefix in change
    assert "cases:read, teams:read" in change
    listing = client.get("/admin/socialcare/apikey/").content.decode()
    assert key.key_hash not in listing and plain not in listing


def test_admin_refuses_a_past_expiry(admin_user: Any) -> None:
    client = APIClient()
    client.force_login(admin_user)
    past = timezone.localtime() - dt.timedelta(days=1)
    response = client.post(
        "/admin/socialcare/apikey/add/",
        {
            "name": "Late",
            "user": admin_user.pk,
            "expires_at_0": past.strftime("%Y-%m-%d"),
            "expires_at_1": past.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 200 and "must be in the future" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_admin_revokes_keys(admin_user: Any) -> None:
    row, plain = create_api_key(admin_user, "old")
    client = APIClient()
    client.force_login(admin_user)
    response = client.post(
        "/admin/socialcare/apikey/",
        {"action": "revoke", "_selected_action": [row.pk]},
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.revoked_at is not None
    error(key_client(plain).get(TEAMS), 401, "authentication_failed")
