"""The per-process channel cache of the webhook endpoint: fast, yet never wrong for long."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from socialcare import channel_cache
from socialcare.models import Channel, WebhookDelivery
from tests.ingest_helpers import fixture_bytes, make_channels, x_signature

pytestmark = pytest.mark.django_db

X_HEADER = "HTTP_X_TWITTER_WEBHOOKS_SIGNATURE"
BODY = fixture_bytes("x/tweet_create_reply.json")


@pytest.fixture
def x_channel():
    channel_cache.clear()
    yield make_channels()[("x", "1114259648326987776")]
    channel_cache.clear()


def send(client, channel, secret: str = "apiSecret", nth: int = 0):
    # ``nth`` varies the bytes: the same body twice is a replay, answered "duplicate".
    body = BODY + b" " * nth
    return client.generic(
        "POST",
        f"/socialcare/webhooks/x/{channel.pk}/",
        body,
        content_type="application/json",
        **{X_HEADER: x_signature(body, secret)},
    )


def test_a_cached_channel_costs_no_query(client, x_channel):
    assert send(client, x_channel).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert send(client, x_channel, nth=1).status_code == 200
    statements = [q["sql"] for q in queries.captured_queries]
    # The delivery and its replay fingerprint (socialcare.services.replay).
    assert sum(s.startswith("INSERT") for s in statements) == 2
    assert not any('FROM "socialcare_channel"' in s for s in statements)


def test_secret_rotated_by_another_process_works_on_first_delivery(client, x_channel):
    assert send(client, x_channel).status_code == 200
    rotated = dict(x_channel.secrets, webhook_secret="rotated-secret")
    # A queryset update sends no signal: as if another process had saved it.
    Channel.objects.filter(pk=x_channel.pk).update(secrets=rotated)
    assert send(client, x_channel, "rotated-secret", nth=1).status_code == 200
    old = send(client, x_channel, "apiSecret", nth=2)
    assert old.status_code == 403
    assert old.json()["code"] == "bad_signature"
    assert WebhookDelivery.objects.count() == 2


def test_saving_a_channel_here_drops_it_at_once(client, x_channel):
    assert send(client, x_channel).status_code == 200
    x_channel.is_active = False
    x_channel.save()
    assert send(client, x_channel).status_code == 404


def test_deactivated_elsewhere_is_seen_after_the_ttl(client, x_channel, monkeypatch):
    assert send(client, x_channel).status_code == 200
    Channel.objects.filter(pk=x_channel.pk).update(is_active=False)
    assert send(client, x_channel).status_code == 200  # still cached
    monkeypatch.setattr(channel_cache, "TTL", -1.0)
    assert send(client, x_channel).status_code == 404


def test_bad_signatures_still_refused_after_a_reload(client, x_channel):
    assert send(client, x_channel).status_code == 200
    response = send(client, x_channel, "wrong")
    assert response.status_code == 403
    assert WebhookDelivery.objects.count() == 1
