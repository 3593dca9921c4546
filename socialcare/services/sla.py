"""SLA policy matching and due times on 24/7 or business-hours clocks."""

from __future__ import annotations

import contextvars
import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from socialcare.conf import app_settings
from socialcare.models import BusinessCalendar, Case, SLAPolicy

UTC = dt.UTC
#: How far ahead a due time is searched for before a calendar is judged to never open.
MAX_DAYS_AHEAD = 800


#: The active policies read once for a batch (see :func:`policies_cached`), else None.
_policies: contextvars.ContextVar[dict[str, list[SLAPolicy]] | None] = contextvars.ContextVar(
    "socialcare_sla_policies", default=None
)


@contextmanager
def policies_cached() -> Iterator[None]:
    """Inside this block (one ingest batch, one transaction) the active policies are read once,
    on first use, instead of once per case opened."""
    token = _policies.set({})
    try:
        yield
    finally:
        _policies.reset(token)


def _active_policies() -> list[SLAPolicy]:
    cached = _policies.get()
    if cached is not None and "active" in cached:
        return cached["active"]
    policies = list(SLAPolicy.objects.active().select_related("calendar"))
    if cached is not None:
        cached["active"] = policies
    return policies


def match_policy(
    *, priority: str, platform: str, visibility: str, channel_id: int | None
) -> SLAPolicy | None:
    """The first active policy (by ``order``) whose conditions match; None if none does."""
    for policy in _active_policies():
        if policy.matches(
            priority=priority, platform=platform, visibility=visibility, channel_id=channel_id
        ):
            return policy
    return None


@lru_cache(maxsize=64)
def _holidays(country: str, subdivision: str, year: int) -> frozenset[dt.date]:
    import holidays

    return frozenset(holidays.country_holidays(country, subdiv=subdivision or None, years=year))


def closed_days(calendar: BusinessCalendar, year: int) -> set[dt.date]:
    days: set[dt.date] = set()
    if calendar.holiday_country:
        days |= _holidays(calendar.holiday_country.upper(), calendar.holiday_subdivision, year)
    for text in calendar.extra_closed_days or []:
        try:
            days.add(dt.date.fromisoformat(str(text)))
        except ValueError:
            continue
    return days


def open_windows(calendar: BusinessCalendar, start: dt.datetime):
    """The calendar's opening windows as (start, end) UTC instants, from ``start``'s local day on,
    or None when the calendar has no opening hours at all."""
    weekly: dict[int, list[tuple[dt.time, dt.time]]] = defaultdict(list)
    for hours in calendar.hours.all():
        weekly[hours.weekday].append((hours.opens, hours.closes))
    if not weekly:
        return None
    tz = zoneinfo.ZoneInfo(calendar.timezone)

    def windows():
        day = start.astimezone(tz).date()
        closed_by_year: dict[int, set[dt.date]] = {}
        for _ in range(MAX_DAYS_AHEAD):
            if day.year not in closed_by_year:
                closed_by_year[day.year] = closed_days(calendar, day.year)
            if day not in closed_by_year[day.year]:
                for opens, closes in sorted(weekly.get(day.weekday(), [])):
                    yield (
                        dt.datetime.combine(day, opens, tzinfo=tz).astimezone(UTC),
                        dt.datetime.combine(day, closes, tzinfo=tz).astimezone(UTC),
                    )
            day += dt.timedelta(days=1)
        raise ValueError(
            f"Calendar {calendar} has no working time in the next {MAX_DAYS_AHEAD} days."
        )

    return windows()


def add_business_time(
    start: dt.datetime, duration: dt.timedelta, calendar: BusinessCalendar | None
) -> dt.datetime:
    """The moment ``duration`` of working time has passed after ``start``.

    ``calendar=None`` is a 24/7 clock. Otherwise only the calendar's opening hours count, in its
    time zone, skipping public holidays and extra closed days. Wall-clock opening hours are turned
    into real instants day by day, so DST changes shorten or lengthen that day's hours as they
    would for the team. A calendar with no opening hours counts as 24/7.
    """
    windows = open_windows(calendar, start) if calendar is not None else None
    if windows is None:
        return start + duration
    cursor = start.astimezone(UTC)
    remaining = duration
    for window_start, window_end in windows:
        begin = max(window_start, cursor)
        if begin >= window_end:
            continue
        available = window_end - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
        cursor = window_end
    raise AssertionError("unreachable: open_windows raises when it runs out")


def business_time_between(
    start: dt.datetime, end: dt.datetime, calendar: BusinessCalendar | None
) -> dt.timedelta:
    """Working time from ``start`` to ``end`` on ``calendar`` (24/7 when None); zero if
    ``end`` is not after ``start``."""
    if end <= start:
        return dt.timedelta(0)
    windows = open_windows(calendar, start) if calendar is not None else None
    if windows is None:
        return end - start
    total = dt.timedelta(0)
    for window_start, window_end in windows:
        if window_start >= end:
            break
        overlap = min(window_end, end) - max(window_start, start)
        if overlap > dt.timedelta(0):
            total += overlap
    return total


def calendar_for(case: Case) -> BusinessCalendar | None:
    """The clock a case's SLA runs on: its policy's calendar, else its team's; 24/7 without a
    policy (the default target is counted 24/7, see ``apply_policy``)."""
    policy = case.sla_policy
    if policy is None:
        return None
    if policy.calendar_id:
        return policy.calendar
    return case.team.calendar if case.team_id else None


DUE_FIELDS = ("first_response_due_at", "next_response_due_at", "resolution_due_at")


def pause_clock(case: Case, at: dt.datetime) -> None:
    """Stop the SLA clock while waiting on the customer (does not save)."""
    if case.sla_paused_at is None:
        case.sla_paused_at = at


def resume_clock(case: Case, at: dt.datetime) -> None:
    """Restart the clock: every due time still ahead when it paused moves on by the working time
    the case spent paused (does not save)."""
    paused_at = case.sla_paused_at
    if paused_at is None:
        return
    calendar = calendar_for(case)
    for field in DUE_FIELDS:
        due = getattr(case, field)
        if due is None or due <= paused_at:
            continue  # unset, or already breached before the pause
        if field == "first_response_due_at" and case.first_responded_at is not None:
            continue
        remaining = business_time_between(paused_at, due, calendar)
        setattr(case, field, add_business_time(at, remaining, calendar))
    case.sla_paused_at = None


def clock_start(case: Case) -> dt.datetime | None:
    """When the case's SLA clock started: its first live customer post (``sla_started_at``);
    None for a case whose posts are all from history; a case made without one (by code that
    predates the field) counts from its opening."""
    if case.sla_started_at is not None or case.from_history:
        return case.sla_started_at
    return case.created_at


def apply_policy(case: Case, *, start: dt.datetime | None) -> None:
    """Pick the case's SLA policy and set its due times from ``start`` (does not save). No
    ``start`` (a case whose posts are all from history): the policy, and no due times."""
    channel = case.channel
    policy = (channel.sla_policy if channel and channel.sla_policy_id else None) or match_policy(
        priority=case.priority,
        platform=channel.platform if channel else "",
        visibility=case.visibility,
        channel_id=case.channel_id,
    )
    case.sla_policy = policy
    if start is None:
        case.first_response_due_at = case.resolution_due_at = case.next_response_due_at = None
        return
    if policy is None:
        case.first_response_due_at = start + app_settings.DEFAULT_FIRST_RESPONSE
        case.resolution_due_at = None
        return
    calendar = calendar_for(case)
    case.first_response_due_at = add_business_time(
        start, dt.timedelta(minutes=policy.first_response_minutes), calendar
    )
    case.resolution_due_at = (
        add_business_time(start, dt.timedelta(minutes=policy.resolution_minutes), calendar)
        if policy.resolution_minutes
        else None
    )
