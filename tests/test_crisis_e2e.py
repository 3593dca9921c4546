"""End to end: a burst of real-format X deliveries (customers complaining about a broken
checkout) posted to the webhook endpoint, processed by the worker, watched by the shipped
detectors after a day of ordinary traffic (their warm-up): one incident, the right cases,
automatic steps done and audited, holding replies sent once an admin made that step automatic,
and an agent's public reply held until a second agent approves it."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
import time_machine
from django.contrib.auth.models import Permission

from socialcare.crisis_playbooks import install_playbooks
from socialcare.models import (
    Case,
    CaseEvent,
    Channel,
    Detector,
    Incident,
    IncidentStep,
    PlaybookStep,
    Post,
    Team,
    WebhookDelivery,
)
from socialcare.services.replies import approve_reply, send_reply
from tests.ingest_helpers import X_SECRET, fixture_bytes, x_signature

pytestmark = pytest.mark.django_db

BRAND = "1114259648326987776"
START = dt.datetime(2026, 6, 1, 14, 0, tzinfo=dt.UTC)
COMPLAINTS = [
    "@Learn_Awesome your checkout is broken again, payment declined three times. Terrible.",
    "@Learn_Awesome checkout keeps failing with an error, I can't pay. So frustrating and useless",
    "@Learn_Awesome worst checkout ever, my card was declined and then charged. Awful service",
    "@Learn_Awesome checkout broken for hours, I'm angry, lost my cart twice. Ridiculous",
    "@Learn_Awesome why is the checkout page crashing? Horrible experience, very disappointed",
]
UNRELATED = [
    "@Learn_Awesome love the new app design, great job team!",
    "@Learn_Awesome thanks for the quick delivery, really happy with it",
]
NEGATIVE_SURGE = 15  # the shipped "Negative surge" detector's threshold


def tweet_delivery(n: int, text: str, at: dt.datetime) -> bytes:
    """The fixture delivery with a new tweet id, author and text (same shape, same brand)."""
    data = json.loads(fixture_bytes("x/tweet_create_extended.json"))
    tweet = copy.deepcopy(data["tweet_create_events"][0])
    tweet_id = str(1_400_000_000_000_000_000 + n)
    user_id = str(770_000_000_000_000_000 + n)
    tweet.update(
        id=int(tweet_id),
        id_str=tweet_id,
        text=text[:139] + "…" if len(text) > 140 else text,
        truncated=len(text) > 140,
        created_at=at.strftime("%a %b %d %H:%M:%S +0000 %Y"),
        timestamp_ms=str(int(at.timestamp() * 1000)),
    )
    tweet["extended_tweet"]["full_text"] = text
    tweet["extended_tweet"]["display_text_range"] = [15, len(text)]
    tweet["extended_tweet"]["entities"]["hashtags"] = []
    tweet["entities"]["urls"][0]["expanded_url"] = f"https://twitter.com/i/web/status/{tweet_id}"
    tweet["user"].update(
        id=int(user_id),
        id_str=user_id,
        name=f"Customer {n}",
        screen_name=f"customer_{n}",
        verified=False,
        followers_count=100 + 37 * n,
    )
    data["tweet_create_events"] = [tweet]
    return json.dumps(data).encode()


@pytest.fixture
def x_channel(team):
    channel = Channel(name="Acme on X", platform="x", account_id=BRAND, default_team=team)
    channel.set_secret("webhook_secret", X_SECRET)
    channel.save()
    return channel


@pytest.fixture
def approver(make_user):
    user = make_user("carla", email="carla@example.com")
    user.user_permissions.add(Permission.objects.get(codename="approve_reply"))
    return user


def test_a_burst_of_complaints_opens_one_incident_and_runs_its_playbook(
    client, x_channel, agent, approver, socialcare_settings, django_capture_on_commit_callbacks,
    mailoutbox,
):  # fmt: skip
    report = install_playbooks()
    assert "created playbook: Product defect wave" in report
    Team.objects.filter(name="Escalations").update(email="escalations@example.com")
    # The holding reply reaches customers: installed manual, the admin makes it automatic.
    holding_step = PlaybookStep.objects.get(playbook__slug="product-defect", kind="holding_reply")
    assert not holding_step.automatic
    PlaybookStep.objects.filter(pk=holding_step.pk).update(automatic=True)
    url = f"/socialcare/webhooks/x/{x_channel.pk}/"

    # The day before: an ordinary post starts the detectors' history (their 24 h warm-up).
    with (
        time_machine.travel(START - dt.timedelta(days=1), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        body = tweet_delivery(100, UNRELATED[1], START - dt.timedelta(days=1, seconds=5))
        response = client.generic(
            "POST", url, body, content_type="application/json",
            HTTP_X_TWITTER_WEBHOOKS_SIGNATURE=x_signature(body),
        )  # fmt: skip
    assert response.status_code == 200, response.content
    surge = Detector.objects.get(name="Negative surge")
    assert surge.counting_since == START - dt.timedelta(days=1)

    # 18 complaints about the checkout from 18 customers, 2 happy posts mixed in.
    burst = [(n, COMPLAINTS[n % len(COMPLAINTS)]) for n in range(1, 19)]
    burst[4:4] = [(101, UNRELATED[0])]
    burst[12:12] = [(102, UNRELATED[1])]
    tweet_ids = {n: str(1_400_000_000_000_000_000 + n) for n, _ in burst}
    complaints = 0
    with (
        socialcare_settings(REPLY_TRANSPORT="socialcare.transports.console.ConsoleTransport"),
        time_machine.travel(START, tick=False) as clock,
    ):
        for n, text in burst:
            clock.shift(dt.timedelta(seconds=20))
            body = tweet_delivery(n, text, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5))
            with django_capture_on_commit_callbacks(execute=True):
                response = client.generic(
                    "POST", url, body, content_type="application/json",
                    HTTP_X_TWITTER_WEBHOOKS_SIGNATURE=x_signature(body),
                )  # fmt: skip
            assert response.status_code == 200, response.content
            complaints += n < 100
            # The detector fires at its threshold, not one complaint before.
            assert Incident.objects.count() == (complaints >= NEGATIVE_SURGE), complaints

        assert WebhookDelivery.objects.count() == len(burst) + 1  # and the day before's
        assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"processed"}
        posts = {p.external_id: p for p in Post.objects.inbound()}
        assert len(posts) == len(burst) + 1
        complaint_cases = {posts[tweet_ids[n]].case_id for n, _ in burst if n < 100}
        happy_cases = {posts[tweet_ids[n]].case_id for n in (101, 102)}
        assert len(complaint_cases) == 18 and len(happy_cases) == 2
        assert all(posts[tweet_ids[n]].sentiment <= -0.3 for n, _ in burst if n < 100)

        # One incident, opened by the negative-surge detector, for the product-defect playbook.
        [incident] = Incident.objects.all()
        assert incident.playbook.slug == "product-defect"
        assert incident.detector.name == "Negative surge"
        assert incident.status == Incident.Status.OPEN
        assert incident.evidence["count"] == NEGATIVE_SURGE
        assert incident.requires_approval
        assert set(incident.cases.values_list("pk", flat=True)) == complaint_cases
        assert not Case.objects.filter(pk__in=happy_cases, incident__isnull=False).exists()
        fifteenth = [posts[tweet_ids[n]] for n, _ in burst if n < 100][NEGATIVE_SURGE - 1]
        assert Detector.objects.get(name="Negative surge").last_fired_at == fifteenth.received_at
        assert incident.opened_at == fifteenth.received_at

        # Automatic steps done and audited; manual ones waiting with their due times.
        steps = list(incident.steps.order_by("order"))
        automatic = [s for s in steps if s.automatic]
        assert {s.status for s in automatic} == {IncidentStep.Status.DONE}, [
            (s.title, s.result) for s in automatic
        ]
        assert [(s.status, s.due_at - incident.opened_at) for s in steps if not s.automatic] == [
            (IncidentStep.Status.PENDING, dt.timedelta(minutes=30)),
            (IncidentStep.Status.PENDING, dt.timedelta(minutes=60)),
        ]
        done_events = incident.events.filter(kind="step_done")
        assert sorted(done_events.values_list("data__step", flat=True)) == sorted(
            s.title for s in automatic
        )
        assert incident.events.filter(kind="opened").count() == 1
        linked_counts = incident.events.filter(kind="cases_linked").values_list(
            "data__count", flat=True
        )
        assert sum(linked_counts) == 18  # 15 at once, then each later complaint
        assert [m.to for m in mailoutbox if "[Incident" in m.subject] == [
            ["escalations@example.com"]
        ]
        case_scoped = [s.pk for s in automatic if s.kind not in ("notify", "require_approval")]
        assert len(case_scoped) == 3
        for case in Case.objects.filter(pk__in=complaint_cases):
            assert case.team.name == "Escalations"
            assert case.priority in ("high", "urgent")
            audit = case.events.filter(kind=CaseEvent.Kind.PLAYBOOK_STEP)
            assert sorted(audit.values_list("data__incident_step", flat=True)) == sorted(
                case_scoped
            )  # each case-wide step exactly once, also for cases linked after the opening
            assert case.events.filter(kind=CaseEvent.Kind.INCIDENT_LINKED).count() == 1
            # The holding reply went out to every linked case, threaded to the complaint.
            [holding] = case.posts.outbound()
            assert holding.send_status == Post.SendStatus.SENT
            assert holding.text.startswith("Hi Customer ")
            assert "We know about the problem" in holding.text
            assert holding.parent.direction == Post.Direction.INBOUND
            assert case.first_responded_at is not None
        for case in Case.objects.filter(pk__in=happy_cases):
            assert not case.posts.outbound().exists()

        # An agent's public reply on a linked case is held until a second agent approves it.
        complaint = Case.objects.filter(pk__in=complaint_cases).first()
        with django_capture_on_commit_callbacks(execute=True):
            reply = send_reply(complaint, "A fix ships tonight, sorry!", actor=agent)
        reply.refresh_from_db()
        assert reply.send_status == Post.SendStatus.AWAITING_APPROVAL
        with django_capture_on_commit_callbacks(execute=True):
            private = send_reply(
                complaint, "DM us your order id", actor=agent, visibility="private"
            )
        private.refresh_from_db()
        assert private.send_status == Post.SendStatus.SENT  # private replies are not held
        happy = Case.objects.get(pk=min(happy_cases))
        with django_capture_on_commit_callbacks(execute=True):
            thanks = send_reply(happy, "Thank you!", actor=agent)
        thanks.refresh_from_db()
        assert thanks.send_status == Post.SendStatus.SENT  # not part of the incident
        with django_capture_on_commit_callbacks(execute=True):
            approve_reply(reply, approver=approver)
        reply.refresh_from_db()
        assert reply.send_status == Post.SendStatus.SENT
