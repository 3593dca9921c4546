"""A reply whose worker died between the platform call and the database update (left
``sending``): the reply sweeper looks on the platform before failing it (issue #25, point 5).

Published → marked sent with the platform's id and a note on the case; not published → sent
again, once; the platform cannot be asked (429, 500, Bluesky) → failed as "may have been
published", as before. The fakes answer as the platforms document (docs/replies.md, "A reply
interrupted mid-send"): X's ``GET /2/users/:id/tweets`` (newest first, ``max_results`` 5–100,
``pagination_token`` / ``meta.next_token``, ``start_time``, 429 with ``x-rate-limit-*``), the
Graph API's ``/{comment-id}/comments`` (``order``, ``filter=stream``, ``paging.cursors.after``
with ``paging.next`` while more follow, throttling as HTTP 400 with error code 4) and Mastodon's
``Idempotency-Key`` (``tests/fakes/mastodon_server``).
"""

from __future__ import annotations

import datetime as dt
import itertools
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from socialcare import tasks
from socialcare.models import Case, Post
from socialcare.services.deliveries import accept_delivery
from socialcare.services.ingest import process_delivery
from socialcare.services.replies import send_reply, sweep_stale
from tests.fakes.mastodon_server import MastodonFake
from tests.ingest_helpers import channel_for, fixture_bytes
from tests.platform_server import Answer, PlatformServer, Recorded
from tests.platform_server import platform_server as platform_server
from tests.served import channels as channels

pytestmark = pytest.mark.django_db

X_BRAND = "1114259648326987776"
PAGE = "103149398319188"
COMMENT = "407298303721936_408074750310958"
TEXT = "Sorry about this, we're on it & will DM you: https://acme.example/status"


def iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class XTimeline:
    """``GET /2/users/:id/tweets`` for the brand: its posts newest first, from ``start_time``,
    ``max_results`` (5–100, else 400) per page, ``meta.next_token`` while more follow; after
    ``limit`` calls 429 with ``x-rate-limit-remaining: 0``."""

    def __init__(self, server: PlatformServer, limit: int = 900) -> None:
        self.tweets: list[dict[str, Any]] = []
        self.limit, self.calls = limit, 0
        self._ids = itertools.count(1_900_000_000_000_000_001)
        server.route("GET", f"/2/users/{X_BRAND}/tweets", self.answer)

    def post(self, text: str, at: dt.datetime, replied_to: str = "") -> str:
        tweet_id = str(next(self._ids))
        tweet = {"id": tweet_id, "text": text, "created_at": iso(at), "edit_history_tweet_ids": []}
        if replied_to:
            tweet["referenced_tweets"] = [{"type": "replied_to", "id": replied_to}]
        self.tweets.append(tweet)
        return tweet_id

    def answer(self, request: Recorded) -> Answer:
        self.calls += 1
        reset = str(int(timezone.now().timestamp()) + 900)
        if self.calls > self.limit:
            headers = {"x-rate-limit-limit": "900", "x-rate-limit-remaining": "0"}
            body = {"title": "Too Many Requests", "detail": "Too Many Requests", "status": 429}
            return Answer(429, body, {**headers, "x-rate-limit-reset": reset})
        size = int(request.query.get("max_results", ["10"])[0])
        if not 5 <= size <= 100:
            return Answer(400, {"title": "Invalid Request", "detail": "max_results"})
        start = request.query.get("start_time", [""])[0]
        listed = sorted(
            (t for t in self.tweets if not start or t["created_at"] >= start.replace("Z", ".000Z")),
            key=lambda t: int(t["id"]),
            reverse=True,
        )
        offset = int(request.query.get("pagination_token", ["0"])[0])
        page = listed[offset : offset + size]
        meta: dict[str, Any] = {"result_count": len(page)}
        if offset + size < len(listed):
            meta["next_token"] = str(offset + size)
        body = {"data": page, "meta": meta} if page else {"meta": meta}
        return Answer(200, body, {"x-rate-limit-remaining": "899", "x-rate-limit-reset": reset})


class GraphComments:
    """A Facebook comment's replies: ``POST /{comment-id}/comments`` adds one by the Page,
    ``GET`` lists them (``limit`` per page, newest first with ``order=reverse_chronological``,
    ``paging.cursors.after`` and ``paging.next`` while more follow)."""

    def __init__(self, server: PlatformServer, comment_id: str) -> None:
        self.replies: list[dict[str, Any]] = []
        self._ids = itertools.count(500)
        self.path = f"/{comment_id}/comments"
        self.comment_id = comment_id
        server.route("GET", self.path, self.answer)
        server.route("POST", self.path, self.create)

    def add(self, text: str, at: dt.datetime, author: str = PAGE) -> str:
        reply_id = f"{self.comment_id.split('_')[0]}_{next(self._ids)}"
        created = at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
        self.replies.append(
            {"id": reply_id, "message": text, "from": {"id": author}, "created_time": created}
        )
        return reply_id

    def create(self, request: Recorded) -> Answer:
        return Answer(200, {"id": self.add(request.form()["message"][0], timezone.now())})

    def answer(self, request: Recorded) -> Answer:
        limit = min(int(request.query.get("limit", ["25"])[0]), 100)
        newest_first = request.query.get("order", [""])[0] == "reverse_chronological"
        listed = sorted(self.replies, key=lambda r: r["created_time"], reverse=newest_first)
        offset = int(request.query.get("after", ["0"])[0])
        page = listed[offset : offset + limit]
        paging: dict[str, Any] = {"cursors": {"before": str(offset), "after": str(offset + limit)}}
        if offset + limit < len(listed):
            paging["next"] = f"https://graph.facebook.com{self.path}?after={offset + limit}"
        return Answer(200, {"data": page, "paging": paging})


@pytest.fixture
def x_case(channels) -> Case:
    from tests.faults.payloads import tweets

    channel = channels[("x", X_BRAND)]
    process_delivery(accept_delivery(channel, tweets(1), {}, queue=False).pk)
    return Case.objects.get(channel=channel)


@pytest.fixture
def facebook_case(channels) -> Case:
    name = "meta/page_feed_comment.json"
    channel = channel_for(channels, name)
    process_delivery(accept_delivery(channel, fixture_bytes(name), {}, queue=False).pk)
    return Post.objects.get(external_id=COMMENT).case


def interrupted(case: Case, agent, monkeypatch, minutes: int = 11) -> Post:
    """A reply whose worker died after calling the platform: ``sending``, written ``minutes``
    ago, its task gone."""
    with monkeypatch.context() as patch:
        patch.setattr(tasks, "enqueue_send_post", lambda pk, delay=0: None)
        post = send_reply(case, TEXT, actor=agent)
    written = timezone.now() - timedelta(minutes=minutes)
    Post.objects.filter(pk=post.pk).update(
        send_status="sending", send_attempts=1, posted_at=written
    )
    post.refresh_from_db()
    return post


def notes(case: Case) -> list[str]:
    return [e.data.get("text", "") for e in case.events.filter(kind="note").order_by("pk")]


# X --------------------------------------------------------------------------------------------
def test_x_a_reply_found_in_the_brands_timeline_is_marked_sent(
    x_case, agent, platform_server, monkeypatch
):
    timeline = XTimeline(platform_server)
    post = interrupted(x_case, agent, monkeypatch)
    timeline.post(TEXT, post.posted_at, replied_to="123")  # same words to another customer
    # X gives back the leading @mention and &amp; (display_text_range excludes the mention).
    published = timeline.post(
        "@customer1 " + TEXT.replace("&", "&amp;"), post.posted_at, replied_to="90001"
    )
    for n in range(150):  # the brand kept answering others: the reply is on the second page
        timeline.post(f"Thanks {n}!", post.posted_at + timedelta(seconds=n), replied_to=f"8{n}")
    for n in range(30):
        timeline.post(f"Later {n}", timezone.now(), replied_to=f"7{n}")
    assert sweep_stale() == (0, 0)
    post.refresh_from_db()
    assert post.send_status == "sent", post.send_error
    assert post.external_id == published
    assert post.url == f"https://x.com/i/web/status/{published}"  # the channel has no handle
    assert any("found published on x" in n for n in notes(x_case))
    x_case.refresh_from_db()
    assert x_case.first_responded_at is not None
    assert not platform_server.requests_to("POST", "/2/tweets")  # never sent again
    asked = platform_server.requests_to("GET", f"/2/users/{X_BRAND}/tweets")
    assert len(asked) == 2 and asked[1].query["pagination_token"] == ["100"]
    assert asked[0].query["start_time"][0] <= iso(post.posted_at)[:19]


def test_x_a_reply_missing_from_the_timeline_is_sent_again_once(
    x_case, agent, platform_server, monkeypatch
):
    timeline = XTimeline(platform_server)
    platform_server.route("POST", "/2/tweets", Answer(201, {"data": {"id": "5551", "text": "ok"}}))
    post = interrupted(x_case, agent, monkeypatch)
    timeline.post(TEXT, post.posted_at, replied_to="123")  # to someone else: not this reply
    assert sweep_stale() == (1, 0)
    post.refresh_from_db()
    assert post.send_status == "sent", post.send_error
    assert post.external_id == "5551"
    assert len(platform_server.requests_to("POST", "/2/tweets")) == 1
    assert any("not published, so it is sent again" in n for n in notes(x_case))
    assert sweep_stale() == (0, 0)  # nothing left for a second sweep


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param("429", id="rate limited"),
        pytest.param(Answer(500, {"title": "Internal Server Error"}), id="500"),
    ],
)
def test_x_a_timeline_that_cannot_be_read_keeps_the_old_rule(
    x_case, agent, platform_server, monkeypatch, answer
):
    if answer == "429":
        XTimeline(platform_server, limit=0)
    else:
        platform_server.route("GET", f"/2/users/{X_BRAND}/tweets", answer)
    post = interrupted(x_case, agent, monkeypatch)
    assert sweep_stale() == (0, 1)
    post.refresh_from_db()
    assert post.send_status == "failed"
    assert "may have been published" in post.send_error
    assert "could not be asked" in post.send_error
    assert any("may have been published; not sent again" in n for n in notes(x_case))
    assert not platform_server.requests_to("POST", "/2/tweets")


def test_x_a_reply_that_keeps_killing_its_worker_stops_as_safe_to_retry(
    x_case, agent, platform_server, monkeypatch, socialcare_settings
):
    XTimeline(platform_server)
    post = interrupted(x_case, agent, monkeypatch)
    Post.objects.filter(pk=post.pk).update(send_attempts=5)
    with socialcare_settings(SEND_MAX_ATTEMPTS=5):
        assert sweep_stale() == (0, 1)
    post.refresh_from_db()
    assert post.send_status == "failed"
    assert "safe to send again" in post.send_error
    assert "may have been published" not in post.send_error
    assert not platform_server.requests_to("POST", "/2/tweets")


# Facebook -------------------------------------------------------------------------------------
def test_facebook_a_reply_found_under_the_comment_is_marked_sent(
    facebook_case, agent, platform_server, monkeypatch
):
    graph = GraphComments(platform_server, COMMENT)
    post = interrupted(facebook_case, agent, monkeypatch)
    graph.add(TEXT, post.posted_at, author="3450429531722233")  # the customer quoting us
    found = graph.add(TEXT, post.posted_at + timedelta(seconds=3))
    assert sweep_stale() == (0, 0)
    post.refresh_from_db()
    assert post.send_status == "sent", post.send_error
    assert post.external_id == found
    assert post.url == f"https://www.facebook.com/{found}"
    assert any("found published on facebook" in n for n in notes(facebook_case))
    assert not platform_server.requests_to("POST", graph.path)
    asked = platform_server.requests_to("GET", graph.path)[0].query
    assert asked["filter"] == ["stream"] and asked["order"] == ["reverse_chronological"]


def test_facebook_a_reply_missing_under_the_comment_is_sent_again_once(
    facebook_case, agent, platform_server, monkeypatch
):
    graph = GraphComments(platform_server, COMMENT)
    post = interrupted(facebook_case, agent, monkeypatch)
    graph.add(TEXT, post.posted_at - timedelta(hours=2))  # the same words, before this reply
    assert sweep_stale() == (1, 0)
    post.refresh_from_db()
    assert post.send_status == "sent", post.send_error
    assert len(platform_server.requests_to("POST", graph.path)) == 1
    assert len([r for r in graph.replies if r["message"] == TEXT]) == 2


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(
            Answer(
                400, {"error": {"message": "(#4) Application request limit reached", "code": 4}}
            ),
            id="throttled (code 4)",
        ),
        pytest.param(Answer(500, {"error": {"message": "An unknown error", "code": 1}}), id="500"),
    ],
)
def test_facebook_a_lookup_that_fails_keeps_the_old_rule(
    facebook_case, agent, platform_server, monkeypatch, answer
):
    platform_server.route("GET", f"/{COMMENT}/comments", answer)
    post = interrupted(facebook_case, agent, monkeypatch)
    assert sweep_stale() == (0, 1)
    post.refresh_from_db()
    assert post.send_status == "failed"
    assert "may have been published" in post.send_error
    assert not platform_server.requests_to("POST", f"/{COMMENT}/comments")


# Mastodon -------------------------------------------------------------------------------------
@pytest.fixture
def mastodon_case(channels, platform_server) -> tuple[Case, MastodonFake]:
    from socialcare.models import Channel
    from socialcare.services.polling import poll_channel

    Channel.objects.filter(platform="bluesky").update(is_active=False)
    masto = MastodonFake(platform_server, account_id="14715")
    status = masto.post("dana@other.example", "@acmehelp my order 4411 never arrived")
    poll_channel(channels[("mastodon", "14715")])
    return Post.objects.get(platform="mastodon", local_id=status["id"]).case, masto


def test_mastodon_a_published_reply_is_found_with_its_idempotency_key(
    mastodon_case, agent, platform_server, monkeypatch, django_capture_on_commit_callbacks
):
    case, masto = mastodon_case
    post = interrupted(case, agent, monkeypatch)
    # The worker's request reached Mastodon (same key as every send of this reply) and died.
    key = f"socialcare-post-{post.pk}"
    first = masto.create_status(
        Recorded("POST", "/api/v1/statuses", {}, {"idempotency-key": key},
                 b'{"status": "@dana@other.example hi", "visibility": "public"}')
    ).body  # fmt: skip
    assert sweep_stale() == (1, 0)
    post.refresh_from_db()
    assert post.send_status == "sent", post.send_error
    assert post.local_id == first["id"]
    assert len(masto.created) == 1  # Mastodon answered the key with the first status
    assert any("same Idempotency-Key" in n for n in notes(case))


def test_mastodon_an_unpublished_reply_is_sent_once(
    mastodon_case, agent, platform_server, monkeypatch
):
    case, masto = mastodon_case
    post = interrupted(case, agent, monkeypatch)
    assert sweep_stale() == (1, 0)
    post.refresh_from_db()
    assert post.send_status == "sent", post.send_error
    assert len(masto.created) == 1
    sent = platform_server.requests_to("POST", "/api/v1/statuses")
    assert sent[0].headers["idempotency-key"] == f"socialcare-post-{post.pk}"


def test_mastodon_past_the_keys_hour_keeps_the_old_rule(
    mastodon_case, agent, platform_server, monkeypatch
):
    case, masto = mastodon_case
    post = interrupted(case, agent, monkeypatch, minutes=58)
    assert sweep_stale() == (0, 1)
    post.refresh_from_db()
    assert post.send_status == "failed"
    assert "may have been published" in post.send_error
    assert masto.created == []


# Bluesky: no lookup ---------------------------------------------------------------------------
def test_bluesky_cannot_be_asked_so_the_old_rule_stays(channels, agent, monkeypatch):
    name = "bluesky/list_notifications.json"
    channel = channel_for(channels, name)
    process_delivery(accept_delivery(channel, fixture_bytes(name), {}, queue=False).pk)
    case = Case.objects.filter(channel=channel).first()
    post = interrupted(case, agent, monkeypatch)
    assert sweep_stale() == (0, 1)
    post.refresh_from_db()
    assert post.send_status == "failed"
    assert "cannot look for a published reply on bluesky" in post.send_error


def test_one_sweep_settles_at_most_its_share_oldest_first(channels, agent, monkeypatch):
    """A pile of interrupted replies is settled over several sweeps, oldest first, so one sweep
    never outruns the broker's task timeout."""
    from socialcare.services import interrupted_replies

    monkeypatch.setattr(interrupted_replies, "LOOKUPS_PER_SWEEP", 3)
    name = "bluesky/list_notifications.json"
    channel = channel_for(channels, name)
    process_delivery(accept_delivery(channel, fixture_bytes(name), {}, queue=False).pk)
    case = Case.objects.filter(channel=channel).first()
    posts = [interrupted(case, agent, monkeypatch, minutes=20 - i) for i in range(5)]
    assert sweep_stale() == (0, 3)
    status = {p.pk: p.send_status for p in Post.objects.filter(pk__in=[p.pk for p in posts])}
    assert [status[p.pk] for p in posts] == ["failed"] * 3 + ["sending"] * 2
    assert sweep_stale() == (0, 2)
    assert not Post.objects.filter(pk__in=[p.pk for p in posts], send_status="sending").exists()


# Instagram ------------------------------------------------------------------------------------
IG_COMMENT = "17865799348089039"
IG_ACCOUNT = "17841405309211844"


def test_instagram_a_reply_found_among_the_comments_replies_is_marked_sent(
    channels, agent, platform_server, monkeypatch
):
    name = "meta/instagram_comment.json"
    process_delivery(
        accept_delivery(channel_for(channels, name), fixture_bytes(name), {}, queue=False).pk
    )
    case = Post.objects.get(external_id=IG_COMMENT).case
    post = interrupted(case, agent, monkeypatch)
    replies = [  # GET /{ig-comment-id}/replies: id, text, timestamp, username, from
        {"id": "1790001", "text": TEXT, "timestamp": post.posted_at.strftime("%Y-%m-%dT%H:%M:%S+0000"),
         "username": "kenji.tanaka_", "from": {"id": "1068245441393221", "username": "kenji.tanaka_"}},
        {"id": "1790002", "text": TEXT, "timestamp": post.posted_at.strftime("%Y-%m-%dT%H:%M:%S+0000"),
         "username": "acme", "from": {"id": IG_ACCOUNT, "username": "acme"}},
    ]  # fmt: skip
    platform_server.route("GET", f"/{IG_COMMENT}/replies", 200, {"data": replies})
    assert sweep_stale() == (0, 0)
    post.refresh_from_db()
    assert post.send_status == "sent", post.send_error
    assert post.external_id == "1790002"  # the brand's, not the customer's copy
    assert not platform_server.requests_to("POST", f"/{IG_COMMENT}/replies")
