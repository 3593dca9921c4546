"""Who else has a case open, and who is typing a reply on it (docs/case-page.md, "Who else is
here").

The case page reports every ``PRESENCE_POLL_INTERVAL`` (and at once when the agent starts
typing) with :func:`heartbeat`, and shows :func:`others_on`. A report counts as "viewing" for
``PRESENCE_TIMEOUT`` and as "typing" for ``PRESENCE_TYPING_TIMEOUT``; leaving the page calls
:func:`leave`. Rows are ephemeral: a heartbeat prunes the ones nobody refreshed for a day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from socialcare.conf import app_settings
from socialcare.models import Case, CasePresence
from socialcare.services.routing.availability import record_activity

#: Rows nobody refreshed for this long are deleted by the next heartbeat on any case.
PRUNE_AFTER = dt.timedelta(days=1)


@dataclass(frozen=True)
class Presence:
    """Another agent on the case: who, and whether they are typing a reply now."""

    user_id: int
    name: str
    typing: bool
    viewing_at: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "user": self.user_id,
            "name": self.name,
            "typing": self.typing,
            "viewing_at": self.viewing_at.isoformat(),
        }


def agent_name(user: Any) -> str:
    """How the page names an agent: the full name, else the username."""
    if user is None:
        return "system"
    full = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return (full or "").strip() or user.get_username()


def heartbeat(
    case: Case | int, user: Any, *, typing: bool = False, now: dt.datetime | None = None
) -> None:
    """Record that ``user`` has ``case``'s page open now (and is typing a reply, if ``typing``).
    One row per (case, user): two tabs of one agent share it. Safe when two reports race. It is
    activity too: an agent with a case page open does not go offline for inactivity."""
    now = now or timezone.now()
    record_activity(user, at=now)
    case_id = case.pk if isinstance(case, Case) else case
    row = CasePresence(
        case_id=case_id, user=user, viewing_at=now, typing_at=now if typing else None
    )
    CasePresence.objects.bulk_create(
        [row],
        update_conflicts=True,
        unique_fields=["case", "user"],
        update_fields=["viewing_at", "typing_at"] if typing else ["viewing_at"],
    )
    CasePresence.objects.filter(viewing_at__lt=now - PRUNE_AFTER).delete()


def leave(case: Case | int, user: Any) -> None:
    """``user`` closed or left ``case``'s page: others stop seeing them at once."""
    case_id = case.pk if isinstance(case, Case) else case
    CasePresence.objects.filter(case_id=case_id, user=user).delete()


def stop_typing(case: Case | int, user: Any) -> None:
    """``user`` sent (or cleared) their reply: no longer typing, still viewing."""
    case_id = case.pk if isinstance(case, Case) else case
    CasePresence.objects.filter(case_id=case_id, user=user).update(typing_at=None)


def others_on(
    case: Case | int, user: Any = None, *, now: dt.datetime | None = None
) -> list[Presence]:
    """The agents other than ``user`` who have ``case``'s page open now, the typing ones first,
    then by name."""
    now = now or timezone.now()
    case_id = case.pk if isinstance(case, Case) else case
    viewing_since = now - app_settings.PRESENCE_TIMEOUT
    typing_since = now - app_settings.PRESENCE_TYPING_TIMEOUT
    rows = CasePresence.objects.filter(
        case_id=case_id, viewing_at__gte=viewing_since, user__is_active=True
    ).select_related("user")
    if user is not None and getattr(user, "pk", None) is not None:
        rows = rows.exclude(user_id=user.pk)
    found = [
        Presence(
            user_id=row.user_id,
            name=agent_name(row.user),
            typing=row.typing_at is not None and row.typing_at >= typing_since,
            viewing_at=row.viewing_at,
        )
        for row in rows
    ]
    return sorted(found, key=lambda p: (not p.typing, p.name.lower(), p.user_id))


def poll_interval_ms() -> int:
    """How often the case page reports and asks, in milliseconds."""
    return max(int(app_settings.PRESENCE_POLL_INTERVAL.total_seconds() * 1000), 1000)
