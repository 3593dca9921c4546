"""The SLA scan: a warning before each target is due and one breach when it passes, each sent
exactly once (however often, and however concurrently, the scan runs), with a timeline event, an
email to the assignee and the team, the sla_alert signal and a priority bump; a fixed number of
queries however many cases are due; business-hours clocks across weekends, holidays and DST."""

from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection

from socialcare import signals
from socialcare.models import (
    BusinessCalendar,
    BusinessHours,
    Case,
    CaseEvent,
    SLAAlert,
    SLAPolicy,
)
from socialcare.services import cases as case_services
from socialcare.services import sla_scan
from socialcare.services.sla_scan import due_cases, scan

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # a Monday


def minutes(n):
    return dt.timedelta(minutes=n)


def calendar(tz="UTC", days=range(5), hours=((9, 17),), **fields):
    cal = BusinessCalendar.objects.create(name=f"Office {tz}", timezone=tz, **fields)
    for weekday in days:
        for opens, closes in hours:
            BusinessHours.objects.create(
                calendar=cal, weekday=weekday, opens=dt.time(opens), closes=dt.time(closes)
            )
    return cal


def scan_at(moment):
    with time_machine.travel(moment, tick=False):
        return scan()


def open_at(moment, channel, identity=None, **kwargs):
    with time_machine.travel(moment, tick=False):
        return case_services.open_case(channel=channel, identity=identity, **kwargs)


@pytest.fixture
def alerts_sent():
    received = []

    def receiver(sender, alert, case, **kwargs):
        received.append((alert.target, alert.level, case.pk))

    signals.sla_alert.connect(receiver)
    yield received
    signals.sla_alert.disconnect(receiver)


@pytest.fixture
def staffed(channel, agent):
    """The channel's team has an address; its case is assigned to an agent with an address."""
    agent.email = "alice@example.com"
    agent.save()
    return channel


def kinds(case):
    return list(case.events.values_list("kind", flat=True))


# Warning, then breach, each once ------------------------------------------------------------


def test_warning_then_breach_each_sent_exactly_once(staffed, identity, agent, mailoutbox):
    case = open_at(T0, staffed, identity)
    case_services.assign_case(case, agent)
    assert case.first_response_due_at == T0 + minutes(60)  # default target, 24/7

    assert not scan_at(T0 + minutes(44)).warnings  # 16 minutes before: too early
    [warning] = scan_at(T0 + minutes(45)).warnings  # the 15-minute warning window
    assert (warning.target, warning.level) == ("first_response", "warning")
    assert warning.due_at == case.first_response_due_at
    assert not scan_at(T0 + minutes(50)).warnings
    assert not scan_at(T0 + minutes(60) - dt.timedelta(seconds=1)).breaches
    [breach] = scan_at(T0 + minutes(60)).breaches  # due now: breached
    assert (breach.target, breach.level) == ("first_response", "breach")
    for later in (61, 90, 600):
        result = scan_at(T0 + minutes(later))
        assert not result.warnings and not result.breaches

    assert SLAAlert.objects.filter(case=case).count() == 2
    assert kinds(case).count("escalated") == 1
    assert kinds(case).count("sla_breached") == 1
    event = case.events.get(kind=CaseEvent.Kind.SLA_BREACHED)
    assert event.data["target"] == "first_response"
    assert event.at == T0 + minutes(60)
    # One email per recipient per alert: the assignee and the team.
    assert sorted((m.subject, tuple(m.to)) for m in mailoutbox) == sorted(
        [
            (f"[{case.reference}] First response is due soon", ("alice@example.com",)),
            (f"[{case.reference}] First response is due soon", ("care@example.com",)),
            (f"[{case.reference}] First response breached", ("alice@example.com",)),
            (f"[{case.reference}] First response breached", ("care@example.com",)),
        ]
    )
    assert "the first response target breached" in mailoutbox[-1].body


def test_a_case_that_jumps_straight_past_due_gets_its_breach_and_no_late_warning(channel, identity):
    case = open_at(T0, channel, identity)
    result = scan_at(T0 + minutes(75))
    assert [a.level for a in result.breaches] == ["breach"]
    assert not result.warnings
    assert not scan_at(T0 + minutes(76)).warnings
    assert list(SLAAlert.objects.filter(case=case).values_list("level", flat=True)) == ["breach"]


def test_the_sla_alert_signal_is_sent_once_per_alert_after_commit(
    channel, identity, alerts_sent, django_capture_on_commit_callbacks
):
    case = open_at(T0, channel, identity)
    with django_capture_on_commit_callbacks() as callbacks:
        scan_at(T0 + minutes(50))
        scan_at(T0 + minutes(70))
        scan_at(T0 + minutes(71))
    assert alerts_sent == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert alerts_sent == [
        ("first_response", "warning", case.pk),
        ("first_response", "breach", case.pk),
    ]


def test_met_resolved_and_waiting_cases_get_no_alerts(channel, identity, agent, mailoutbox):
    met = open_at(T0, channel, identity, subject="met")
    Case.objects.filter(pk=met.pk).update(first_responded_at=T0 + minutes(5))
    resolved = open_at(T0, channel, identity, subject="resolved")
    case_services.change_status(resolved, Case.Status.RESOLVED, actor=agent)
    closed = open_at(T0, channel, identity, subject="closed")
    case_services.change_status(closed, Case.Status.CLOSED, actor=agent)
    waiting = open_at(T0, channel, identity, subject="waiting")
    case_services.change_status(waiting, Case.Status.WAITING_ON_CUSTOMER, actor=agent)
    running = open_at(T0, channel, identity, subject="running")
    result = scan_at(T0 + minutes(120))
    assert [a.case_id for a in result.breaches] == [running.pk]
    assert not result.warnings


def test_next_response_and_resolution_targets_are_watched_too(channel, identity):
    SLAPolicy.objects.create(
        name="Full", first_response_minutes=30, next_response_minutes=20, resolution_minutes=240
    )
    case = open_at(T0, channel, identity)
    Case.objects.filter(pk=case.pk).update(
        first_responded_at=T0 + minutes(10), next_response_due_at=T0 + minutes(100)
    )
    assert not scan_at(T0 + minutes(40)).breaches  # first response met
    assert [a.target for a in scan_at(T0 + minutes(90)).warnings] == ["next_response"]
    assert [a.target for a in scan_at(T0 + minutes(100)).breaches] == ["next_response"]
    assert [a.target for a in scan_at(T0 + minutes(230)).warnings] == ["resolution"]
    assert [a.target for a in scan_at(T0 + minutes(240)).breaches] == ["resolution"]
    assert not scan_at(T0 + minutes(300)).breaches


def test_a_new_due_time_is_a_new_target_with_its_own_alerts(channel, identity):
    """The next-response clock restarts with each customer post: each due time is alerted once."""
    SLAPolicy.objects.create(name="Next", first_response_minutes=30, next_response_minutes=20)
    case = open_at(T0, channel, identity)
    Case.objects.filter(pk=case.pk).update(
        first_responded_at=T0, next_response_due_at=T0 + minutes(20)
    )
    assert len(scan_at(T0 + minutes(25)).breaches) == 1
    Case.objects.filter(pk=case.pk).update(next_response_due_at=T0 + minutes(60))
    assert len(scan_at(T0 + minutes(61)).breaches) == 1
    assert not scan_at(T0 + minutes(62)).breaches
    assert SLAAlert.objects.filter(case=case, level="breach").count() == 2


# Priority on breach --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "start", "expected"),
    [
        ("high", "normal", "high"),
        ("urgent", "normal", "urgent"),
        ("high", "urgent", "urgent"),  # never lowered
        ("", "low", "low"),  # "" leaves priorities alone
    ],
)
def test_breach_raises_the_priority_as_configured(
    channel, identity, socialcare_settings, setting, start, expected
):
    case = open_at(T0, channel, identity, priority=start)
    with socialcare_settings(SLA_BREACH_PRIORITY=setting):
        scan_at(T0 + minutes(61))
    case.refresh_from_db()
    assert case.priority == expected
    changed = case.events.filter(kind=CaseEvent.Kind.PRIORITY_CHANGED)
    assert changed.count() == (start != expected)
    if start != expected:
        assert changed.get().data["reason"] == "first response SLA breached"


def test_the_priority_bump_never_turns_one_breach_into_two(channel, identity, mailoutbox):
    """A stricter policy for the bumped priority must not move the breached target (which the
    next scan would report as a new breach)."""
    SLAPolicy.objects.create(name="High", order=1, priority="high", first_response_minutes=15)
    SLAPolicy.objects.create(name="Rest", order=2, first_response_minutes=60)
    case = open_at(T0, channel, identity)
    assert case.first_response_due_at == T0 + minutes(60)
    assert len(scan_at(T0 + minutes(61)).breaches) == 1
    case.refresh_from_db()
    assert case.priority == "high"
    assert case.first_response_due_at == T0 + minutes(60)
    for later in (62, 63, 120):
        assert not scan_at(T0 + minutes(later)).breaches
    assert SLAAlert.objects.filter(case=case).count() == 1
    assert len(mailoutbox) == 1  # the team


# Business hours ------------------------------------------------------------------------------


def test_business_hours_clock_waits_over_the_weekend(channel, identity):
    SLAPolicy.objects.create(name="Office", first_response_minutes=60, calendar=calendar())
    case = open_at(dt.datetime(2026, 6, 5, 16, 30, tzinfo=UTC), channel, identity)  # Friday
    assert case.first_response_due_at == dt.datetime(2026, 6, 8, 9, 30, tzinfo=UTC)  # Monday
    for moment in ((6, 5, 17, 0), (6, 6, 12, 0), (6, 7, 23, 59), (6, 8, 9, 14)):
        result = scan_at(dt.datetime(2026, *moment, tzinfo=UTC))
        assert not result.warnings and not result.breaches, moment
    assert len(scan_at(dt.datetime(2026, 6, 8, 9, 15, tzinfo=UTC)).warnings) == 1
    assert len(scan_at(dt.datetime(2026, 6, 8, 9, 30, tzinfo=UTC)).breaches) == 1


def test_business_hours_clock_skips_public_holidays(channel, identity):
    office = calendar(tz="America/New_York", holiday_country="US")
    SLAPolicy.objects.create(name="Office", first_response_minutes=120, calendar=office)
    case = open_at(dt.datetime(2026, 11, 25, 16, 0, tzinfo=NY), channel, identity)
    due = dt.datetime(2026, 11, 27, 10, 0, tzinfo=NY)  # Thanksgiving Thursday is closed
    assert case.first_response_due_at == due
    assert not scan_at(dt.datetime(2026, 11, 26, 12, 0, tzinfo=NY)).breaches
    assert not scan_at(due - minutes(1)).breaches
    assert len(scan_at(due).breaches) == 1


def test_business_hours_clock_across_the_spring_dst_change(channel, identity):
    """Berlin springs forward on Sunday 29 March 2026: Monday opens at 07:00 UTC, not 08:00."""
    SLAPolicy.objects.create(
        name="Office", first_response_minutes=60, calendar=calendar(tz="Europe/Berlin")
    )
    case = open_at(dt.datetime(2026, 3, 27, 16, 30, tzinfo=BERLIN), channel, identity)  # Friday
    due = dt.datetime(2026, 3, 30, 7, 30, tzinfo=UTC)  # Monday 09:30 CEST
    assert case.first_response_due_at == due
    assert not scan_at(dt.datetime(2026, 3, 30, 8, 0, tzinfo=BERLIN)).warnings  # 07:00 CET ≠ open
    assert len(scan_at(dt.datetime(2026, 3, 30, 7, 15, tzinfo=UTC)).warnings) == 1
    assert not scan_at(dt.datetime(2026, 3, 30, 7, 29, tzinfo=UTC)).breaches
    assert len(scan_at(dt.datetime(2026, 3, 30, 7, 30, tzinfo=UTC)).breaches) == 1


# Cost: one query per (target, level), however many cases -------------------------------------


def _due(channel, count):
    """``count`` new cases opened at T0 on the default 60-minute target (in one query)."""
    Case.objects.bulk_create(
        Case(
            reference=f"SC-9{n:05d}", channel=channel, team=channel.default_team,
            subject=f"case {n}", created_at=T0, first_response_due_at=T0 + minutes(60),
        )
        for n in range(count)
    )  # fmt: skip


@pytest.mark.parametrize("level", ["warning", "breach"])
@pytest.mark.parametrize("target", ["first_response", "next_response", "resolution"])
@pytest.mark.parametrize("count", [3, 30])
def test_finding_due_cases_is_one_query(channel, django_assert_num_queries, count, target, level):
    _due(channel, count)
    Case.objects.update(
        first_responded_at=None if target == "first_response" else T0,
        next_response_due_at=T0 + minutes(60),
        resolution_due_at=T0 + minutes(60),
    )
    now = T0 + minutes(50 if level == "warning" else 61)
    with django_assert_num_queries(1):
        found = list(due_cases(target, level, now))
        assert all(c.team.name == "Care" for c in found)  # joined: no query per case
    assert len(found) == count


@pytest.mark.parametrize("count", [3, 30])
def test_a_scan_costs_the_same_queries_for_3_or_30_due_cases(
    channel, count, django_assert_num_queries, monkeypatch
):
    _due(channel, count)
    acted = []
    monkeypatch.setattr(sla_scan, "_alert", lambda case, *args: acted.append(case.pk))
    # Six finding queries, plus reading and writing the scan's mark.
    with time_machine.travel(T0 + minutes(61), tick=False), django_assert_num_queries(8):
        scan()
    assert len(acted) == count


@pytest.mark.parametrize("count", [3, 30])
def test_a_backlog_of_breached_cases_costs_nothing_on_later_scans(
    channel, count, django_assert_num_queries
):
    _due(channel, count)
    assert len(scan_at(T0 + minutes(61)).breaches) == count
    with time_machine.travel(T0 + minutes(62), tick=False), django_assert_num_queries(8):
        result = scan()
    assert not result.breaches and not result.warnings


@pytest.mark.parametrize(
    ("target", "index"),
    [
        ("first_response", "socialcare_case_sla"),
        ("next_response", "socialcare_case_next_sla"),
        ("resolution", "socialcare_case_resolve_sla"),
    ],
)
@pytest.mark.parametrize("level", ["warning", "breach"])
def test_the_finding_query_can_use_the_status_and_due_time_index(channel, target, index, level):
    sql = str(due_cases(target, level, T0).query)
    assert '"status" IN' in sql
    assert f'"{target}_due_at" <=' in sql
    if connection.vendor != "postgresql":
        return
    _due(channel, 30)
    queryset = due_cases(target, level, T0 + minutes(61))
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "socialcare_case")
        cursor.execute("ANALYZE socialcare_case")
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()
    # The index the query is shaped for exists; which (status, …) index the planner prefers on
    # 30 rows is its business, but it never has to read the whole table.
    assert constraints[index]["columns"] == ["status", f"{target}_due_at"]
    assert "Seq Scan on socialcare_case " not in plan, plan
    assert "Index" in plan, plan


# Never twice, even when scans race -----------------------------------------------------------


def test_a_scan_that_lost_the_race_sends_nothing(channel, identity, mailoutbox):
    """Two scans that both found the case: the unique constraint lets only the first act."""
    case = open_at(T0, channel, identity)
    now = T0 + minutes(61)
    [found] = list(due_cases("first_response", "breach", now))
    [stale] = list(due_cases("first_response", "breach", now))
    with time_machine.travel(now, tick=False):
        first = sla_scan._alert(found, "first_response", "breach", found.first_response_due_at, now)
        second = sla_scan._alert(
            stale, "first_response", "breach", stale.first_response_due_at, now
        )
    assert first is not None
    assert second is None
    assert SLAAlert.objects.filter(case=case).count() == 1
    assert case.events.filter(kind=CaseEvent.Kind.SLA_BREACHED).count() == 1
    assert case.events.filter(kind=CaseEvent.Kind.PRIORITY_CHANGED).count() == 1
    assert len(mailoutbox) == 1


def test_the_database_refuses_a_second_identical_alert(channel, identity):
    from django.db import IntegrityError, transaction

    case = open_at(T0, channel, identity)
    SLAAlert.objects.create(case=case, target="first_response", level="breach", due_at=T0)
    with pytest.raises(IntegrityError), transaction.atomic():
        SLAAlert.objects.create(case=case, target="first_response", level="breach", due_at=T0)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_scans_alert_each_breach_once(team, mailoutbox):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent scans need PostgreSQL: SQLite serializes writers")
    from django.db import connections

    from socialcare.models import Channel

    channel = Channel.objects.create(name="X", platform="x", account_id="b1", default_team=team)
    cases = [open_at(T0, channel, subject=f"case {n}") for n in range(12)]
    now = T0 + minutes(61)
    runs = 4
    barrier = threading.Barrier(runs)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(scan(now))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    breaches = [alert.case_id for result in results for alert in result.breaches]
    assert sorted(breaches) == sorted(c.pk for c in cases)  # each once, across all scans
    assert SLAAlert.objects.count() == len(cases)
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.SLA_BREACHED).count() == len(cases)
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.PRIORITY_CHANGED).count() == len(cases)
    assert len(mailoutbox) == len(cases)  # one to the team per case
    assert set(Case.objects.values_list("priority", flat=True)) == {"high"}
