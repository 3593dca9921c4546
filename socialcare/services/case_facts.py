"""What a case says about its conversation, whatever order its posts arrived in.

Platforms deliver out of order: a customer's follow-up before the post it answers, the brand's
own reply (made on the platform) before the complaint, a thread's root last. Ingest handles the
ordinary in-order case as posts come (``services.ingest``); whenever a post arrives *out of
order* (older than what the case already holds, or folding cases together), or the brand's own
post comes back from the platform, :func:`settle` recomputes the case's conversation facts from
its posts, so the case ends the same as one in-order pass would have made it:

- **opened** (``created_at``) at its earliest customer post, with that post's words as subject
  (unless an agent changed the subject), and the "Case opened" event at that time;
- **last customer post** (``last_inbound_at``): the latest customer post;
- **first response** (``first_responded_at``): the brand's earliest reply after the opening post
  (a reply that arrived before the post it answers counts once that post arrives); **last reply**
  (``last_outbound_at``) the latest; the brand's post a customer answered (before the opening)
  is no response;
- **SLA clock** (``sla_started_at``): the earliest *live* customer post (not older than the
  backfill horizon when first seen, ``services.history``); the first-response and resolution due
  times count from it, the next-response due time from the latest customer post the brand has not
  answered; a case with only posts from history has no clock;
- **alerts**: a breach alert whose premise is now false (the brand had answered in time; the due
  time it was raised for no longer holds) is withdrawn: the alert is removed, the timeline says
  so (``sla_withdrawn``) and a priority raised because of it goes back.

Times of other things (an agent's reply sent through socialcare, a hand-off by e-mail) are kept:
only what the posts say is recomputed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone

from socialcare.models import Case, CaseEvent, Post, SLAAlert
from socialcare.services import sla
from socialcare.services.events import record_event

INBOUND = Post.Direction.INBOUND
OUTBOUND = Post.Direction.OUTBOUND
Target = SLAAlert.Target


def live_case(case: Case | None) -> Case | None:
    """Follow merges to the case that is worked on now."""
    for _ in range(20):
        if case is None or not case.merged_into_id:
            return case
        case = case.merged_into
    return case


def auto_subject(text: str, kind: str, author: Any) -> str:
    """The subject a case opened by a post takes: the post's words (120 characters), or what it
    is and who wrote it when it has none."""
    return (
        " ".join((text or "").split())[:120]
        or f"{kind.replace('_', ' ').capitalize()} from {author or 'unknown author'}"
    )


@dataclass(frozen=True)
class _Row:
    pk: int
    direction: str
    posted_at: dt.datetime
    sent: bool
    history: bool
    text: str
    kind: str
    author: Any


@dataclass(frozen=True)
class Facts:
    """What a case's posts say (see the module docstring)."""

    opened_at: dt.datetime
    opening_subject: str
    clock_start: dt.datetime | None
    last_inbound: dt.datetime
    last_live_inbound: dt.datetime | None
    first_response: dt.datetime | None
    last_outbound: dt.datetime | None


def _rows(case: Case) -> list[_Row]:
    posts = (
        Post.objects.filter(case=case)
        .select_related("author")
        .only(
            "pk",
            "direction",
            "posted_at",
            "send_status",
            "from_history",
            "text",
            "kind",
            "author__handle",
            "author__display_name",
            "author__platform",
            "author__external_id",
        )
        .order_by("posted_at", "pk")
    )
    return [
        _Row(
            p.pk,
            p.direction,
            p.posted_at,
            p.send_status == Post.SendStatus.SENT,
            p.from_history,
            p.text,
            p.kind,
            p.author,
        )
        for p in posts
    ]


def facts(case: Case, rows: list[_Row] | None = None) -> Facts | None:
    """The facts of ``case``'s posts; None for a case with no customer post."""
    rows = _rows(case) if rows is None else rows
    inbound = [r for r in rows if r.direction == INBOUND]
    if not inbound:
        return None
    opening = inbound[0]
    live = [r for r in inbound if not r.history]
    replies = [r.posted_at for r in rows if r.direction == OUTBOUND and r.sent]
    responses = [at for at in replies if at > opening.posted_at]
    return Facts(
        opened_at=opening.posted_at,
        opening_subject=auto_subject(opening.text, opening.kind, opening.author),
        clock_start=live[0].posted_at if live else None,
        last_inbound=inbound[-1].posted_at,
        last_live_inbound=live[-1].posted_at if live else None,
        first_response=min(responses) if responses else None,
        last_outbound=max(responses) if responses else None,
    )


def _later(value: dt.datetime | None, than: dt.datetime) -> dt.datetime | None:
    return value if value is not None and value > than else None


def _earliest(*values: dt.datetime | None) -> dt.datetime | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _latest(*values: dt.datetime | None) -> dt.datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


#: The fields :func:`settle` may write.
_SETTLED = (
    "subject",
    "created_at",
    "first_responded_at",
    "last_outbound_at",
    "last_inbound_at",
    "from_history",
    "sla_started_at",
    "sla_policy",
    "first_response_due_at",
    "resolution_due_at",
    "next_response_due_at",
)


def settle(case: Case) -> Case:
    """Recompute ``case``'s conversation facts from its posts (module docstring); returns the
    case as stored. Runs inside the caller's transaction, with the case row locked."""
    locked = (
        Case.objects.select_for_update(
            of=("self",), no_key=connection.features.has_select_for_no_key_update
        )
        .select_related("sla_policy", "team")
        .get(pk=case.pk)
    )
    rows = _rows(locked)
    found = facts(locked, rows)
    if found is None or locked.merged_into_id:
        return locked
    before = {name: getattr(locked, name) for name in _SETTLED}
    opened_by_post = any(r.posted_at == locked.created_at for r in rows if r.direction == INBOUND)
    changes: dict[str, Any] = {}
    if opened_by_post and found.opened_at < locked.created_at:
        old_subject = next(
            auto_subject(r.text, r.kind, r.author)
            for r in rows
            if r.direction == INBOUND and r.posted_at == locked.created_at
        )
        if locked.subject in (old_subject, ""):
            changes["subject"] = found.opening_subject[:200]
        changes["created_at"] = found.opened_at
        CaseEvent.objects.filter(case=locked, kind=CaseEvent.Kind.CREATED).update(
            at=found.opened_at
        )
    opened = changes.get("created_at", locked.created_at)
    # Replies noted outside the posts (an e-mail on hand-off) count when after the opening.
    first = _earliest(found.first_response, _later(locked.first_responded_at, opened))
    last_out = _latest(found.last_outbound, _later(locked.last_outbound_at, opened))
    facts_changed = (
        first != locked.first_responded_at
        or last_out != locked.last_outbound_at
        or found.last_inbound != locked.last_inbound_at
    )
    changes.update(
        first_responded_at=first, last_outbound_at=last_out, last_inbound_at=found.last_inbound
    )
    if opened_by_post or locked.sla_started_at is None:
        start = found.clock_start
        changes["from_history"] = start is None
        if start != locked.sla_started_at:
            changes["sla_started_at"] = start
            if locked.is_open:
                locked.sla_started_at = start
                sla.apply_policy(locked, start=start)
                changes.update(
                    sla_policy=locked.sla_policy,
                    first_response_due_at=locked.first_response_due_at,
                    resolution_due_at=locked.resolution_due_at,
                )
    if facts_changed or "sla_started_at" in changes:
        changes["next_response_due_at"] = _next_response_due(locked, found, first, last_out)
    changes = {k: v for k, v in changes.items() if before[k] != v}
    if changes:
        Case.objects.update_by_pk(locked.pk, **changes, updated_at=timezone.now())
        for name, value in changes.items():
            setattr(locked, name, value)
    withdraw_breaches(locked, rows)
    return locked


def _next_response_due(
    case: Case, found: Facts, first: dt.datetime | None, last_out: dt.datetime | None
) -> dt.datetime | None:
    """Due when the customer spoke (live) after the brand's last reply; None otherwise."""
    policy = case.sla_policy
    waiting = found.last_live_inbound
    if first is None or waiting is None or not (policy and policy.next_response_minutes):
        return None
    if last_out is not None and last_out >= waiting:
        return None
    return sla.add_business_time(
        waiting, dt.timedelta(minutes=policy.next_response_minutes), sla.calendar_for(case)
    )


def _premise_false(case: Case, alert: SLAAlert, rows: list[_Row]) -> str:
    """Why a breach alert should not have been raised (empty: it stands)."""
    if alert.target == Target.FIRST_RESPONSE:
        answered = case.first_responded_at
        if answered is not None and answered <= alert.due_at:
            return f"the brand had answered at {answered:%Y-%m-%d %H:%M} UTC"
        if case.first_response_due_at is None:
            return "the case's posts are from history: no SLA clock runs"
        if case.first_response_due_at > alert.created_at:
            return f"the first response was not due until {case.first_response_due_at:%Y-%m-%d %H:%M} UTC"
        return ""
    if alert.target == Target.NEXT_RESPONSE:
        asked = [r.posted_at for r in rows if r.direction == INBOUND and r.posted_at < alert.due_at]
        if not asked:
            return "no customer post was waiting for an answer"
        answers = [
            r.posted_at
            for r in rows
            if r.direction == OUTBOUND and r.sent and max(asked) <= r.posted_at <= alert.due_at
        ]
        if answers:
            return f"the brand had answered at {min(answers):%Y-%m-%d %H:%M} UTC"
        return ""
    if case.resolution_due_at is None or case.resolution_due_at > alert.created_at:
        return "the resolution was not due yet"
    return ""


def withdraw_breaches(case: Case, rows: list[_Row] | None = None) -> int:
    """Withdraw ``case``'s breach alerts whose premise the posts now contradict (module
    docstring). Returns how many were withdrawn."""
    alerts = list(SLAAlert.objects.filter(case=case, level=SLAAlert.Level.BREACH))
    if not alerts:
        return 0
    rows = _rows(case) if rows is None else rows
    withdrawn = 0
    for alert in alerts:
        reason = _premise_false(case, alert, rows)
        if not reason:
            _redate(case, alert)
            continue
        label = Target(alert.target).label
        alert.delete()
        withdrawn += 1
        record_event(
            case,
            CaseEvent.Kind.SLA_WITHDRAWN,
            target=alert.target,
            due_at=alert.due_at.isoformat(),
            text=f"{label} breach withdrawn: {reason}.",
        )
        _undo_breach_priority(case, alert)
    return withdrawn


def _redate(case: Case, alert: SLAAlert) -> None:
    """A breach that stands although its due time moved (the case turned out to open earlier):
    the alert takes the new due time, so the scan does not raise (and notify) it twice."""
    field = {Target.FIRST_RESPONSE: "first_response_due_at", Target.RESOLUTION: "resolution_due_at"}
    due = getattr(case, field[alert.target]) if alert.target in field else None
    if due is None or due == alert.due_at:
        return
    twin = SLAAlert.objects.filter(case=case, target=alert.target, level=alert.level, due_at=due)
    if twin.exists():
        alert.delete()
    else:
        SLAAlert.objects.filter(pk=alert.pk).update(due_at=due)


def _undo_breach_priority(case: Case, alert: SLAAlert) -> None:
    """Put back a priority the breach raised, unless it changed again since."""
    from socialcare.services import cases as case_services

    reason = f"{Target(alert.target).label.lower()} SLA breached"
    raised = (
        CaseEvent.objects.filter(
            case=case, kind=CaseEvent.Kind.PRIORITY_CHANGED, at__gte=alert.created_at
        )
        .order_by("at", "pk")
        .first()
    )
    if raised is None or raised.data.get("reason") != reason:
        return
    if raised.data.get("to") != case.priority or not raised.data.get("from"):
        return
    case_services.change_priority(
        case, raised.data["from"], reason=f"{Target(alert.target).label} breach withdrawn"
    )
    case.refresh_from_db()
