"""Automatic customer-facing messages, exactly once per customer and conversation (issue #25).

A playbook's holding reply or hand-off note is sent at most once per (customer identity, purpose,
conversation). ``request`` decides it by inserting a ``models.AutomaticMessage`` row before
anything is sent, in the caller's transaction, under the ledger's unique constraint: a second
attempt (a burst's follow-up that opened its own case, a second worker racing the first) finds
the row and records on its case's timeline that it was skipped, naming the case that got it. On
PostgreSQL a concurrent insert of the same key waits for the first transaction and then fails
the constraint; SQLite writes one transaction at a time.

The send waits ``AUTOMATIC_MESSAGE_SETTLE`` seconds (a django-q2 ``Schedule`` run once, see
``socialcare.tasks.enqueue_automatic_message``) while the thread may still be re-linked or merged;
``send_pending`` checks the case again when it fires (merged: the case it went into; closed, out
of the incident or the incident resolved: cancelled). ``cases_merged`` (called by
``services.cases.merge_cases``) cancels a pending message when the merged thread already has one
of the same purpose, so a merge never leaves two in one thread. ``send_overdue`` (the reply
sweeper's schedule) sends pending messages whose task was lost. Every decision is on the case's
timeline (``CaseEvent.Kind.AUTOMATIC_MESSAGE``). With a settle window of 0 the message is sent at
once, in the deciding transaction.

Conversation keys (``conversation_key``): the root of the case's first customer post as far as
its parent chain is known, named by the platform's conversation id where the platform gives one
(X: the root tweet's id; a DM: ``dm:<customer>``); when the root has not arrived yet (a follow-up
before its original), the id it answers, which is the original's own conversation id when the
original starts the thread. Purposes that are about the customer rather than a thread (an
incident's holding reply) use the conversation ``"*"``: one per customer whatever the thread.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from socialcare.conf import app_settings
from socialcare.exceptions import SocialCareError
from socialcare.models import AutomaticMessage, Case, CaseEvent, IncidentStep, Post
from socialcare.services.events import record_event

logger = logging.getLogger("socialcare.automatic_messages")
Status = AutomaticMessage.Status
ANY_CONVERSATION = "*"
#: How far ``conversation_key`` follows a post's parents (a thread deeper than this is cut there).
MAX_DEPTH = 50


def purpose_of(step: IncidentStep) -> str:
    """The purpose of a playbook step's message: one per incident and step kind."""
    return f"incident:{step.incident_id}:{step.kind}"


def conversation_key(case: Case) -> str:
    """The thread ``case`` answers, stable across the cases a burst opens for one thread."""
    first = (
        Post.objects.filter(case=case, direction=Post.Direction.INBOUND)
        .order_by("posted_at", "pk")
        .only("pk", "platform", "external_id", "conversation_id", "in_reply_to_external_id")
        .first()
    )
    if first is None:
        return f"identity:{case.identity_id}" if case.identity_id else f"case:{case.pk}"
    post, seen = first, {first.pk}
    for _ in range(MAX_DEPTH):
        parent = post.parent if post.parent_id else None
        if parent is None or parent.pk in seen:
            break
        post = parent
        seen.add(post.pk)
    if post.conversation_id:
        return f"{post.platform}:{post.conversation_id}"[:600]
    return f"{post.platform}:{post.in_reply_to_external_id or post.external_id}"[:600]


def settle_seconds() -> float:
    value = app_settings.AUTOMATIC_MESSAGE_SETTLE
    if isinstance(value, dt.timedelta):
        value = value.total_seconds()
    return max(float(value or 0), 0.0)


def request(
    case: Case,
    step: IncidentStep,
    *,
    actor: Any = None,
    conversation: str | None = None,
) -> AutomaticMessage | None:
    """Decide to send ``step``'s automatic message to ``case``'s customer (in ``conversation``:
    by default ``"*"`` for a kind that is ``once_per_customer``, else ``conversation_key``). Returns the new ledger
    row (sent already when there is no settle window, else pending), or None when the customer
    already got (or is about to get) it in this conversation: that is recorded on the case.
    Raises ``SocialCareError`` (and leaves no row) when an immediate send is refused."""
    from socialcare.services.playbook_steps import get_kind

    if not case.identity_id:
        raise SocialCareError(f"{case.reference} has no customer identity to message.")
    purpose = purpose_of(step)
    if conversation is None:
        once_per_customer = get_kind(step.kind).once_per_customer
        conversation = ANY_CONVERSATION if once_per_customer else conversation_key(case)
    settle = settle_seconds()
    row, other = _take_slot(case, purpose, conversation, step=step, settle=settle)
    if other is not None:
        _skipped(case, step, other, actor)
        return None
    if settle <= 0:
        _send(row, case, actor)
        return row
    record_event(
        case,
        CaseEvent.Kind.AUTOMATIC_MESSAGE,
        actor=actor,
        outcome="held",
        purpose=purpose,
        message=row.pk,
        text=f"{step.title}: waiting {settle:g} s before sending, in case the thread is "
        "merged meanwhile.",
    )
    from socialcare.tasks import enqueue_automatic_message

    transaction.on_commit(lambda: enqueue_automatic_message(row.pk, row.due_at))
    return row


def _skipped(case: Case, step: IncidentStep, other: AutomaticMessage, actor: Any) -> None:
    got = "got" if other.status == Status.SENT else "is about to get"
    where = "this case" if other.case_id == case.pk else other.case.reference
    record_event(
        case,
        CaseEvent.Kind.AUTOMATIC_MESSAGE,
        actor=actor,
        outcome="skipped",
        purpose=other.purpose,
        message=other.pk,
        sent_on=other.case.reference,
        text=f"{step.title}: not sent, the customer already {got} it on {where}.",
    )


def _send(row: AutomaticMessage, case: Case, actor: Any) -> None:
    """Send ``row``'s message on ``case`` through its step kind, and mark it sent."""
    from socialcare.services.playbook_steps import get_kind

    step = row.incident_step
    if step is None:
        raise SocialCareError("The playbook step of this automatic message is gone.")
    post = get_kind(step.kind).send_automatic(step.incident, step, case, actor)
    mark_sent(row, post, label=step.title, actor=actor, case=case)


def _cancel(
    row: AutomaticMessage, case: Case, reason: str, *, status: str = Status.CANCELLED
) -> None:
    AutomaticMessage.objects.filter(pk=row.pk).update(
        status=status, reason=reason[:500], done_at=timezone.now()
    )
    row.status, row.reason = status, reason[:500]
    record_event(
        case,
        CaseEvent.Kind.AUTOMATIC_MESSAGE,
        outcome=status,
        purpose=row.purpose,
        message=row.pk,
        text=f"Automatic message {row.purpose} {Status(status).label.lower()}: {reason}",
    )


def _live(case: Case) -> Case:
    seen = {case.pk}
    while case.merged_into_id and case.merged_into_id not in seen:
        case = Case.objects.get(pk=case.merged_into_id)
        seen.add(case.pk)
    return case


def _refusal(row: AutomaticMessage, case: Case) -> str:
    step = row.incident_step
    if step is None:
        return "its playbook step is gone"
    if not case.is_open:
        return f"{case.reference} is {case.get_status_display().lower()}"
    incident = step.incident
    if case.incident_id != incident.pk:
        return f"{case.reference} is no longer linked to incident #{incident.pk}"
    if incident.status == incident.Status.RESOLVED:
        return f"incident #{incident.pk} is resolved"
    sibling = (
        AutomaticMessage.objects.filter(case=case, purpose=row.purpose, status=Status.SENT)
        .exclude(pk=row.pk)
        .first()
    )
    if sibling is not None:
        return f"{case.reference} already got it (message {sibling.pk})"
    return ""


def send_pending(message_id: int) -> str:
    """The settle window is over: check the case again and send, or cancel with the reason.
    Returns what happened ("sent", "cancelled", "failed", "waiting" or "done")."""
    with transaction.atomic():
        row = (
            # Only the ledger row: PostgreSQL refuses FOR UPDATE on the nullable side of a join.
            AutomaticMessage.objects.select_for_update(of=("self",))
            .select_related("incident_step__incident", "case")
            .filter(pk=message_id)
            .first()
        )
        if row is None or row.status != Status.PENDING:
            return "done"  # sent, cancelled, or by a duplicate task
        if row.due_at > timezone.now():  # a task that fired early (a clock step): wait
            from socialcare.tasks import enqueue_automatic_message

            transaction.on_commit(lambda: enqueue_automatic_message(row.pk, row.due_at))
            return "waiting"
        case = Case.objects.select_for_update().get(pk=_live(row.case).pk)
        refusal = _refusal(row, case)
        if refusal:
            _cancel(row, case, refusal)
            return "cancelled"
        try:
            with transaction.atomic():
                _send(row, case, None)
        except SocialCareError as exc:
            _cancel(row, case, " ".join(exc.messages), status=Status.FAILED)
            return "failed"
    return "sent"


def send_overdue(grace: dt.timedelta = dt.timedelta(minutes=1)) -> int:
    """Send the pending messages whose task was lost (their window ended over ``grace`` ago).
    Run by the reply sweeper's schedule. Returns how many were handled."""
    cutoff = timezone.now() - grace
    ids = list(
        AutomaticMessage.objects.filter(status=Status.PENDING, due_at__lt=cutoff)
        .order_by("due_at", "pk")
        .values_list("pk", flat=True)[:500]
    )
    for pk in ids:
        try:
            send_pending(pk)
        except Exception:  # one bad row must not stop the others
            logger.exception("Automatic message %s could not be sent", pk)
    return len(ids)


def cases_merged(source: Case, target: Case, *, actor: Any = None) -> None:
    """``source`` was merged into ``target`` (same transaction): its pending messages move to
    ``target``; where the merged thread then has two messages of one purpose, a pending one is
    cancelled (the sent one, or the earlier pending one, stays)."""
    rows = list(
        AutomaticMessage.objects.select_for_update()
        .filter(case__in=[source.pk, target.pk], status__in=AutomaticMessage.HOLDING)
        .order_by("created_at", "pk")
    )
    kept: dict[str, AutomaticMessage] = {}
    for row in sorted(rows, key=lambda r: (r.status != Status.SENT, r.created_at, r.pk)):
        if row.purpose not in kept:
            kept[row.purpose] = row
            if row.status == Status.PENDING and row.case_id == source.pk:
                AutomaticMessage.objects.filter(pk=row.pk).update(case=target)
            continue
        if row.status == Status.PENDING:
            first = kept[row.purpose]
            _cancel(
                row,
                target,
                f"{source.reference} was merged into {target.reference}, whose thread already "
                f"{'got' if first.status == Status.SENT else 'is about to get'} it "
                f"(message {first.pk})",
            )


def _take_slot(
    case: Case,
    purpose: str,
    conversation: str,
    *,
    step: IncidentStep | None = None,
    settle: float = 0,
) -> tuple[AutomaticMessage | None, AutomaticMessage | None]:
    """Insert the ledger row of (``case``'s identity, ``purpose``, ``conversation``), due
    ``settle`` seconds from now: ``(row, None)``; or, when the unique slot is held,
    ``(None, holder)``. Raises the ``IntegrityError`` when the holder was cancelled since (a
    retry decides again)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            row = AutomaticMessage.objects.create(
                identity_id=case.identity_id,
                purpose=purpose,
                conversation=conversation,
                case=case,
                incident_step=step,
                created_at=now,
                due_at=now + dt.timedelta(seconds=settle),
            )
        return row, None
    except IntegrityError:
        other = (
            AutomaticMessage.objects.filter(
                identity_id=case.identity_id,
                purpose=purpose,
                conversation=conversation,
                status__in=AutomaticMessage.HOLDING,
            )
            .select_related("case")
            .first()
        )
        if other is None:
            raise
        return None, other


# Messages that are not a playbook step's (a CSAT survey): the caller sends at once ----------------


def claim(
    case: Case, purpose: str, *, conversation: str, label: str, actor: Any = None
) -> AutomaticMessage | None:
    """Take the (identity, ``purpose``, ``conversation``) slot for a message the caller sends
    now, in its own transaction, then reports with ``mark_sent`` or ``release``. Returns the new
    ledger row, or None when the customer already got (or is about to get) it: that is recorded
    on ``case``'s timeline under ``label`` ("CSAT survey")."""
    if not case.identity_id:
        raise SocialCareError(f"{case.reference} has no customer identity to message.")
    row, other = _take_slot(case, purpose, conversation)
    if other is None:
        return row
    got = "got" if other.status == Status.SENT else "is about to get"
    where = "this case" if other.case_id == case.pk else other.case.reference
    record_event(
        case,
        CaseEvent.Kind.AUTOMATIC_MESSAGE,
        actor=actor,
        outcome="skipped",
        purpose=purpose,
        message=other.pk,
        sent_on=other.case.reference,
        text=f"{label}: not sent, the customer already {got} it on {where}.",
    )
    return None


def mark_sent(
    row: AutomaticMessage,
    post: Post | None,
    *,
    label: str,
    actor: Any = None,
    case: Case | None = None,
) -> None:
    """``row``'s message went out as ``post`` on ``case`` (default: the row's; a held step's
    message goes out on the case its thread lives on now): the ledger and that case's timeline
    say so."""
    case = case or row.case
    AutomaticMessage.objects.filter(pk=row.pk).update(
        status=Status.SENT, post=post, case=case, done_at=timezone.now()
    )
    row.status, row.post, row.case = Status.SENT, post, case
    record_event(
        case,
        CaseEvent.Kind.AUTOMATIC_MESSAGE,
        actor=actor,
        post=post,
        outcome="sent",
        purpose=row.purpose,
        message=row.pk,
        text=f"{label}: sent.",
    )


def release(row: AutomaticMessage, reason: str) -> None:
    """``row``'s message could not be sent: it is marked failed with ``reason`` (on the case's
    timeline too), which frees its slot for a later attempt."""
    _cancel(row, row.case, reason, status=Status.FAILED)
