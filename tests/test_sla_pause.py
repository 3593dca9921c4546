"""Pausing the SLA clock while waiting on the customer, and resuming it: due times move on by the
working time the case spent paused, across weekends, public holidays and DST changes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from socialcare.models import BusinessCalendar, BusinessHours, Case, SLAAlert, SLAPolicy
from socialcare.platforms.base import InboundIdentity, InboundPost
from socialcare.services import cases as case_services
from socialcare.services import sla
from socialcare.services.ingest import ingest_post
from socialcare.services.sla import add_business_time, business_time_between, calendar_for
from socialcare.services.sla_scan import scan

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
WAITING = Case.Status.WAITING_ON_CUSTOMER


def calendar(name="Office", tz="UTC", days=range(5), hours=((9, 17),), **fields):
    cal = BusinessCalendar.objects.create(name=name, timezone=tz, **fields)
    for weekday in days:
        for opens, closes in hours:
            BusinessHours.objects.create(
                calendar=cal, weekday=weekday, opens=dt.time(opens), closes=dt.time(closes)
            )
    return cal


def at(tz, *args):
    return dt.datetime(*args, tzinfo=tz)


def hours(n):
    return dt.timedelta(hours=n)


def minutes(n):
    return dt.timedelta(minutes=n)


def policy(cal=None, **fields):
    return SLAPolicy.objects.create(name=fields.pop("name", "Standard"), calendar=cal, **fields)


def open_at(moment, channel, identity, **kwargs):
    with time_machine.travel(moment, tick=False):
        return case_services.open_case(channel=channel, identity=identity, **kwargs)


def status_at(moment, case, to, actor=None):
    with time_machine.travel(moment, tick=False):
        return case_services.change_status(case, to, actor=actor)


# business_time_between -------------------------------------------------------------------------


def test_business_time_on_a_24_7_clock_is_wall_time_and_never_negative():
    start = at(UTC, 2026, 11, 21, 23, 30)
    assert business_time_between(start, start + hours(30), None) == hours(30)
    assert business_time_between(start, start, None) == dt.timedelta(0)
    assert business_time_between(start, start - hours(1), None) == dt.timedelta(0)


def test_business_time_skips_the_weekend():
    office = calendar(tz="America/New_York")
    friday = at(NY, 2026, 11, 20, 16, 0)
    monday = at(NY, 2026, 11, 23, 10, 0)
    assert business_time_between(friday, monday, office) == hours(2)
    # Starting or ending while closed counts nothing for the closed part.
    assert business_time_between(at(NY, 2026, 11, 21, 12), monday, office) == hours(1)
    assert business_time_between(at(NY, 2026, 11, 21, 12), at(NY, 2026, 11, 22, 12), office) == (
        dt.timedelta(0)
    )


def test_business_time_skips_public_holidays():
    office = calendar(tz="America/New_York", holiday_country="US")
    wednesday = at(NY, 2026, 11, 25, 16, 0)  # Thanksgiving is Thursday 26 November 2026
    friday = at(NY, 2026, 11, 27, 10, 0)
    assert business_time_between(wednesday, friday, office) == hours(2)
    plain = calendar(name="No holidays", tz="America/New_York")
    assert business_time_between(wednesday, friday, plain) == hours(10)


@pytest.mark.parametrize(
    ("day", "real_hours"),
    [((2026, 3, 8), 2), ((2026, 11, 1), 4)],  # New York springs forward, falls back
    ids=["spring-forward", "fall-back"],
)
def test_business_time_follows_dst_changes(day, real_hours):
    """A 01:00–04:00 wall-clock window lasts 2 real hours the night clocks go forward and 4 the
    night they go back."""
    night = calendar(tz="America/New_York", days=[6], hours=((1, 4),))
    start = dt.datetime(*day, tzinfo=NY) - dt.timedelta(days=1)
    assert business_time_between(start, start + dt.timedelta(days=2), night) == hours(real_hours)
    # add_business_time is its inverse across the change.
    opening = at(NY, *day, 1, 0)
    end = add_business_time(opening, hours(real_hours), night)
    assert end == at(NY, *day, 4, 0)
    assert business_time_between(opening, end, night) == hours(real_hours)


def test_calendar_for_prefers_the_policy_then_the_team_and_is_24_7_without_a_policy(
    channel, identity, team
):
    team_hours = calendar(name="Team hours")
    team.calendar = team_hours
    team.save()
    case = case_services.open_case(channel=channel, identity=identity)
    # No policy: the default first-response target runs 24/7, so the clock that pauses does too.
    assert case.sla_policy is None
    assert calendar_for(case) is None
    own = policy(first_response_minutes=60)
    case.sla_policy = own
    assert calendar_for(case) == team_hours
    own.calendar = calendar(name="Policy hours")
    assert calendar_for(case) == own.calendar


def test_pause_keeps_the_first_pause_time_and_resume_without_pause_changes_nothing():
    case = Case(first_response_due_at=at(UTC, 2026, 1, 5, 12))
    sla.resume_clock(case, at(UTC, 2026, 1, 5, 11))
    assert case.first_response_due_at == at(UTC, 2026, 1, 5, 12)
    sla.pause_clock(case, at(UTC, 2026, 1, 5, 10))
    sla.pause_clock(case, at(UTC, 2026, 1, 5, 10, 30))
    assert case.sla_paused_at == at(UTC, 2026, 1, 5, 10)
    sla.resume_clock(case, at(UTC, 2026, 1, 5, 11))
    assert case.sla_paused_at is None
    assert case.first_response_due_at == at(UTC, 2026, 1, 5, 13)


# Pause and resume through the case workflow ----------------------------------------------------


def test_24_7_clock_moves_on_by_the_wall_time_paused(channel, identity, agent):
    case = open_at(at(UTC, 2026, 6, 1, 9, 0), channel, identity)
    assert case.first_response_due_at == at(UTC, 2026, 6, 1, 10, 0)
    status_at(at(UTC, 2026, 6, 1, 9, 20), case, WAITING, agent)
    assert case.sla_paused_at == at(UTC, 2026, 6, 1, 9, 20)
    assert case.first_response_due_at == at(UTC, 2026, 6, 1, 10, 0)  # unchanged while paused
    status_at(at(UTC, 2026, 6, 2, 14, 0), case, Case.Status.OPEN, agent)
    assert case.sla_paused_at is None
    assert case.first_response_due_at == at(UTC, 2026, 6, 2, 14, 40)  # 40 min were left
    assert Case.objects.get(pk=case.pk).first_response_due_at == at(UTC, 2026, 6, 2, 14, 40)


def test_no_policy_clock_is_24_7_even_when_the_team_keeps_office_hours(
    channel, identity, team, agent
):
    team.calendar = calendar(name="Team hours")
    team.save()
    case = open_at(at(UTC, 2026, 6, 5, 16, 30), channel, identity)  # a Friday
    assert case.first_response_due_at == at(UTC, 2026, 6, 5, 17, 30)
    status_at(at(UTC, 2026, 6, 5, 16, 45), case, WAITING, agent)
    status_at(at(UTC, 2026, 6, 8, 9, 0), case, Case.Status.OPEN, agent)
    assert case.first_response_due_at == at(UTC, 2026, 6, 8, 9, 45)


def test_pause_over_the_weekend_moves_due_times_by_working_time_only(channel, identity, agent):
    office = calendar(tz="America/New_York")
    policy(office, first_response_minutes=120, resolution_minutes=8 * 60)
    case = open_at(at(NY, 2026, 11, 20, 16, 0), channel, identity)  # Friday 16:00
    assert case.first_response_due_at == at(NY, 2026, 11, 23, 10, 0)  # Monday 10:00
    assert case.resolution_due_at == at(NY, 2026, 11, 23, 16, 0)
    status_at(at(NY, 2026, 11, 20, 16, 30), case, WAITING, agent)  # 30 min used
    status_at(at(NY, 2026, 11, 24, 9, 0), case, Case.Status.OPEN, agent)  # back Tuesday
    assert case.first_response_due_at == at(NY, 2026, 11, 24, 10, 30)
    assert case.resolution_due_at == at(NY, 2026, 11, 24, 16, 30)
    assert case.sla_paused_at is None


def test_pause_over_a_public_holiday(channel, identity, agent):
    office = calendar(tz="America/New_York", holiday_country="US")
    policy(office, first_response_minutes=240)
    case = open_at(at(NY, 2026, 11, 25, 15, 0), channel, identity)  # Wednesday before Thanksgiving
    assert case.first_response_due_at == at(NY, 2026, 11, 27, 11, 0)  # Friday: Thursday is closed
    status_at(at(NY, 2026, 11, 25, 16, 0), case, WAITING, agent)  # 3 working hours left
    status_at(at(NY, 2026, 11, 27, 10, 0), case, Case.Status.OPEN, agent)
    assert case.first_response_due_at == at(NY, 2026, 11, 27, 13, 0)


def test_pause_across_the_end_of_summer_time(channel, identity, agent):
    """Berlin's clocks go back on Sunday 25 October 2026: Monday opens at 08:00 UTC, not 07:00."""
    office = calendar(tz="Europe/Berlin")
    policy(office, first_response_minutes=180)
    case = open_at(at(BERLIN, 2026, 10, 23, 15, 0), channel, identity)  # Friday 13:00 UTC
    assert case.first_response_due_at == at(BERLIN, 2026, 10, 26, 10, 0)
    assert case.first_response_due_at == at(UTC, 2026, 10, 26, 9, 0)
    status_at(at(BERLIN, 2026, 10, 23, 16, 0), case, WAITING, agent)  # 2 working hours left
    status_at(at(BERLIN, 2026, 10, 26, 9, 30), case, Case.Status.OPEN, agent)
    assert case.first_response_due_at == at(BERLIN, 2026, 10, 26, 11, 30)
    assert case.first_response_due_at == at(UTC, 2026, 10, 26, 10, 30)


def test_resume_leaves_breached_and_met_targets_alone(channel, identity, agent):
    policy(first_response_minutes=60, resolution_minutes=600)
    case = open_at(at(UTC, 2026, 6, 1, 9, 0), channel, identity)
    Case.objects.filter(pk=case.pk).update(first_responded_at=at(UTC, 2026, 6, 1, 9, 10))
    case.refresh_from_db()
    breached = at(UTC, 2026, 6, 1, 9, 30)
    Case.objects.filter(pk=case.pk).update(next_response_due_at=breached)
    case.refresh_from_db()
    status_at(at(UTC, 2026, 6, 1, 10, 0), case, WAITING, agent)
    status_at(at(UTC, 2026, 6, 1, 12, 0), case, Case.Status.OPEN, agent)
    assert case.first_response_due_at == at(UTC, 2026, 6, 1, 10, 0)  # met: not moved
    assert case.next_response_due_at == breached  # breached before the pause: not moved
    assert case.resolution_due_at == at(UTC, 2026, 6, 1, 21, 0)  # 9 h left, from 12:00


def test_resolving_a_waiting_case_stops_the_pause(channel, identity, agent):
    case = open_at(at(UTC, 2026, 6, 1, 9, 0), channel, identity)
    status_at(at(UTC, 2026, 6, 1, 9, 30), case, WAITING, agent)
    status_at(at(UTC, 2026, 6, 1, 11, 0), case, Case.Status.RESOLVED, agent)
    assert case.sla_paused_at is None


def test_waiting_cases_get_no_alerts_and_resumed_ones_alert_on_the_moved_due_time(
    channel, identity, agent, mailoutbox
):
    channel.default_team.email = "care@example.com"
    channel.default_team.save()
    case = open_at(at(UTC, 2026, 6, 1, 9, 0), channel, identity)
    status_at(at(UTC, 2026, 6, 1, 9, 40), case, WAITING, agent)  # 20 min left
    for moment in (at(UTC, 2026, 6, 1, 9, 50), at(UTC, 2026, 6, 1, 11), at(UTC, 2026, 6, 3)):
        with time_machine.travel(moment, tick=False):
            result = scan()
        assert not result.warnings and not result.breaches
    assert not SLAAlert.objects.exists()
    assert mailoutbox == []
    status_at(at(UTC, 2026, 6, 3, 12, 0), case, Case.Status.OPEN, agent)
    assert case.first_response_due_at == at(UTC, 2026, 6, 3, 12, 20)
    with time_machine.travel(at(UTC, 2026, 6, 3, 12, 4), tick=False):
        assert not scan().warnings  # 16 min before: not yet
    with time_machine.travel(at(UTC, 2026, 6, 3, 12, 5), tick=False):
        assert len(scan().warnings) == 1
    with time_machine.travel(at(UTC, 2026, 6, 3, 12, 20), tick=False):
        [breach] = scan().breaches
    assert breach.due_at == at(UTC, 2026, 6, 3, 12, 20)
    with time_machine.travel(at(UTC, 2026, 6, 3, 13, 0), tick=False):
        result = scan()
    assert not result.warnings and not result.breaches
    assert len(mailoutbox) == 2


def test_a_customer_reply_resumes_the_clock(channel, agent):
    office = calendar(tz="America/New_York")
    policy(office, first_response_minutes=120)
    author = InboundIdentity(platform="x", external_id="501", handle="sam", followers_count=10)
    first = InboundPost(
        platform="x",
        external_id="9001",
        author=author,
        kind="mention",
        visibility="public",
        text="@acme my order never arrived",
        posted_at=at(NY, 2026, 11, 20, 16, 0),
    )
    with time_machine.travel(first.posted_at, tick=False):
        case = ingest_post(channel, first).case
    assert case.first_response_due_at == at(NY, 2026, 11, 23, 10, 0)
    status_at(at(NY, 2026, 11, 20, 16, 15), case, WAITING, agent)  # 1 h 45 left
    reply = InboundPost(
        platform="x",
        external_id="9002",
        author=author,
        kind="reply",
        visibility="public",
        text="@acme order number is 12345",
        posted_at=at(NY, 2026, 11, 23, 13, 0),
        in_reply_to="9001",
    )
    with time_machine.travel(reply.posted_at, tick=False):
        result = ingest_post(channel, reply)
    assert result.case == case
    case.refresh_from_db()
    assert case.status == Case.Status.OPEN
    assert case.sla_paused_at is None
    assert case.first_response_due_at == at(NY, 2026, 11, 23, 14, 45)
