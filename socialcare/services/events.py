"""Appending to a case's timeline."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections, router
from django.utils import timezone

from socialcare.models import Case, CaseEvent, Post
from socialcare.services import change_seq

_pending: contextvars.ContextVar[list[CaseEvent] | None] = contextvars.ContextVar(
    "socialcare_pending_events", default=None
)


def record_event(
    case: Case,
    kind: str,
    *,
    actor: Any = None,
    post: Post | None = None,
    at: Any = None,
    **data: Any,
) -> CaseEvent:
    """Append one event to ``case``'s timeline. ``data`` must be JSON-serializable. Inside
    :func:`written_together` the event is stored when that block ends."""
    event = CaseEvent(
        case=case,
        kind=kind,
        actor=actor if getattr(actor, "pk", None) else None,
        post=post,
        at=at or timezone.now(),
        data=data,
    )
    pending = _pending.get()
    if pending is None:
        event.save(force_insert=True)
        # A new event is a change of the case a syncing client must see (docs/api.md, "Sync").
        change_seq.bump([case.pk])
    else:
        pending.append(event)
    return event


def record_customer_change(
    case: Case, before: Any, after: Any, *, actor: Any = None, at: Any = None, **data: Any
) -> CaseEvent:
    """Note on ``case``'s timeline that its customer changed from ``before`` to ``after`` (either
    may be None), by their names as the customer adapter shows them and their keys."""
    from socialcare.models import customer_display_name

    return record_event(
        case,
        CaseEvent.Kind.CUSTOMER_CHANGED,
        actor=actor,
        at=at,
        to=customer_display_name(after),
        to_id=str(after.pk) if after is not None else None,
        from_id=str(before.pk) if before is not None else None,
        **{"from": customer_display_name(before)},
        **data,
    )


@contextmanager
def written_together(*, until_read: bool = False) -> Iterator[None]:
    """Store the events recorded inside the block in one INSERT when it ends (in the order
    they were recorded), not one each. If the block raises, its events are dropped with the
    rest of its work.

    Without ``until_read``, for a short block of writes that reads no events back. With it, for
    a long one (an ingest batch): any SQL statement of the block that touches the events table
    (a read, an update, a delete, another insert) first stores the events recorded so far, so
    every statement sees the timeline as if each event had been stored when recorded."""
    if _pending.get() is not None:  # an enclosing block writes them
        yield
        return
    pending: list[CaseEvent] = []
    token = _pending.set(pending)
    try:
        if until_read:
            connection = connections[router.db_for_write(CaseEvent)]
            with connection.execute_wrapper(_StoreBeforeRead(pending)):
                yield
        else:
            yield
    finally:
        _pending.reset(token)
    _store(pending)


def _store(pending: list[CaseEvent]) -> None:
    """INSERT the pending events; the list is emptied first, so the INSERT, met by
    :class:`_StoreBeforeRead`, finds nothing left to store."""
    if pending:
        events = list(pending)
        pending.clear()
        CaseEvent.objects.bulk_create(events)
        change_seq.bump(event.case_id for event in events)


class _StoreBeforeRead:
    """A database execute wrapper: stores the pending events before a statement on their table."""

    def __init__(self, pending: list[CaseEvent]) -> None:
        self.pending = pending
        self.table = CaseEvent._meta.db_table

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if self.pending and self.table in sql:
            _store(self.pending)
        return execute(sql, params, many, context)


def user_label(user: Any) -> str:
    """How a user appears in event data: full name, else username; '' for nobody."""
    if user is None:
        return ""
    full = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return full or user.get_username()
