"""Safe first run (issue #16): a fresh install answers nobody by itself.

Counted detectors (volume spike, negative surge) warm up for one baseline period before they can
fire, and a volume spike fires only over a usual volume of at least ``DETECTOR_MIN_BASELINE``
posts per window; the shipped playbooks install every step that reaches customers manual until an
admin makes it automatic; ``socialcare_playbooks`` says what is live. Deliveries go through the
webhook endpoint and the worker's processing (run on commit), as in production."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from socialcare.models import (
    Case,
    Channel,
    Detector,
    DetectorCount,
    Incident,
    Playbook,
    PlaybookStep,
    Post,
    Team,
)
from tests import test_detectors as td
from tests.ingest_helpers import X_SECRET, x_signature
from tests.test_crisis_e2e import BRAND, COMPLAINTS, UNRELATED, tweet_delivery

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 6, 1, 14, 0, tzinfo=dt.UTC)
BURST = 50
Deliver = Callable[[str, dt.datetime], None]


@pytest.fixture
def x_channel(team: Team) -> Channel:
    channel = Channel(name="Acme on X", platform="x", account_id=BRAND, default_team=team)
    channel.set_secret("webhook_secret", X_SECRET)
    channel.save()
    return channel


@pytest.fixture
def deliver(
    client, x_channel, django_capture_on_commit_callbacks, socialcare_settings
) -> Iterator[Deliver]:
    """``deliver(text, at)``: a new customer's tweet posted to the webhook endpoint at ``at``,
    then processed the way the worker does (ingest, detectors, playbooks, sending)."""
    url = f"/socialcare/webhooks/x/{x_channel.pk}/"
    numbers = itertools.count(1000)

    def send(text: str, at: dt.datetime) -> None:
        body = tweet_delivery(next(numbers), text, at - dt.timedelta(seconds=5))
        with (
            time_machine.travel(at, tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            response = client.generic(
                "POST", url, body, content_type="application/json",
                HTTP_X_TWITTER_WEBHOOKS_SIGNATURE=x_signature(body),
            )  # fmt: skip
        assert response.status_code == 200, response.content

    with socialcare_settings(REPLY_TRANSPORT="socialcare.transports.console.ConsoleTransport"):
        yield send


def burst(deliver: Deliver, count: int = BURST, start: dt.datetime = START) -> None:
    """``count`` complaints from as many customers, one every 6 seconds, then the scheduled
    detector pass a minute after the last."""
    from socialcare.services.detectors import run_scheduled

    for k in range(count):
        deliver(COMPLAINTS[k % len(COMPLAINTS)], start + dt.timedelta(seconds=6 * k))
    with time_machine.travel(start + dt.timedelta(seconds=6 * count + 60), tick=False):
        run_scheduled()


def install() -> str:
    out = StringIO()
    call_command("socialcare_playbooks", stdout=out)
    Team.objects.filter(name="Escalations").update(email="escalations@example.com")
    return out.getvalue()


def a_day_of_traffic(deliver: Deliver, per_window: int = 2) -> None:
    """The day before START: a first post starts the detectors' history, then the ordinary
    traffic of a day, ``per_window`` posts every 10 minutes, as the volume spike's counters hold
    it (written directly: ingesting 288 posts would only take longer)."""
    deliver(UNRELATED[0], START - dt.timedelta(days=1))
    spike = Detector.objects.get(kind="volume_spike")
    window = dt.timedelta(minutes=spike.window_minutes)
    DetectorCount.objects.bulk_create(
        DetectorCount(detector=spike, minute=START - window * k, posts=per_window)
        for k in range(1, dt.timedelta(days=1) // window)
    )


def customer_messages() -> list[tuple[str, str]]:
    """Everything sent (or queued, or held) to a customer: replies, public notes, DMs."""
    return list(Post.objects.outbound().values_list("case__reference", "text"))


# The acceptance test of the issue ---------------------------------------------------------------


def test_a_fresh_install_and_a_burst_of_50_posts_send_no_customer_anything(deliver):
    install()
    burst(deliver)
    assert Post.objects.inbound().count() == BURST
    sent = customer_messages()
    assert sent == [], f"{len(sent)} message(s) went to customers by themselves: {sent[:3]}"
    assert not Case.objects.exclude(handed_off_to="").exists()  # no one taken to DMs either
    assert not Incident.objects.exists()  # warming up: 50 posts over nothing are no spike


# After the warm-up ------------------------------------------------------------------------------


def test_after_the_warm_up_a_real_wave_fires_and_customer_steps_wait_for_an_agent(deliver, agent):
    from socialcare.services.incidents import complete_step

    install()
    a_day_of_traffic(deliver)
    assert Detector.objects.get(kind="negative_surge").counting_since == START - dt.timedelta(
        days=1
    )
    burst(deliver)
    incidents = {i.playbook.slug: i for i in Incident.objects.all()}
    assert set(incidents) == {"product-defect", "service-outage"}
    defect, outage = incidents["product-defect"], incidents["service-outage"]
    assert defect.evidence["count"] == 15  # the shipped negative surge's threshold
    assert outage.evidence["count"] == 30  # the shipped volume spike's threshold
    assert 1.9 < outage.evidence["baseline"] <= 2.0  # over the day's usual 2 per 10 minutes
    assert defect.cases.count() + outage.cases.count() == BURST
    for incident in incidents.values():
        assert {s.status for s in incident.steps.filter(automatic=True)} == {"done"}
        holding = incident.steps.get(kind="holding_reply")
        assert (holding.automatic, holding.status) == (False, "pending")
    assert customer_messages() == []

    # An agent sends the holding replies from the incident: every linked case gets one.
    complete_step(defect.steps.get(kind="holding_reply"), actor=agent)
    assert sorted(ref for ref, _ in customer_messages()) == sorted(
        defect.cases.values_list("reference", flat=True)
    )


def test_a_step_an_admin_turns_on_runs_by_itself_and_a_second_install_keeps_the_choice(deliver):
    install()
    # The admin makes the defect holding reply automatic and switches an internal step off.
    PlaybookStep.objects.filter(playbook__slug="product-defect", kind="holding_reply").update(
        automatic=True
    )
    PlaybookStep.objects.filter(playbook__slug="product-defect", kind="assign_team").update(
        automatic=False
    )
    chosen = sorted(PlaybookStep.objects.values_list("pk", "automatic"))
    again = install()
    assert sorted(PlaybookStep.objects.values_list("pk", "automatic")) == chosen
    assert 'LIVE, reaches customers by itself: "Post the known-defect holding reply"' in again
    assert '"Route linked cases to Escalations"' not in again  # neither automatic nor customers'

    a_day_of_traffic(deliver)
    burst(deliver, count=20)
    incident = Incident.objects.get(playbook__slug="product-defect")
    holding = incident.steps.get(kind="holding_reply")
    assert (holding.automatic, holding.status) == (True, "done")
    assert sorted(ref for ref, _ in customer_messages()) == sorted(
        incident.cases.values_list("reference", flat=True)
    )
    assert all("We know about the problem" in text for _, text in customer_messages())


# What socialcare_playbooks says -----------------------------------------------------------------


def test_the_command_says_what_is_live_per_playbook():
    with time_machine.travel(START, tick=False):
        out = install()
    assert "created playbook: Service outage" in out
    blocks = out.split("When a detector fires:\n")[1]
    assert blocks.splitlines()[:5] == [
        "Influencer or legal threat:",
        "  LIVE, reaches customers by itself: none",
        "  reaches customers, waits for an admin to make it automatic: "
        '"Take the conversation to direct messages"',
        '  automatic, internal: "Alert communications and legal"; "Hold public replies for '
        'approval"; "Route to Escalations"; "Raise to urgent"',
        "  detector 'Influencer complaint': ready: it fires on a single post, no warm-up",
    ]
    assert out.count("LIVE, reaches customers by itself: none") == 3
    assert (
        "  reaches customers, waits for an admin to make it automatic: "
        '"Post the outage holding reply"'
    ) in out
    assert (
        "  detector 'Negative surge': warming up: 24 h of history from its first counted post"
    ) in out


def test_every_shipped_step_that_reaches_customers_is_installed_manual():
    from socialcare.crisis_playbooks import PLAYBOOKS
    from socialcare.services.playbook_steps import BUILTIN_KINDS

    reaching = {name for name, kind in BUILTIN_KINDS.items() if kind.reaches_customers}
    assert reaching == {"holding_reply", "take_private"}
    shipped = [step for spec in PLAYBOOKS for step in spec["steps"] if step[1] in reaching]
    assert len(shipped) == 3 and not any(automatic for _, _, automatic, _, _ in shipped)
    install()
    assert not PlaybookStep.objects.filter(kind__in=reaching, automatic=True).exists()
    # Internal steps still run by themselves: alerting, the approval gate, routing, priority.
    assert set(PlaybookStep.objects.filter(automatic=True).values_list("kind", flat=True)) == {
        "notify",
        "require_approval",
        "assign_team",
        "raise_priority",
    }


# The warm-up rule, detector by detector ---------------------------------------------------------

Kind = Detector.Kind


def hours(n: float) -> dt.timedelta:
    return dt.timedelta(hours=n)


@pytest.fixture
def playbook() -> Playbook:
    return Playbook.objects.create(name="Wave", slug="wave", severity="high")


def test_a_new_negative_surge_warms_up_for_its_baseline_period_then_fires(channel, playbook):
    from socialcare.services.detectors import run_scheduled
    from socialcare.services.warm_up import warm_up

    surge = td.detector(
        Kind.NEGATIVE_SURGE, playbook, threshold=3, window_minutes=15, counting_since=None
    )
    assert warm_up(surge).summary == "warming up: 24 h of history from its first counted post"
    assert td.burst(channel, 10) == [[]] * 10  # 10 negative posts, threshold 3: warming up
    surge.refresh_from_db()
    assert (surge.counting_since, surge.warm_from) == (td.T, td.T + hours(24))
    assert warm_up(surge, td.T).summary == "warming up until 2026-06-02 12:00 UTC (24 h of history)"
    with time_machine.travel(td.T + td.minutes(1), tick=False):
        assert run_scheduled() == []  # the scheduled pass waits too
    assert td.burst(channel, 3, at=td.T + hours(24) - td.minutes(1)) == [[]] * 3
    [[incident]] = td.burst(channel, 1, at=td.T + hours(24))
    assert incident.evidence["count"] == 4
    assert warm_up(surge, td.T + hours(24)).ready


def test_a_volume_spike_fires_only_over_a_usual_of_at_least_one_post_per_window(
    channel, playbook, socialcare_settings
):
    from socialcare.services.warm_up import warm_up

    spike = td.detector(Kind.VOLUME_SPIKE, playbook, threshold=6, spike_factor=3, window_minutes=10)
    td.usual(spike, 1)
    DetectorCount.objects.order_by("minute").first().delete()  # 142 posts in 143 windows
    assert warm_up(spike, td.T).summary == (
        "warm, but the usual 0.99 posts per 10 min is under the minimum of 1: no spike can fire"
    )
    assert td.burst(channel, 20) == [[]] * 20  # 20 posts in 10 minutes: not over 0.99
    with socialcare_settings(DETECTOR_MIN_BASELINE=0.5):
        [[incident]] = td.burst(channel, 1)
    assert incident.evidence["summary"] == "21 posts in 10 min, 21.0× the usual 1.0"
    assert incident.evidence["baseline"] == 0.99


def test_switching_a_detector_off_restarts_its_warm_up(playbook):
    from socialcare.services.warm_up import warm_up

    surge = td.detector(Kind.NEGATIVE_SURGE, playbook)
    assert warm_up(surge, td.T).ready
    surge.is_active = False
    surge.save()
    assert warm_up(surge, td.T).summary == "switched off"
    surge.is_active = True
    surge.save()
    surge.refresh_from_db()
    assert surge.counting_since is None
    assert not warm_up(surge, td.T).ready


def test_installing_a_detector_takes_its_history_from_the_stored_posts(channel, playbook):
    from socialcare.services.warm_up import seed_history, warm_up

    old = td.customer_post(channel, "Hello", sentiment=0.5, at=td.T - hours(72))
    for moment in (td.T - td.minutes(30), td.T - td.minutes(30), td.T - td.minutes(90)):
        td.customer_post(channel, at=moment)
    surge = td.detector(Kind.NEGATIVE_SURGE, playbook, platform="x", counting_since=None)
    elsewhere = td.detector(Kind.VOLUME_SPIKE, playbook, platform="facebook", counting_since=None)
    assert seed_history(surge, td.T) is True
    assert seed_history(elsewhere, td.T) is False  # no stored post in its scope
    surge.refresh_from_db()
    assert surge.counting_since == old.posted_at.replace(second=0)
    assert sorted(DetectorCount.objects.values_list("minute", "posts", "negative")) == [
        ((td.T - td.minutes(90)).replace(second=0), 1, 1),
        ((td.T - td.minutes(30)).replace(second=0), 2, 2),
    ]  # the baseline period's posts; the one of three days ago only dates the history
    assert warm_up(surge, td.T).ready
    assert Detector.objects.get(pk=elsewhere.pk).counting_since is None


def test_the_demo_detectors_take_their_history_from_the_demo_and_fire_on_a_burst(monkeypatch):
    from socialcare.demo.data import MARKER_CHANNEL

    monkeypatch.delenv("SOCIALCARE_DEMO_PASSWORD", raising=False)
    out = StringIO()
    call_command("socialcare_demo", "--no-serve", stdout=out)
    assert "  detector 'Negative surge': ready (warmed up " in out.getvalue()
    assert "LIVE, reaches customers by itself: none" in out.getvalue()
    channel = Channel.objects.get(name=MARKER_CHANNEL)
    answered = Post.objects.outbound().count()  # the demo agents' replies
    now = timezone.now()
    for _ in range(15):
        td.observe(td.customer_post(channel, at=now), at=now)
    incident = Incident.objects.get(detector__name="Negative surge")
    assert incident.playbook.slug == "product-defect"
    assert incident.steps.get(kind="holding_reply").status == "pending"
    assert Post.objects.outbound().count() == answered


def test_admin_and_api_show_whether_a_detector_can_fire(admin_client: Any) -> None:
    call_command("socialcare_playbooks", stdout=StringIO())
    detector = Detector.objects.get(kind=Detector.Kind.VOLUME_SPIKE)
    page = admin_client.get(f"/admin/socialcare/detector/{detector.pk}/change/")
    assert page.status_code == 200
    assert "warming up" in page.content.decode()
    listed = admin_client.get("/socialcare/api/v1/detectors/").json()["results"]
    spike = next(d for d in listed if d["id"] == detector.pk)
    assert spike["ready"] is False
    assert spike["readiness"].startswith("warming up")
    assert spike["counting_since"] is None
    per_post = [d for d in listed if d["kind"] in (Detector.Kind.INFLUENCER, "watch_words")]
    assert all(d["ready"] for d in per_post)
