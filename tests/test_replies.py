"""Replies from a case travel to a real (local) platform API: threading, retries, failures."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings
from django.test import override_settings
from django_q.models import Schedule

from socialcare.exceptions import SocialCareError
from socialcare.models import Case, Post, ReplyTemplate
from socialcare.services import cases as case_services
from socialcare.services.deliveries import accept_delivery
from socialcare.services.ingest import process_delivery
from socialcare.services.replies import deliver_post, retry_post, send_reply
from tests.ingest_helpers import channel_for, fixture_bytes, make_channels
from tests.platform_server import Answer
from tests.platform_server import platform_server as platform_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(django_user_model):
    return django_user_model.objects.create_user(
        "maria", password="pw", first_name="Maria", is_staff=True
    )


@pytest.fixture
def channels(platform_server):
    channels = make_channels()
    for channel in channels.values():
        channel.base_url = platform_server.url
        channel.save()
    return channels


def ingest(channels, name: str) -> Case:
    delivery = accept_delivery(channel_for(channels, name), fixture_bytes(name), {}, queue=False)
    process_delivery(delivery.pk)
    return Case.objects.order_by("-pk").first()


@pytest.fixture
def queued(django_capture_on_commit_callbacks):
    """Run a queued send as the worker would (retries it schedules are only recorded)."""

    def run(post: Post) -> Post:
        with django_capture_on_commit_callbacks(execute=True):
            return deliver_post(post.pk)

    return run


def test_public_reply_is_threaded_to_the_customer_post_and_meets_first_response(
    channels, platform_server, agent, django_capture_on_commit_callbacks
):
    platform_server.route("POST", "/2/tweets", 201, {"data": {"id": "1999", "text": "ok"}})
    case = ingest(channels, "x/tweet_create_reply.json")
    assert case.first_responded_at is None
    with django_capture_on_commit_callbacks(execute=True):  # the queued task runs (sync broker)
        post = send_reply(case, "Sorry about that, Tanu! Check your DMs.", actor=agent)
    post.refresh_from_db()
    assert post.send_status == "sent"
    assert post.external_id == "1999"
    assert post.sent_by == agent
    request = platform_server.requests_to("POST", "/2/tweets")[0]
    assert request.json() == {
        "text": "Sorry about that, Tanu! Check your DMs.",
        "reply": {"in_reply_to_tweet_id": "1332557345071644672"},
    }
    assert request.headers["authorization"] == "Bearer test-token"
    case.refresh_from_db()
    assert case.first_responded_at == post.posted_at
    assert case.events.filter(kind="replied", actor=agent).exists()


def test_rate_limit_is_retried_later_then_sent_once(queued, channels, platform_server, agent):
    platform_server.route(
        "POST",
        "/2/tweets",
        [
            Answer(429, {"title": "Too Many Requests"}, {"Retry-After": "120"}),
            Answer(201, {"data": {"id": "2001", "text": "ok"}}),
        ],
    )
    case = ingest(channels, "x/tweet_create_reply.json")
    post = send_reply(case, "Looking into it now.", actor=agent)
    post = queued(post)
    assert post.send_status == "queued"
    assert "retrying in 120 s" in post.send_error
    assert Schedule.objects.filter(func="socialcare.tasks.send_post").count() == 1
    case.refresh_from_db()
    assert case.first_responded_at is None
    post = queued(post)
    assert post.send_status == "sent"
    assert deliver_post(post.pk).send_status == "sent"  # a duplicate task sends nothing more
    assert len(platform_server.requests_to("POST", "/2/tweets")) == 2


def test_platform_refusal_fails_visibly_and_can_be_retried(
    queued, channels, platform_server, agent
):
    platform_server.route(
        "POST",
        "/2/tweets",
        [
            Answer(403, {"detail": "You are not allowed to reply to this Tweet."}),
            Answer(201, {"data": {"id": "2002", "text": "ok"}}),
        ],
    )
    case = ingest(channels, "x/tweet_create_reply.json")
    post = queued(send_reply(case, "Hello!", actor=agent))
    assert post.send_status == "failed"
    assert "not allowed" in post.send_error
    notes = [e.data["text"] for e in case.events.filter(kind="note")]
    assert any("could not be sent" in text for text in notes)
    post = queued(retry_post(post, actor=agent))
    assert post.send_status == "sent"


@override_settings(SOCIALCARE={**settings.SOCIALCARE, "SEND_MAX_ATTEMPTS": 2})
def test_server_errors_give_up_after_the_attempt_limit(queued, channels, platform_server, agent):
    platform_server.route("POST", "/2/tweets", 503, {"error": "over capacity"})
    case = ingest(channels, "x/tweet_create_reply.json")
    post = queued(send_reply(case, "Hello!", actor=agent))
    assert post.send_status == "queued"
    post = queued(post)
    assert post.send_status == "failed"
    assert "gave up after 2 attempts" in post.send_error


def test_private_reply_on_x_is_a_direct_message(queued, channels, platform_server, agent):
    platform_server.route(
        "POST",
        "/2/dm_conversations/with/272953809/messages",
        201,
        {"data": {"dm_conversation_id": "1-2", "dm_event_id": "3003"}},
    )
    case = ingest(channels, "x/direct_message.json")
    post = queued(
        send_reply(case, "Hi Nicolas, how can we help?", actor=agent, visibility="private")
    )
    assert post.send_status == "sent", post.send_error
    assert post.kind == "direct_message"
    assert platform_server.requests_to("POST", "/2/dm_conversations/with/272953809/messages")


def test_mastodon_reply_names_the_local_status_id_and_is_idempotent(
    queued, channels, platform_server, agent
):
    platform_server.route(
        "POST",
        "/api/v1/statuses",
        200,
        {
            "id": "109000000000000001",
            "uri": "https://mastodon.social/users/acmehelp/statuses/109000000000000001",
            "url": "https://mastodon.social/@acmehelp/109000000000000001",
            "created_at": "2026-11-23T10:00:00.000Z",
        },
    )
    ingest(channels, "mastodon/notifications_mentions.json")
    public = Post.objects.get(local_id="103186126728896492")
    post = queued(send_reply(public.case, "@zsc Sorry! A fix ships today.", actor=agent))
    assert post.send_status == "sent", post.send_error
    request = platform_server.requests_to("POST", "/api/v1/statuses")[0]
    assert request.json()["in_reply_to_id"] == "103186126728896492"
    assert request.json()["visibility"] == "public"
    assert request.headers["idempotency-key"] == f"socialcare-post-{post.pk}"
    assert post.local_id == "109000000000000001"


def test_reply_with_template_renders_names(channels, platform_server, agent):
    platform_server.route("POST", "/2/tweets", 201, {"data": {"id": "2004", "text": "ok"}})
    case = ingest(channels, "x/tweet_create_reply.json")
    template = ReplyTemplate.objects.create(
        name="Thanks", text="Thanks {{ handle }}! {{ agent }} from the team"
    )
    post = send_reply(case, actor=agent, template=template)
    assert post.text == "Thanks @TanuLearns! Maria from the team"


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("   ", {}, "needs some text"),
        ("x" * 281, {}, "over the 280-character limit"),
        ("Hi", {"visibility": "loud"}, "Unknown visibility"),
    ],
)
def test_bad_replies_are_refused_with_a_clear_message(channels, agent, text, kwargs, message):
    case = ingest(channels, "x/tweet_create_reply.json")
    with pytest.raises(SocialCareError, match=message):
        send_reply(case, text, actor=agent, **kwargs)
    assert not Post.objects.filter(direction="outbound").exists()


def test_no_reply_on_a_closed_case(channels, agent):
    case = ingest(channels, "x/tweet_create_reply.json")
    case_services.change_status(case, "closed")
    with pytest.raises(SocialCareError, match="closed"):
        send_reply(case, "Hello", actor=agent)


def test_public_reply_needs_a_public_customer_post(channels, agent):
    case = ingest(channels, "x/direct_message.json")
    with pytest.raises(SocialCareError, match="no public customer post"):
        send_reply(case, "Hello", actor=agent, visibility="public")


@override_settings(
    SOCIALCARE={
        **settings.SOCIALCARE,
        "REPLY_TRANSPORT": "socialcare.transports.console.ConsoleTransport",
    }
)
def test_console_transport_marks_replies_sent_without_network(queued, channels, agent, caplog):
    case = ingest(channels, "meta/instagram_comment.json")
    with caplog.at_level(logging.INFO, logger="socialcare.transports.console"):
        post = queued(send_reply(case, "ご不便をおかけして申し訳ありません。", actor=agent))
    assert post.send_status == "sent"
    assert post.external_id.startswith("console-")
    assert "申し訳ありません" in caplog.text


@pytest.mark.parametrize(
    ("answer", "status", "requests"),
    [
        pytest.param(Answer(502, {"title": "Bad Gateway"}), "failed", 1, id="502: maybe posted"),
        pytest.param(Answer(504, {"title": "Gateway Timeout"}), "failed", 1, id="504"),
        pytest.param(Answer(408, {"title": "Request Timeout"}), "queued", 1, id="408: not posted"),
        pytest.param(Answer(503, {"title": "Unavailable"}), "queued", 1, id="503: not posted"),
    ],
)
def test_server_errors_that_may_have_published_are_not_retried(
    queued, channels, platform_server, agent, answer, status, requests
):
    platform_server.route("POST", "/2/tweets", [answer, Answer(201, {"data": {"id": "7"}})])
    case = ingest(channels, "x/tweet_create_reply.json")
    post = queued(send_reply(case, "Hello!", actor=agent))
    assert post.send_status == status, post.send_error
    if status == "failed":
        assert "may have been published" in post.send_error
        assert retry_post(post, actor=agent).send_status == "queued"  # an agent's decision
    assert len(platform_server.requests_to("POST", "/2/tweets")) == requests


def test_a_refused_connection_is_retried(queued, channels, agent):
    case = ingest(channels, "x/tweet_create_reply.json")
    channel = case.channel
    channel.base_url = "http://127.0.0.1:9"  # nothing listens on the discard port
    channel.save()
    post = queued(send_reply(case, "Hello!", actor=agent))
    assert post.send_status == "queued", post.send_error
    assert "retrying in" in post.send_error
