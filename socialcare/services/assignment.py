"""Assigning cases in bulk: to one agent, or round-robin among the members of a team on duty.

Each case goes through ``cases.assign_case`` (and ``cases.set_team``), so each one lands in its
timeline; a case that cannot be assigned is reported and the others continue.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, QuerySet

from socialcare.exceptions import SocialCareError
from socialcare.models import Case, Team, TeamMembership
from socialcare.services import cases as case_services
from socialcare.services.access import sees_all_cases
from socialcare.services.events import user_label


@dataclass
class BulkResult:
    """What a bulk change did: the cases it changed, and one reason per case it did not."""

    changed: list[Case] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def visible_teams(user: Any) -> QuerySet[Team]:
    """The teams ``user`` works with: every team for supervisors, else the user's own teams."""
    if sees_all_cases(user):
        return Team.objects.all()
    if not user or not user.is_authenticated:
        return Team.objects.none()
    return Team.objects.filter(memberships__user=user).distinct()


def assignable_users(user: Any) -> QuerySet:
    """Active members of the teams ``user`` works with: whom ``user`` may hand cases to."""
    member = TeamMembership.objects.filter(
        user=OuterRef("pk"), team__in=visible_teams(user).values("pk")
    )
    return get_user_model().objects.filter(Exists(member), is_active=True).order_by("pk")


def round_robin_teams(user: Any) -> QuerySet[Team]:
    """The teams ``user`` may round-robin cases to: those with an active member on duty."""
    on_duty = TeamMembership.objects.filter(team=OuterRef("pk"), on_duty=True, user__is_active=True)
    return visible_teams(user).filter(Exists(on_duty)).order_by("name")


def _merged(case: Case) -> str | None:
    if case.merged_into_id:
        return f"{case.reference} was merged into another case; work on that one."
    return None


def assign_cases(cases: Iterable[Case], assignee: Any, *, actor: Any) -> BulkResult:
    """Assign each case to ``assignee`` (each in its own transaction)."""
    result = BulkResult()
    for case in cases:
        reason = _merged(case)
        if reason is None and case.assignee_id == assignee.pk:
            reason = f"{case.reference} is already assigned to {user_label(assignee)}."
        if reason:
            result.skipped.append(reason)
            continue
        try:
            case_services.assign_case(case, assignee, actor=actor)
        except ValidationError as exc:
            result.skipped.append(f"{case.reference}: {' '.join(exc.messages)}")
        else:
            result.changed.append(case)
    return result


def _rotation(members: list[Any], last_pk: int | None) -> dict[int, int]:
    """Each member's place in the rotation: the member after ``last_pk`` comes first."""
    pks = [m.pk for m in members]
    start = pks.index(last_pk) + 1 if last_pk in pks else 0
    return {pk: (i - start) % len(pks) for i, pk in enumerate(pks)}


@transaction.atomic
def round_robin(cases: Iterable[Case], team: Team, *, actor: Any) -> BulkResult:
    """Share the cases among ``team``'s active members on duty, fairly: each case goes to the
    member with the fewest open cases, ties broken by rotating after the member who got the last
    one (``Team.last_assigned``). Cases move to ``team``. Merged and resolved/closed cases are
    skipped. Raises ``SocialCareError`` when nobody on the team is on duty.

    The team row is locked, so two round-robins on one team take turns instead of both picking
    the same "least loaded" member.
    """
    team = Team.objects.select_for_update().get(pk=team.pk)
    members = list(
        get_user_model()
        .objects.filter(
            socialcare_memberships__team=team,
            socialcare_memberships__on_duty=True,
            is_active=True,
        )
        .order_by("pk")
    )
    if not members:
        raise SocialCareError(f"Nobody on team {team} is on duty to take cases.")
    result = BulkResult()
    todo = []
    for case in sorted(cases, key=lambda c: c.pk):
        reason = _merged(case)
        if reason is None and not case.is_open:
            reason = f"{case.reference} is {case.get_status_display().lower()}; not assigned."
        if reason:
            result.skipped.append(reason)
        else:
            todo.append(case)
    # Workload = open cases already theirs, not counting the ones being shared out now.
    load = {m.pk: 0 for m in members}
    counted = (
        Case.objects.open()
        .filter(assignee__in=members)
        .exclude(pk__in=[c.pk for c in todo])
        .values("assignee")
        .annotate(n=Count("pk"))
    )
    for row in counted:
        load[row["assignee"]] = row["n"]
    by_pk = {m.pk: m for m in members}
    last = team.last_assigned_id
    for case in todo:
        place = _rotation(members, last)
        pick = min(load, key=lambda pk: (load[pk], place[pk]))
        try:
            with transaction.atomic():
                if case.team_id != team.pk:
                    case_services.set_team(case, team, actor=actor)
                case_services.assign_case(case, by_pk[pick], actor=actor)
        except ValidationError as exc:
            result.skipped.append(f"{case.reference}: {' '.join(exc.messages)}")
            continue
        load[pick] += 1
        last = pick
        result.changed.append(case)
    if last != team.last_assigned_id:
        team.last_assigned_id = last
        team.save(update_fields=["last_assigned"])
    return result
