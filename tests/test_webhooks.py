"""The webhook endpoint: challenges, signatures, durable storage, and clear refusals."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import override_settings

from socialcare.models import Post, WebhookDelivery
from tests.ingest_helpers import (
    META_VERIFY,
    fixture_bytes,
    make_channels,
    meta_signature,
    x_signature,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def channels():
    return make_channels()


@pytest.fixture
def x_channel(channels):
    return channels[("x", "1114259648326987776")]


@pytest.fixture
def page(channels):
    return channels[("facebook", "103149398319188")]


def url(channel) -> str:
    return f"/socialcare/webhooks/{channel.platform}/{channel.pk}/"


def post_signed(client, channel, body: bytes, header: str, signature: str):
    return client.generic(
        "POST", url(channel), body, content_type="application/json", **{header: signature}
    )


X_HEADER = "HTTP_X_TWITTER_WEBHOOKS_SIGNATURE"
META_HEADER = "HTTP_X_HUB_SIGNATURE_256"


def test_x_crc_challenge_matches_documented_vector(client, x_channel):
    response = client.get(url(x_channel), {"crc_token": "test token"})
    assert response.status_code == 200
    assert response.json() == {
        "response_token": "sha256=O5hJl2njQRIa4vsumZ+3oom9ECR5m3aQLRZkPoYelp0="
    }


def test_meta_verification_challenge(client, page):
    ok = client.get(
        url(page),
        {"hub.mode": "subscribe", "hub.verify_token": META_VERIFY, "hub.challenge": "1158201444"},
    )
    assert ok.status_code == 200
    assert ok.content == b"1158201444"
    wrong = client.get(
        url(page), {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}
    )
    assert wrong.status_code == 403
    assert wrong.json()["code"] == "challenge_refused"


def test_documented_signature_vectors_are_what_we_compute():
    assert (
        x_signature(fixture_bytes("x/tweet_create_reply.json"))
        == "sha256=nGkJPHLB/i6Gk7EZ5dU58u50dqfLZpSQXZhpjxyFf6k="
    )
    assert (
        meta_signature(fixture_bytes("meta/page_feed_comment.json"))
        == "sha256=8753059e3199d35595a5f3f8291ae7d8de08cb70e70a390b5e320fb8df569ad7"
    )


def test_signed_delivery_is_stored_then_processed_into_a_case(
    client, x_channel, django_capture_on_commit_callbacks
):
    body = fixture_bytes("x/tweet_create_reply.json")
    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(client, x_channel, body, X_HEADER, x_signature(body))
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    assert bytes(delivery.body) == body  # the exact bytes, never re-serialized
    assert delivery.headers["x-twitter-webhooks-signature"].startswith("sha256=")
    assert delivery.status == WebhookDelivery.Status.PROCESSED
    post = Post.objects.get(external_id="1332557345071644672")
    assert post.author.handle == "TanuLearns"
    assert post.case is not None
    assert post.case.reference.startswith("SC-")


def test_meta_delivery_verified_over_raw_bytes(client, page, django_capture_on_commit_callbacks):
    body = fixture_bytes("meta/page_feed_comment.json")
    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(client, page, body, META_HEADER, meta_signature(body))
    assert response.status_code == 200
    assert Post.objects.get(external_id="407298303721936_408074750310958").text == "🙏"


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda body, sig: (body + b" ", sig), id="tampered body"),
        pytest.param(lambda body, sig: (body[: len(body) // 2], sig), id="truncated body"),
        pytest.param(
            lambda body, sig: (body, x_signature(body, "wrong secret")), id="wrong secret"
        ),
        pytest.param(lambda body, sig: (body, sig[:-4] + "AAA="), id="tampered signature"),
        pytest.param(lambda body, sig: (body, ""), id="empty signature"),
        pytest.param(lambda body, sig: (bytes(range(256)), sig), id="random bytes"),
    ],
)
def test_bad_signatures_are_refused_and_nothing_is_stored(client, x_channel, mangle):
    body = fixture_bytes("x/tweet_create_reply.json")
    sent_body, signature = mangle(body, x_signature(body))
    response = post_signed(client, x_channel, sent_body, X_HEADER, signature)
    assert response.status_code == 403
    assert response.json()["code"] == "bad_signature"
    assert not WebhookDelivery.objects.exists()
    assert not Post.objects.exists()


def test_missing_signature_header_is_refused(client, x_channel):
    body = fixture_bytes("x/tweet_create_reply.json")
    response = client.generic("POST", url(x_channel), body, content_type="application/json")
    assert response.status_code == 403
    assert not WebhookDelivery.objects.exists()


def test_meta_signature_checked_with_meta_scheme(client, page):
    body = fixture_bytes("meta/page_feed_comment.json")
    response = post_signed(client, page, body, META_HEADER, meta_signature(body, "other"))
    assert response.status_code == 403
    assert not WebhookDelivery.objects.exists()


def test_unknown_channel_platform_mismatch_and_polled_platforms_are_404(
    client, channels, x_channel
):
    assert client.post("/socialcare/webhooks/x/999999/").status_code == 404
    mismatch = client.post(f"/socialcare/webhooks/facebook/{x_channel.pk}/")
    assert mismatch.status_code == 404
    assert mismatch.json()["code"] == "unknown_channel"
    mastodon = channels[("mastodon", "14715")]
    polled = client.post(f"/socialcare/webhooks/mastodon/{mastodon.pk}/")
    assert polled.status_code == 404
    assert polled.json()["code"] == "polled_platform"
    assert client.post("/socialcare/webhooks/myspace/1/").json()["code"] == "unknown_platform"


def test_inactive_channel_gets_404(client, x_channel):
    x_channel.is_active = False
    x_channel.save()
    body = fixture_bytes("x/tweet_create_reply.json")
    response = post_signed(client, x_channel, body, X_HEADER, x_signature(body))
    assert response.status_code == 404


@override_settings(SOCIALCARE={**settings.SOCIALCARE, "MAX_WEBHOOK_BODY": 1000})
def test_oversized_body_is_413(client, x_channel):
    body = fixture_bytes("x/tweet_create_reply.json")
    assert len(body) > 1000
    response = post_signed(client, x_channel, body, X_HEADER, x_signature(body))
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert not WebhookDelivery.objects.exists()


def test_other_methods_are_405(client, x_channel):
    assert client.put(url(x_channel)).status_code == 405


def test_malformed_json_behind_valid_signature_is_kept_failed_and_retryable(
    client, x_channel, django_capture_on_commit_callbacks
):
    body = b'{"for_user_id": "1114259648326987776", "tweet_create_events": [{"id_str": '
    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(client, x_channel, body, X_HEADER, x_signature(body))
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert "JSON" in delivery.last_error
    assert delivery.attempts == 1
    assert not Post.objects.exists()


def test_delivery_for_another_account_fails_readably(
    client, x_channel, django_capture_on_commit_callbacks
):
    payload = json.loads(fixture_bytes("x/tweet_create_reply.json"))
    payload["for_user_id"] = "42"
    body = json.dumps(payload).encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(client, x_channel, body, X_HEADER, x_signature(body))
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert "42" in delivery.last_error
    assert not Post.objects.exists()
