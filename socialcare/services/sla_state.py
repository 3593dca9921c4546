"""A case's first-response SLA state (ok / due soon / breached / met / missed): one rule for the
admin inbox, the API and the dashboard."""

from __future__ import annotations

import datetime as dt

from django.db.models import F, Q
from django.utils import timezone

from socialcare.conf import app_settings
from socialcare.models import Case

SLA_STATES = [
    ("ok", "Awaiting a first response, due later than the warning window (or no due time)"),
    ("due_soon", "Awaiting a first response due within the warning window (SLA_WARNING_WINDOW)"),
    ("breached", "First response overdue and not given yet"),
    ("met", "First response given on time"),
    ("missed", "First response given, but after it was due"),
]


def due_soon_window() -> dt.timedelta:
    """How close a due time counts as "due soon": ``SLA_WARNING_WINDOW`` (15 minutes)."""
    return app_settings.SLA_WARNING_WINDOW


def sla_state(case: Case, now: dt.datetime | None = None) -> str | None:
    """The first-response SLA state of ``case`` (one of ``SLA_STATES``); None for a case that
    ended without a response, or one from history (no SLA clock runs: ``services.history``)."""
    if case.from_history:
        return None
    due, responded = case.first_response_due_at, case.first_responded_at
    if responded is not None:
        return "met" if due is None or responded <= due else "missed"
    if not case.is_open:
        return None
    now = now or timezone.now()
    if due is None or due >= now + due_soon_window():
        return "ok"
    return "due_soon" if due >= now else "breached"


def sla_state_filter(state: str, now: dt.datetime | None = None) -> Q:
    """The Q selecting cases whose ``sla_state()`` is ``state``."""
    now = now or timezone.now()
    soon = now + due_soon_window()
    awaiting = Q(status__in=Case.OPEN_STATUSES, first_responded_at__isnull=True, from_history=False)
    responded = Q(first_responded_at__isnull=False, from_history=False)
    return {
        "ok": awaiting
        & (Q(first_response_due_at__isnull=True) | Q(first_response_due_at__gte=soon)),
        "due_soon": awaiting & Q(first_response_due_at__gte=now, first_response_due_at__lt=soon),
        "breached": awaiting & Q(first_response_due_at__lt=now),
        "met": responded
        & (
            Q(first_response_due_at__isnull=True)
            | Q(first_responded_at__lte=F("first_response_due_at"))
        ),
        "missed": responded & Q(first_responded_at__gt=F("first_response_due_at")),
    }[state]
