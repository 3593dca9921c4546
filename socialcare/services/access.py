"""Who may see what: the team rule every front end (admin, API, exports) applies.

A user sees every case when they are a superuser or hold ``socialcare.view_all_cases``
(supervisors). Anyone else sees the cases of the teams they belong to, the cases assigned to them,
and cases no team owns yet (the triage pool).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q, QuerySet

from socialcare.models import Case, Post, TeamMembership


def sees_all_cases(user: Any) -> bool:
    return bool(
        user
        and user.is_active
        and (user.is_superuser or user.has_perm("socialcare.view_all_cases"))
    )


def case_filter(user: Any, prefix: str = "") -> Q:
    """A Q object selecting the cases ``user`` may see (``prefix``: the path to the case, e.g.
    ``"case__"`` for posts)."""
    if sees_all_cases(user):
        return Q()
    if not user or not user.is_authenticated:
        return Q(pk__in=[])
    # An uncorrelated IN (the user's teams) rather than a correlated EXISTS: PostgreSQL
    # estimates it far better on large case tables (no JIT compilation per inbox page).
    my_teams = TeamMembership.objects.filter(user=user).values("team")
    return (
        Q(**{f"{prefix}team__isnull": True})
        | Q(**{f"{prefix}assignee": user})
        | Q(**{f"{prefix}team__in": my_teams})
    )


def visible_cases(user: Any, queryset: QuerySet | None = None) -> QuerySet:
    queryset = Case.objects.all() if queryset is None else queryset
    return queryset.filter(case_filter(user))


def visible_posts(user: Any, queryset: QuerySet | None = None) -> QuerySet:
    """Posts of visible cases; posts on no case only for those who see every case."""
    queryset = Post.objects.all() if queryset is None else queryset
    if sees_all_cases(user):
        return queryset
    return queryset.filter(case__isnull=False).filter(case_filter(user, "case__"))


def can_see_case(user: Any, case: Case) -> bool:
    return visible_cases(user, Case.objects.filter(pk=case.pk)).exists()


def visible_references(user: Any, references: Iterable[str]) -> set[str]:
    """The case references among ``references`` that ``user`` may see (for texts that name
    cases, e.g. an incident's timeline, so another team's case is not even named)."""
    wanted = {str(r) for r in references if r}
    if not wanted or sees_all_cases(user):
        return wanted
    return set(
        visible_cases(user, Case.objects.filter(reference__in=wanted)).values_list(
            "reference", flat=True
        )
    )
