"""Auto-assignment: a case that needs an agent goes to the online member of its team with the
right skills and the most free capacity (ties rotate after ``Team.last_assigned``); when every
such member is full it waits in the team queue and is handed out, in triage order, as capacity
frees.

Everything that hands out a team's cases runs under a lock on the team's row (as
``assignment.round_robin`` does), and counts loads after taking it: two workers draining one
team take turns, so nobody is ever given more than their capacity.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from socialcare.conf import app_settings
from socialcare.models import AgentStatus, AssignmentWait, Case, Post, Team, TeamMembership
from socialcare.services import cases as case_services
from socialcare.services.routing.queue import needs_agent, unqueued_cases, waiting_cases

Outcome = AssignmentWait.Outcome


@dataclass
class Seat:
    """One on-duty member's room in a team."""

    membership: TeamMembership
    load: int

    @property
    def free(self) -> int:
        return self.membership.capacity - self.load


def seats(team: Team, now: dt.datetime | None = None) -> list[Seat]:
    """The team's members who can take cases now (active, on duty, online, recently active,
    capacity above zero) with their open cases of this team, ordered by user id."""
    now = now or timezone.now()
    members = list(
        TeamMembership.objects.filter(
            team=team,
            on_duty=True,
            capacity__gt=0,
            user__is_active=True,
            user__socialcare_status__status=AgentStatus.Status.ONLINE,
            user__socialcare_status__last_activity_at__gte=now - app_settings.AGENT_IDLE_TIMEOUT,
        )
        .select_related("user")
        .order_by("user_id")
    )
    loads = dict(
        Case.objects.open()
        .filter(team=team, assignee__in=[m.user_id for m in members])
        .values("assignee")
        .annotate(n=Count("pk"))
        .values_list("assignee", "n")
        .order_by()
    )
    return [Seat(m, loads.get(m.user_id, 0)) for m in members]


def _language() -> Subquery:
    """The language of the case's newest inbound post that has one."""
    return Subquery(
        Post.objects.filter(case=OuterRef("pk"), direction=Post.Direction.INBOUND)
        .exclude(language="")
        .order_by("-posted_at", "-pk")
        .values("language")[:1]
    )


def case_skills(case: Case) -> tuple[str, str]:
    """What a case asks of an agent: its language ("" when unknown) and its platform. Reads
    ``case.routing_language`` when the case was loaded by ``drain_team``."""
    if hasattr(case, "routing_language"):
        language = case.routing_language or ""
    else:
        language = Case.objects.filter(pk=case.pk).values_list(_language(), flat=True)[0] or ""
    platform = ""
    if case.channel_id:
        platform = case.channel.platform
    elif case.identity_id:
        platform = case.identity.platform
    return language.lower(), platform


def is_skilled(membership: TeamMembership, language: str, platform: str) -> bool:
    """An empty skill list means any; an unknown language matches every member; "pt" covers
    "pt-BR" both ways."""
    languages = {str(code).lower() for code in membership.languages or []}
    if languages and language:
        base = language.split("-")[0]
        if not ({language, base} & languages or any(c.split("-")[0] == base for c in languages)):
            return False
    platforms = {str(code).lower() for code in membership.platforms or []}
    return not (platforms and platform and platform.lower() not in platforms)


def pick(candidates: list[Seat], last_user_id: int | None) -> Seat | None:
    """The seat with the most free capacity; ties go to the first after ``last_user_id`` in
    the rotation (members by id)."""
    room = [s for s in candidates if s.free > 0]
    if not room:
        return None
    order = [s.membership.user_id for s in candidates]
    start = order.index(last_user_id) + 1 if last_user_id in order else 0
    place = {uid: (i - start) % len(order) for i, uid in enumerate(order)}
    return min(room, key=lambda s: (-s.free, place[s.membership.user_id]))


def lock_team(team: Team) -> Team:
    """Take the team's routing lock (its row, FOR NO KEY UPDATE: inserting a case or a wait of
    the team, which takes a KEY SHARE lock on it, does not wait for a drain)."""
    no_key = connection.features.has_select_for_no_key_update
    return Team.objects.select_for_update(no_key=no_key).get(pk=team.pk)


def _end(wait: AssignmentWait, outcome: str, now: dt.datetime, assignee: Any = None) -> None:
    wait.ended_at = now
    wait.outcome = outcome
    wait.assignee = assignee
    wait.save(update_fields=["ended_at", "outcome", "assignee"])


def enqueue(case: Case, team: Team, now: dt.datetime) -> AssignmentWait | None:
    """Open a wait for ``case`` in ``team``'s queue when it needs an agent and has none (call
    under the team lock)."""
    if not needs_agent(case, team):
        return None
    wait = AssignmentWait.objects.filter(case=case, ended_at__isnull=True).first()
    if wait is not None and wait.team_id != team.pk:
        _end(wait, Outcome.LEFT, now)
        wait = None
    return wait or AssignmentWait.objects.create(case=case, team=team, queued_at=now)


@transaction.atomic
def drain_team(team: Team, *, case_id: int | None = None, reopened: bool = False) -> list[Case]:
    """Hand out ``team``'s queue in triage order to skilled members with room, after queueing
    ``case_id`` when it needs an agent. ``reopened``: that case was just reopened; it stays with
    its assignee when they are on duty and online, else it goes back to the queue.
    Returns the cases assigned. Does nothing for a team without auto-assignment."""
    team = lock_team(team)
    now = timezone.now()
    if not team.auto_assign:
        return []
    free = seats(team, now)
    if case_id is not None:
        case = Case.objects.filter(pk=case_id, team=team).first()
        if case is not None:
            on_duty = {s.membership.user_id for s in free}
            if reopened and case.assignee_id and case.is_open and case.assignee_id not in on_duty:
                case = case_services.assign_case(case, None, actor=None)
            enqueue(case, team, now)
    waits = {w.case_id: w for w in AssignmentWait.objects.filter(team=team, ended_at__isnull=True)}
    queue = waiting_cases(team).select_related("channel", "identity")
    queue = list(queue.annotate(routing_language=_language())) if waits else []
    assigned: list[Case] = []
    last = team.last_assigned_id
    no_key = connection.features.has_select_for_no_key_update
    for queued in queue:
        wait = waits.get(queued.pk)
        if wait is None:
            continue  # queued after the waits were read: the next drain sees it
        seat = None
        if needs_agent(queued, team):
            if not any(s.free > 0 for s in free):
                continue  # everyone is full: it waits (the loop goes on to end stale waits)
            language, platform = case_skills(queued)
            skilled = [s for s in free if is_skilled(s.membership, language, platform)]
            seat = pick(skilled, last)
            if seat is None:
                continue  # nobody with its skills has room: later cases may still fit others
        with transaction.atomic():
            # The case's own lock: a human may be assigning or closing it at this moment.
            case = Case.objects.select_for_update(no_key=no_key).get(pk=queued.pk)
            if not needs_agent(case, team):
                taken = case.assignee if case.assignee_id else None
                _end(wait, Outcome.TAKEN if taken else Outcome.LEFT, now, taken)
                continue
            if seat is None:
                continue  # it needs an agent again since it was read: the next drain
            user = seat.membership.user
            case_services.assign_case(case, user, actor=None)
            _end(wait, Outcome.ASSIGNED, timezone.now(), user)
            seat.load += 1
            last = user.pk
            assigned.append(case)
    if last != team.last_assigned_id:
        Team.objects.filter(pk=team.pk).update(last_assigned=last)
    return assigned


def teams_to_route(team_ids: Iterable[int | None], case_ids: Iterable[int]) -> QuerySet[Team]:
    """The teams that have work when these cases changed: those of ``team_ids`` that
    auto-assign, and those in whose queue one of the cases waits."""
    return Team.objects.filter(
        Q(pk__in=[t for t in team_ids if t], auto_assign=True)
        | Q(assignment_waits__case_id__in=list(case_ids), assignment_waits__ended_at__isnull=True)
    )


def after_case_change(
    case_id: int,
    *,
    team_ids: tuple[int | None, ...] = (),
    reopened: bool = False,
    drain: bool = True,
) -> None:
    """Called (after the commit) by ``services.cases`` when a case was opened, reopened,
    assigned, moved or changed status: queue or assign it, end its wait when it no longer
    needs one, and hand out the capacity it freed, in ``team_ids`` (its teams before and after)
    and wherever it waits. ``drain=False``: it was given to an agent, which frees nothing; only
    its wait ends. One query when no team of it auto-assigns."""
    now = timezone.now()
    open_waits = AssignmentWait.objects.filter(case_id=case_id, ended_at__isnull=True)
    if not drain:
        taker = Case.objects.filter(pk=case_id).values("assignee")[:1]
        open_waits.update(ended_at=now, outcome=Outcome.TAKEN, assignee=Subquery(taker))
        return
    for team in teams_to_route(team_ids, [case_id]).distinct().order_by("pk"):
        if team.auto_assign:
            drain_team(team, case_id=case_id, reopened=reopened)
        else:  # the team stopped auto-assigning: its queue is gone
            open_waits.filter(team=team).update(ended_at=now, outcome=Outcome.LEFT)


def sync_team(team: Team) -> list[Case]:
    """Queue the team's cases that need an agent but are in no queue, then drain it."""
    assigned: list[Case] = []
    with transaction.atomic():
        locked = lock_team(team)
        now = timezone.now()
        for case in unqueued_cases(locked)[:500]:
            enqueue(case, locked, now)
    assigned += drain_team(team)
    return assigned
