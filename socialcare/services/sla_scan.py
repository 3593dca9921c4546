"""The SLA scan: every minute, cases whose response or resolution is due soon or overdue get one
warning and one breach alert per due time (never twice), a timeline event, a notification to
their assignee and team, and optionally a higher priority.

Each (target, level) is one query over an index (status, due time), however many cases are open.
A breach query would still read the whole backlog of cases already breached (and alerted) on
every run, so the scan keeps a mark (``SLAScanMark``): how far the last scan got. The next one
looks only at cases that fell due since (due after the mark's ``scanned_until``) or changed since
(``updated_at`` after the mark's ``started_at``: a due time moved back into the past, a case
reopened), each with a ``MARGIN`` for transactions that committed late and clocks that differ
between servers. Without a mark, when time went backwards, and every ``FULL_SCAN_EVERY``, a scan
reads every case (which also catches what changed without touching ``updated_at``, e.g. a raw
SQL update or a deleted alert).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from socialcare import signals
from socialcare.conf import app_settings
from socialcare.models import Case, CaseEvent, SLAAlert
from socialcare.models.case import SLAScanMark
from socialcare.services import cases as case_services
from socialcare.services.events import record_event
from socialcare.services.notifications import case_recipients, notify
from socialcare.services.sla import DUE_FIELDS

logger = logging.getLogger("socialcare.sla")

Target = SLAAlert.Target
Level = SLAAlert.Level

#: target -> (due field, condition that the target is still running)
TARGETS: dict[str, tuple[str, Q]] = {
    Target.FIRST_RESPONSE: ("first_response_due_at", Q(first_responded_at__isnull=True)),
    Target.NEXT_RESPONSE: ("next_response_due_at", Q()),
    Target.RESOLUTION: ("resolution_due_at", Q()),
}

#: Clocks run only in these statuses (waiting on the customer pauses them).
RUNNING = (Case.Status.NEW, Case.Status.OPEN)


#: How far before the mark a scan still looks (late commits, clock differences).
MARGIN = dt.timedelta(minutes=10)
#: A scan of every case at least this often.
FULL_SCAN_EVERY = dt.timedelta(hours=1)
MARK = "sla"


@dataclass(frozen=True)
class Since:
    """Only cases due after ``due`` or changed after ``changed`` (None: every case)."""

    due: dt.datetime
    changed: dt.datetime


@dataclass
class ScanResult:
    warnings: list[SLAAlert] = field(default_factory=list)
    breaches: list[SLAAlert] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{len(self.warnings)} due soon, {len(self.breaches)} breached"


def due_cases(target: str, level: str, now: dt.datetime, since: Since | None = None):
    """Cases whose ``target`` reached ``level`` and have no alert for that due time yet; with
    ``since``, among those due or changed after it (see the module docstring)."""
    due_field, running = TARGETS[target]
    if level == Level.WARNING:
        # Only targets still ahead: an overdue one gets its breach instead (a warning query that
        # also matched overdue cases would return the whole backlog of breached cases each run).
        window = {
            f"{due_field}__gt": now,
            f"{due_field}__lte": now + app_settings.SLA_WARNING_WINDOW,
        }
    else:
        window = {f"{due_field}__lte": now}
    already = SLAAlert.objects.filter(
        case=OuterRef("pk"), target=target, level=level, due_at=OuterRef(due_field)
    )
    recent = Q()
    if since is not None and level == Level.BREACH:
        # The warning window is already bounded (now .. now + window).
        recent = Q(**{f"{due_field}__gt": since.due}) | Q(updated_at__gte=since.changed)
    return (
        Case.objects.filter(running, recent, status__in=RUNNING, **window)
        .exclude(Exists(already))
        .select_related("assignee", "team")
        .order_by(due_field, "pk")
    )


def scan(now: dt.datetime | None = None) -> ScanResult:
    """Find new warnings and breaches and act on each once."""
    started = timezone.now()
    now = now or started
    mark = SLAScanMark.objects.filter(pk=MARK).first()
    since = _since(mark, now, started)
    result = ScanResult()
    for target in TARGETS:
        for level in (Level.BREACH, Level.WARNING):
            for case in due_cases(target, level, now, since):
                due = getattr(case, TARGETS[target][0])
                alert = _alert(case, target, level, due, now)
                if alert is not None:
                    (result.breaches if level == Level.BREACH else result.warnings).append(alert)
    # Written only once every case found was handled: a scan that failed half-way leaves the
    # mark where it was, and the next one looks again.
    full_scan_at = started if since is None else mark.full_scan_at
    SLAScanMark.objects.bulk_create(
        [SLAScanMark(name=MARK, scanned_until=now, started_at=started, full_scan_at=full_scan_at)],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["scanned_until", "started_at", "full_scan_at"],
    )
    if result.breaches or result.warnings:
        logger.info("SLA scan: %s", result)
    return result


def _since(mark: SLAScanMark | None, now: dt.datetime, started: dt.datetime) -> Since | None:
    """What this scan may skip, given the last scan's mark; None: look at every case."""
    if mark is None:
        return None
    if mark.scanned_until > now or mark.started_at > started:
        return None  # time went backwards (a scan of the past, a clock set back)
    if started - mark.full_scan_at >= FULL_SCAN_EVERY or mark.full_scan_at > started:
        return None
    return Since(due=mark.scanned_until - MARGIN, changed=mark.started_at - MARGIN)


def _alert(
    case: Case, target: str, level: str, due: dt.datetime, now: dt.datetime
) -> SLAAlert | None:
    try:
        with transaction.atomic():
            alert = SLAAlert.objects.create(
                case=case, target=target, level=level, due_at=due, created_at=now
            )
            label = Target(target).label.lower()
            if level == Level.BREACH:
                record_event(
                    case,
                    CaseEvent.Kind.SLA_BREACHED,
                    at=now,
                    target=target,
                    due_at=due.isoformat(),
                    text=f"{Target(target).label} target missed (was due {due:%Y-%m-%d %H:%M} UTC).",
                )
                bump = app_settings.SLA_BREACH_PRIORITY
                if bump:
                    _raise_keeping_due_times(case, bump, reason=f"{label} SLA breached")
            else:
                record_event(
                    case,
                    CaseEvent.Kind.ESCALATED,
                    at=now,
                    target=target,
                    due_at=due.isoformat(),
                    text=f"{Target(target).label} due soon ({due:%H:%M} UTC).",
                )
    except IntegrityError:
        return None  # another scan got there first: notified once
    verb = "breached" if level == Level.BREACH else "is due soon"
    notify(
        case_recipients(case),
        f"[{case.reference}] {Target(target).label} {verb}",
        f"Case {case.reference} ({case.subject}): the {label} target {verb}.\n"
        f"Due: {due:%Y-%m-%d %H:%M} UTC. Priority: {case.get_priority_display()}.",
    )
    transaction.on_commit(lambda: signals.sla_alert.send(SLAAlert, alert=alert, case=case))
    return alert


def _raise_keeping_due_times(case: Case, priority: str, *, reason: str) -> None:
    """Raise the priority of a breached case without moving its targets: a priority change
    re-computes running due times from the opening (a stricter policy, or the time spent paused
    forgotten), which would turn this one breach into a fresh one on the next scan."""
    locked = Case.objects.select_for_update().get(pk=case.pk)
    due_times = {name: getattr(locked, name) for name in DUE_FIELDS}
    case_services.raise_priority(case, priority, reason=reason)
    if any(getattr(case, name) != value for name, value in due_times.items()):
        Case.objects.filter(pk=case.pk).update(**due_times)
        for name, value in due_times.items():
            setattr(case, name, value)
