"""Backfills (``services.history``): posts older than the horizon when first seen, or brought by a
channel's first poll, are stored and threaded but page no one, raise no detector and leave no
breached case; a post arriving live afterwards behaves as before.

The test settings switch the horizon off (the fixtures are dated years ago); the tests here set
the shipped defaults back (``defaults``), except where they show what "off" does."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from socialcare.models import (
    Case,
    CaseEvent,
    Channel,
    Detector,
    Incident,
    Post,
    SLAAlert,
    WebhookDelivery,
)
from socialcare.services import sla_scan
from socialcare.services.apikeys import create_api_key
from socialcare.services.case_page import sla_box
from socialcare.services.cases import change_status
from socialcare.services.deliveries import accept_delivery
from socialcare.services.ingest import process_delivery
from socialcare.services.polling import poll_channel
from socialcare.services.replies import send_reply
from socialcare.services.sla_state import sla_state, sla_state_filter
from socialcare.simulator import SimPost, Simulator, Target
from tests.ingest_helpers import fixture_bytes, make_channels, x_signature
from tests.platform_server import Answer
from tests.platform_server import platform_server as platform_server
from tests.test_crisis_e2e import tweet_delivery
from tests.test_ingest_batch import SECRET, by_channel, make_targets, merged_body

pytestmark = pytest.mark.django_db

DAY = 86_400
SPIKE = 40  # complaints about the checkout, minutes apart, somewhere in the past year
HORIZON = dt.timedelta(hours=24)


@pytest.fixture
def defaults(settings):
    """The shipped settings: 24 hours; a polled channel's first poll is history."""
    settings.SOCIALCARE = {
        **settings.SOCIALCARE,
        "BACKFILL_HORIZON": HORIZON,
        "BACKFILL_FIRST_POLL": True,
        "REPLY_TRANSPORT": "socialcare.transports.console.ConsoleTransport",
    }


@pytest.fixture
def targets(team) -> list[Target]:
    """Acme on X and on Facebook, their cases for team Care (care@example.com)."""
    found = make_targets()
    Channel.objects.update(default_team=team)
    return found


@pytest.fixture
def watchers() -> tuple[Detector, Detector]:
    """Two per-post detectors any of the stream's checkout complaints trips when live."""
    words = Detector.objects.create(
        name="Checkout words", kind="watch_words", watch_words="checkout", cooldown_minutes=0
    )
    loud = Detector.objects.create(
        name="Loud customer", kind="influencer", threshold=100, cooldown_minutes=0
    )
    return words, loud


class Clock:
    """The simulator's clock: each post ``step`` seconds after the one before."""

    def __init__(self, start: float, step: float) -> None:
        self.now, self.step = start, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def past_year(targets: list[Target], count: int, seed: int = 7) -> list[SimPost]:
    """``count`` real-format posts spread over the past year (threads, follow-ups, DMs, five
    languages), with a burst of ``SPIKE`` checkout complaints half-way."""
    step = 363 * DAY / count
    clock = Clock(time.time() - 365 * DAY, step)
    sim = Simulator(targets, seed=seed, clock=clock)
    posts = [sim.next_post() for _ in range(count // 2)]
    clock.step = 20
    posts += sim.spike(SPIKE, "checkout")
    clock.step = step
    posts += [sim.next_post() for _ in range(count - len(posts))]
    return posts


def backfill(posts: list[SimPost], capture, *, page: int = 100) -> int:
    """Deliver ``posts`` as a backfill does, in pages per channel; detectors run on commit."""
    deliveries = 0
    for channel_id, group in by_channel(posts).items():
        channel = Channel.objects.get(pk=channel_id)
        for start in range(0, len(group), page):
            delivery = accept_delivery(
                channel, merged_body(group[start : start + page]), {}, queue=False
            )
            with capture(execute=True):
                done = process_delivery(delivery.pk)
            assert done.status == "processed", done.last_error
            deliveries += 1
    return deliveries


def tweet(n: int, text: str, at: dt.datetime, *, user: int | None = None, reply_to: int = 0):
    """A real-format tweet event (``tweet_delivery``'s), optionally by customer ``user`` and in
    reply to tweet ``reply_to``."""
    event = json.loads(tweet_delivery(n, text, at))["tweet_create_events"][0]
    if user is not None:
        user_id = str(770_000_000_000_000_000 + user)
        event["user"].update(id=int(user_id), id_str=user_id, screen_name=f"customer_{user}")
    if reply_to:
        parent = str(1_400_000_000_000_000_000 + reply_to)
        event.update(in_reply_to_status_id=int(parent), in_reply_to_status_id_str=parent)
    return event


def x_body(*events: dict) -> bytes:
    data = json.loads(fixture_bytes("x/tweet_create_extended.json"))
    data["tweet_create_events"] = list(events)
    return json.dumps(data).encode()


def post_webhook(client, channel: Channel, body: bytes, capture) -> None:
    """Through the real webhook view, signed; detectors run on commit."""
    with capture(execute=True):
        response = client.generic(
            "POST", f"/socialcare/webhooks/x/{channel.pk}/", body,
            content_type="application/json", HTTP_X_TWITTER_WEBHOOKS_SIGNATURE=x_signature(body, SECRET),
        )  # fmt: skip
    assert response.status_code == 200, response.content


def x_post(n: int) -> Post:
    return Post.objects.select_related("case").get(
        platform="x", external_id=str(1_400_000_000_000_000_000 + n)
    )


# The acceptance --------------------------------------------------------------------------------


@pytest.mark.heavy  # about 20 s: the full run takes it on PostgreSQL (on_postgres)
@pytest.mark.on_postgres
def test_a_backfill_of_2000_posts_from_the_past_year_pages_no_one_then_live_posts_do(
    defaults, targets, watchers, client, django_capture_on_commit_callbacks
):
    posts = past_year(targets, 2000)
    assert sum("checkout" in p.text.lower() for p in posts) >= SPIKE
    backfill(posts, django_capture_on_commit_callbacks)

    # Stored, de-duplicated and threaded as always.
    assert Post.objects.inbound().count() == 2000
    assert Post.objects.filter(from_history=False).count() == 0
    assert Post.objects.filter(parent__isnull=False).count() >= 100  # follow-ups in threads
    cases = Case.objects.all()
    assert 100 < cases.count() < 2000
    # No clock, so nothing due, warned, breached or mailed; no detector saw a wave.
    assert cases.filter(from_history=False).count() == 0
    assert not cases.filter(sla_started_at__isnull=False).exists()
    assert not cases.filter(first_response_due_at__isnull=False).exists()
    assert not cases.filter(resolution_due_at__isnull=False).exists()
    now = timezone.now()
    result = sla_scan.scan(now)
    assert (result.breaches, result.warnings) == ([], [])
    assert SLAAlert.objects.count() == 0
    assert not CaseEvent.objects.filter(kind=CaseEvent.Kind.SLA_BREACHED).exists()
    assert cases.filter(sla_state_filter("breached", now)).count() == 0
    assert cases.overdue(now).count() == 0
    assert {sla_state(c, now) for c in cases} == {None}
    assert Incident.objects.count() == 0
    assert mail.outbox == []

    # A customer writes live afterwards: a clock from their post, detectors see it.
    x = Channel.objects.get(platform="x")
    at = timezone.now().replace(microsecond=0) - dt.timedelta(seconds=5)
    text = "@Learn_Awesome checkout broken again, payment declined. Terrible, useless service."
    post_webhook(client, x, x_body(tweet(9001, text, at)), django_capture_on_commit_callbacks)
    live = x_post(9001)
    case = live.case
    assert (live.from_history, case.from_history) == (False, False)
    assert case.sla_started_at == live.posted_at == at
    due = at + dt.timedelta(minutes=60)  # DEFAULT_FIRST_RESPONSE: no policy matches
    assert case.first_response_due_at == due
    assert {i.detector for i in Incident.objects.all()} == set(watchers)
    warned = sla_scan.scan(due - dt.timedelta(minutes=10))
    assert [(a.case_id, a.level) for a in warned.warnings] == [(case.pk, "warning")]
    breached = sla_scan.scan(due + dt.timedelta(minutes=1))
    assert [(a.case_id, a.level) for a in breached.breaches] == [(case.pk, "breach")]
    assert (
        Case.objects.filter(sla_state_filter("breached", due + dt.timedelta(minutes=1))).get()
        == case
    )
    assert any(case.reference in m.subject and m.to == ["care@example.com"] for m in mail.outbox)


def test_the_same_posts_taken_live_page_the_team_and_raise_the_detectors(
    settings, targets, watchers, django_capture_on_commit_callbacks
):
    """The control (and ``BACKFILL_HORIZON: None``, the test settings): every post is live."""
    assert settings.SOCIALCARE["BACKFILL_HORIZON"] is None
    backfill(past_year(targets, 300), django_capture_on_commit_callbacks)
    assert Post.objects.filter(from_history=True).count() == 0
    assert not Case.objects.filter(from_history=True).exists()
    assert not Case.objects.filter(first_response_due_at__isnull=True).exists()
    assert {i.detector for i in Incident.objects.all()} == set(watchers)
    result = sla_scan.scan()
    assert len(result.breaches) >= Case.objects.count()
    assert mail.outbox and all(m.to == ["care@example.com"] for m in mail.outbox)


# The rules around it ---------------------------------------------------------------------------


def test_a_live_post_joining_a_history_case_starts_its_clock_then(
    defaults, targets, client, django_capture_on_commit_callbacks
):
    x = Channel.objects.get(platform="x")
    month_ago = timezone.now().replace(microsecond=0) - dt.timedelta(days=30)
    old = x_body(tweet(1, "@Learn_Awesome my order never came", month_ago, user=1))
    post_webhook(client, x, old, django_capture_on_commit_callbacks)
    case = x_post(1).case
    assert case.from_history and case.first_response_due_at is None
    assert case.created_at == month_ago  # opened when it happened, with no clock

    at = timezone.now().replace(microsecond=0) - dt.timedelta(seconds=5)
    again = tweet(2, "@Learn_Awesome still nothing, a month later!", at, user=1, reply_to=1)
    post_webhook(client, x, x_body(again), django_capture_on_commit_callbacks)
    assert x_post(2).case_id == case.pk
    case.refresh_from_db()
    assert (case.from_history, case.sla_started_at, case.created_at) == (False, at, month_ago)
    assert case.first_response_due_at == at + dt.timedelta(minutes=60)
    assert sla_scan.scan(at + dt.timedelta(minutes=61)).breaches[0].case_id == case.pk


def test_an_old_post_in_a_live_case_does_not_move_its_clocks(
    defaults, targets, client, django_capture_on_commit_callbacks
):
    x = Channel.objects.get(platform="x")
    at = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=5)
    live = tweet(2, "@Learn_Awesome my refund is still missing", at, user=1, reply_to=1)
    post_webhook(client, x, x_body(live), django_capture_on_commit_callbacks)
    case = x_post(2).case
    clocks = (case.sla_started_at, case.first_response_due_at, case.resolution_due_at)
    assert clocks[:2] == (at, at + dt.timedelta(minutes=60))
    # The tweet it answers, three days old, arrives now (a poll after downtime).
    root_at = at - dt.timedelta(days=3)
    root = tweet(1, "@Learn_Awesome I returned the blender, where's my refund?", root_at, user=1)
    post_webhook(client, x, x_body(root), django_capture_on_commit_callbacks)
    assert x_post(1).from_history and x_post(1).case_id == case.pk
    case.refresh_from_db()
    assert case.created_at == root_at  # the conversation started then …
    assert not case.from_history
    assert (case.sla_started_at, case.first_response_due_at, case.resolution_due_at) == clocks


def test_a_post_from_history_does_not_reopen_a_resolved_case_or_page(
    defaults, targets, client, agent, django_capture_on_commit_callbacks
):
    x = Channel.objects.get(platform="x")
    now = timezone.now().replace(microsecond=0)
    opened = now - dt.timedelta(days=5)
    with time_machine.travel(opened, tick=False):
        first = tweet(1, "@Learn_Awesome my hub is offline", opened, user=1)
        post_webhook(client, x, x_body(first), django_capture_on_commit_callbacks)
    case = x_post(1).case
    with time_machine.travel(opened + dt.timedelta(days=1), tick=False):
        change_status(case, Case.Status.OPEN, actor=agent)
        change_status(Case.objects.get(pk=case.pk), Case.Status.RESOLVED, actor=agent)
    SLAAlert.objects.all().delete()
    # Two days ago (after the case was resolved) the customer said more; it comes in now.
    said = tweet(
        2, "@Learn_Awesome it is back online", now - dt.timedelta(days=2), user=1, reply_to=1
    )
    post_webhook(client, x, x_body(said), django_capture_on_commit_callbacks)
    assert x_post(2).from_history and x_post(2).case_id == case.pk
    case.refresh_from_db()
    assert case.status == Case.Status.RESOLVED
    assert sla_scan.scan().breaches == [] and mail.outbox == []


def test_horizon_none_takes_every_post_live(targets, client, django_capture_on_commit_callbacks):
    x = Channel.objects.get(platform="x")
    year_ago = timezone.now().replace(microsecond=0) - dt.timedelta(days=365)
    body = x_body(tweet(1, "@Learn_Awesome the app crashes", year_ago, user=1))
    post_webhook(client, x, body, django_capture_on_commit_callbacks)
    case = x_post(1).case
    assert not x_post(1).from_history and not case.from_history
    assert case.first_response_due_at == year_ago + dt.timedelta(minutes=60)
    assert sla_state(case) == "breached"


# The first poll ------------------------------------------------------------------------------


def recent_mention(n: int) -> bytes:
    """A page with the fixture's first notification again, as new mention ``n`` written a
    minute ago (younger than the horizon)."""
    item = json.loads(fixture_bytes("mastodon/notifications_mentions.json"))[0]
    at = (timezone.now() - dt.timedelta(minutes=1)).astimezone(dt.UTC)
    stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    status_id = str(990_000_000_000_000_000 + n)
    status = dict(item["status"], id=status_id, created_at=stamp, in_reply_to_id=None)
    status["uri"] = status["uri"].rsplit("/", 1)[0] + f"/{status_id}"
    status["url"] = status["uri"]
    return json.dumps(
        [dict(item, id=str(99_999_000 + n), created_at=stamp, status=status)]
    ).encode()


def mastodon_post(n: int) -> Post:
    return Post.objects.select_related("case").get(
        platform="mastodon", external_id__endswith=f"/{990_000_000_000_000_000 + n}"
    )


@pytest.fixture
def mastodon(platform_server):
    channel = make_channels()[("mastodon", "14715")]
    channel.base_url = platform_server.url
    channel.save()
    Channel.objects.filter(platform="bluesky").update(is_active=False)
    return channel


def test_a_channels_first_poll_is_history_and_later_polls_are_live(
    defaults, mastodon, platform_server
):
    # Connected now: what the first poll reads is history, however recent.
    first_page = recent_mention(1)
    platform_server.route(
        "GET", "/api/v1/notifications", [Answer(200, first_page), Answer(200, b"[]")]
    )
    assert poll_channel(mastodon).posts == 1
    assert WebhookDelivery.objects.get().source == WebhookDelivery.Source.HISTORY
    first = mastodon_post(1)
    assert first.from_history and first.case.from_history
    assert first.case.first_response_due_at is None

    platform_server.route(
        "GET", "/api/v1/notifications", [Answer(200, recent_mention(2)), Answer(200, b"[]")]
    )
    assert poll_channel(mastodon).posts == 1
    assert WebhookDelivery.objects.latest("pk").source == WebhookDelivery.Source.POLL
    post = mastodon_post(2)
    assert not post.from_history and not post.case.from_history
    assert post.case.first_response_due_at == post.posted_at + dt.timedelta(minutes=60)


def test_first_poll_off_takes_a_recent_first_page_live(
    defaults, settings, mastodon, platform_server
):
    settings.SOCIALCARE = {**settings.SOCIALCARE, "BACKFILL_FIRST_POLL": False}
    page = recent_mention(1)
    platform_server.route("GET", "/api/v1/notifications", [Answer(200, page), Answer(200, b"[]")])
    assert poll_channel(mastodon).posts == 1
    assert WebhookDelivery.objects.get().source == WebhookDelivery.Source.POLL
    assert not mastodon_post(1).from_history


# Working a case from history -------------------------------------------------------------------


@pytest.fixture
def history_case(defaults, targets, client, django_capture_on_commit_callbacks) -> Case:
    x = Channel.objects.get(platform="x")
    weeks_ago = timezone.now().replace(microsecond=0) - dt.timedelta(days=20)
    body = x_body(tweet(1, "@Learn_Awesome my invoice is wrong", weeks_ago, user=1))
    post_webhook(client, x, body, django_capture_on_commit_callbacks)
    return x_post(1).case


def test_an_agent_works_a_case_from_history_with_no_sla_running(history_case, agent):
    case = history_case
    assert sla_box(case).label == "No SLA running"
    reply = send_reply(case, "Sorry for the wait! We've fixed the invoice.", actor=agent)
    assert reply.case_id == case.pk
    case = change_status(Case.objects.get(pk=case.pk), Case.Status.RESOLVED, actor=agent)
    case.refresh_from_db()
    assert case.status == Case.Status.RESOLVED and case.from_history
    assert sla_state(case) is None and sla_box(case).label == "No SLA running"
    assert SLAAlert.objects.count() == 0 and mail.outbox == []


def test_the_case_page_and_the_inbox_say_from_history(history_case, agent, client):
    agent.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_case", "change_case"])
    )
    client.force_login(type(agent).objects.get(pk=agent.pk))
    page = client.get(reverse("admin:socialcare_case_change", args=[history_case.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert "From history — no SLA clock until the customer writes live." in body
    assert "No SLA running" in body
    inbox = reverse("admin:socialcare_case_changelist")
    assert history_case.reference in client.get(f"{inbox}?history=yes").content.decode()
    assert history_case.reference not in client.get(f"{inbox}?history=no").content.decode()


def test_the_api_shows_from_history_and_filters_on_it(history_case, agent):
    perms = ["view_case", "view_post"]
    agent.user_permissions.add(*Permission.objects.filter(codename__in=perms))
    _, key = create_api_key(agent, "tests")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    url = "/socialcare/api/v1/cases/"
    row = api.get(f"{url}{history_case.pk}/").json()
    assert (row["from_history"], row["sla_started_at"], row["sla_state"]) == (True, None, None)
    assert [c["id"] for c in api.get(f"{url}?from_history=true").json()["results"]] == [
        history_case.pk
    ]
    assert api.get(f"{url}?from_history=false").json()["results"] == []
    bad = api.get(f"{url}?from_history=maybe")
    assert bad.status_code == 400 and "from_history" in bad.json()["errors"]
    posts = api.get(f"/socialcare/api/v1/posts/?case={history_case.pk}").json()["results"]
    assert [p["from_history"] for p in posts] == [True]
