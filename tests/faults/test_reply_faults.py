"""The platform API failing on replies: 429 and 5xx back off (honouring Retry-After) and send
once; a timeout after the platform accepted the post is never re-sent blindly (no duplicate
public reply); failures show on the case; replies a broker lost, or a dead worker left
"sending", are picked up by the reply sweeper exactly once."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from socialcare import tasks
from socialcare.models import Case, Post
from socialcare.services.deliveries import accept_delivery
from socialcare.services.ingest import process_delivery
from socialcare.services.replies import deliver_post, send_reply
from tests.faults.payloads import BRAND, tweets
from tests.ingest_helpers import channel_for, fixture_bytes, make_channels
from tests.platform_server import Answer
from tests.platform_server import platform_server as platform_server

pytestmark = pytest.mark.django_db

TWEET = {"data": {"id": "5551", "text": "ok"}}
MASTODON_STATUS = {
    "id": "109000000000000001",
    "uri": "https://mastodon.social/users/acmehelp/statuses/109000000000000001",
    "url": "https://mastodon.social/@acmehelp/109000000000000001",
    "created_at": "2026-11-23T10:00:00.000Z",
}


@pytest.fixture
def agent(django_user_model):
    return django_user_model.objects.create_user("maria", password="pw", is_staff=True)


@pytest.fixture
def channels(platform_server) -> dict:
    channels = make_channels()
    for channel in channels.values():
        channel.base_url = platform_server.url
        channel.save()
    return channels


@pytest.fixture
def x_case(channels) -> Case:
    channel = channels[("x", BRAND)]
    process_delivery(accept_delivery(channel, tweets(1), {}, queue=False).pk)
    return Case.objects.get(channel=channel)


@pytest.fixture
def mastodon_post(channels) -> Post:
    name = "mastodon/notifications_mentions.json"
    delivery = accept_delivery(channel_for(channels, name), fixture_bytes(name), {}, queue=False)
    process_delivery(delivery.pk)
    return Post.objects.get(local_id="103186126728896492")


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Run a reply's queued send as the worker would (delayed retries are only scheduled)."""

    def send(post: Post) -> Post:
        with django_capture_on_commit_callbacks(execute=True):
            return deliver_post(post.pk)

    return send


def notes(case: Case) -> list[str]:
    return [e.data.get("text", "") for e in case.events.filter(kind="note").order_by("pk")]


def retry_due(post: Post) -> dt.datetime:
    return (
        Schedule.objects.filter(func="socialcare.tasks.send_post", args=repr((post.pk,)))
        .latest("pk")
        .next_run
    )


def test_429_and_503_back_off_honouring_retry_after_then_send_once(
    run, x_case, agent, platform_server, robustness
):
    platform_server.route(
        "POST",
        "/2/tweets",
        [
            Answer(429, {"title": "Too Many Requests"}, {"Retry-After": "300"}),
            Answer(503, {"title": "Service Unavailable"}),
            Answer(201, TWEET),
        ],
    )
    post = send_reply(x_case, "We are on it.", actor=agent)
    started = timezone.now()
    post = run(post)
    robustness.fault()
    assert post.send_status == "queued"
    assert "retrying in 300 s" in post.send_error
    assert retry_due(post) >= started + timedelta(seconds=299)  # not sooner than Retry-After
    assert any("Reply not sent yet" in text for text in notes(x_case))  # visible on the case
    post = run(post)
    robustness.fault()
    assert post.send_status == "queued"
    # No Retry-After on the 503: the platform default (30 s), at least the backoff (15 s · 2).
    assert retry_due(post) >= timezone.now() + timedelta(seconds=29)
    post = run(post)
    assert post.send_status == "sent", post.send_error
    assert post.external_id == "5551"
    assert run(post).send_status == "sent"  # a duplicate task sends nothing more
    published = [r for r in platform_server.requests_to("POST", "/2/tweets")]
    robustness.lost(1 - min(1, Post.objects.filter(send_status="sent").count()))
    assert len(published) == 3  # two refused, one published
    x_case.refresh_from_db()
    assert x_case.first_responded_at == post.posted_at


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(Answer(201, TWEET, delay=1.5), id="timeout after the platform accepted"),
        pytest.param(Answer(500, {"title": "Internal Error"}), id="500 after the request"),
    ],
)
def test_an_unconfirmed_send_is_never_repeated(
    run, x_case, agent, platform_server, socialcare_settings, robustness, answer
):
    platform_server.route("POST", "/2/tweets", [answer, Answer(201, TWEET)])
    with socialcare_settings(HTTP_TIMEOUT=0.5, STALE_REPLY_AFTER=timedelta(0)):
        post = run(send_reply(x_case, "Sorry! A refund is on its way.", actor=agent))
        robustness.fault()
        assert post.send_status == "failed"
        assert "may have been published" in post.send_error
        assert any("may have been published" in text for text in notes(x_case))
        event = x_case.events.filter(kind="note", post=post).latest("pk")
        assert event.data["unconfirmed_send"] is True
        tasks.sweep_replies()  # the sweeper leaves it to an agent, too
        assert run(post).send_status == "failed"  # and so does a duplicate task
    assert len(platform_server.requests_to("POST", "/2/tweets")) == 1  # never posted twice


def test_a_refused_connection_is_retried_it_never_reached_the_platform(
    run, x_case, agent, robustness
):
    channel = x_case.channel  # pointed at a port where nothing listens
    channel.base_url = "http://127.0.0.1:9"
    channel.save()
    post = run(send_reply(x_case, "Checking.", actor=agent))
    robustness.fault()
    assert post.send_status == "queued", post.send_error
    assert "retrying in" in post.send_error


def test_mastodon_timeout_is_retried_with_the_same_idempotency_key(
    run, mastodon_post, agent, platform_server, socialcare_settings, robustness
):
    published: dict[str, dict] = {}

    def idempotent(request):  # the platform keeps one status per Idempotency-Key
        key = request.headers["idempotency-key"]
        first = key not in published
        published.setdefault(key, MASTODON_STATUS)
        return Answer(200, published[key], delay=1.5 if first else 0)

    platform_server.route("POST", "/api/v1/statuses", idempotent)
    with socialcare_settings(HTTP_TIMEOUT=0.5):
        post = run(send_reply(mastodon_post.case, "@zsc Sorry! A fix ships today.", actor=agent))
        robustness.fault()
        assert post.send_status == "queued", post.send_error  # safe to retry: idempotent
        post = run(post)
    assert post.send_status == "sent", post.send_error
    keys = [
        r.headers["idempotency-key"]
        for r in platform_server.requests_to("POST", "/api/v1/statuses")
    ]
    assert keys == [f"socialcare-post-{post.pk}"] * 2
    robustness.lost(1 - len(published))
    assert len(published) == 1


def test_the_sweeper_sends_replies_a_broker_lost_exactly_once(
    x_case, agent, platform_server, socialcare_settings, robustness
):
    platform_server.route("POST", "/2/tweets", 201, TWEET)
    long_ago = timezone.now() - timedelta(minutes=30)
    # Queued, but the broker lost the task (its on-commit queueing never ran).
    lost = send_reply(x_case, "First reply.", actor=agent)
    # Queued with a retry scheduled for later: not lost, left alone.
    waiting = send_reply(x_case, "Second reply.", actor=agent)
    tasks.enqueue_send_post(waiting.pk, delay=600)
    # A fresh queued reply may still be in the queue: left alone.
    fresh = send_reply(x_case, "Third reply.", actor=agent)
    Post.objects.filter(pk__in=[lost.pk, waiting.pk]).update(posted_at=long_ago)
    robustness.fault()

    tasks.sweep_replies()
    tasks.sweep_replies()  # a second sweep, and the lost task turning up late, send nothing more
    deliver_post(lost.pk)
    for post in (lost, waiting, fresh):
        post.refresh_from_db()
    assert lost.send_status == "sent", lost.send_error
    assert waiting.send_status == fresh.send_status == "queued"
    texts = [r.json()["text"] for r in platform_server.requests_to("POST", "/2/tweets")]
    robustness.lost(1 - texts.count("First reply."))
    assert texts == ["First reply."]
    assert tasks.SCHEDULES["socialcare: re-queue stuck replies"] == (
        "socialcare.tasks.sweep_replies",
        5,
    )


def test_the_sweeper_fails_a_dead_workers_send_unless_the_platform_is_idempotent(
    x_case, mastodon_post, agent, platform_server, robustness
):
    platform_server.route("POST", "/api/v1/statuses", 200, MASTODON_STATUS)
    long_ago = timezone.now() - timedelta(minutes=30)
    on_x = send_reply(x_case, "On X.", actor=agent)
    on_mastodon = send_reply(mastodon_post.case, "@zsc On Mastodon.", actor=agent)
    # Their workers claimed them and died mid-request.
    Post.objects.filter(pk__in=[on_x.pk, on_mastodon.pk]).update(
        send_status="sending", send_attempts=1, posted_at=long_ago
    )
    robustness.fault(2)
    assert tasks.sweep_replies() is None
    on_x.refresh_from_db()
    on_mastodon.refresh_from_db()
    assert on_x.send_status == "failed"
    assert "may have been published" in on_x.send_error
    assert any("may have been published" in text for text in notes(x_case))
    assert on_mastodon.send_status == "sent", on_mastodon.send_error
    assert not platform_server.requests_to("POST", "/2/tweets")
    assert len(platform_server.requests_to("POST", "/api/v1/statuses")) == 1


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_while_the_platform_holds_the_reply_never_sends_it_twice(
    x_case, agent, platform_server, spawn, monkeypatch, robustness
):
    platform_server.route("POST", "/2/tweets", Answer(201, TWEET, delay=30))
    with monkeypatch.context() as patch:  # the task goes to the worker process below, not inline
        patch.setattr(tasks, "enqueue_send_post", lambda pk, delay=0: None)
        post = send_reply(x_case, "Your refund is on its way.", actor=agent)
    Post.objects.filter(pk=post.pk).update(posted_at=timezone.now() - timedelta(minutes=30))
    worker = spawn("tests.faults.run_task", "socialcare.tasks.send_post", str(post.pk))
    deadline = time.monotonic() + 60
    while not platform_server.requests_to("POST", "/2/tweets"):  # the platform has it...
        assert worker.poll() is None and time.monotonic() < deadline, worker.stdout.read()
        time.sleep(0.05)
    post.refresh_from_db()
    assert post.send_status == "sending", post.send_error
    os.kill(worker.pid, signal.SIGKILL)  # ...and the worker dies before the answer
    worker.wait(timeout=30)
    robustness.fault()

    tasks.sweep_replies()
    tasks.sweep_replies()
    post.refresh_from_db()
    assert post.send_status == "failed"
    assert "may have been published" in post.send_error
    assert any("may have been published" in text for text in notes(x_case))
    assert deliver_post(post.pk).send_status == "failed"  # a late duplicate task sends nothing
    assert len(platform_server.requests_to("POST", "/2/tweets")) == 1
