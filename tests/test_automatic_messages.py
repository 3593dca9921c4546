"""Automatic customer-facing messages exactly once per customer and conversation (issue #25,
point 2; services/automatic_messages.py): a burst whose follow-ups arrive before their originals
(real X deliveries through the webhook and the worker) gives each customer one holding reply;
two workers racing send one; a merge of two cases each waiting with one leaves one; the settle
window holds the send and checks the case again; every decision is on the case's timeline; the
ledger's admin and API are read-only."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import time_machine
from django.db import connection, connections, transaction
from django_q.models import Schedule

from socialcare.models import (
    AutomaticMessage,
    Case,
    CaseEvent,
    Channel,
    Detector,
    Incident,
    Playbook,
    PlaybookStep,
    Post,
    ReplyTemplate,
    SocialIdentity,
)
from socialcare.services import automatic_messages
from socialcare.services import cases as case_services
from socialcare.services.incidents import open_incident
from tests.ingest_helpers import X_SECRET, x_signature
from tests.test_crisis_e2e import BRAND, tweet_delivery

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 6, 1, 14, 0, tzinfo=dt.UTC)
HOLDING = "Hi {{ customer }}, we know about the checkout problem and are on it."
COMPLAINT = "@Learn_Awesome your checkout is broken again, payment declined three times. Terrible."
FOLLOW_UP = "@Learn_Awesome still broken, still can't pay. Useless, awful, so frustrating."
Deliver = Callable[..., None]


def tweet(tweet_n: int, customer: int, text: str, at: dt.datetime, reply_to: int = 0) -> bytes:
    """A real-format X delivery: tweet ``tweet_n`` by customer ``customer``, answering tweet
    ``reply_to`` (the customer's own earlier one: a follow-up in the thread) when given."""
    data = json.loads(tweet_delivery(tweet_n, text, at))
    post = data["tweet_create_events"][0]
    user_id = str(770_000_000_000_000_000 + customer)
    post["user"].update(
        id=int(user_id), id_str=user_id, name=f"Customer {customer}", screen_name=f"cust_{customer}"
    )
    if reply_to:
        parent = str(1_400_000_000_000_000_000 + reply_to)
        post.update(
            in_reply_to_status_id=int(parent),
            in_reply_to_status_id_str=parent,
            in_reply_to_user_id=int(user_id),
            in_reply_to_user_id_str=user_id,
            in_reply_to_screen_name=f"cust_{customer}",
        )
    return json.dumps(data).encode()


@pytest.fixture
def x_channel(team) -> Channel:
    channel = Channel(name="Acme on X", platform="x", account_id=BRAND, default_team=team)
    channel.set_secret("webhook_secret", X_SECRET)
    channel.save()
    return channel


@pytest.fixture
def wave(x_channel) -> Playbook:
    """A playbook whose holding reply is automatic, started by 3 negative posts in 15 minutes."""
    ReplyTemplate.objects.create(name="Holding", shortcut="holding", text=HOLDING)
    playbook = Playbook.objects.create(name="Wave", slug="wave", severity="high")
    PlaybookStep.objects.create(
        playbook=playbook, order=10, title="Holding reply", kind="holding_reply",
        automatic=True, config={"template": "holding"},
    )  # fmt: skip
    Detector.objects.create(
        name="Complaints", kind=Detector.Kind.NEGATIVE_SURGE, playbook=playbook, threshold=3,
        window_minutes=15, counting_since=START - dt.timedelta(days=2),
    )  # fmt: skip
    return playbook


@pytest.fixture
def deliver(
    client, x_channel, wave, django_capture_on_commit_callbacks, socialcare_settings
) -> Iterator[Deliver]:
    """``deliver(tweet_n, customer, text, at, reply_to=0)``: posted to the webhook endpoint and
    processed as the worker does (ingest, detectors, playbooks, sending)."""
    url = f"/socialcare/webhooks/x/{x_channel.pk}/"

    def send(tweet_n: int, customer: int, text: str, at: dt.datetime, reply_to: int = 0) -> None:
        body = tweet(tweet_n, customer, text, at - dt.timedelta(seconds=5), reply_to)
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


def replies_per_customer() -> Counter:
    """Outbound posts per customer: the identity of the case they went to (and were threaded
    under)."""
    return Counter(Post.objects.outbound().values_list("parent__author__external_id", flat=True))


def customer_id(n: int) -> str:
    return str(770_000_000_000_000_000 + n)


# The burst ------------------------------------------------------------------------------------


@pytest.fixture
def racing(monkeypatch) -> set[str]:
    """Tweets whose worker races the one storing the customer's follow-up: when it picks the
    case, it cannot see the follow-up's case yet (not committed), so it opens a case of its own;
    as two workers do under a burst on PostgreSQL, emulated here on any database."""
    from socialcare.services import ingest_posts

    racing: set[str] = set()
    candidates = ingest_posts._candidate_cases

    def not_yet_visible(channel, identity, item, parent):
        if item.external_id in racing:
            return iter(())
        return candidates(channel, identity, item, parent)

    monkeypatch.setattr(ingest_posts, "_candidate_cases", not_yet_visible)
    return racing


def test_a_burst_whose_follow_ups_precede_their_originals_sends_one_holding_reply_each(
    deliver, racing
):
    racing.update(str(1_400_000_000_000_000_000 + n) for n in range(4, 9))
    at = iter(START + dt.timedelta(seconds=10 * k) for k in range(100))
    for n in (1, 2, 3):  # three complaints in order: the incident opens at the third
        deliver(n, n, COMPLAINT, next(at))
    [incident] = Incident.objects.all()
    # Customers 4-8: the follow-up (tweet 100+n, answering tweet n) is delivered first; their
    # originals come later, interleaved with the others' follow-ups.
    order = [("f", 4), ("f", 5), ("o", 4), ("f", 6), ("o", 6), ("o", 5), ("f", 7), ("f", 8)]
    order += [("o", 8), ("o", 7)]
    for what, n in order:
        if what == "f":
            deliver(100 + n, n, FOLLOW_UP, next(at), reply_to=n)
        else:
            deliver(n, n, COMPLAINT, next(at))

    # Every case was linked to the incident: each follow-up case and each original case.
    linked = CaseEvent.objects.filter(kind=CaseEvent.Kind.INCIDENT_LINKED)
    assert linked.count() == 3 + 2 * 5
    # One holding reply per customer, threaded to their complaint or follow-up.
    assert replies_per_customer() == {customer_id(n): 1 for n in range(1, 9)}
    assert all(HOLDING.split(",")[1].strip()[:20] in p.text for p in Post.objects.outbound())
    assert AutomaticMessage.objects.filter(status="sent").count() == 8
    # The follow-ups' cases were folded into their originals' (one thread, one case each) ...
    live = Case.objects.filter(merged_into__isnull=True, incident=incident)
    assert sorted(live.values_list("identity__external_id", flat=True)) == [
        customer_id(n) for n in range(1, 9)
    ]
    # ... and each second case of a customer says why it got nothing, naming the one that did.
    skipped = CaseEvent.objects.filter(
        kind=CaseEvent.Kind.AUTOMATIC_MESSAGE, data__outcome="skipped"
    )
    assert skipped.count() == 5
    for event in skipped:
        sent = AutomaticMessage.objects.get(pk=event.data["message"])
        assert sent.case.identity_id == event.case.identity_id
        assert sent.case.reference in event.data["text"] or event.case_id == sent.case_id
        assert "already got it" in event.data["text"]
        assert event.data["sent_on"] == sent.case.reference


# Two workers -----------------------------------------------------------------------------------


@pytest.fixture
def incident_step(channel):
    """An open incident with a (manual, done by hand) holding-reply step; ``cases(n)`` makes
    ``n`` cases of one customer, each with a public post, linked to it."""
    ReplyTemplate.objects.create(name="Holding", shortcut="holding", text=HOLDING)
    playbook = Playbook.objects.create(name="Wave", slug="wave", severity="high")
    PlaybookStep.objects.create(
        playbook=playbook, order=10, title="Holding reply", kind="holding_reply",
        automatic=False, config={"template": "holding"},
    )  # fmt: skip
    incident, _ = open_incident(title="Checkout", playbook=playbook, scope="s")
    return incident.steps.get()


def make_cases(channel, incident, identities: list[SocialIdentity]) -> list[Case]:
    cases = []
    for n, identity in enumerate(identities):
        case = case_services.open_case(channel=channel, identity=identity, subject="Broken")
        Post.objects.create(
            platform="x", external_id=f"t{case.pk}", channel=channel, author=identity,
            direction="inbound", kind="mention", visibility="public", text=COMPLAINT,
            case=case, conversation_id=f"t{case.pk}", posted_at=START + dt.timedelta(seconds=n),
        )  # fmt: skip
        Case.objects.filter(pk=case.pk).update(incident=incident)
        case.refresh_from_db()
        cases.append(case)
    return cases


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_one_customer_send_one_holding_reply(
    channel, incident_step, make_identity, socialcare_settings
):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite runs one writer at a time")
    identity = make_identity("4242", "ada", display_name="Ada")
    cases = make_cases(channel, incident_step.incident, [identity, identity])
    barrier = threading.Barrier(2)
    outcomes, errors = [], []

    def worker(case: Case) -> None:
        try:
            with transaction.atomic():
                barrier.wait()
                outcomes.append(automatic_messages.request(case, incident_step))
                # Hold the transaction open: the other worker's insert must wait for it.
                threading.Event().wait(0.3)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    with socialcare_settings(REPLY_TRANSPORT="socialcare.transports.console.ConsoleTransport"):
        threads = [threading.Thread(target=worker, args=(case,)) for case in cases]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert sorted(o is None for o in outcomes) == [False, True]
    assert Post.objects.outbound().count() == 1
    [sent] = AutomaticMessage.objects.all()
    assert sent.status == "sent"
    other = next(c for c in cases if c.pk != sent.case_id)
    [skip] = other.events.filter(kind=CaseEvent.Kind.AUTOMATIC_MESSAGE)
    assert skip.data["outcome"] == "skipped" and skip.data["sent_on"] == sent.case.reference


def test_a_second_worker_finds_the_first_ones_pending_message_and_sends_nothing(
    channel, incident_step, make_identity, socialcare_settings
):
    """The interleaving on any database: worker 1 decided (its message waits for the settle
    window); worker 2, processing the customer's other case, finds it."""
    identity = make_identity("4242", "ada", display_name="Ada")
    first, second = make_cases(channel, incident_step.incident, [identity, identity])
    with socialcare_settings(AUTOMATIC_MESSAGE_SETTLE=30):
        held = automatic_messages.request(first, incident_step)
        assert held.status == "pending"
        assert automatic_messages.request(second, incident_step) is None
    [skip] = second.events.filter(kind=CaseEvent.Kind.AUTOMATIC_MESSAGE)
    assert skip.data["text"] == (
        f"Holding reply: not sent, the customer already is about to get it on {first.reference}."
    )
    assert AutomaticMessage.objects.count() == 1


# Merging ------------------------------------------------------------------------------------------


def test_merging_two_cases_each_waiting_with_a_holding_reply_leaves_one(
    channel, incident_step, make_identity, customer, socialcare_settings
):
    # One customer, two accounts: two identities, so two keys and two pending messages.
    ada = make_identity("4242", "ada", display_name="Ada", customer=customer)
    ada_work = make_identity("4343", "ada_work", display_name="Ada", customer=customer)
    source, target = make_cases(channel, incident_step.incident, [ada, ada_work])
    with socialcare_settings(AUTOMATIC_MESSAGE_SETTLE=30):
        for case in (source, target):
            assert automatic_messages.request(case, incident_step).status == "pending"
    case_services.merge_cases(source, target)
    # The earlier one stays, moved to the case it is now part of; the other is cancelled.
    rows = {m.identity.handle: m for m in AutomaticMessage.objects.all()}
    assert (rows["ada"].status, rows["ada"].case_id) == ("pending", target.pk)
    assert rows["ada_work"].status == "cancelled"
    [note] = target.events.filter(kind=CaseEvent.Kind.AUTOMATIC_MESSAGE, data__outcome="cancelled")
    assert f"{source.reference} was merged into {target.reference}" in note.data["text"]

    with (
        socialcare_settings(REPLY_TRANSPORT="socialcare.transports.console.ConsoleTransport"),
        time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=31)),
    ):
        results = [automatic_messages.send_pending(m.pk) for m in AutomaticMessage.objects.all()]
    assert sorted(results) == ["done", "sent"]
    [reply] = Post.objects.outbound()
    assert reply.case_id == target.pk


def test_a_message_waiting_on_a_case_merged_away_goes_to_the_case_it_went_into(
    channel, incident_step, make_identity, socialcare_settings
):
    identity = make_identity("4242", "ada", display_name="Ada")
    early, late = make_cases(channel, incident_step.incident, [identity, identity])
    with socialcare_settings(AUTOMATIC_MESSAGE_SETTLE=30):
        pending = automatic_messages.request(early, incident_step)
    case_services.merge_cases(early, late)
    pending.refresh_from_db()
    assert pending.case_id == late.pk  # moved with the thread
    with (
        socialcare_settings(REPLY_TRANSPORT="socialcare.transports.console.ConsoleTransport"),
        time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=31)),
    ):
        assert automatic_messages.send_pending(pending.pk) == "sent"
    [reply] = Post.objects.outbound()
    assert reply.case_id == late.pk


# The settle window ------------------------------------------------------------------------------


def test_the_settle_window_holds_the_send_and_checks_the_case_again_when_it_fires(
    channel, incident_step, make_identity, socialcare_settings, django_capture_on_commit_callbacks
):
    ada, bob = make_identity("1", "ada"), make_identity("2", "bob")
    kept, closed = make_cases(channel, incident_step.incident, [ada, bob])
    now = dt.datetime.now(dt.UTC)
    with (
        time_machine.travel(now, tick=False),
        socialcare_settings(AUTOMATIC_MESSAGE_SETTLE=8),
        django_capture_on_commit_callbacks(execute=True),
    ):
        rows = [automatic_messages.request(case, incident_step) for case in (kept, closed)]
    assert not Post.objects.outbound().exists()  # nothing sent inside the window
    # Each waits as a one-off django-q2 schedule that fires when the window is over.
    schedules = Schedule.objects.filter(func="socialcare.tasks.send_automatic_message")
    assert sorted(schedules.values_list("args", flat=True)) == sorted(repr((r.pk,)) for r in rows)
    assert {s.next_run for s in schedules} == {now + dt.timedelta(seconds=8)}
    assert {s.schedule_type for s in schedules} == {Schedule.ONCE}
    held = kept.events.get(kind=CaseEvent.Kind.AUTOMATIC_MESSAGE)
    assert held.data["outcome"] == "held"

    case_services.change_status(closed, "closed", actor=None)
    with socialcare_settings(REPLY_TRANSPORT="socialcare.transports.console.ConsoleTransport"):
        with time_machine.travel(now + dt.timedelta(seconds=3), tick=False):
            assert automatic_messages.send_pending(rows[0].pk) == "waiting"  # fired too early
        with time_machine.travel(now + dt.timedelta(seconds=9), tick=False):
            assert [automatic_messages.send_pending(r.pk) for r in rows] == ["sent", "cancelled"]
            assert automatic_messages.send_pending(rows[0].pk) == "done"  # a duplicate task
    [reply] = Post.objects.outbound()
    assert reply.case_id == kept.pk
    cancelled = AutomaticMessage.objects.get(pk=rows[1].pk)
    assert (cancelled.status, cancelled.reason) == ("cancelled", f"{closed.reference} is closed")
    assert closed.events.filter(data__outcome="cancelled").exists()


def test_the_reply_sweeper_sends_a_message_whose_task_was_lost(
    channel, incident_step, make_identity, socialcare_settings
):
    from socialcare import tasks

    [case] = make_cases(channel, incident_step.incident, [make_identity("1", "ada")])
    with socialcare_settings(AUTOMATIC_MESSAGE_SETTLE=5):
        row = automatic_messages.request(case, incident_step)  # its task never queued
    with (
        socialcare_settings(REPLY_TRANSPORT="socialcare.transports.console.ConsoleTransport"),
        time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)),
    ):
        tasks.sweep_replies()
        assert not Post.objects.outbound().exists()  # still within the sweeper's grace
    with (
        socialcare_settings(REPLY_TRANSPORT="socialcare.transports.console.ConsoleTransport"),
        time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)),
    ):
        tasks.sweep_replies()
    row.refresh_from_db()
    assert row.status == "sent" and row.post.case_id == case.pk


# Admin and API ------------------------------------------------------------------------------------


@pytest.fixture
def ledger(channel, incident_step, make_identity, socialcare_settings):
    ada, bob = make_identity("1", "ada"), make_identity("2", "bob")
    cases = make_cases(channel, incident_step.incident, [ada, bob])
    with socialcare_settings(AUTOMATIC_MESSAGE_SETTLE=30):
        pending = automatic_messages.request(cases[1], incident_step)
    with socialcare_settings(REPLY_TRANSPORT="socialcare.transports.console.ConsoleTransport"):
        sent = automatic_messages.request(cases[0], incident_step, conversation="x:1")
    return sent, pending


def test_the_admin_shows_the_ledger_read_only(admin_client, ledger):
    sent, pending = ledger
    page = admin_client.get("/admin/socialcare/automaticmessage/")
    assert page.status_code == 200
    assert sent.case.reference in page.content.decode()
    assert b"/admin/socialcare/automaticmessage/add/" not in page.content
    detail = admin_client.get(f"/admin/socialcare/automaticmessage/{pending.pk}/change/")
    assert detail.status_code == 200
    assert b"Waiting for the settle window" in detail.content
    assert b'name="_save"' not in detail.content
    assert admin_client.get("/admin/socialcare/automaticmessage/add/").status_code == 403


def test_the_api_lists_with_filters_and_refuses_writes(client, ledger, sign_in, make_user):
    sent, pending = ledger
    sign_in(client, make_user("sup"), "Support supervisor")
    url = "/socialcare/api/v1/automatic-messages/"
    body = client.get(url).json()
    assert [m["id"] for m in body["results"]] == [sent.pk, pending.pk]  # newest first
    assert body["results"][0]["case_reference"] == sent.case.reference
    assert body["results"][0]["incident"] == sent.incident_step.incident_id
    only = client.get(url, {"status": "pending"}).json()["results"]
    assert [m["id"] for m in only] == [pending.pk]
    by_case = client.get(url, {"case": sent.case_id}).json()["results"]
    assert [m["id"] for m in by_case] == [sent.pk]
    assert client.get(url, {"status": "nonsense"}).status_code == 400
    assert client.get(f"{url}{sent.pk}/").json()["post"] == sent.post_id
    assert client.post(url, {}, content_type="application/json").status_code == 405
    assert client.delete(f"{url}{sent.pk}/").status_code == 405


def test_the_api_needs_the_view_permission(client, ledger, make_user):
    client.force_login(make_user("nobody"))
    response = client.get("/socialcare/api/v1/automatic-messages/")
    assert response.status_code == 403
    assert "detail" in response.json()


# The demo ---------------------------------------------------------------------------------------


def test_the_demo_records_leilas_holding_reply_as_sent_once(admin_client):
    from socialcare.demo import load_demo_data

    load_demo_data(now=dt.datetime(2026, 3, 11, 14, 30, tzinfo=dt.UTC))
    # (The demo's other automatic messages: docs/out-of-hours.md.)
    [message] = AutomaticMessage.objects.filter(purpose__startswith="incident:")
    assert (message.status, message.conversation) == ("sent", "*")
    assert message.case.identity.handle.lower().startswith("leila")
    assert message.post.case_id == message.case_id
    assert message.purpose == f"incident:{message.case.incident_id}:holding_reply"
    [event] = message.case.events.filter(kind=CaseEvent.Kind.AUTOMATIC_MESSAGE)
    assert (event.post_id, event.data["outcome"]) == (message.post_id, "sent")
    page = admin_client.get("/admin/socialcare/automaticmessage/")
    assert message.case.reference in page.content.decode()


def test_a_follow_up_before_its_original_has_the_originals_conversation_key(channel, make_identity):
    """take_private's key: a follow-up whose original is not stored yet is keyed by the id it
    answers, the original's own conversation id on X; a reply to a reply, by the thread's root."""
    ada = make_identity("4242", "ada")

    def case_with(external_id: str, **fields) -> Case:
        case = case_services.open_case(channel=channel, identity=ada, subject="Broken")
        fields.setdefault("kind", "reply")
        Post.objects.create(
            platform="x", external_id=external_id, channel=channel, author=ada,
            direction="inbound", visibility="public", case=case, **fields,
        )  # fmt: skip
        return case

    follow_up = case_with("200", in_reply_to_external_id="100")
    original = case_with("100", kind="mention", conversation_id="100")
    assert automatic_messages.conversation_key(follow_up) == "x:100"
    assert automatic_messages.conversation_key(original) == "x:100"
    root = original.posts.get()
    deeper = case_with("300", in_reply_to_external_id="250")
    Post.objects.filter(case=deeper).update(parent=Post.objects.get(external_id="200"))
    Post.objects.filter(external_id="200").update(parent=root)
    assert automatic_messages.conversation_key(deeper) == "x:100"
    other_thread = case_with("500", kind="mention", conversation_id="500")
    assert automatic_messages.conversation_key(other_thread) == "x:500"


def test_take_private_hands_off_once_per_customer_and_thread(
    channel, make_identity, agent, socialcare_settings
):
    from socialcare.services.incidents import complete_step

    playbook = Playbook.objects.create(name="Legal", slug="legal", severity="high")
    PlaybookStep.objects.create(
        playbook=playbook, order=10, title="Take it to DMs", kind="take_private",
        automatic=False, config={"via": "direct_message"},
    )  # fmt: skip
    incident, _ = open_incident(title="Threat", playbook=playbook, scope="s")
    ada = make_identity("4242", "ada", display_name="Ada")

    def case_with(external_id: str, **fields) -> Case:
        case = case_services.open_case(channel=channel, identity=ada, subject="Lawyer")
        Post.objects.create(
            platform="x", external_id=external_id, channel=channel, author=ada,
            direction="inbound", visibility="public", case=case, text="I'll sue", **fields,
        )  # fmt: skip
        Case.objects.filter(pk=case.pk).update(incident=incident)
        return case

    # The follow-up (answering tweet 100, not stored when it came) opened its own case.
    follow_up = case_with("200", kind="reply", in_reply_to_external_id="100")
    original = case_with("100", kind="mention", conversation_id="100")
    elsewhere = case_with("500", kind="mention", conversation_id="500")
    with socialcare_settings(REPLY_TRANSPORT="socialcare.transports.console.ConsoleTransport"):
        step = complete_step(incident.steps.get(), actor=agent)
    assert step.status == "done", step.result
    handed = dict(Case.objects.values_list("pk", "handed_off_to"))
    assert handed[elsewhere.pk] == "direct_message"
    # Thread 100: one of its two cases was taken private, the other says why it was not.
    [got] = [c for c in (follow_up, original) if handed[c.pk]]
    [other] = [c for c in (follow_up, original) if c != got]
    assert handed[other.pk] == ""
    # One public note per thread.
    notes = Post.objects.outbound().values_list("case_id", flat=True)
    assert sorted(notes) == sorted([got.pk, elsewhere.pk])
    [skip] = other.events.filter(kind=CaseEvent.Kind.AUTOMATIC_MESSAGE)
    assert skip.data["sent_on"] == got.reference
    assert skip.data["text"] == (
        f"Take it to DMs: not sent, the customer already got it on {got.reference}."
    )
