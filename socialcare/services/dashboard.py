"""The support dashboard's numbers: a fixed, small number of aggregate queries whatever the data
size, grouped by day in the current time zone over a bounded range of days.

- Volume and sentiment: one ``GROUP BY day, platform`` over inbound posts in the range.
- First-response times and SLA compliance: one query over the cases created in the range that
  have a first response (two datetimes and a due time each); percentiles are computed in Python
  over that bounded window (linear interpolation, as PostgreSQL's ``percentile_cont``), so SQLite
  and PostgreSQL give the same numbers.
- Breached now, open cases by team, active incidents: small ``COUNT`` / ``GROUP BY`` queries.

Everything counts only what ``user`` may see (``services.access``); the active incidents are
listed with the titles ``user`` reads (``Viewer.incident_title``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Avg, Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from socialcare.conf import app_settings
from socialcare.models import Case, Incident, Post, Team
from socialcare.services.access import Viewer, case_filter, visible_posts
from socialcare.services.csat.stats import csat_summary
from socialcare.services.routing.queue import queue_figures
from socialcare.services.sla_state import sla_state_filter

RANGE_CHOICES = (7, 14, 30)
DEFAULT_DAYS = 14
#: A post with sentiment below this counts as negative (the detectors' default).
NEGATIVE_BELOW = -0.3
ACTIVE_INCIDENTS_SHOWN = 20


@dataclass
class Dashboard:
    days: list[dt.date]
    platforms: list[str]
    #: platform -> inbound posts per day (aligned with ``days``)
    volume: dict[str, list[int]]
    #: per day: p50 / p90 of first-response minutes (None: no responded case that day)
    p50: list[float | None]
    p90: list[float | None]
    responded: list[int]
    met: list[int]
    target_minutes: float
    #: per day: % of responded cases whose first response met its due time (None: none)
    compliance: list[float | None]
    breached_open: int
    avg_sentiment: list[float | None]
    negative_share: list[float | None]
    open_by_team: list[tuple[str, int]]
    active_incidents: list[Incident]
    active_incident_count: int
    incidents_opened: list[int]
    totals: dict[str, Any] = field(default_factory=dict)
    #: CSAT answers per day, team and platform (``services.csat.stats``)
    csat: Any = None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-quantile (0..1) with linear interpolation between ranks (``percentile_cont``)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def day_range(
    days: int, now: dt.datetime | None = None
) -> tuple[list[dt.date], dt.datetime, dt.datetime]:
    """The last ``days`` local dates up to today, and the aware [start, end) instants around them."""
    tz = timezone.get_current_timezone()
    today = timezone.localtime(now or timezone.now(), tz).date()
    dates = [today - dt.timedelta(days=days - 1 - i) for i in range(days)]
    start = dt.datetime.combine(dates[0], dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(today + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return dates, start, end


def first_response_target_minutes() -> float:
    """The default first-response target (``DEFAULT_FIRST_RESPONSE``), drawn as the target line."""
    return app_settings.DEFAULT_FIRST_RESPONSE.total_seconds() / 60


def build_dashboard(
    user: Any,
    *,
    days: int = DEFAULT_DAYS,
    team: Team | None = None,
    platform: str = "",
    now: dt.datetime | None = None,
) -> Dashboard:
    """Every figure of the dashboard for ``user`` over the last ``days`` days, optionally for one
    team and one platform."""
    now = now or timezone.now()
    tz = timezone.get_current_timezone()
    dates, start, end = day_range(days, now)
    index = {d: i for i, d in enumerate(dates)}

    cases = Case.objects.filter(case_filter(user), merged_into__isnull=True)
    posts = visible_posts(user, Post.objects.inbound().visible())
    if team is not None:
        cases = cases.filter(team=team)
        posts = posts.filter(case__team=team)
    if platform:
        cases = cases.filter(channel__platform=platform)
        posts = posts.filter(platform=platform)

    # Volume and sentiment: one GROUP BY (day, platform).
    volume: dict[str, list[int]] = defaultdict(lambda: [0] * len(dates))
    scored = [0] * len(dates)
    negative = [0] * len(dates)
    sentiment_sum = [0.0] * len(dates)
    rows = (
        posts.filter(posted_at__gte=start, posted_at__lt=end)
        .annotate(day=TruncDate("posted_at", tzinfo=tz))
        .values("day", "platform")
        .annotate(
            n=Count("pk"),
            scored=Count("sentiment"),
            negative=Count("pk", filter=Q(sentiment__lt=NEGATIVE_BELOW)),
            avg=Avg("sentiment"),
        )
        .order_by()
    )
    for row in rows:
        i = index.get(row["day"])
        if i is None:
            continue
        volume[row["platform"]][i] += row["n"]
        scored[i] += row["scored"]
        negative[i] += row["negative"]
        sentiment_sum[i] += (row["avg"] or 0.0) * row["scored"]
    platforms = sorted(volume, key=lambda p: (-sum(volume[p]), p))

    # First-response times and compliance: the responded cases created in the range.
    minutes: list[list[float]] = [[] for _ in dates]
    met = [0] * len(dates)
    responded_rows = (
        cases.filter(created_at__gte=start, created_at__lt=end, first_responded_at__isnull=False)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values_list("day", "created_at", "first_responded_at", "first_response_due_at")
        .order_by()
    )
    for day, created, responded_at, due in responded_rows.iterator(chunk_size=2000):
        i = index.get(day)
        if i is None:
            continue
        minutes[i].append(max(0.0, (responded_at - created).total_seconds() / 60))
        if due is None or responded_at <= due:
            met[i] += 1
    responded = [len(m) for m in minutes]
    compliance = [
        round(100 * met[i] / responded[i], 1) if responded[i] else None for i in range(len(dates))
    ]
    breached_open = cases.filter(sla_state_filter("breached", now)).count()

    open_rows = (
        cases.filter(status__in=Case.OPEN_STATUSES)
        .values("team__name")
        .annotate(n=Count("pk"))
        .order_by()
    )
    # Sorted here: databases disagree on where NULL (no team) sorts.
    open_rows = sorted(
        open_rows, key=lambda r: (-r["n"], r["team__name"] is None, r["team__name"] or "")
    )
    open_by_team = [(row["team__name"] or "No team", row["n"]) for row in open_rows]

    active = Incident.objects.exclude(status=Incident.Status.RESOLVED)
    active_count = active.count()
    shown = list(
        active.select_related("playbook").order_by("-opened_at", "-pk")[:ACTIVE_INCIDENTS_SHOWN]
    )
    linked = dict(
        cases.filter(incident__in=[i.pk for i in shown])
        .values("incident")
        .annotate(n=Count("pk"))
        .values_list("incident", "n")
        .order_by()
    )
    # Titles as this user reads them: one escalated from another team's case does not name it.
    viewer = Viewer(user)
    for incident in viewer.prepare_incidents(shown):
        incident.visible_cases = linked.get(incident.pk, 0)
        incident.shown_title = viewer.incident_titles[incident.pk]
    opened = [0] * len(dates)
    opened_rows = (
        Incident.objects.filter(opened_at__gte=start, opened_at__lt=end)
        .annotate(day=TruncDate("opened_at", tzinfo=tz))
        .values("day")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in opened_rows:
        if row["day"] in index:
            opened[index[row["day"]]] = row["n"]

    all_minutes = [m for day in minutes for m in day]
    return Dashboard(
        days=dates,
        platforms=platforms,
        volume={p: volume[p] for p in platforms},
        p50=[_round(percentile(m, 0.5)) for m in minutes],
        p90=[_round(percentile(m, 0.9)) for m in minutes],
        responded=responded,
        met=met,
        target_minutes=first_response_target_minutes(),
        compliance=compliance,
        breached_open=breached_open,
        avg_sentiment=[
            round(sentiment_sum[i] / scored[i], 2) if scored[i] else None for i in range(len(dates))
        ],
        negative_share=[
            round(100 * negative[i] / scored[i], 1) if scored[i] else None
            for i in range(len(dates))
        ],
        open_by_team=open_by_team,
        csat=csat_summary(cases, dates, start, end, tz),
        active_incidents=shown,
        active_incident_count=active_count,
        incidents_opened=opened,
        totals={
            "posts": sum(sum(v) for v in volume.values()),
            "responded": sum(responded),
            "met": sum(met),
            "compliance": round(100 * sum(met) / sum(responded), 1) if sum(responded) else None,
            "p50": _round(percentile(all_minutes, 0.5)),
            "p90": _round(percentile(all_minutes, 0.9)),
            "open": sum(n for _, n in open_by_team),
            # The team queue and time to assignment (services.routing).
            **queue_figures(cases, start, end),
        },
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
