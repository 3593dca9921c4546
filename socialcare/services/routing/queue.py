"""The team queue: cases waiting for an agent, in the inbox's triage order (a reply due soonest
first, the most overdue at the top; then newest first), and what waits too long."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Exists, F, OuterRef, Q, QuerySet, When
from django.utils import timezone

from socialcare.models import AssignmentWait, Case, Team
from socialcare.services.notifications import notify, team_addresses
from socialcare.services.roles import SUPERVISOR

#: Statuses in which an unassigned case needs an agent (waiting on the customer does not).
NEEDS_AGENT = (Case.Status.NEW, Case.Status.OPEN)


def response_due(prefix: str = "") -> models.Case:
    """When a waiting case's next answer is due (``prefix``: the path to the case, e.g.
    ``"case__"``). The inbox's sort key (admin/cases.py), said again: services do not import
    the admin."""
    return models.Case(
        When(
            **{f"{prefix}first_responded_at__isnull": True},
            then=F(f"{prefix}first_response_due_at"),
        ),
        default=F(f"{prefix}next_response_due_at"),
        output_field=models.DateTimeField(),
    )


def in_triage_order(cases: QuerySet[Case]) -> QuerySet[Case]:
    """``cases`` ordered as the inbox triages open cases."""
    return cases.annotate(queue_due=response_due()).order_by(
        F("queue_due").asc(nulls_last=True), F("created_at").desc(), F("pk").desc()
    )


def waiting_filter() -> Q:
    """Cases with an open wait: in a team queue."""
    return Q(Exists(AssignmentWait.objects.filter(case=OuterRef("pk"), ended_at__isnull=True)))


def waiting_cases(team: Team | None = None) -> QuerySet[Case]:
    """Cases waiting for an agent (of ``team``, or of every team), in triage order."""
    waits = AssignmentWait.objects.filter(case=OuterRef("pk"), ended_at__isnull=True)
    if team is not None:
        waits = waits.filter(team=team)
    return in_triage_order(Case.objects.filter(Exists(waits)))


def needs_agent(case: Case, team: Team) -> bool:
    """Whether ``case`` belongs in ``team``'s queue: the team auto-assigns, the case is its,
    new or open, unassigned, not merged, not history."""
    return bool(
        team.auto_assign
        and case.team_id == team.pk
        and case.status in NEEDS_AGENT
        and case.assignee_id is None
        and case.merged_into_id is None
        and not case.from_history
    )


def unqueued_cases(team: Team) -> QuerySet[Case]:
    """Cases of ``team`` that need an agent and have no open wait (missed by a hook: a worker
    that died after its commit, a team that just turned auto-assignment on)."""
    return Case.objects.filter(
        team=team,
        status__in=NEEDS_AGENT,
        assignee__isnull=True,
        merged_into__isnull=True,
        from_history=False,
    ).exclude(waiting_filter())


def supervisors_of(team: Team) -> list[str]:
    """Who hears that a case waits too long: the supervisors among the team's members, else
    every supervisor; and the team's own address."""
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    supervisors = users.filter(Q(groups__name=SUPERVISOR) | Q(is_superuser=True)).distinct()
    mine = supervisors.filter(socialcare_memberships__team=team)
    addresses = list((mine if mine.exists() else supervisors).values_list("email", flat=True))
    if team.email:
        addresses.append(team.email)
    return sorted(set(addresses)) or team_addresses(team)


def notify_long_waits(now: dt.datetime | None = None) -> int:
    """Email the supervisors once about each case waiting longer than its team's limit; returns
    how many waits were reported. The mark is set first (one conditional UPDATE), so two scans
    never report one wait twice."""
    now = now or timezone.now()
    overdue = AssignmentWait.objects.filter(
        ended_at__isnull=True,
        notified_at__isnull=True,
        team__queue_wait_limit__isnull=False,
    ).select_related("team", "case")
    reported = 0
    for wait in overdue:
        if wait.queued_at + wait.team.queue_wait_limit > now:
            continue
        marked = AssignmentWait.objects.filter(pk=wait.pk, notified_at__isnull=True).update(
            notified_at=now
        )
        if not marked:
            continue
        reported += 1
        minutes = int((now - wait.queued_at).total_seconds() // 60)
        notify(
            supervisors_of(wait.team),
            f"{wait.case.reference} has waited {minutes} min for an agent in {wait.team}",
            f"Case {wait.case.reference} ({wait.case.subject or 'no subject'}) has been in the "
            f"queue of team {wait.team} for {minutes} minutes: every online agent with the "
            "right skills is at capacity, or nobody is online.\n",
        )
    return reported


def queue_figures(cases: QuerySet[Case], start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """For the dashboard, over the cases ``cases`` (already limited to what the reader sees):
    how many wait now, and the median / longest minutes from queue to agent of the automatic
    assignments made in [start, end)."""
    rows = AssignmentWait.objects.filter(
        Q(ended_at__isnull=True)
        | Q(outcome=AssignmentWait.Outcome.ASSIGNED, ended_at__gte=start, ended_at__lt=end),
        case__in=cases,
    ).values_list("queued_at", "ended_at")
    waiting = 0
    spans = []
    for queued, ended in rows.iterator(chunk_size=2000):  # one query
        if ended is None:
            waiting += 1
        else:
            spans.append(max(0.0, (ended - queued).total_seconds() / 60))
    spans.sort()
    median = None
    if spans:
        mid = len(spans) // 2
        median = spans[mid] if len(spans) % 2 else (spans[mid - 1] + spans[mid]) / 2
    return {
        "queue_length": waiting,
        "assigned": len(spans),
        "time_to_assign_p50": None if median is None else round(median, 1),
        "time_to_assign_max": round(spans[-1], 1) if spans else None,
    }
