"""CSAT figures for the dashboard: answers per day, team and platform over the dashboard's range
(one small aggregate query, whatever the data size). "Satisfied" is the usual CSAT measure:
the share of answers that are 4 or 5."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from socialcare.conf import app_settings
from socialcare.models import Survey

SATISFIED = Q(score__gte=4)


@dataclass
class CsatRow:
    label: str
    answered: int
    average: float | None
    satisfied: float | None  # % of answers 4 or 5


@dataclass
class CsatSummary:
    sent: int = 0
    answered: int = 0
    average: float | None = None
    satisfied: float | None = None
    response_rate: float | None = None
    #: per day of the range (aligned with the dashboard's days)
    days: list[CsatRow] = field(default_factory=list)
    teams: list[CsatRow] = field(default_factory=list)
    platforms: list[CsatRow] = field(default_factory=list)


def _row(label: str, figures: list[int]) -> CsatRow:
    n, total, happy = figures
    return CsatRow(
        label=label,
        answered=n,
        average=round(total / n, 1) if n else None,
        satisfied=round(100 * happy / n, 1) if n else None,
    )


def csat_summary(
    cases: QuerySet,
    dates: list[dt.date],
    start: dt.datetime,
    end: dt.datetime,
    tz: dt.tzinfo,
) -> CsatSummary:
    """The CSAT of the surveys of ``cases`` (already limited to what the reader may see, and to
    the dashboard's team and platform): sent, and answered, between ``start`` and ``end``. One
    ``GROUP BY`` (answer day, team, platform) query; the rows are few (days x teams x platforms)
    and summed here."""
    answered = Q(answered_at__gte=start, answered_at__lt=end, score__isnull=False)
    rows = (
        Survey.objects.filter(case__in=cases.values("pk"))
        .filter(Q(sent_at__gte=start, sent_at__lt=end) | answered)
        .annotate(day=TruncDate("answered_at", tzinfo=tz))
        .values("day", "case__team__name", "platform")
        .annotate(
            n=Count("pk", filter=answered),
            total=Sum("score", filter=answered),
            happy=Count("pk", filter=answered & SATISFIED),
            sent=Count("pk", filter=Q(sent_at__gte=start, sent_at__lt=end)),
        )
        .order_by()
    )
    zero = lambda: [0, 0, 0]  # noqa: E731
    by_day: dict[Any, list[int]] = defaultdict(zero)
    by_team: dict[str, list[int]] = defaultdict(zero)
    by_platform: dict[str, list[int]] = defaultdict(zero)
    overall, sent = [0, 0, 0], 0
    for row in rows:
        sent += row["sent"]
        if not row["n"]:
            continue
        figures = (row["n"], row["total"] or 0, row["happy"])
        for bucket in (
            by_day[row["day"]],
            by_team[row["case__team__name"] or "No team"],
            by_platform[row["platform"]],
            overall,
        ):
            for i, value in enumerate(figures):
                bucket[i] += value
    labels = app_settings.platform_labels()
    total = _row("All", overall)
    return CsatSummary(
        sent=sent,
        answered=total.answered,
        average=total.average,
        satisfied=total.satisfied,
        response_rate=round(100 * min(total.answered, sent) / sent, 1) if sent else None,
        days=[_row(day.isoformat(), by_day.get(day, [0, 0, 0])) for day in dates],
        teams=[
            _row(name, by_team[name])
            for name in sorted(by_team, key=lambda t: (-by_team[t][0], t == "No team", t))
        ],
        platforms=[
            _row(str(labels.get(key, key)), by_platform[key])
            for key in sorted(by_platform, key=lambda p: (-by_platform[p][0], p))
        ],
    )
