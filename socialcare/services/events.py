"""Appending to a case's timeline."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from socialcare.models import Case, CaseEvent, Post


def record_event(
    case: Case,
    kind: str,
    *,
    actor: Any = None,
    post: Post | None = None,
    at: Any = None,
    **data: Any,
) -> CaseEvent:
    """Append one event to ``case``'s timeline. ``data`` must be JSON-serializable."""
    return CaseEvent.objects.create(
        case=case,
        kind=kind,
        actor=actor if getattr(actor, "pk", None) else None,
        post=post,
        at=at or timezone.now(),
        data=data,
    )


def user_label(user: Any) -> str:
    """How a user appears in event data: full name, else username; '' for nobody."""
    if user is None:
        return ""
    full = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return full or user.get_username()
