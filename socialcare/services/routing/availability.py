"""Agent status (online, away, offline), activity, and who is on duty in a team."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from socialcare.conf import app_settings
from socialcare.exceptions import SocialCareError
from socialcare.models import AgentStatus, Team, TeamMembership

Status = AgentStatus.Status
#: An activity is written at most this often per agent (one UPDATE, skipped when recent).
ACTIVITY_GRANULARITY = dt.timedelta(seconds=60)


def status_of(user: Any) -> AgentStatus:
    """The agent's status row (unsaved and offline when they never set one)."""
    found = AgentStatus.objects.filter(user=user).first()
    return found or AgentStatus(user=user, status=Status.OFFLINE)


def set_status(user: Any, status: str, *, actor: Any = None) -> AgentStatus:
    """Set ``user``'s status. Going online hands them waiting cases of their teams (after the
    commit). Raises ``SocialCareError`` for an unknown status or an inactive user."""
    if status not in Status.values:
        allowed = ", ".join(Status.values)
        raise SocialCareError(f"Unknown status {status!r}: use one of {allowed}.")
    if not user.is_active:
        raise SocialCareError("An inactive user cannot be online.")
    now = timezone.now()
    with transaction.atomic():
        row, created = AgentStatus.objects.select_for_update().get_or_create(
            user=user, defaults={"status": status, "changed_at": now, "last_activity_at": now}
        )
        if not created:
            if row.status != status:
                row.status = status
                row.changed_at = now
            row.last_activity_at = now
            row.changed_by_system = ""
            row.save()
        if status == Status.ONLINE:
            team_ids = list(
                TeamMembership.objects.filter(user=user, team__auto_assign=True).values_list(
                    "team_id", flat=True
                )
            )
            transaction.on_commit(lambda: _drain(team_ids), robust=True)
    return row


def _drain(team_ids: list[int]) -> None:
    from socialcare.services.routing.assign import drain_team

    for team in Team.objects.filter(pk__in=team_ids):
        drain_team(team)


def record_activity(user: Any, *, at: dt.datetime | None = None) -> None:
    """Note that ``user`` did something (an admin page, an API call, a presence ping): keeps
    an online agent from going offline for inactivity. Cheap: at most one UPDATE a minute."""
    if not getattr(user, "is_authenticated", False):
        return
    at = at or timezone.now()
    AgentStatus.objects.filter(user=user, last_activity_at__lt=at - ACTIVITY_GRANULARITY).update(
        last_activity_at=at
    )


def go_offline_when_idle(now: dt.datetime | None = None) -> int:
    """Set agents with no activity for ``AGENT_IDLE_TIMEOUT`` offline; returns how many."""
    now = now or timezone.now()
    cutoff = now - app_settings.AGENT_IDLE_TIMEOUT
    return AgentStatus.objects.filter(
        status__in=[Status.ONLINE, Status.AWAY], last_activity_at__lt=cutoff
    ).update(status=Status.OFFLINE, changed_at=now, changed_by_system="inactivity")


def on_duty(team: Team, at: dt.datetime | None = None) -> list[Any]:
    """The members of ``team`` on duty at ``at`` (default now): active users, marked on duty in
    the team, online, and active within ``AGENT_IDLE_TIMEOUT`` of ``at``. Ordered by id.
    Business hours are not looked at: an online agent outside them is working."""
    at = at or timezone.now()
    cutoff = at - app_settings.AGENT_IDLE_TIMEOUT
    return list(
        get_user_model()
        .objects.filter(
            is_active=True,
            socialcare_memberships__team=team,
            socialcare_memberships__on_duty=True,
            socialcare_status__status=Status.ONLINE,
            socialcare_status__last_activity_at__gte=cutoff,
        )
        .order_by("pk")
    )


def team_has_someone_on_duty(team: Team, at: dt.datetime | None = None) -> bool:
    """Whether ``on_duty(team, at)`` is not empty."""
    return bool(on_duty(team, at))
