"""SLA due times: 24/7 and business-hours clocks, holidays, DST, and which policy applies."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from socialcare.models import BusinessCalendar, BusinessHours, Case, SLAPolicy
from socialcare.services import sla
from socialcare.services.cases import change_priority, open_case
from socialcare.services.sla import add_business_time, match_policy

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt.UTC


def calendar(name="Office", tz="UTC", days=range(5), hours=((9, 17),), **fields):
    cal = BusinessCalendar.objects.create(name=name, timezone=tz, **fields)
    for weekday in days:
        for opens, closes in hours:
            BusinessHours.objects.create(
                calendar=cal, weekday=weekday, opens=dt.time(opens), closes=dt.time(closes)
            )
    return cal


def local(tz, *args):
    return dt.datetime(*args, tzinfo=tz)


def minutes(n):
    return dt.timedelta(minutes=n)


# add_business_time ---------------------------------------------------------------------------


def test_no_calendar_is_a_24_7_clock():
    start = local(UTC, 2026, 11, 21, 23, 30)  # a Saturday night
    assert add_business_time(start, minutes(90), None) == local(UTC, 2026, 11, 22, 1, 0)


def test_calendar_without_opening_hours_counts_as_24_7():
    empty = BusinessCalendar.objects.create(name="Empty")
    start = local(UTC, 2026, 11, 21, 23, 30)
    assert add_business_time(start, minutes(90), empty) == local(UTC, 2026, 11, 22, 1, 0)


def test_time_inside_opening_hours_counts_straight():
    office = calendar(tz="America/New_York")
    due = add_business_time(local(NY, 2026, 11, 18, 10, 0), minutes(60), office)
    assert due == local(NY, 2026, 11, 18, 11, 0)


def test_friday_afternoon_carries_over_the_weekend():
    office = calendar(tz="America/New_York")
    due = add_business_time(local(NY, 2026, 11, 20, 16, 30), minutes(60), office)
    assert due == local(NY, 2026, 11, 23, 9, 30)  # Monday
    assert due.utcoffset() == dt.timedelta(0)  # due times are returned in UTC


def test_opening_hours_are_in_the_calendars_zone_whatever_the_start_zone():
    office = calendar(tz="America/New_York")
    # 14:30 UTC is 09:30 in New York (EST): 30 minutes later is 10:00 there.
    due = add_business_time(local(UTC, 2026, 11, 18, 14, 30), minutes(30), office)
    assert due == local(NY, 2026, 11, 18, 10, 0)
    # 23:00 UTC on Friday is still Friday 18:00 in New York: closed until Monday.
    due = add_business_time(local(UTC, 2026, 11, 20, 23, 0), minutes(30), office)
    assert due == local(NY, 2026, 11, 23, 9, 30)
    # 02:00 UTC on Thursday is still Wednesday 21:00 in New York, where the late shift works on.
    late_shift = calendar("Late shift", "America/New_York", hours=((9, 22),))
    due = add_business_time(local(UTC, 2026, 11, 19, 2, 0), minutes(30), late_shift)
    assert due == local(NY, 2026, 11, 18, 21, 30)


def test_weekend_start_waits_for_monday_opening():
    office = calendar(tz="America/New_York")
    due = add_business_time(local(NY, 2026, 11, 21, 12, 0), minutes(30), office)  # Saturday
    assert due == local(NY, 2026, 11, 23, 9, 30)


def test_before_opening_and_exactly_at_closing():
    office = calendar()
    assert add_business_time(local(UTC, 2026, 11, 18, 6, 0), minutes(30), office) == local(
        UTC, 2026, 11, 18, 9, 30
    )
    # Using up the day exactly ends at closing time; starting at closing time waits for tomorrow.
    assert add_business_time(local(UTC, 2026, 11, 18, 16, 0), minutes(60), office) == local(
        UTC, 2026, 11, 18, 17, 0
    )
    assert add_business_time(local(UTC, 2026, 11, 18, 17, 0), minutes(60), office) == local(
        UTC, 2026, 11, 19, 10, 0
    )


def test_lunch_break_does_not_count():
    office = calendar(hours=((9, 12), (13, 17)))
    due = add_business_time(local(UTC, 2026, 11, 18, 11, 30), minutes(60), office)
    assert due == local(UTC, 2026, 11, 18, 13, 30)


def test_long_durations_span_several_working_days():
    office = calendar()
    # 20 working hours from Thursday 9:00: Thu 8h, Fri 8h, Mon 4h.
    due = add_business_time(local(UTC, 2026, 11, 19, 9, 0), dt.timedelta(hours=20), office)
    assert due == local(UTC, 2026, 11, 23, 13, 0)


def test_public_holidays_are_skipped():
    office = calendar(tz="America/New_York", holiday_country="US")
    # Wednesday before Thanksgiving (Thu 2026-11-26): 1h left on Wednesday, then Friday.
    due = add_business_time(local(NY, 2026, 11, 25, 16, 0), minutes(120), office)
    assert due == local(NY, 2026, 11, 27, 10, 0)


def test_regional_holidays_follow_the_subdivision():
    bavaria = calendar("Munich", "Europe/Berlin", holiday_country="DE", holiday_subdivision="BY")
    berlin = calendar("Berlin", "Europe/Berlin", holiday_country="DE", holiday_subdivision="BE")
    start = local(BERLIN, 2027, 1, 5, 16, 0)  # the day before Epiphany (Bavaria only)
    assert add_business_time(start, minutes(120), bavaria) == local(BERLIN, 2027, 1, 7, 10, 0)
    assert add_business_time(start, minutes(120), berlin) == local(BERLIN, 2027, 1, 6, 10, 0)


def test_holidays_of_the_next_year_apply_across_new_year():
    office = calendar(tz="Europe/Berlin", holiday_country="DE")
    # Thursday 2026-12-31, 16:00; Friday 2027-01-01 is New Year's Day.
    due = add_business_time(local(BERLIN, 2026, 12, 31, 16, 0), minutes(120), office)
    assert due == local(BERLIN, 2027, 1, 4, 10, 0)


def test_extra_closed_days_are_skipped_and_bad_entries_ignored():
    office = calendar(extra_closed_days=["2026-12-24", "not a date", 17])
    due = add_business_time(local(UTC, 2026, 12, 23, 16, 0), minutes(120), office)
    assert due == local(UTC, 2026, 12, 25, 10, 0)


def test_opening_hours_are_wall_clock_across_spring_dst_change():
    # Berlin moves to summer time on Sunday 2026-03-29; the team opens every day 9-17 local.
    office = calendar(tz="Europe/Berlin", days=range(7))
    due = add_business_time(local(BERLIN, 2026, 3, 28, 16, 0), minutes(120), office)
    assert due == local(BERLIN, 2026, 3, 29, 10, 0)
    assert due == local(UTC, 2026, 3, 29, 8, 0)  # not 09:00 UTC as a fixed +01:00 would give


def test_dst_change_shortens_or_lengthens_that_days_hours():
    # Opening 01:00-04:00 on Sundays only; the clocks jump 02:00->03:00 on 2026-03-29 and fall
    # back 03:00->02:00 on 2026-10-25, so those nights hold 2 and 4 real hours.
    night = calendar(tz="Europe/Berlin", days=[6], hours=((1, 4),))
    spring = local(BERLIN, 2026, 3, 29, 1, 0)
    assert add_business_time(spring, minutes(120), night) == local(UTC, 2026, 3, 29, 2, 0)
    assert add_business_time(spring, minutes(150), night) == local(BERLIN, 2026, 4, 5, 1, 30)
    autumn = local(BERLIN, 2026, 10, 25, 1, 0)
    assert add_business_time(autumn, minutes(240), night) == local(UTC, 2026, 10, 25, 3, 0)


def test_calendar_that_never_opens_is_an_error(monkeypatch):
    monkeypatch.setattr(sla, "MAX_DAYS_AHEAD", 14)
    closed = calendar("Shut", days=[0], extra_closed_days=["2026-11-23", "2026-11-30"])
    with pytest.raises(ValueError, match="no working time in the next 14 days"):
        add_business_time(local(UTC, 2026, 11, 18, 9, 0), minutes(10), closed)


# Policy matching -----------------------------------------------------------------------------


def policy(name, order, **fields):
    return SLAPolicy.objects.create(name=name, order=order, **fields)


def match(priority="normal", platform="x", visibility="public", channel_id=None):
    return match_policy(
        priority=priority, platform=platform, visibility=visibility, channel_id=channel_id
    )


def test_no_policy_matches_without_policies():
    assert match() is None


def test_first_match_by_order_wins_and_inactive_are_skipped(channel):
    fallback = policy("Fallback", 100)
    urgent = policy("Urgent", 10, priority="urgent")
    policy("Off", 1, is_active=False)
    x_dm = policy("X DMs", 20, platform="x", visibility="private")
    this_channel = policy("This channel", 30, channel=channel)
    assert match(priority="urgent", visibility="private") == urgent
    assert match(visibility="private") == x_dm
    assert match(platform="mastodon", visibility="private") == fallback
    assert match(channel_id=channel.pk) == this_channel
    assert match(channel_id=channel.pk + 1) == fallback


def test_equal_order_falls_back_to_creation_order():
    first = policy("First", 50)
    policy("Second", 50)
    assert match() == first


# Due times on cases --------------------------------------------------------------------------


OPENED = local(UTC, 2026, 11, 20, 16, 30)  # a Friday


def test_case_without_policy_gets_the_default_first_response(channel, socialcare_settings):
    case = open_case(channel=channel, opened_at=OPENED)
    assert case.sla_policy is None
    assert case.first_response_due_at == OPENED + dt.timedelta(minutes=60)
    assert case.resolution_due_at is None
    with socialcare_settings(DEFAULT_FIRST_RESPONSE=dt.timedelta(minutes=15)):
        case = open_case(channel=channel, opened_at=OPENED)
    assert case.first_response_due_at == OPENED + dt.timedelta(minutes=15)


def test_case_due_times_follow_the_matched_policy_calendar(channel):
    office = calendar()
    policy("Office", 10, first_response_minutes=60, resolution_minutes=8 * 60, calendar=office)
    case = open_case(channel=channel, opened_at=OPENED)
    assert case.first_response_due_at == local(UTC, 2026, 11, 23, 9, 30)
    assert case.resolution_due_at == local(UTC, 2026, 11, 23, 16, 30)
    created = case.events.get(kind="created")
    assert created.data["sla_policy"] == "Office"
    assert created.data["first_response_due_at"] == "2026-11-23T09:30:00+00:00"


def test_team_calendar_applies_when_the_policy_has_none(channel, team):
    team.calendar = calendar()
    team.save()
    policy("Any", 10, first_response_minutes=60)
    case = open_case(channel=channel, opened_at=OPENED)
    assert case.team == team
    assert case.first_response_due_at == local(UTC, 2026, 11, 23, 9, 30)


def test_channel_policy_overrides_matching(channel):
    policy("Matching", 1, first_response_minutes=30)
    channel.sla_policy = policy("Channel's own", 99, first_response_minutes=240)
    channel.save()
    case = open_case(channel=channel, opened_at=OPENED)
    assert case.sla_policy == channel.sla_policy
    assert case.first_response_due_at == OPENED + dt.timedelta(hours=4)


def test_priority_change_recomputes_running_due_times_from_opening(channel):
    policy("Urgent", 1, priority="urgent", first_response_minutes=15)
    policy("Normal", 2, first_response_minutes=120)
    case = open_case(channel=channel, opened_at=OPENED)
    assert case.first_response_due_at == OPENED + dt.timedelta(minutes=120)
    case = change_priority(case, "urgent")
    assert case.sla_policy.name == "Urgent"
    assert case.first_response_due_at == OPENED + dt.timedelta(minutes=15)


def test_priority_change_leaves_met_or_closed_targets_alone(channel):
    policy("Urgent", 1, priority="urgent", first_response_minutes=15)
    policy("Normal", 2, first_response_minutes=120)
    responded = open_case(channel=channel, opened_at=OPENED)
    Case.objects.filter(pk=responded.pk).update(first_responded_at=OPENED)
    resolved = open_case(channel=channel, opened_at=OPENED)
    Case.objects.filter(pk=resolved.pk).update(status="resolved")
    for case in (responded, resolved):
        case = change_priority(case, "urgent")
        assert case.priority == "urgent"
        assert case.first_response_due_at == OPENED + dt.timedelta(minutes=120)
