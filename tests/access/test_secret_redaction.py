"""Secrets never leave in clear: channel secrets and OAuth tokens, webhook subscription secrets,
API keys and their hashes — not in admin pages, API answers, DEBUG logs, or dumpdata (which
carries the ciphertext only)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from socialcare import channel_cache, crypto
from socialcare.models import Channel, WebhookSubscription
from socialcare.services import outbound
from socialcare.services.apikeys import create_api_key
from tests.ingest_helpers import fixture_bytes, x_signature

pytestmark = pytest.mark.django_db

WEBHOOK_SECRET = "chan-webhook-secret-7f3a9c1e"
ACCESS_TOKEN = "oauth-access-token-5d2b8e44"
REFRESH_TOKEN = "oauth-refresh-token-91c0aa3f"
SUB_SECRET = "whsec_subscription_secret_c83d21"


@pytest.fixture
def secrets_world(make_user: Callable[..., Any]) -> dict[str, Any]:
    cache.clear()
    channel_cache.clear()
    root = make_user("root", is_superuser=True)
    channel = Channel(name="Acme on X", platform="x", account_id="1114259648326987776")
    channel.set_secret("webhook_secret", WEBHOOK_SECRET)
    channel.set_secret("access_token", ACCESS_TOKEN)
    channel.set_secret("refresh_token", REFRESH_TOKEN)
    channel.save()
    subscription = WebhookSubscription.objects.create(
        name="CRM", url="http://127.0.0.1:9/hook", secrets={"secret": SUB_SECRET}
    )
    key, plain = create_api_key(root, "ops")
    return {
        "root": root,
        "channel": channel,
        "subscription": subscription,
        "key": key,
        "plain": plain,
        "secrets": [WEBHOOK_SECRET, ACCESS_TOKEN, REFRESH_TOKEN, SUB_SECRET, plain, key.key_hash],
    }


def assert_clean(text: str, world: dict[str, Any], where: str) -> None:
    for secret in world["secrets"]:
        assert secret not in text, f"{where}: a secret ({secret[:6]}…) leaked"


ADMIN_PAGES = [
    ("channel list", lambda w: "/admin/socialcare/channel/"),
    ("channel page", lambda w: f"/admin/socialcare/channel/{w['channel'].pk}/change/"),
    ("channel history", lambda w: f"/admin/socialcare/channel/{w['channel'].pk}/history/"),
    ("subscription list", lambda w: "/admin/socialcare/webhooksubscription/"),
    (
        "subscription page",
        lambda w: f"/admin/socialcare/webhooksubscription/{w['subscription'].pk}/change/",
    ),
    (
        "subscription history",
        lambda w: f"/admin/socialcare/webhooksubscription/{w['subscription'].pk}/history/",
    ),
    ("API key list", lambda w: "/admin/socialcare/apikey/"),
    ("API key page", lambda w: f"/admin/socialcare/apikey/{w['key'].pk}/change/"),
    ("API key history", lambda w: f"/admin/socialcare/apikey/{w['key'].pk}/history/"),
    ("deliveries", lambda w: "/admin/socialcare/webhookdelivery/"),
    ("outbound deliveries", lambda w: "/admin/socialcare/outbounddelivery/"),
]


@pytest.mark.parametrize(("name", "url"), ADMIN_PAGES, ids=[p[0] for p in ADMIN_PAGES])
def test_admin_pages_show_no_secret(secrets_world: Any, name: str, url: Any) -> None:
    client = Client()
    client.force_login(secrets_world["root"])
    response = client.get(url(secrets_world))
    assert response.status_code == 200, name
    assert_clean(response.content.decode(), secrets_world, name)


API_ANSWERS = [
    ("subscriptions", lambda w: "/socialcare/api/v1/webhook-subscriptions/"),
    ("subscription", lambda w: f"/socialcare/api/v1/webhook-subscriptions/{w['subscription'].pk}/"),
    ("API keys", lambda w: "/socialcare/api/v1/api-keys/"),
    ("API key", lambda w: f"/socialcare/api/v1/api-keys/{w['key'].pk}/"),
    ("schema", lambda w: "/socialcare/api/schema/?format=json"),
]


@pytest.mark.parametrize(("name", "url"), API_ANSWERS, ids=[p[0] for p in API_ANSWERS])
def test_api_answers_carry_no_secret(secrets_world: Any, name: str, url: Any) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {secrets_world['plain']}")
    response = api.get(url(secrets_world))
    assert response.status_code == 200, (name, response.content[:300])
    # The answer may not echo the key used to ask for it either.
    assert_clean(response.content.decode(), secrets_world, name)


def test_debug_logs_carry_no_secret(
    secrets_world: Any, caplog: pytest.LogCaptureFixture, robustness: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    client = Client()
    body = fixture_bytes("x/tweet_create_reply.json")
    channel = secrets_world["channel"]
    good = client.generic(
        "POST",
        f"/socialcare/webhooks/x/{channel.pk}/",
        body,
        content_type="application/json",
        HTTP_X_TWITTER_WEBHOOKS_SIGNATURE=x_signature(body, WEBHOOK_SECRET),
    )
    bad = client.generic(
        "POST",
        f"/socialcare/webhooks/x/{channel.pk}/",
        body + b" ",
        content_type="application/json",
        HTTP_X_TWITTER_WEBHOOKS_SIGNATURE="sha256=forged",
    )
    robustness.bad_inputs(1)
    assert good.status_code == 200 and bad.status_code == 403
    outbound.emit("case.created", {"case": {"id": 1}})
    outbound.deliver_subscription(secrets_world["subscription"].pk)  # port 9: refused, logged
    APIClient().get("/socialcare/api/v1/teams/", HTTP_AUTHORIZATION="Api-Key sc_bad_guess")
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert_clean(logged + caplog.text, secrets_world, "logs")


def test_dumpdata_holds_ciphertext_only(secrets_world: Any, tmp_path: Any) -> None:
    out = io.StringIO()
    call_command("dumpdata", "socialcare.channel", "socialcare.webhooksubscription", stdout=out)
    dumped = out.getvalue()
    for secret in (WEBHOOK_SECRET, ACCESS_TOKEN, REFRESH_TOKEN, SUB_SECRET):
        assert secret not in dumped
    # What is there decrypts to the secrets, and loaddata brings them back.
    assert (
        crypto.decrypt(
            next(
                r["fields"]["secrets"]
                for r in json.loads(dumped)
                if r["model"] == "socialcare.channel"
            )
        ).count(WEBHOOK_SECRET)
        == 1
    )
    Channel.objects.all().delete()
    WebhookSubscription.objects.all().delete()
    path = tmp_path / "dump.json"
    path.write_text(dumped)
    call_command("loaddata", str(path), verbosity=0)
    assert Channel.objects.get().get_secret("access_token") == ACCESS_TOKEN
    assert WebhookSubscription.objects.get().secret == SUB_SECRET
