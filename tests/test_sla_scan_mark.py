"""The SLA scan's mark: a scan after another reads only the cases that fell due or changed since,
and still alerts everything a scan of every case would."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from socialcare.models import Case, SLAAlert
from socialcare.models.case import SLAScanMark
from socialcare.services import cases as case_services
from socialcare.services import sla_scan
from socialcare.services.sla_scan import Since, due_cases, scan

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


def minutes(n):
    return dt.timedelta(minutes=n)


def at(moment, fn, *args, **kwargs):
    with time_machine.travel(moment, tick=False):
        return fn(*args, **kwargs)


def breached(result):
    return sorted(alert.case_id for alert in result.breaches)


@pytest.fixture
def backlog(channel):
    """Twenty cases opened at T0, breached and alerted at T0 + 61 min (the mark is set then)."""
    cases = [
        at(T0, case_services.open_case, channel=channel, subject=f"old {n}") for n in range(20)
    ]
    assert len(at(T0 + minutes(61), scan).breaches) == 20
    return cases


def test_a_scan_records_how_far_it_got(backlog):
    mark = SLAScanMark.objects.get()
    assert mark.scanned_until == T0 + minutes(61)
    assert mark.started_at == T0 + minutes(61)


def test_the_next_scan_leaves_the_alerted_backlog_alone_but_finds_new_breaches(backlog, channel):
    fresh = at(T0 + minutes(30), case_services.open_case, channel=channel, subject="new")
    since = sla_scan._since(SLAScanMark.objects.get(), T0 + minutes(95), T0 + minutes(95))
    assert since == Since(due=T0 + minutes(51), changed=T0 + minutes(51))
    # The finding query of the marked scan does not even return the backlog's cases...
    found = due_cases("first_response", "breach", T0 + minutes(95), since)
    assert [case.pk for case in found] == [fresh.pk]
    # ...and the scan alerts exactly what a scan of every case would.
    assert breached(at(T0 + minutes(95), scan)) == [fresh.pk]
    assert not at(T0 + minutes(96), scan).breaches


def test_a_due_time_moved_back_into_the_past_is_still_alerted(backlog, channel):
    """The due time lands before the mark: found because the case changed since."""
    case = at(T0 + minutes(62), case_services.open_case, channel=channel, subject="later")
    assert not at(T0 + minutes(63), scan).breaches
    with time_machine.travel(T0 + minutes(64), tick=False):
        case.first_response_due_at = T0 + minutes(5)  # long before the mark
        case.save()
    assert breached(at(T0 + minutes(65), scan)) == [case.pk]
    assert SLAAlert.objects.filter(case=case, due_at=T0 + minutes(5)).count() == 1


def test_a_reopened_case_gets_the_breach_of_its_new_due_time(backlog, agent):
    case = backlog[0]
    at(T0 + minutes(70), case_services.change_status, case, "waiting_on_customer", actor=agent)
    at(T0 + minutes(80), case_services.change_status, case, "open", actor=agent)
    case.refresh_from_db()
    due = case.first_response_due_at
    assert due < T0 + minutes(80)  # resumed with the time it had left: overdue again
    result = at(T0 + minutes(81), scan)
    assert breached(result) == ([case.pk] if due != T0 + minutes(60) else [])
    assert SLAAlert.objects.filter(case=case, level="breach", due_at=due).count() == 1


def test_a_change_that_skips_updated_at_is_caught_by_the_hourly_full_scan(backlog):
    """A raw update (no ``updated_at``) of a due time before the mark is not seen by the marked
    scans; the scan of every case (at least every ``FULL_SCAN_EVERY``) alerts it."""
    case = backlog[1]
    assert not at(T0 + minutes(75), scan).breaches  # the breach's priority change is behind
    Case.objects.filter(pk=case.pk).update(first_response_due_at=T0 + minutes(7))
    assert not at(T0 + minutes(80), scan).breaches
    later = T0 + minutes(61) + sla_scan.FULL_SCAN_EVERY
    assert breached(at(later, scan)) == [case.pk]
    assert SLAScanMark.objects.get().full_scan_at == later


def test_without_a_mark_or_when_time_goes_back_every_case_is_read(backlog):
    mark = SLAScanMark.objects.get()
    assert sla_scan._since(None, T0, T0) is None
    assert sla_scan._since(mark, T0 + minutes(30), T0 + minutes(90)) is None  # a past `now`
    assert sla_scan._since(mark, T0 + minutes(90), T0 + minutes(30)) is None  # clock set back
    SLAScanMark.objects.all().delete()
    case = backlog[2]
    SLAAlert.objects.filter(case=case).delete()
    assert breached(at(T0 + minutes(70), scan)) == [case.pk]


def test_a_scan_that_fails_leaves_the_mark_where_it_was(backlog, channel, monkeypatch):
    at(T0 + minutes(62), case_services.open_case, channel=channel, subject="late")

    def broken(*args, **kwargs):
        raise RuntimeError("mail server down")

    monkeypatch.setattr(sla_scan, "_alert", broken)
    with pytest.raises(RuntimeError):
        at(T0 + minutes(130), scan)
    assert SLAScanMark.objects.get().scanned_until == T0 + minutes(61)
    monkeypatch.undo()
    assert len(at(T0 + minutes(131), scan).breaches) == 1
