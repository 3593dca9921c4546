"""Cases: opening, the status workflow, assignment, priority, team, tags, notes and merging."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from socialcare import signals
from socialcare.conf import app_settings
from socialcare.exceptions import IllegalTransition, MergeError, SocialCareError
from socialcare.models import (
    Case,
    CaseEvent,
    Channel,
    Post,
    Priority,
    SocialIdentity,
    Tag,
    Team,
    Visibility,
)
from socialcare.models.choices import PRIORITY_RANK
from socialcare.services import automatic_messages, sla
from socialcare.services.case_customers import NOTHING, customer_for_identity, note_on_case
from socialcare.services.customer_merge import refuse_merged
from socialcare.services.events import record_customer_change, record_event, user_label
from socialcare.services.timeline import record_post_events

Status = Case.Status

#: The case workflow: status -> statuses it may move to. Reopening a resolved case goes back to
#: open; a closed case is final (a new inbound post after closing opens a new case).
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.NEW: frozenset(
        {Status.OPEN, Status.WAITING_ON_CUSTOMER, Status.RESOLVED, Status.CLOSED}
    ),
    Status.OPEN: frozenset({Status.WAITING_ON_CUSTOMER, Status.RESOLVED, Status.CLOSED}),
    Status.WAITING_ON_CUSTOMER: frozenset({Status.OPEN, Status.RESOLVED, Status.CLOSED}),
    Status.RESOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}


def format_reference(pk: int) -> str:
    return f"{app_settings.CASE_REFERENCE_PREFIX}{pk:06d}"


def _lock(case: Case) -> Case:
    # NO KEY: serializes the case's writers without waiting for rows that only reference it.
    no_key = connection.features.has_select_for_no_key_update
    return Case.objects.select_for_update(no_key=no_key).get(pk=case.pk)


def _sync(case: Case, locked: Case | None = None) -> Case:
    """Reload the caller's instance with what the locked copy saved, and return it.
    ``locked``: that copy, when it holds the whole row as stored (read under the lock and saved
    through it): its values are copied instead of read again."""
    if locked is None or locked is case:
        if locked is None:
            case.refresh_from_db()
        return case
    for field in Case._meta.concrete_fields:
        value = getattr(locked, field.attname)
        if field.is_relation and field.is_cached(case) and getattr(case, field.attname) != value:
            field.delete_cached_value(case)  # the related object changed: read on next use
        setattr(case, field.attname, value)
    return case


def open_case(
    *,
    channel: Channel | None = None,
    identity: SocialIdentity | None = None,
    customer: Any = None,
    subject: str = "",
    priority: str = Priority.NORMAL,
    visibility: str = Visibility.PUBLIC,
    team: Team | None = None,
    actor: Any = None,
    opened_at: dt.datetime | None = None,
    last_inbound_at: dt.datetime | None = None,
    from_history: bool = False,
) -> Case:
    """Open a new case with its reference, team, SLA policy and due times, and a "created" event.
    ``last_inbound_at``: the customer post that opens it (saves an update after the insert).
    ``from_history``: opened by a post older than the backfill horizon (``services.history``):
    no SLA clock runs until a live post comes.

    The customer defaults to the identity's customer and the team to the channel's default team.
    References (``SC-000123``) come from the primary key, so concurrent openings never collide.
    """
    if priority not in Priority.values:
        raise SocialCareError(f"Unknown priority {priority!r}.")
    if visibility not in Visibility.values:
        raise SocialCareError(f"Unknown visibility {visibility!r}.")
    # No savepoint (a round trip) inside a caller's transaction: a failure here fails it.
    with transaction.atomic(savepoint=False):
        return _open_case(
            channel=channel,
            identity=identity,
            customer=customer,
            subject=subject,
            priority=priority,
            visibility=visibility,
            team=team,
            actor=actor,
            opened_at=opened_at or timezone.now(),
            last_inbound_at=last_inbound_at,
            from_history=from_history,
        )


def _open_case(
    *,
    channel: Channel | None,
    identity: SocialIdentity | None,
    customer: Any,
    subject: str,
    priority: str,
    visibility: str,
    team: Team | None,
    actor: Any,
    opened_at: dt.datetime,
    last_inbound_at: dt.datetime | None,
    from_history: bool = False,
) -> Case:
    found = NOTHING if customer is not None else customer_for_identity(identity)
    case = Case(
        channel=channel,
        identity=identity,
        customer=customer if customer is not None else (identity.customer if identity else None),
        subject=subject[:200],
        priority=priority,
        visibility=visibility,
        team=team or (channel.default_team if channel else None),
        created_at=opened_at,
        last_inbound_at=last_inbound_at,
        from_history=from_history,
        sla_started_at=None if from_history else opened_at,
    )
    sla.apply_policy(case, start=case.sla_started_at)
    case.save()
    case.reference = format_reference(case.pk)
    Case.objects.update_by_pk(case.pk, reference=case.reference)
    record_event(
        case,
        CaseEvent.Kind.CREATED,
        actor=actor,
        at=opened_at,
        reference=case.reference,
        priority=case.priority,
        sla_policy=case.sla_policy.name if case.sla_policy else "default",
        first_response_due_at=case.first_response_due_at.isoformat()
        if case.first_response_due_at
        else None,
    )
    note_on_case(case, found)
    transaction.on_commit(lambda: signals.case_opened.send(Case, case=case, actor=actor))
    _route(case, team_ids=(case.team_id,))
    return case


def _route(case: Case, **kwargs: Any) -> None:
    """Auto-assignment (``services.routing``) looks at the case once the change is committed."""
    from socialcare.services.routing.after_commit import route

    route(case.pk, **kwargs)


def allowed_transitions(case: Case) -> frozenset[str]:
    return TRANSITIONS[case.status]


@transaction.atomic
def change_status(case: Case, to: str, *, actor: Any = None, reason: str = "") -> Case:
    """Move a case along the workflow; raises ``IllegalTransition`` for a move it does not allow."""
    if to not in Status.values:
        raise IllegalTransition(f"Unknown case status {to!r}.")
    locked = _lock(case)
    if locked.merged_into_id:
        raise IllegalTransition(
            f"Case {locked.reference} was merged into another case; work on that one instead."
        )
    if to == locked.status:
        raise IllegalTransition(
            f"Case {locked.reference} is already {locked.get_status_display()}."
        )
    if to not in TRANSITIONS[locked.status]:
        allowed = ", ".join(str(Status(s).label) for s in sorted(TRANSITIONS[locked.status]))
        raise IllegalTransition(
            f"Case {locked.reference} cannot go from {locked.get_status_display()} to "
            f"{Status(to).label} (allowed: {allowed or 'none'})."
        )
    _set_status(locked, to, actor=actor, reason=reason)
    return _sync(case, locked)


def _announce(case: Case, actor: Any, field: str, old: Any, new: Any) -> None:
    """Tell listeners (outbound webhooks, the host) once the change is committed."""
    transaction.on_commit(
        lambda: signals.case_updated.send(
            Case, case=case, actor=actor, field=field, old=old, new=new
        )
    )


def _set_status(case: Case, to: str, *, actor: Any, reason: str = "", **extra: Any) -> None:
    """Write a status change on a locked case (transition already checked)."""
    previous = case.status
    now = timezone.now()
    case.status = to
    if to == Status.WAITING_ON_CUSTOMER:
        sla.pause_clock(case, now)
    elif previous == Status.WAITING_ON_CUSTOMER:
        sla.resume_clock(case, now)
    if to == Status.RESOLVED:
        case.resolved_at = now
    elif to == Status.CLOSED:
        case.closed_at = now
        case.resolved_at = case.resolved_at or now
    elif previous in (Status.RESOLVED, Status.CLOSED):
        case.resolved_at = None
        case.closed_at = None
    case.save()
    record_event(
        case, CaseEvent.Kind.STATUS_CHANGED, actor=actor, to=to, reason=reason, **{"from": previous}
    )
    transaction.on_commit(
        lambda: signals.case_status_changed.send(
            Case, case=case, actor=actor, from_status=previous, to_status=to
        )
    )
    if to == Status.RESOLVED:  # its CSAT survey, when the channel asks (services.csat)
        from socialcare.services.csat.sending import case_resolved

        transaction.on_commit(lambda: case_resolved(case.pk))
    if to in (Status.RESOLVED, Status.CLOSED) or (to == Status.OPEN and previous != Status.NEW):
        reopened = previous in (Status.RESOLVED, Status.CLOSED)
        _route(case, team_ids=(case.team_id,), reopened=reopened)


@transaction.atomic
def reopen_case(case: Case, *, actor: Any = None, reason: str = "new customer post") -> Case:
    """Reopen a resolved case (e.g. the customer wrote again within the reopen window)."""
    return change_status(case, Status.OPEN, actor=actor, reason=reason)


@transaction.atomic
def assign_case(case: Case, assignee: Any, *, actor: Any = None) -> Case:
    """Give a case to an agent (``None`` unassigns). A new case becomes open when assigned."""
    if assignee is not None and not assignee.is_active:
        raise SocialCareError(
            f"{user_label(assignee)} is not an active user and cannot take cases."
        )
    locked = _lock(case)
    previous = locked.assignee
    if (previous.pk if previous else None) == (assignee.pk if assignee else None):
        return _sync(case)
    locked.assignee = assignee
    locked.save(update_fields=["assignee", "updated_at"])
    record_event(
        locked,
        CaseEvent.Kind.ASSIGNEE_CHANGED,
        actor=actor,
        to=user_label(assignee),
        to_id=assignee.pk if assignee else None,
        from_id=previous.pk if previous else None,
        **{"from": user_label(previous)},
    )
    _announce(
        locked,
        actor,
        "assignee",
        previous.pk if previous else None,
        assignee.pk if assignee else None,
    )
    if assignee is not None and locked.status == Status.NEW:
        _set_status(locked, Status.OPEN, actor=actor, reason="assigned")
    transaction.on_commit(
        lambda: signals.case_assigned.send(Case, case=locked, actor=actor, previous=previous)
    )
    _route(locked, team_ids=(locked.team_id,), drain=previous is not None or assignee is None)
    return _sync(case)


def unassign_case(case: Case, *, actor: Any = None) -> Case:
    return assign_case(case, None, actor=actor)


@transaction.atomic
def change_priority(case: Case, priority: str, *, actor: Any = None, reason: str = "") -> Case:
    """Set the priority and re-compute due times that are still running."""
    if priority not in Priority.values:
        raise SocialCareError(f"Unknown priority {priority!r}.")
    return _sync(case, _change_priority(_lock(case), priority, actor, reason))


def _change_priority(locked: Case, priority: str, actor: Any, reason: str) -> Case:
    previous = locked.priority
    if previous == priority:
        return locked
    locked.priority = priority
    if locked.first_responded_at is None and locked.is_open:
        sla.apply_policy(locked, start=sla.clock_start(locked))
    locked.save()
    record_event(
        locked,
        CaseEvent.Kind.PRIORITY_CHANGED,
        actor=actor,
        to=priority,
        reason=reason,
        **{"from": previous},
    )
    _announce(locked, actor, "priority", previous, priority)
    return locked


@transaction.atomic
def raise_priority(case: Case, at_least: str, *, actor: Any = None, reason: str = "") -> Case:
    """Raise the priority to ``at_least`` unless it is already as high or higher."""
    if at_least not in Priority.values:
        raise SocialCareError(f"Unknown priority {at_least!r}.")
    # Compare with the stored priority: the caller's copy may be stale, and must never lower it.
    locked = _lock(case)
    if PRIORITY_RANK[Priority(locked.priority)] < PRIORITY_RANK[Priority(at_least)]:
        _change_priority(locked, at_least, actor, reason)
    return _sync(case, locked)


@transaction.atomic
def set_team(case: Case, team: Team | None, *, actor: Any = None) -> Case:
    locked = _lock(case)
    previous = locked.team
    if previous == team:
        return _sync(case, locked)
    locked.team = team
    locked.save(update_fields=["team", "updated_at"])
    record_event(
        locked,
        CaseEvent.Kind.TEAM_CHANGED,
        actor=actor,
        to=str(team or ""),
        to_id=team.pk if team else None,
        from_id=previous.pk if previous else None,
        **{"from": str(previous or "")},
    )
    _announce(locked, actor, "team", previous.pk if previous else None, team.pk if team else None)
    _route(locked, team_ids=(previous.pk if previous else None, team.pk if team else None))
    return _sync(case)


@transaction.atomic
def set_tags(case: Case, names: Iterable[str], *, actor: Any = None) -> Case:
    """Replace the case's tags by name (created as needed, case-insensitively shared)."""
    locked = _lock(case)
    wanted: dict[str, str] = {}
    for name in names:
        clean = " ".join(str(name).split())[:50]
        if clean:
            wanted.setdefault(clean.lower(), clean)
    before = sorted(t.name for t in locked.tags.all())
    tags = []
    for key, name in wanted.items():
        tag = Tag.objects.filter(name__iexact=key).first() or Tag.objects.create(name=name)
        tags.append(tag)
    locked.tags.set(tags)
    after = sorted(t.name for t in tags)
    if after != before:
        Case.objects.filter(pk=locked.pk).update(updated_at=timezone.now())
        record_event(locked, CaseEvent.Kind.TAGS_CHANGED, actor=actor, to=after, **{"from": before})
        _announce(locked, actor, "tags", before, after)
    return _sync(case)


@transaction.atomic
def add_note(case: Case, text: str, *, actor: Any = None) -> CaseEvent:
    """Add an internal note (never sent to the customer)."""
    text = (text or "").strip()
    if not text:
        raise SocialCareError("A note needs some text.")
    locked = _lock(case)
    Case.objects.filter(pk=locked.pk).update(updated_at=timezone.now())
    return record_event(locked, CaseEvent.Kind.NOTE, actor=actor, text=text)


@transaction.atomic
def merge_cases(source: Case, target: Case, *, actor: Any = None) -> Case:
    """Merge ``source`` into ``target``: posts and tags move, the earlier due times and the higher
    priority are kept, ``source`` is closed with ``merged_into`` set, and both timelines record it.
    Returns ``target``.
    """
    if source.pk == target.pk:
        raise MergeError("A case cannot be merged into itself.")
    first, second = sorted([source.pk, target.pk])
    locked = {c.pk: c for c in Case.objects.select_for_update().filter(pk__in=[first, second])}
    src, dst = locked[source.pk], locked[target.pk]
    for case in (src, dst):
        if case.merged_into_id:
            raise MergeError(f"Case {case.reference} was already merged into another case.")
    if src.customer_id and dst.customer_id and src.customer_id != dst.customer_id:
        raise MergeError(
            f"Cases {src.reference} and {dst.reference} belong to different customers; "
            "merge the customers first."
        )
    if src.is_open and dst.status == Status.CLOSED:
        # A closed case is final: merging open work into it would reopen it behind the workflow.
        raise MergeError(f"Case {dst.reference} is closed; merge it into {src.reference} instead.")
    moved = Post.objects.filter(case=src).update(case=dst)
    # Each moved post gets its event on the target's timeline too (``services.timeline``).
    record_post_events(dst, actor=actor)
    dst.tags.add(*src.tags.all())
    dst.customer_id = dst.customer_id or src.customer_id
    dst.identity_id = dst.identity_id or src.identity_id
    if PRIORITY_RANK[Priority(src.priority)] > PRIORITY_RANK[Priority(dst.priority)]:
        dst.priority = src.priority
    for field in ("first_response_due_at", "next_response_due_at", "resolution_due_at"):
        due = [d for d in (getattr(src, field), getattr(dst, field)) if d]
        setattr(dst, field, min(due) if due else None)
    for field in ("last_inbound_at", "last_outbound_at"):
        seen = [d for d in (getattr(src, field), getattr(dst, field)) if d]
        setattr(dst, field, max(seen) if seen else None)
    dst.save()
    record_event(
        dst, CaseEvent.Kind.MERGED, actor=actor, posts_moved=moved, **{"from": src.reference}
    )
    if src.is_open and not dst.is_open:
        _set_status(dst, Status.OPEN, actor=actor, reason=f"{src.reference} merged in")
    if src.status != Status.CLOSED:
        _set_status(src, Status.CLOSED, actor=actor, reason=f"merged into {dst.reference}")
    src.merged_into = dst
    src.save(update_fields=["merged_into", "updated_at"])
    record_event(src, CaseEvent.Kind.MERGED, actor=actor, into=dst.reference, posts_moved=moved)
    # One thread, at most one automatic message of a purpose (services.automatic_messages).
    automatic_messages.cases_merged(src, dst, actor=actor)
    transaction.on_commit(
        lambda: signals.cases_merged.send(Case, source=src, target=dst, actor=actor)
    )
    source.refresh_from_db()
    target.refresh_from_db()
    return target


@transaction.atomic
def set_customer(case: Case, customer: Any, *, actor: Any = None) -> Case:
    """Attribute the case to another customer (or none), with a "customer changed" event."""

    locked = _lock(case)
    previous = locked.customer
    if (previous.pk if previous else None) == (customer.pk if customer else None):
        return _sync(case)
    refuse_merged(customer, "attribute the case")
    locked.customer = customer
    locked.save(update_fields=["customer", "updated_at"])
    record_customer_change(locked, previous, customer, actor=actor)
    _announce(
        locked,
        actor,
        "customer",
        str(previous.pk) if previous else None,
        str(customer.pk) if customer else None,
    )
    return _sync(case)


_UNSET: Any = object()


@transaction.atomic
def update_case(
    case: Case,
    *,
    actor: Any = None,
    subject: str = _UNSET,
    customer: Any = _UNSET,
    status: str = _UNSET,
    priority: str = _UNSET,
    team: Team | None = _UNSET,
    assignee: Any = _UNSET,
    tags: Iterable[str] = _UNSET,
) -> Case:
    """Apply several edits at once (what an edit form or an API PATCH sends), each through its own
    service so each leaves its event. Arguments left out are not touched. All or nothing."""
    if subject is not _UNSET and subject != case.subject:
        Case.objects.filter(pk=case.pk).update(subject=subject[:200], updated_at=timezone.now())
        case.subject = subject[:200]
    if customer is not _UNSET:
        set_customer(case, customer, actor=actor)
    if priority is not _UNSET:
        change_priority(case, priority, actor=actor)
    if team is not _UNSET:
        set_team(case, team, actor=actor)
    if assignee is not _UNSET:
        assign_case(case, assignee, actor=actor)
    if tags is not _UNSET:
        set_tags(case, tags, actor=actor)
    if status is not _UNSET and status != case.status:
        change_status(case, status, actor=actor)
    return case


@transaction.atomic
def open_case_for_post(post: Post, *, actor: Any, **fields: Any) -> Case:
    """Open a case for a post that has none, and attach the post with its "post added" (or, the
    brand's post, "replied") event at the post's time."""
    post = (
        Post.objects.select_for_update(of=("self",))
        .select_related("channel", "author")
        .get(pk=post.pk)
    )
    if post.case_id is not None:
        raise ValidationError({"post": ["This post already belongs to a case."]})
    inbound = post.direction == Post.Direction.INBOUND
    fields.setdefault("visibility", post.visibility)
    fields["subject"] = fields.get("subject") or " ".join(post.text.split())[:120]
    case = open_case(
        channel=post.channel, identity=post.author if inbound else None, actor=actor, **fields
    )
    Post.objects.filter(pk=post.pk).update(case=case)
    if inbound:
        Case.objects.filter(pk=case.pk).update(
            last_inbound_at=post.posted_at, updated_at=timezone.now()
        )
    record_post_events(case, [post.pk], actor=actor)  # at the post's time, by its direction
    return case
