"""Webhook replay protection: a delivery sent again is answered "duplicate" and stored once;
a platform that signs a timestamp has deliveries outside WEBHOOK_REPLAY_WINDOW refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from socialcare import channel_cache
from socialcare.models import Channel, DeliveryFingerprint, WebhookDelivery
from socialcare.platforms import registry
from socialcare.platforms.base import Challenge, ChannelConfig, header
from tests.ingest_helpers import fixture_bytes, make_channels, x_signature

pytestmark = pytest.mark.django_db

X_HEADER = "HTTP_X_TWITTER_WEBHOOKS_SIGNATURE"
BODY = fixture_bytes("x/tweet_create_reply.json")


class StampedAdapter:
    """A platform that signs ``f"{timestamp}.{body}"`` and sends a delivery id (the scheme of
    Slack, Stripe and our own outbound webhooks)."""

    platforms: ClassVar[tuple[str, ...]] = ("stamped",)
    receives_webhooks: ClassVar[bool] = True

    def verify_signature(
        self, body: bytes, headers: Mapping[str, str], channel: ChannelConfig
    ) -> bool:
        stamp = header(headers, "x-stamp")
        mac = hmac.new(
            channel.secret("webhook_secret").encode(), f"{stamp}.".encode() + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(mac, header(headers, "x-signature"))

    def signed_at(self, headers: Mapping[str, str]) -> dt.datetime | None:
        stamp = header(headers, "x-stamp")
        return dt.datetime.fromtimestamp(int(stamp), tz=dt.UTC) if stamp else None

    def delivery_id(self, headers: Mapping[str, str]) -> str:
        return header(headers, "x-delivery-id")

    def answer_challenge(
        self, params: Mapping[str, str], channel: ChannelConfig
    ) -> Challenge | None:
        return None

    def parse(self, body: bytes, channel: ChannelConfig) -> list:
        return []


@pytest.fixture
def x_channel() -> Any:
    channel_cache.clear()
    yield make_channels()[("x", "1114259648326987776")]
    channel_cache.clear()


@pytest.fixture
def stamped(socialcare_settings: Any) -> Any:
    with socialcare_settings(
        EXTRA_PLATFORMS={"stamped": "Stamped"},
        PLATFORMS=["x", "stamped"],
        PLATFORM_ADAPTERS={"stamped": f"{__name__}.StampedAdapter"},
    ):
        registry.reset()
        channel_cache.clear()
        channel = Channel(name="Stamped", platform="stamped", account_id="s1")
        channel.set_secret("webhook_secret", "stamp-secret")
        channel.save()
        yield channel
        registry.reset()
        channel_cache.clear()


def send_x(client: Any, channel: Channel, body: bytes = BODY) -> Any:
    return client.generic(
        "POST",
        f"/socialcare/webhooks/x/{channel.pk}/",
        body,
        content_type="application/json",
        **{X_HEADER: x_signature(body, "apiSecret")},
    )


def send_stamped(
    client: Any, channel: Channel, *, at: float, delivery: str = "d-1", body: bytes = b"{}"
) -> Any:
    stamp = str(int(at))
    mac = hmac.new(b"stamp-secret", f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return client.generic(
        "POST",
        f"/socialcare/webhooks/stamped/{channel.pk}/",
        body,
        content_type="application/json",
        HTTP_X_STAMP=stamp,
        HTTP_X_SIGNATURE=mac,
        HTTP_X_DELIVERY_ID=delivery,
    )


def test_x_delivery_replayed_is_a_duplicate_stored_once(
    client: Any, x_channel: Any, robustness: Any
) -> None:
    first = send_x(client, x_channel)
    assert first.status_code == 200 and first.json()["status"] == "accepted"
    replays = [send_x(client, x_channel) for _ in range(3)]
    robustness.bad_inputs(len(replays))
    for response in replays:
        assert response.status_code == 200
        assert response.json() == {"status": "duplicate", "delivery": first.json()["delivery"]}
    assert WebhookDelivery.objects.count() == 1
    other = send_x(client, x_channel, BODY + b"\n")
    assert other.json()["status"] == "accepted"
    assert WebhookDelivery.objects.count() == 2
    robustness.lost(2 - DeliveryFingerprint.objects.count())
    assert DeliveryFingerprint.objects.count() == 2


def test_a_forgotten_delivery_may_come_again(client: Any, x_channel: Any) -> None:
    """The id lives as long as the delivery row: a retention purge forgets it."""
    send_x(client, x_channel)
    WebhookDelivery.objects.all().delete()
    assert send_x(client, x_channel).json()["status"] == "accepted"


def test_stale_or_future_signed_timestamp_is_refused(
    client: Any, stamped: Channel, robustness: Any, socialcare_settings: Any
) -> None:
    now = time.time()
    hostile = [
        send_stamped(client, stamped, at=now - 6 * 60, delivery="old"),
        send_stamped(client, stamped, at=now + 6 * 60, delivery="future"),
        send_stamped(client, stamped, at=now - 86400 * 30, delivery="ancient"),
    ]
    robustness.bad_inputs(len(hostile))
    for response in hostile:
        assert response.status_code == 400, response.content
        assert response.json()["code"] == "stale_delivery" and response.json()["detail"]
    assert not WebhookDelivery.objects.exists()
    fresh = send_stamped(client, stamped, at=now - 60, delivery="fresh")
    assert fresh.status_code == 200 and fresh.json()["status"] == "accepted"
    with socialcare_settings(
        WEBHOOK_REPLAY_WINDOW=dt.timedelta(seconds=30),
        EXTRA_PLATFORMS={"stamped": "Stamped"},
        PLATFORMS=["x", "stamped"],
        PLATFORM_ADAPTERS={"stamped": f"{__name__}.StampedAdapter"},
    ):
        tight = send_stamped(client, stamped, at=now - 60, delivery="tight")
        assert tight.status_code == 400


def test_a_tampered_timestamp_breaks_the_signature(
    client: Any, stamped: Channel, robustness: Any
) -> None:
    old = send_stamped(client, stamped, at=time.time() - 3600, delivery="x")
    assert old.status_code == 400
    # Replaying with a fresh timestamp but the old signature: refused as a bad signature.
    response = client.generic(
        "POST",
        f"/socialcare/webhooks/stamped/{stamped.pk}/",
        b"{}",
        content_type="application/json",
        HTTP_X_STAMP=str(int(time.time())),
        HTTP_X_SIGNATURE="0" * 64,
        HTTP_X_DELIVERY_ID="x",
    )
    robustness.bad_inputs(2)
    assert response.status_code == 403 and response.json()["code"] == "bad_signature"
    assert not WebhookDelivery.objects.exists()


def test_the_platforms_delivery_id_dedupes_even_with_new_bytes(
    client: Any, stamped: Channel
) -> None:
    now = time.time()
    assert send_stamped(client, stamped, at=now, delivery="d-7").json()["status"] == "accepted"
    again = send_stamped(client, stamped, at=now + 1, delivery="d-7", body=b'{"retry": 1}')
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert WebhookDelivery.objects.count() == 1
