"""When auto-assignment looks at a changed case: once the change is committed, case by case; or,
inside :func:`routed_together` (an ingest batch), for all the batch's cases at once: one query
finds whether any of their teams auto-assigns or queues one of them, and only then is each case
looked at, in the order they changed."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction

logger = logging.getLogger("socialcare.routing")

_Change = tuple[int, dict[str, Any]]
_together: contextvars.ContextVar[list[_Change] | None] = contextvars.ContextVar(
    "socialcare_routed_together", default=None
)


def route(case_id: int, **kwargs: Any) -> None:
    """Have ``routing.assign.after_case_change(case_id, **kwargs)`` look at the case once the
    running transaction commits (inside :func:`routed_together`: with the block's other cases)."""
    changes = _together.get()
    if changes is not None:
        changes.append((case_id, kwargs))
        return
    transaction.on_commit(lambda: _after(case_id, kwargs), robust=True)


@contextmanager
def routed_together() -> Iterator[list[_Change]]:
    """Gather the cases the block changes and route them together after the commit. If the
    block raises, nothing is routed (its changes are rolled back with it). Yields the list of
    changes gathered so far: a caller that rolls back a savepoint inside the block cuts it back
    to its length before (as Django drops the savepoint's own commit hooks)."""
    enclosing = _together.get()
    if enclosing is not None:  # an enclosing block routes them
        yield enclosing
        return
    changes: list[_Change] = []
    token = _together.set(changes)
    try:
        yield changes
    finally:
        _together.reset(token)
    if changes:
        transaction.on_commit(lambda: route_all(changes), robust=True)


def route_all(changes: list[_Change]) -> None:
    """Route changed cases, in order; one query when none of their teams auto-assigns and none
    of them waits in a queue (nothing to do)."""
    from socialcare.services.routing.assign import teams_to_route

    teams = {t for _, kwargs in changes for t in kwargs.get("team_ids", ())}
    if not teams_to_route(teams, {case_id for case_id, _ in changes}).exists():
        return
    for case_id, kwargs in changes:
        try:
            _after(case_id, kwargs)
        except Exception:  # one case's routing failing must not stop the others'
            logger.exception("Routing case %s after its change failed", case_id)


def _after(case_id: int, kwargs: dict[str, Any]) -> None:
    from socialcare.services.routing.assign import after_case_change

    after_case_change(case_id, **kwargs)
