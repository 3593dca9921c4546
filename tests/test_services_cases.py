"""Case services: opening and numbering, the status workflow, assignment, priority, team, tags,
notes, merging, and the signals they send after commit."""

from __future__ import annotations

import datetime as dt
import itertools
import threading

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from model_bakery import baker

from socialcare import signals
from socialcare.exceptions import IllegalTransition, MergeError, SocialCareError
from socialcare.models import Case, CaseEvent, Post, Tag
from socialcare.services import cases as svc

pytestmark = pytest.mark.django_db

K = CaseEvent.Kind
NEW, OPEN, WAITING, RESOLVED, CLOSED = (
    "new",
    "open",
    "waiting_on_customer",
    "resolved",
    "closed",
)
#: The workflow as DESIGN.md describes it, written out independently of the code's table.
LEGAL = {
    (NEW, OPEN),
    (NEW, WAITING),
    (NEW, RESOLVED),
    (NEW, CLOSED),
    (OPEN, WAITING),
    (OPEN, RESOLVED),
    (OPEN, CLOSED),
    (WAITING, OPEN),
    (WAITING, RESOLVED),
    (WAITING, CLOSED),
    (RESOLVED, OPEN),
    (RESOLVED, CLOSED),
}
ALL = [NEW, OPEN, WAITING, RESOLVED, CLOSED]
ILLEGAL = sorted(set(itertools.product(ALL, ALL)) - LEGAL)


@pytest.fixture
def received():
    """Signals received, as (signal name, kwargs) pairs."""
    log: list[tuple[str, dict]] = []
    names = ["case_opened", "case_status_changed", "case_assigned", "cases_merged"]
    receivers = []
    for name in names:

        def receiver(sender, signal, _name=name, **kwargs):
            log.append((_name, kwargs))

        getattr(signals, name).connect(receiver)
        receivers.append((name, receiver))
    yield log
    for name, receiver in receivers:
        getattr(signals, name).disconnect(receiver)


def events(case, kind=None):
    qs = CaseEvent.objects.filter(case=case).order_by("at", "pk")
    return list(qs.filter(kind=kind) if kind else qs)


def in_status(case, status):
    Case.objects.filter(pk=case.pk).update(status=status)
    case.refresh_from_db()
    return case


def inbound_post(case, external_id, **fields):
    return Post.objects.create(
        platform="x",
        external_id=external_id,
        direction="inbound",
        kind="mention",
        visibility="public",
        case=case,
        **fields,
    )


# Opening -------------------------------------------------------------------------------------


def test_open_case_numbers_from_its_id_and_fills_defaults(channel, identity, customer, team):
    case = svc.open_case(channel=channel, identity=identity, subject="Where is my order?")
    assert case.reference == f"SC-{case.pk:06d}"
    assert Case.objects.get(pk=case.pk).reference == case.reference
    assert case.customer == customer  # from the identity
    assert case.team == team  # the channel's default team
    assert (case.status, case.priority, case.visibility) == (NEW, "normal", "public")
    assert case.first_response_due_at is not None


def test_open_case_explicit_values_win(channel, identity, make_customer, agent):
    someone = make_customer("Someone Else")
    other_team = baker.make("socialcare.Team")
    opened = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
    case = svc.open_case(
        channel=channel,
        identity=identity,
        customer=someone,
        team=other_team,
        subject="x" * 300,
        priority="high",
        visibility="private",
        actor=agent,
        opened_at=opened,
    )
    assert (case.customer, case.team, case.priority, case.visibility) == (
        someone,
        other_team,
        "high",
        "private",
    )
    assert case.subject == "x" * 200
    assert case.created_at == opened
    created = events(case, K.CREATED)
    assert len(created) == 1
    assert created[0].actor == agent
    assert created[0].at == opened
    assert created[0].data["reference"] == case.reference
    assert created[0].data["priority"] == "high"


def test_reference_format():
    assert svc.format_reference(1) == "SC-000001"
    assert svc.format_reference(123) == "SC-000123"
    assert svc.format_reference(1234567) == "SC-1234567"  # past a million it just grows


def test_new_case_is_due_an_hour_after_opening_and_then_overdue(channel):
    opened = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC)
    with time_machine.travel(opened, tick=False):
        case = svc.open_case(channel=channel)
    assert case.created_at == opened
    assert case.first_response_due_at == opened + dt.timedelta(minutes=60)
    with time_machine.travel(opened + dt.timedelta(minutes=59), tick=False):
        assert not Case.objects.overdue().exists()
    with time_machine.travel(opened + dt.timedelta(minutes=61), tick=False):
        assert list(Case.objects.overdue()) == [case]


def test_open_case_without_channel_or_identity():
    case = svc.open_case(subject="Phoned in")
    assert case.reference.startswith("SC-")
    assert case.customer is None and case.team is None


@pytest.mark.parametrize(("field", "value"), [("priority", "critical"), ("visibility", "secret")])
def test_open_case_rejects_unknown_choices(channel, field, value):
    with pytest.raises(SocialCareError, match=f"Unknown {field}"):
        svc.open_case(channel=channel, **{field: value})
    assert not Case.objects.exists()


def test_references_use_the_configured_prefix_and_count_up(socialcare_settings):
    first = svc.open_case()
    with socialcare_settings(CASE_REFERENCE_PREFIX="CARE-"):
        second = svc.open_case()
    assert first.reference == f"SC-{first.pk:06d}"
    assert second.reference == f"CARE-{second.pk:06d}"
    assert second.pk > first.pk


def test_case_opened_is_signalled_after_commit(
    channel, identity, agent, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        case = svc.open_case(channel=channel, identity=identity, actor=agent)
    assert received == []  # nothing before commit
    for callback in callbacks:
        callback()
    assert received == [("case_opened", {"case": case, "actor": agent})]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_openings_never_share_a_reference():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serializes writers")
    threads, per_thread = 8, 5
    barrier = threading.Barrier(threads)
    references: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work():
        try:
            barrier.wait()
            for _ in range(per_thread):
                case = svc.open_case(subject="burst")
                with lock:
                    references.append(case.reference)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert errors == []
    assert len(references) == len(set(references)) == threads * per_thread
    stored = dict(Case.objects.values_list("pk", "reference"))
    assert sorted(stored.values()) == sorted(references)
    assert all(ref == f"SC-{pk:06d}" for pk, ref in stored.items())


# Status workflow -----------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "to"), sorted(LEGAL))
def test_legal_transition(case, agent, start, to, received, django_capture_on_commit_callbacks):
    case = in_status(case, start)
    with django_capture_on_commit_callbacks(execute=True):
        result = svc.change_status(case, to, actor=agent, reason="because")
    assert result is case
    assert case.status == to
    assert Case.objects.get(pk=case.pk).status == to
    [event] = events(case, K.STATUS_CHANGED)
    assert event.data == {"from": start, "to": to, "reason": "because"}
    assert event.actor == agent
    assert [
        (name, kw["case"].pk, kw["actor"], kw["from_status"], kw["to_status"])
        for name, kw in received
    ] == [("case_status_changed", case.pk, agent, start, to)]


@pytest.mark.parametrize(("start", "to"), ILLEGAL)
def test_illegal_transition_is_refused_and_changes_nothing(case, start, to):
    case = in_status(case, start)
    with pytest.raises(IllegalTransition) as exc:
        svc.change_status(case, to)
    assert exc.value.code == "illegal_transition"
    assert case.reference in exc.value.message
    assert Case.objects.get(pk=case.pk).status == start
    assert events(case, K.STATUS_CHANGED) == []


def test_illegal_transition_message_lists_what_is_allowed(case):
    in_status(case, RESOLVED)
    with pytest.raises(
        IllegalTransition,
        match=r"from Resolved to Waiting on customer \(allowed: Closed, Open\)",
    ):
        svc.change_status(case, WAITING)
    in_status(case, CLOSED)
    with pytest.raises(IllegalTransition, match=r"\(allowed: none\)"):
        svc.change_status(case, OPEN)
    with pytest.raises(IllegalTransition, match="already Closed"):
        svc.change_status(case, CLOSED)


def test_unknown_status_is_refused(case):
    with pytest.raises(IllegalTransition, match="Unknown case status 'pending'"):
        svc.change_status(case, "pending")


MONDAY = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


def at(hours: int):
    return time_machine.travel(MONDAY + dt.timedelta(hours=hours), tick=False)


def test_resolve_close_and_reopen_keep_timestamps_right(case):
    with at(1):
        case = svc.change_status(case, RESOLVED)
    assert (case.resolved_at, case.closed_at) == (MONDAY + dt.timedelta(hours=1), None)
    with at(2):
        case = svc.reopen_case(case)
    assert (case.status, case.resolved_at) == (OPEN, None)
    assert events(case, K.STATUS_CHANGED)[-1].data["reason"] == "new customer post"
    with at(3):
        case = svc.change_status(case, CLOSED)
    # Closing unresolved work also ends it.
    assert case.closed_at == case.resolved_at == MONDAY + dt.timedelta(hours=3)


def test_closing_a_resolved_case_keeps_its_resolution_time(case):
    with at(1):
        svc.change_status(case, RESOLVED)
    with at(5):
        case = svc.change_status(case, CLOSED)
    assert case.resolved_at == MONDAY + dt.timedelta(hours=1)
    assert case.closed_at == MONDAY + dt.timedelta(hours=5)


def test_closed_case_cannot_be_reopened(case):
    in_status(case, CLOSED)
    with pytest.raises(IllegalTransition):
        svc.reopen_case(case)


def test_allowed_transitions_follow_the_workflow(case):
    for status in ALL:
        in_status(case, status)
        assert svc.allowed_transitions(case) == {to for start, to in LEGAL if start == status}


# Assignment ----------------------------------------------------------------------------------


def test_assigning_a_new_case_opens_it(
    case, agent, other_agent, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        case = svc.assign_case(case, agent, actor=other_agent)
    assert case.assignee == agent
    assert case.status == OPEN
    assigned = events(case, K.ASSIGNEE_CHANGED)
    assert [(e.data["from"], e.data["to"], e.data["to_id"]) for e in assigned] == [
        ("", "Alice Agent", agent.pk)
    ]
    assert events(case, K.STATUS_CHANGED)[0].data["reason"] == "assigned"
    assigned_signals = [
        (kw["case"].pk, kw["actor"], kw["previous"])
        for name, kw in received
        if name == "case_assigned"
    ]
    assert assigned_signals == [(case.pk, other_agent, None)]


def test_reassigning_and_unassigning(case, agent, other_agent):
    svc.assign_case(case, agent)
    in_status(case, WAITING)
    case = svc.assign_case(case, other_agent)
    assert case.assignee == other_agent
    assert case.status == WAITING  # only a new case is opened by assignment
    case = svc.unassign_case(case)
    assert case.assignee is None
    assert [e.data["to"] for e in events(case, K.ASSIGNEE_CHANGED)] == [
        "Alice Agent",
        "Bob Backup",
        "",
    ]


def test_assigning_the_same_agent_again_records_nothing(case, agent):
    svc.assign_case(case, agent)
    before = len(events(case))
    svc.assign_case(case, agent)
    assert len(events(case)) == before


def test_inactive_user_cannot_take_cases(case, make_user):
    gone = make_user("gone", is_active=False)
    with pytest.raises(SocialCareError, match="gone is not an active user"):
        svc.assign_case(case, gone)
    assert Case.objects.get(pk=case.pk).assignee is None


# Priority ------------------------------------------------------------------------------------


def test_change_priority_records_from_and_to(case, agent):
    case = svc.change_priority(case, "high", actor=agent, reason="angry")
    assert case.priority == "high"
    [event] = events(case, K.PRIORITY_CHANGED)
    assert event.data == {"from": "normal", "to": "high", "reason": "angry"}
    svc.change_priority(case, "high")
    assert len(events(case, K.PRIORITY_CHANGED)) == 1


def test_unknown_priority_is_refused(case):
    with pytest.raises(SocialCareError, match="Unknown priority 'critical'"):
        svc.change_priority(case, "critical")
    with pytest.raises(SocialCareError, match="Unknown priority 'critical'"):
        svc.raise_priority(case, "critical")


def test_raise_priority_only_raises(case):
    case = svc.raise_priority(case, "high")
    assert case.priority == "high"
    case = svc.raise_priority(case, "low")
    assert case.priority == "high"
    assert len(events(case, K.PRIORITY_CHANGED)) == 1


def test_raise_priority_never_lowers_a_priority_changed_elsewhere(case):
    stale = Case.objects.get(pk=case.pk)  # still "normal" in memory
    svc.change_priority(case, "urgent")
    result = svc.raise_priority(stale, "high")
    assert result.priority == "urgent"
    assert Case.objects.get(pk=case.pk).priority == "urgent"


# Team, tags, notes ---------------------------------------------------------------------------


def test_set_team_records_the_move(case, team):
    other = baker.make("socialcare.Team", name="Escalations")
    case = svc.set_team(case, other)
    assert case.team == other
    case = svc.set_team(case, None)
    assert case.team is None
    assert [(e.data["from"], e.data["to"]) for e in events(case, K.TEAM_CHANGED)] == [
        ("Care", "Escalations"),
        ("Escalations", ""),
    ]
    svc.set_team(case, None)
    assert len(events(case, K.TEAM_CHANGED)) == 2


def test_set_tags_creates_shares_and_cleans_names(case, channel):
    Tag.objects.create(name="Billing")
    case = svc.set_tags(case, ["billing", "  late   delivery ", "LATE delivery", "", "y" * 60])
    assert sorted(t.name for t in case.tags.all()) == ["Billing", "late delivery", "y" * 50]
    assert Tag.objects.count() == 3
    [event] = events(case, K.TAGS_CHANGED)
    assert event.data == {"from": [], "to": ["Billing", "late delivery", "y" * 50]}
    other = svc.open_case(channel=channel)
    svc.set_tags(other, ["BILLING"])
    assert list(other.tags.values_list("name", flat=True)) == ["Billing"]


def test_set_tags_replaces_and_records_only_changes(case):
    svc.set_tags(case, ["a", "b"])
    svc.set_tags(case, ["B", "a"])  # same set
    case = svc.set_tags(case, ["c"])
    assert [t.name for t in case.tags.all()] == ["c"]
    assert [e.data["to"] for e in events(case, K.TAGS_CHANGED)] == [["a", "b"], ["c"]]


def test_add_note(case, agent):
    earlier = timezone.now() - dt.timedelta(days=1)
    Case.objects.filter(pk=case.pk).update(updated_at=earlier)
    note = svc.add_note(case, "  Customer called back.  ", actor=agent)
    assert (note.kind, note.data, note.actor) == (K.NOTE, {"text": "Customer called back."}, agent)
    assert Case.objects.get(pk=case.pk).updated_at > earlier
    with pytest.raises(SocialCareError, match="needs some text"):
        svc.add_note(case, "   ")


# Merging -------------------------------------------------------------------------------------


@pytest.fixture
def pair(channel, identity):
    target = svc.open_case(channel=channel, identity=identity, subject="Order late")
    source = svc.open_case(channel=channel, identity=identity, subject="Still waiting")
    return source, target


def test_merge_moves_posts_and_tags_and_keeps_the_stricter_targets(
    pair, agent, received, django_capture_on_commit_callbacks
):
    source, target = pair
    now = timezone.now()
    Case.objects.filter(pk=source.pk).update(
        priority="urgent",
        first_response_due_at=now + dt.timedelta(minutes=5),
        resolution_due_at=now + dt.timedelta(days=1),
        last_inbound_at=now,
    )
    Case.objects.filter(pk=target.pk).update(
        first_response_due_at=now + dt.timedelta(hours=1),
        last_inbound_at=now - dt.timedelta(hours=1),
    )
    posts = [inbound_post(source, "s1"), inbound_post(source, "s2")]
    svc.set_tags(source, ["late"])
    svc.set_tags(target, ["refund"])
    with django_capture_on_commit_callbacks(execute=True):
        result = svc.merge_cases(source, target, actor=agent)
    assert result is target
    assert set(target.posts.all()) == set(posts)
    assert sorted(t.name for t in target.tags.all()) == ["late", "refund"]
    assert target.priority == "urgent"
    assert target.first_response_due_at == now + dt.timedelta(minutes=5)
    assert target.resolution_due_at == now + dt.timedelta(days=1)
    assert target.last_inbound_at == now
    assert source.status == CLOSED
    assert source.merged_into == target
    assert events(target, K.MERGED)[0].data == {"from": source.reference, "posts_moved": 2}
    assert events(source, K.MERGED)[0].data == {"into": target.reference, "posts_moved": 2}
    assert events(source, K.STATUS_CHANGED)[-1].data["reason"] == f"merged into {target.reference}"
    merged = [kw for name, kw in received if name == "cases_merged"]
    assert [(kw["source"].pk, kw["target"].pk, kw["actor"]) for kw in merged] == [
        (source.pk, target.pk, agent)
    ]


def test_merge_keeps_the_targets_higher_priority(pair):
    source, target = pair
    svc.change_priority(target, "high")
    svc.merge_cases(source, target)
    assert target.priority == "high"


def test_merging_open_work_into_a_resolved_case_reopens_it(pair):
    source, target = pair
    svc.change_status(target, RESOLVED)
    svc.merge_cases(source, target)
    assert target.status == OPEN
    assert target.resolved_at is None
    assert events(target, K.STATUS_CHANGED)[-1].data["reason"] == f"{source.reference} merged in"


def test_merging_a_resolved_case_leaves_the_target_as_it_was(pair):
    source, target = pair
    svc.change_status(source, RESOLVED)
    svc.change_status(target, WAITING)
    svc.merge_cases(source, target)
    assert (source.status, target.status) == (CLOSED, WAITING)


def test_merging_open_work_into_a_closed_case_is_refused(pair):
    source, target = pair
    svc.change_status(target, CLOSED)
    with pytest.raises(MergeError, match=f"merge it into {source.reference} instead"):
        svc.merge_cases(source, target)
    assert Case.objects.get(pk=target.pk).status == CLOSED
    assert Case.objects.get(pk=source.pk).merged_into is None


def test_merge_fills_customer_and_identity_from_the_source(channel, identity, customer):
    target = svc.open_case(channel=channel, subject="anonymous")
    source = svc.open_case(channel=channel, identity=identity)
    svc.merge_cases(source, target)
    assert (target.customer, target.identity) == (customer, identity)


def test_merge_refusals(pair, channel, make_customer):
    source, target = pair
    with pytest.raises(MergeError, match="cannot be merged into itself"):
        svc.merge_cases(source, Case.objects.get(pk=source.pk))
    stranger = svc.open_case(channel=channel, customer=make_customer("Someone Else"))
    with pytest.raises(MergeError, match="belong to different customers"):
        svc.merge_cases(stranger, target)
    svc.merge_cases(source, target)
    third = svc.open_case(channel=channel)
    with pytest.raises(MergeError, match=f"Case {source.reference} was already merged"):
        svc.merge_cases(source, third)
    with pytest.raises(MergeError, match=f"Case {source.reference} was already merged"):
        svc.merge_cases(third, source)
    assert third.posts.count() == 0


def test_merged_case_refuses_further_status_changes(pair):
    source, target = pair
    svc.merge_cases(source, target)
    in_status(source, RESOLVED)  # even where the graph alone would allow the move
    with pytest.raises(IllegalTransition, match="was merged into another case"):
        svc.change_status(source, OPEN)


# Editing several fields at once -------------------------------------------------------------


def test_set_customer_records_the_change(case, customer, make_customer):
    other = make_customer("Grace Hopper")
    case = svc.set_customer(case, other)
    assert case.customer == other
    [event] = events(case, K.CUSTOMER_CHANGED)
    assert (event.data["from"], event.data["to"]) == ("Ada Lovelace", "Grace Hopper")
    svc.set_customer(case, other)
    assert len(events(case, K.CUSTOMER_CHANGED)) == 1


def test_a_case_is_never_attributed_to_a_merged_customer(case, customer, make_customer):
    from socialcare.services.customers import merge_customers

    old, kept = make_customer("Grace (old)"), make_customer("Grace Hopper")
    merge_customers(old, kept)
    with pytest.raises(SocialCareError, match="was merged into Grace Hopper; attribute the case"):
        svc.set_customer(case, old)
    assert Case.objects.get(pk=case.pk).customer == customer
    assert not events(case, K.CUSTOMER_CHANGED)


def test_update_case_applies_each_change_through_its_service(case, agent):
    case = svc.update_case(
        case, actor=agent, subject="New subject", priority="high", tags=["vip"], assignee=agent
    )
    stored = Case.objects.get(pk=case.pk)
    assert (stored.subject, stored.priority, stored.assignee, stored.status) == (
        "New subject",
        "high",
        agent,
        OPEN,
    )
    kinds = {e.kind for e in events(case)}
    assert {K.PRIORITY_CHANGED, K.TAGS_CHANGED, K.ASSIGNEE_CHANGED} <= kinds


def test_update_case_is_all_or_nothing(case):
    in_status(case, CLOSED)
    with pytest.raises(IllegalTransition):
        svc.update_case(case, subject="Changed", priority="urgent", status=OPEN)
    stored = Case.objects.get(pk=case.pk)
    assert (stored.subject, stored.priority) == ("Refund please", "normal")
    assert events(case, K.PRIORITY_CHANGED) == []
