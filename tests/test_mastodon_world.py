"""Mastodon as its documentation says it behaves (``tests/fakes/mastodon_server.py``), through the
real poll path (``services.polling``) and the worker's send: filtered private mentions, edits
Mastodon does not notify, the server's own length limit with the mention counted, and the
account's rate-limit window."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from socialcare.exceptions import SocialCareError
from socialcare.models import Case, CaseEvent, Channel, Post, WebhookDelivery
from socialcare.services.polling import poll_channel, poll_due_channels
from socialcare.services.replies import send_reply
from tests.fakes.mastodon_server import INSTANCE, NOTIFICATIONS, STATUSES, MastodonFake
from tests.platform_server import platform_server as platform_server
from tests.served import channels as channels
from tests.served import queued as queued

pytestmark = pytest.mark.django_db

BRAND = "14715"
STRANGER = "dana@other.example"
COMPLAINT = "@acmehelp my order 4411 never arrived"


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()  # instance limits and edit rotations are kept in Django's cache
    yield
    cache.clear()


@pytest.fixture
def mastodon(channels) -> Channel:
    # Only Mastodon here: the Bluesky channel would be polled at the same test server.
    Channel.objects.filter(platform="bluesky").update(is_active=False)
    return channels[("mastodon", BRAND)]


@pytest.fixture
def masto(platform_server) -> MastodonFake:
    return MastodonFake(platform_server, account_id=BRAND)


def case_of(status: dict) -> Case:
    return Post.objects.get(platform="mastodon", local_id=status["id"]).case


# 1. Filtered private mentions ---------------------------------------------------------------------
def test_a_strangers_first_private_mention_arrives_and_opens_a_private_case(
    mastodon, masto, platform_server
):
    masto.post("zsc@other.example", "@acmehelp hello in public")
    dm = masto.post(STRANGER, "@acmehelp my card was charged twice", visibility="direct")
    # Mastodon's default policy filters a stranger's private mention: hidden from a plain list.
    assert [n["_filtered"] for n in masto.notifications] == [False, True]

    outcome = poll_channel(mastodon)

    assert (outcome.error, outcome.posts) == ("", 2)
    post = Post.objects.get(local_id=dm["id"])
    assert (post.visibility, post.kind, post.text) == (
        "private",
        "direct_message",
        "@acmehelp my card was charged twice",
    )
    assert post.case.visibility == "private"
    assert post.author.handle == STRANGER
    asked = platform_server.requests_to("GET", NOTIFICATIONS)[0].query
    assert asked["include_filtered"] == ["true"] and asked["types[]"] == ["mention"]


def test_a_dropped_private_mention_is_never_created_so_the_docs_say_to_accept_or_filter(
    mastodon, masto
):
    masto.policy["for_private_mentions"] = "drop"
    masto.post(STRANGER, "@acmehelp are you there?", visibility="direct")
    masto.following.add("friend@other.example")  # followed accounts are always allowed
    masto.post("friend@other.example", "@acmehelp psst", visibility="direct")
    assert poll_channel(mastodon).posts == 1
    assert list(Post.objects.values_list("text", flat=True)) == ["@acmehelp psst"]


# 2. Edits -----------------------------------------------------------------------------------------
def test_an_edited_complaint_shows_its_new_text_and_the_timeline_keeps_the_old(
    mastodon, masto, platform_server, client, agent
):
    status = masto.post(STRANGER, COMPLAINT)
    poll_channel(mastodon)
    case = case_of(status)
    masto.edit(status["id"], "@acmehelp my order 4411 never arrived and nobody answers")
    assert not [n for n in masto.notifications if n["type"] == "update"]  # not boosted: silent

    outcome = poll_channel(mastodon)

    assert (outcome.error, outcome.posts, outcome.edits) == ("", 0, 1)
    post = Post.objects.get(local_id=status["id"])
    assert post.text == "@acmehelp my order 4411 never arrived and nobody answers"
    assert post.edited_at is not None
    event = case.events.get(kind=CaseEvent.Kind.POST_EDITED)
    assert event.data["old_text"] == COMPLAINT
    assert event.summary() == f"The customer edited this post. Before: {COMPLAINT}"
    assert platform_server.requests_to("GET", STATUSES)[-1].query["id[]"] == [status["id"]]
    # The agent's case page shows the new text and, in the timeline, the old.
    agent.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_case", "change_case"])
    )
    client.force_login(agent)
    page = client.get(reverse("admin:socialcare_case_change", args=[case.pk])).content.decode()
    assert "nobody answers" in page and f"Before: {COMPLAINT}" in page
    # Asked again, nothing new: no second delivery, no second event.
    deliveries = WebhookDelivery.objects.count()
    assert poll_channel(mastodon).edits == 0
    assert WebhookDelivery.objects.count() == deliveries
    assert case.events.filter(kind=CaseEvent.Kind.POST_EDITED).count() == 1


def local_ids() -> list[str]:
    """The Mastodon posts' status ids in the order they were stored (the edit rotation's)."""
    return list(
        Post.objects.filter(platform="mastodon").order_by("pk").values_list("local_id", flat=True)
    )


def test_edit_checks_are_bounded_to_open_recent_cases_and_take_turns(
    mastodon, masto, platform_server
):
    statuses = [masto.post(f"user{n}@other.example", f"@acmehelp issue {n}") for n in range(24)]
    poll_channel(mastodon)
    closed, old = case_of(statuses[0]), Post.objects.get(local_id=statuses[1]["id"])
    Case.objects.filter(pk=closed.pk).update(status=Case.Status.CLOSED)
    Post.objects.filter(pk=old.pk).update(posted_at=timezone.now() - dt.timedelta(days=8))
    candidates = [i for i in local_ids() if i not in (statuses[0]["id"], statuses[1]["id"])]
    masto.edit(candidates[-1], "@acmehelp issue, now worse")
    cache.clear()  # the rotation starts again from the first candidate
    before = len(platform_server.requests_to("GET", STATUSES))

    first = poll_channel(mastodon)  # one request, the first 20 candidates
    second = poll_channel(mastodon)  # the other 2, then round again

    asked = [r.query["id[]"] for r in platform_server.requests_to("GET", STATUSES)[before:]]
    assert asked == [candidates[:20], candidates[20:] + candidates[:18]]
    assert (first.edits, second.edits) == (0, 1)
    assert Post.objects.get(local_id=candidates[-1]).text == "@acmehelp issue, now worse"


def test_a_server_before_4_3_is_asked_status_by_status(mastodon, platform_server):
    masto = MastodonFake(platform_server, account_id=BRAND, multi_get=False)
    for n in range(7):
        masto.post(f"user{n}@other.example", f"@acmehelp issue {n}")
    poll_channel(mastodon)  # its edit check: 404 for the list, then 5 one by one
    order = local_ids()
    masto.edit(order[5], "@acmehelp issue, edited")
    assert poll_channel(mastodon).edits == 1  # the next 5, in turn
    singles = [r.path for r in platform_server.requests if r.path.startswith(f"{STATUSES}/")]
    assert singles == [f"{STATUSES}/{i}" for i in order[:5] + order[5:] + order[:3]]
    assert Post.objects.get(local_id=order[5]).text == "@acmehelp issue, edited"
    poll_channel(mastodon)  # the server is remembered: no more list attempts
    assert len(platform_server.requests_to("GET", STATUSES)) == 1


def test_edit_checks_can_be_turned_off(mastodon, masto, platform_server, socialcare_settings):
    status = masto.post(STRANGER, COMPLAINT)
    with socialcare_settings(MASTODON_EDIT_CHECKS=0):
        poll_channel(mastodon)
        masto.edit(status["id"], "@acmehelp changed")
        poll_channel(mastodon)
    assert not platform_server.requests_to("GET", STATUSES)
    assert Post.objects.get(local_id=status["id"]).text == COMPLAINT


# 3. The server's length limit -----------------------------------------------------------------
def fill(length: int, tail: str = "") -> str:
    """A reply of exactly ``length`` characters ending with ``tail``."""
    body = ("We are on it, sorry " * 60)[: length - len(tail)]
    return (body[:-1] + "." if body.endswith(" ") else body) + tail


def opened(mastodon: Channel, masto: MastodonFake) -> Case:
    status = masto.post(STRANGER, COMPLAINT)  # answered as "@dana@other.example …"
    poll_channel(mastodon)
    return case_of(status)


def test_a_reply_that_fits_only_without_the_mention_is_refused_before_sending(
    mastodon, platform_server, agent, queued
):
    masto = MastodonFake(platform_server, account_id=BRAND, max_characters=100)
    case = opened(mastodon, masto)
    too_long = "x" * 97  # 97 fits; "@dana " makes 103 (the domain is not counted)
    with pytest.raises(SocialCareError) as refused:
        send_reply(case, too_long, actor=agent)
    message = str(refused.value)
    assert "103 characters is over the limit of 127.0.0.1, 100 characters" in message
    assert "“@dana@other.example”" in message and "counts as 6" in message
    assert "without it the text would fit" in message and "Shorten it by 3" in message
    assert not Post.objects.filter(direction="outbound").exists()
    assert not platform_server.requests_to("POST", STATUSES)

    link = "https://shop.acme.com/orders/4411/tracking?carrier=acme&lang=en"  # counts 23
    fits = fill(94 - 23 + len(link), f" {link}")  # 94 + "@dana " = 100
    post = queued(send_reply(case, fits, actor=agent))
    assert post.send_status == "sent", post.send_error
    assert masto.created[-1]["status"] == f"@{STRANGER} {fits}"
    assert masto.refused == []


def test_the_instances_own_limit_is_used_not_500(mastodon, platform_server, agent, queued):
    masto = MastodonFake(platform_server, account_id=BRAND, max_characters=1000)
    case = opened(mastodon, masto)
    post = queued(send_reply(case, fill(700), actor=agent))
    assert post.send_status == "sent", post.send_error
    with pytest.raises(SocialCareError, match=r"over the limit of 127\.0\.0\.1, 1000 characters"):
        send_reply(case, "y" * 1000, actor=agent)


def test_a_server_that_does_not_say_gets_mastodons_defaults(mastodon, platform_server, agent):
    masto = MastodonFake(
        platform_server, account_id=BRAND, max_characters=None, characters_reserved_per_url=None
    )
    case = opened(mastodon, masto)
    with pytest.raises(SocialCareError, match=r"Mastodon's default limit .* 500 characters"):
        send_reply(case, "z" * 495, actor=agent)


def test_instance_limits_are_read_once_for_many_replies(mastodon, masto, agent, queued):
    case = opened(mastodon, masto)
    for n in range(5):
        assert (
            queued(send_reply(case, f"Update {n}: on its way", actor=agent)).send_status == "sent"
        )
    assert masto.instance_calls == 1
    assert len(masto.created) == 5


# 4. Rate limits -----------------------------------------------------------------------------------
NOON = dt.datetime(2026, 7, 1, 12, 0, 10, tzinfo=dt.UTC)  # 10 s into a 5-minute window


def test_the_poll_pauses_when_the_window_is_nearly_used_and_resumes_after_the_reset(
    mastodon, masto, platform_server
):
    with time_machine.travel(NOON, tick=False) as clock:
        masto.post(STRANGER, COMPLAINT)
        masto.other_client_used(292)  # the poll's call leaves 7: under the reserve of 10

        outcome = poll_channel(mastodon)

        assert (outcome.error, outcome.posts) == ("", 1)  # the page was kept
        assert outcome.paused_until == NOON + dt.timedelta(seconds=290)  # the window's reset
        assert "paused until 12:05:00 UTC" in str(outcome)
        mastodon.refresh_from_db()
        assert (mastodon.last_poll_error, mastodon.poll_paused_until) == ("", outcome.paused_until)
        assert not platform_server.requests_to("GET", STATUSES)  # no edit check either
        calls = len(platform_server.requests)
        masto.post("zsc@other.example", "@acmehelp me too")
        assert poll_due_channels() == []  # paused: not asked
        assert len(platform_server.requests) == calls

        clock.move_to(NOON + dt.timedelta(seconds=291))
        [resumed] = poll_due_channels()
        assert (resumed.error, resumed.posts, resumed.paused_until) == ("", 1, None)
    assert Post.objects.filter(platform="mastodon").count() == 2
    assert masto.refused == []  # never a 429


def test_a_429_pauses_the_poll_until_the_reset_and_nothing_is_lost(mastodon, masto):
    with time_machine.travel(NOON, tick=False) as clock:
        masto.post(STRANGER, COMPLAINT)
        masto.other_client_used(300)

        outcome = poll_channel(mastodon)

        assert outcome.error == "rate limited; polling paused for 290 s"
        assert outcome.paused_until == NOON + dt.timedelta(seconds=290)
        assert masto.refused[-1][0] == 429
        assert not Post.objects.exists()
        clock.move_to(NOON + dt.timedelta(seconds=300))
        [resumed] = poll_due_channels()
        assert (resumed.error, resumed.posts) == ("", 1)


def test_the_fake_refuses_what_mastodon_refuses(masto, platform_server):
    """The fake itself: a regression in socialcare must meet these refusals."""
    import httpx

    headers = {"Authorization": "Bearer test-token"}
    with httpx.Client(base_url=platform_server.url, headers=headers) as http:
        too_long = http.post(STATUSES, json={"status": "a" * 501})
        assert too_long.status_code == 422
        assert too_long.json() == {
            "error": "Validation failed: Text character limit of 500 exceeded"
        }
        ids = [("id[]", str(n)) for n in range(21)]
        assert http.get(STATUSES, params=ids).status_code == 422
        assert http.get(NOTIFICATIONS, params={"limit": 500}).status_code == 200
        assert http.get(f"{STATUSES}/1").status_code == 404
        assert int(http.get(NOTIFICATIONS).headers["x-ratelimit-remaining"]) < 300
        assert http.get(INSTANCE, headers={}).json()["configuration"]["statuses"] == {
            "max_media_attachments": 4,
            "max_characters": 500,
            "characters_reserved_per_url": 23,
        }
    with httpx.Client(base_url=platform_server.url) as anonymous:
        assert anonymous.get(NOTIFICATIONS).status_code == 401


# The counting and the header reading on their own ------------------------------------------------
@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("@dana@other.example hello", len("@dana hello")),  # the domain is free
        ("see https://example.com/" + "a" * 80, 4 + 23),  # any link: 23
        ("see example.com/page", 20),  # no protocol: not a link on Mastodon, counted as typed
        ("e\u0301te\u0301", 3),  # letters with combining accents: one each
        ("ok 👍🏽 👨‍👩‍👧", 6),  # an emoji sequence counts one
        ("mail@dana.example", 17),  # not a mention: preceded by a word character
    ],
)
def test_status_length_counts_as_mastodon_documents(text: str, length: int):
    from socialcare.platforms.mastodon import status_length

    assert status_length(text) == length


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "11"}, None),
        ({"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "10"}, 120.0),
        ({"X-RateLimit-Limit": "30", "X-RateLimit-Remaining": "4"}, None),  # a tenth: 3
        ({"X-RateLimit-Limit": "30", "X-RateLimit-Remaining": "3"}, 120.0),
        ({"X-RateLimit-Remaining": "0"}, 120.0),
        ({}, None),  # a server without the headers
    ],
)
def test_a_nearly_used_window_asks_the_poll_to_wait_for_the_reset(headers, wait):
    import httpx

    from socialcare.platforms.mastodon.common import rate_limit_wait

    with time_machine.travel(NOON, tick=False):
        reset = {"X-RateLimit-Reset": (NOON + dt.timedelta(seconds=120)).isoformat()}
        response = httpx.Response(200, headers={**headers, **reset})
        assert rate_limit_wait(response) == wait
