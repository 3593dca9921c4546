"""Polling Mastodon against a real local server: cursor, storage before processing, rate limits."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from socialcare.models import Channel, Post, WebhookDelivery
from socialcare.services.polling import poll_channel, poll_due_channels
from tests.ingest_helpers import fixture_bytes, make_channels
from tests.platform_server import Answer
from tests.platform_server import platform_server as platform_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def mastodon(platform_server):
    channel = make_channels()[("mastodon", "14715")]
    channel.base_url = platform_server.url
    channel.save()
    # The fixtures' Bluesky channel would be polled at the real bsky.social by every poll of all
    # channels; these tests are about Mastodon on the local server.
    Channel.objects.filter(platform="bluesky").update(is_active=False)
    return channel


def test_poll_stores_the_page_then_ingests_it_and_advances_the_cursor(mastodon, platform_server):
    page = fixture_bytes("mastodon/notifications_mentions.json")
    platform_server.route("GET", "/api/v1/notifications", [Answer(200, page), Answer(200, b"[]")])
    outcome = poll_channel(mastodon)
    assert outcome.error == ""
    assert outcome.posts == 2
    delivery = WebhookDelivery.objects.get()
    assert delivery.source == "poll"
    assert bytes(delivery.body) == page
    mastodon.refresh_from_db()
    assert mastodon.poll_cursor == "34975990"
    assert mastodon.last_polled_at is not None
    assert Post.objects.filter(platform="mastodon").count() == 2
    request = platform_server.requests_to("GET", "/api/v1/notifications")[0]
    assert request.query["types[]"] == ["mention"]
    assert request.headers["authorization"] == "Bearer test-token"
    # Nothing new: no new delivery, the cursor stays.
    again = poll_channel(mastodon)
    assert again.posts == 0
    assert WebhookDelivery.objects.count() == 1
    assert platform_server.requests_to("GET", "/api/v1/notifications")[-1].query.get("min_id") == [
        "34975990"
    ] or platform_server.requests_to("GET", "/api/v1/notifications")[-1].query.get("since_id") == [
        "34975990"
    ]


def test_rate_limit_pauses_the_channel_and_scheduled_polls_skip_it(mastodon, platform_server):
    platform_server.route(
        "GET", "/api/v1/notifications", 429, {"error": "Too many requests"}, {"Retry-After": "300"}
    )
    outcome = poll_channel(mastodon)
    assert "rate limited" in outcome.error
    mastodon.refresh_from_db()
    assert mastodon.poll_paused_until is not None
    assert "rate limited" in mastodon.last_poll_error
    calls = len(platform_server.requests)
    poll_due_channels()
    assert len(platform_server.requests) == calls  # paused: not asked again


def test_scheduled_poll_skips_a_channel_with_polling_off_but_a_manual_poll_works(
    mastodon, platform_server, capsys
):
    page = fixture_bytes("mastodon/notifications_mentions.json")
    platform_server.route("GET", "/api/v1/notifications", [Answer(200, page), Answer(200, b"[]")])
    mastodon.polling_enabled = False
    mastodon.save()
    assert poll_due_channels() == []
    assert platform_server.requests == []  # the server was not asked
    mastodon.refresh_from_db()
    assert mastodon.last_polled_at is None
    call_command("socialcare_poll", "--channel", str(mastodon.pk))
    assert "2 new post(s)" in capsys.readouterr().out
    assert Post.objects.filter(channel=mastodon).count() == 2


def test_poll_command_without_channels_skips_those_with_polling_off_and_says_so(
    mastodon, platform_server, capsys
):
    mastodon.polling_enabled = False
    mastodon.save()
    call_command("socialcare_poll")
    out = capsys.readouterr().out
    assert f"Not polled ('poll automatically' is off): {mastodon}" in out
    assert "No active polled channels to poll." in out
    assert platform_server.requests == []  # the platform was not asked


def test_scheduled_poll_polls_a_channel_with_polling_on(mastodon, platform_server):
    page = fixture_bytes("mastodon/notifications_mentions.json")
    platform_server.route("GET", "/api/v1/notifications", [Answer(200, page), Answer(200, b"[]")])
    assert mastodon.polling_enabled  # the default
    outcomes = poll_due_channels()
    assert [(o.channel.pk, o.posts, o.error) for o in outcomes] == [(mastodon.pk, 2, "")]
    assert Post.objects.filter(channel=mastodon).count() == 2


def test_server_error_is_reported_and_nothing_is_lost(mastodon, platform_server):
    platform_server.route("GET", "/api/v1/notifications", 502, "bad gateway")
    outcome = poll_channel(mastodon)
    assert outcome.error
    assert not WebhookDelivery.objects.exists()
    mastodon.refresh_from_db()
    assert mastodon.poll_cursor == ""


def test_poll_command_reports_per_channel_and_fails_on_errors(mastodon, platform_server, capsys):
    platform_server.route(
        "GET",
        "/api/v1/notifications",
        [Answer(200, fixture_bytes("mastodon/notifications_mentions.json")), Answer(200, b"[]")],
    )
    call_command("socialcare_poll", "--channel", str(mastodon.pk))
    assert "2 new post(s)" in capsys.readouterr().out
    platform_server.route("GET", "/api/v1/notifications", 500, "boom")
    with pytest.raises(CommandError, match="could not be polled"):
        call_command("socialcare_poll")


def test_poll_command_refuses_unknown_and_webhook_channels(mastodon):
    with pytest.raises(CommandError, match="No channel"):
        call_command("socialcare_poll", "--channel", "nope")
    x = make_channels.__globals__["Channel"].objects.get(
        platform="x", account_id="1114259648326987776"
    )
    with pytest.raises(CommandError, match="receives webhooks"):
        call_command("socialcare_poll", "--channel", str(x.pk))


def test_garbage_page_is_kept_as_a_failed_delivery(mastodon, platform_server):
    platform_server.route("GET", "/api/v1/notifications", 200, json.dumps({"not": "a list"}))
    outcome = poll_channel(mastodon)
    delivery = WebhookDelivery.objects.first()
    if delivery is not None:  # the adapter may refuse the page before storing it
        assert delivery.status == "failed"
        assert delivery.last_error
    else:
        assert outcome.error
