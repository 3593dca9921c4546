"""Bluesky polling that cannot skip a mention (#18), through the real poll path
(``services.polling.poll_channel``) against the lexicon-enforcing PDS fake
(``tests/fakes/bluesky_pds.py``): late-indexed posts, pages emptied by the ``reasons`` filter,
``priority=false``, rate limits; and the lexicon validator itself (``tests/fakes/lexicon.py``).
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import httpx
import pytest
from django.db.models import Count, Sum

from socialcare.models import Case, Channel, Detector, DetectorCount, Post, WebhookDelivery
from socialcare.platforms.base import OutboundMessage, SendError
from socialcare.platforms.bluesky import BlueskyAdapter, forget_session
from socialcare.platforms.bluesky import poll as bluesky_poll
from socialcare.services.ingest import channel_config
from socialcare.services.polling import PollOutcome, poll_channel, poll_due_channels
from tests.fakes.bluesky_pds import BRAND_DID, CREATE, LIST, PROFILES, XRPC, BlueskyPdsFake
from tests.fakes.lexicon import LEXICONS, LexiconError, StricterThanServer, graphemes
from tests.platform_server import platform_server as platform_server  # fixture: re-exported
from tests.served import channels as channels

pytestmark = pytest.mark.django_db

MINUTE = 60.0
ZWJ_FAMILY = "\U0001f468\u200d\u2764\ufe0f\u200d\U0001f468"


class Clock:
    """The fake's time: starts now, moves when a test says so."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def fresh_sessions():
    forget_session()
    yield
    forget_session()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pds(platform_server, clock) -> BlueskyPdsFake:
    """The brand's account keeps Bluesky's "priority notifications" on: only accounts it
    follows, unless a call sends ``priority=false``."""
    return BlueskyPdsFake(platform_server, clock=clock, priority_notifications=True)


@pytest.fixture
def bluesky(channels) -> Channel:
    channel = channels[("bluesky", BRAND_DID)]
    Channel.objects.exclude(pk=channel.pk).update(is_active=False)  # the schedule polls it alone
    return channel


@pytest.fixture
def poll(bluesky, django_capture_on_commit_callbacks):
    """One scheduled poll of the channel; on-commit work (the detectors) runs as in production."""

    def run(*, error: bool | None = False) -> PollOutcome:
        with django_capture_on_commit_callbacks(execute=True):
            outcome = poll_channel(Channel.objects.get(pk=bluesky.pk))
        assert error is None or bool(outcome.error) is error, outcome.error
        return outcome

    return run


def listed(platform_server) -> list[Any]:
    return platform_server.requests_to("GET", XRPC + LIST)


def stored_uris(channel: Channel) -> list[str]:
    return list(Post.objects.filter(channel=channel).values_list("external_id", flat=True))


# The thousand ----------------------------------------------------------------------------------
@pytest.mark.heavy  # about 25 s: once per full run (scripts/test.sh; CI: with Django 6.1, SQLite)
def test_a_thousand_mentions_late_ones_and_empty_pages_between_are_each_ingested_once(
    pds, bluesky, poll, clock, platform_server
):
    detector = Detector.objects.create(
        name="Bluesky volume", kind=Detector.Kind.VOLUME_SPIKE, channel=bluesky, threshold=10**6
    )
    rng = random.Random(18)
    start, minutes = clock.now, 100
    bursts = [start + m * MINUTE for m in (20, 50, 80)]  # 2,500 likes each: a post went viral
    taken: set[int] = set()
    expected, late = set(), 0
    for n in range(1000):
        arrives = start + rng.uniform(1, minutes * MINUTE)  # when the AppView indexes it
        created = arrives - rng.uniform(0.05, 2)
        if n % 20 == 7:  # 5%: indexed late (or written with a slow clock): sorts below posts seen
            created, late = arrives - rng.uniform(5 * MINUTE, 50 * MINUTE), late + 1
        while round(created * 1000) in taken or any(b - 3 < created <= b for b in bursts):
            created -= 0.001  # distinct sortAt, none inside a burst of likes
        taken.add(round(created * 1000))
        view = pds.post(f"did:plc:customer{n:04d}", f"@acme.support order {n} never came",
                        created_at=created, indexed_at=max(arrives, created))  # fmt: skip
        expected.add(view["uri"])
    for burst in bursts:
        pds.likes(2500, at=burst)

    outcomes = []
    for minute in range(1, minutes + 3):  # the schedule: once a minute
        clock.now = start + minute * MINUTE
        outcomes.append(poll())

    assert late == 50
    assert sorted(stored_uris(bluesky)) == sorted(expected)  # every one, none twice
    assert Case.objects.filter(channel=bluesky).count() == 1000  # 1,000 different customers
    assert not Case.objects.annotate(n=Count("posts")).exclude(n=1).exists()
    assert sum(o.posts for o in outcomes) == 1000  # duplicates are not counted as new
    assert WebhookDelivery.objects.aggregate(n=Sum("posts_count"))["n"] == 1000
    counted = DetectorCount.objects.filter(detector=detector).aggregate(n=Sum("posts"))["n"]
    assert counted == 1000  # the detectors saw each post once
    assert pds.empty_pages > 0  # pages the `reasons` filter emptied did not end a read
    assert pds.refusals == [] and pds.limited == 0
    assert all(r.query["priority"] == ["false"] for r in listed(platform_server))
    # Re-reading the hour hands on what is new and the 5-minute slices a late post landed in
    # (about 3,000 notifications in all), not the whole hour every minute (about 60,000).
    bodies = [json.loads(bytes(d.body)) for d in WebhookDelivery.objects.all()]
    assert sum(len(body["notifications"]) for body in bodies) < 4000


def test_a_post_indexed_late_below_the_posts_seen_is_not_lost(pds, bluesky, poll, clock):
    now = clock.now
    pds.post("did:plc:first", "@acme.support hello", created_at=now - 15 * MINUTE)
    poll()
    for n in range(150):  # a page and a half of newer mentions, seen by the next poll
        pds.post(f"did:plc:c{n:03d}", f"@acme.support #{n}", created_at=now - 10 * MINUTE + n)
    assert poll().posts == 150
    # Written 20 minutes ago, indexed only now: it sorts below everything seen, on page 2.
    late = pds.post("did:plc:late", "@acme.support my parcel", created_at=now - 20 * MINUTE,
                    indexed_at=now + 30)  # fmt: skip
    clock.now = now + 60
    outcome = poll()
    assert outcome.posts == 1
    assert late["uri"] in stored_uris(bluesky)
    assert late["indexedAt"] < min(
        p.raw["indexedAt"] for p in Post.objects.exclude(external_id=late["uri"])
    )
    assert Post.objects.filter(channel=bluesky).count() == 152
    # Nothing new: the cursor stays and nothing is stored.
    deliveries = WebhookDelivery.objects.count()
    assert poll().pages == 0
    assert WebhookDelivery.objects.count() == deliveries


def test_an_empty_page_with_a_cursor_does_not_end_the_poll(pds, bluesky, poll, clock):
    now = clock.now
    pds.post("did:plc:first", "@acme.support hi", created_at=now - 10 * MINUTE)
    poll()
    below = pds.post("did:plc:second", "@acme.support refund?", created_at=now - 5 * MINUTE)
    pds.likes(2500, at=now - 1)  # 2,500 newer likes: the filter leaves pages empty
    served = pds.empty_pages
    poll()
    assert pds.empty_pages - served >= 2  # at least two pages came back empty, with a cursor
    assert below["uri"] in stored_uris(bluesky)


def test_strangers_are_fetched_although_the_account_keeps_priority_notifications(
    pds, bluesky, poll, clock, platform_server
):
    pds.follow("did:plc:friend")
    pds.post("did:plc:friend", "@acme.support hi", created_at=clock.now - 30)
    stranger = pds.post("did:plc:stranger", "@acme.support broken", created_at=clock.now - 20)
    poll()
    assert stranger["uri"] in stored_uris(bluesky)
    assert listed(platform_server)[0].query["priority"] == ["false"]
    # The fake does hide strangers when the call leaves `priority` to the account's setting.
    token = listed(platform_server)[0].headers["authorization"]
    answer = httpx.get(platform_server.url + XRPC + LIST, headers={"Authorization": token}).json()
    assert [n["author"]["did"] for n in answer["notifications"]] == ["did:plc:friend"]


# Rate limits -----------------------------------------------------------------------------------
def test_a_nearly_used_window_stops_paging_keeps_what_was_read_and_resumes_after_the_reset(
    platform_server, bluesky, poll, clock
):
    pds = BlueskyPdsFake(platform_server, clock=clock, rate_limit=20)  # 20 calls in 5 minutes
    now = clock.now
    pds.post("did:plc:old", "@acme.support first", created_at=now - 55 * MINUTE)
    poll()  # createSession, one page, one profile lookup
    clock.now += 301  # a new window
    for n in range(500):
        pds.post(f"did:plc:c{n:03d}", f"@acme.support #{n}", created_at=now - 50 * MINUTE + n)

    paused = poll()
    # Four pages (400 mentions), then the 16 profile lookups they need: the window is used up.
    assert pds.limited == 0  # it stopped before the PDS had to refuse it
    assert paused.posts == 400
    assert paused.paused_until is not None
    bluesky.refresh_from_db()
    assert bluesky.poll_paused_until is not None
    requests = len(platform_server.requests)
    poll_due_channels()  # the schedule leaves the paused channel alone
    assert len(platform_server.requests) == requests

    clock.now += 301  # the window reset
    resumed = poll()
    assert platform_server.requests[requests].query["cursor"]  # continued where it stopped
    assert resumed.posts == 100
    assert len(set(stored_uris(bluesky))) == Post.objects.filter(channel=bluesky).count() == 501
    assert pds.refusals == [] and pds.limited == 0


def test_a_429_pauses_the_channel_and_the_next_poll_after_the_reset_gets_everything(
    pds, bluesky, poll, clock, platform_server
):
    now = clock.now
    pds.post("did:plc:first", "@acme.support hi", created_at=now - 60)
    poll()
    mention = pds.post("did:plc:second", "@acme.support help", created_at=now - 30)
    pds.spend(3000)  # other clients behind the same IP used the 5-minute window
    outcome = poll(error=None)  # a pause: polling may or may not report it as an error
    assert pds.limited == 1
    assert outcome.paused_until is not None
    bluesky.refresh_from_db()
    assert bluesky.poll_paused_until is not None
    assert mention["uri"] not in stored_uris(bluesky)

    clock.now += 301
    assert poll().posts == 1
    assert mention["uri"] in stored_uris(bluesky)


# Requests checked against the lexicons ----------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        (("PAGE_SIZE", 101), "limit can not be greater than 100"),
        (("REASONS", ("mention,reply,quote",)), "not notification reasons"),
        (("REASONS", ("mentions",)), "not notification reasons"),
    ],
)
def test_a_regression_in_the_poll_request_is_refused(
    pds, bluesky, poll, clock, monkeypatch, change: tuple[str, Any], refusal: str
):
    pds.post("did:plc:first", "@acme.support hi", created_at=clock.now - 30)
    monkeypatch.setattr(bluesky_poll, *change)
    outcome = poll(error=True)
    assert refusal in outcome.error
    assert pds.refusals and refusal in pds.refusals[0][1]
    assert stored_uris(bluesky) == []


def test_a_reply_is_a_valid_post_record_and_an_overlong_one_is_refused_as_the_pds_does(
    pds, bluesky, clock
):
    parent = pds.post("did:plc:customer", "@acme.support hi", created_at=clock.now - 30)
    adapter, config = BlueskyAdapter(), channel_config(bluesky)
    with httpx.Client(timeout=5) as client:
        message = OutboundMessage(
            text=f"{ZWJ_FAMILY} Sorry! See https://acme.example/help", visibility="public",
            parent_raw=parent, recipient="did:plc:customer",
        )  # fmt: skip
        sent = adapter.send(config, message, client)
        assert sent.external_id == pds.created[0]["uri"]
        too_long = OutboundMessage(text="ü" * 301, visibility="public", parent_raw=parent)
        with pytest.raises(SendError, match="must not be longer than 300 graphemes"):
            adapter.send(config, too_long, client)
    assert len(pds.created) == 1
    assert [nsid for nsid, _ in pds.refusals] == [CREATE]
    assert pds.refusals[0][1].startswith("Invalid app.bsky.feed.post record: Record/text")


LONG_FAMILY = ZWJ_FAMILY * 151  # 151 graphemes, 3,020 UTF-8 bytes


@pytest.mark.parametrize(
    ("nsid", "query", "message"),
    [
        (LIST, {"limit": ["101"]}, "limit can not be greater than 100"),
        (LIST, {"limit": ["0"]}, "limit can not be less than 1"),
        (LIST, {"limit": ["ten"]}, "limit must be an integer"),
        (LIST, {"limit": ["50", "60"]}, "limit must be one integer, not 2 values"),
        (LIST, {"priority": ["False"]}, "priority must be a boolean"),
        (LIST, {"seenAt": ["yesterday"]}, "seenAt must be a valid datetime"),
        (PROFILES, {}, 'Params must have the property "actors"'),
        (PROFILES, {"actors": [f"did:plc:a{n}" for n in range(26)]}, "more than 25 elements"),
        (PROFILES, {"actors": ["not a handle!"]}, "must be a valid at-identifier"),
    ],
)
def test_the_validator_refuses_parameters_as_the_xrpc_server_does(nsid, query, message):
    with pytest.raises(LexiconError, match=message) as caught:
        LEXICONS.params(nsid, query)
    assert not isinstance(caught.value, StricterThanServer)


def test_unknown_parameters_are_refused_only_in_strict_mode():
    with pytest.raises(StricterThanServer, match='has no parameter "reason"'):
        LEXICONS.params(LIST, {"reason": ["mention"]})
    # The XRPC server ignores it, and applies the lexicon's default limit.
    assert LEXICONS.params(LIST, {"reason": ["mention"]}, strict=False) == {"limit": 50}
    assert LEXICONS.params(LIST, {"limit": [""], "priority": ["false"]}) == {
        "limit": 50,
        "priority": False,
    }  # empty values are ignored, as the server ignores them


def _post(**changes: Any) -> dict[str, Any]:
    ref = {"uri": "at://did:plc:abc/app.bsky.feed.post/3k43tv4rft22g",
           "cid": "bafyreig2fjxi3rptqdgylg7e5hmjl6mcke7rn2b6cugzlqq3i4zu6rq52q"}  # fmt: skip
    record = {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2024-05-01T10:00:00Z",
              "reply": {"root": ref, "parent": dict(ref)}}  # fmt: skip
    record.update(changes)
    return record


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (_post(text="a" * 301), "Record/text must not be longer than 300 graphemes"),
        (_post(text=LONG_FAMILY), "Record/text must not be longer than 3000 characters"),
        (_post(createdAt="2024-05-01 10:00"), "Record/createdAt must be a valid datetime"),
        (_post(createdAt="2024-05-01T10:00:00"), "Record/createdAt must be a valid datetime"),
        (_post(reply={"root": {"uri": "x", "cid": "y"}}), "Record/reply must have the property"),
        (
            _post(
                reply={
                    "root": {"uri": "https://bsky.app/x", "cid": "bafyreiabcdefgh"},
                    "parent": {
                        "uri": "at://did:plc:a/app.bsky.feed.post/3k",
                        "cid": "bafyreiabcdefgh",
                    },
                }
            ),
            "Record/reply/root/uri must be a valid at-uri",
        ),
        (
            _post(facets=[{"index": {"byteStart": -1, "byteEnd": 2}, "features": []}]),
            "Record/facets/0/index/byteStart can not be less than 0",
        ),
        (
            _post(
                facets=[
                    {
                        "index": {"byteStart": 0, "byteEnd": 2},
                        "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "bob"}],
                    }
                ]
            ),
            "Record/facets/0/features/0/did must be a valid did",
        ),
        (_post(langs=["en", "de", "fr", "it"]), "Record/langs must not have more than 3"),
        ({"$type": "app.bsky.feed.post", "text": "hi"}, 'must have the property "createdAt"'),
    ],
)
def test_the_validator_refuses_post_records_as_the_pds_does(record, message):
    with pytest.raises(LexiconError, match=message):
        LEXICONS.record("app.bsky.feed.post", record)


def test_the_validator_accepts_what_bluesky_accepts():
    LEXICONS.record("app.bsky.feed.post", _post(text=ZWJ_FAMILY * 150))  # 3,000 bytes
    LEXICONS.record("app.bsky.feed.post", _post(text="é" * 300, langs=["pt-BR"]))
    LEXICONS.params(PROFILES, {"actors": ["acme.support", BRAND_DID]})
    LEXICONS.params(LIST, {"reasons": ["mention", "reply"], "limit": ["100"],
                           "priority": ["false"], "cursor": ["2024-01-01T00:00:00.000Z"]})  # fmt: skip
    assert graphemes(ZWJ_FAMILY + "e\u0301" + "\U0001f1eb\U0001f1f7") == 3
