"""The change sequence a client syncs by (docs/api.md, "Sync that misses nothing").

Every write of a case takes a new ``Case.change_seq`` (``Case.save``, ``CaseQuerySet.update`` and
``bulk_create`` take them from ``socialcare.models.change.allocate``): numbers are unique and
become visible in the order they were handed out, so a client paging by ``change_seq`` never
pages past a change it has not seen. A change that writes no case row (an event on its timeline,
a merge, an identity link, a customer edit) calls :func:`bump` for the cases it concerns.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import router, transaction
from django.utils import timezone

from socialcare.models import Case
from socialcare.models.change import deferred_bumps
from socialcare.models.fields import has_field


def bump(case_ids: Iterable[Any], *, using: str | None = None) -> int:
    """Mark the cases as changed now: a new ``change_seq`` each and ``updated_at`` moved. Returns
    how many cases there were. Inside ``bumped_together`` they are bumped when the block ends."""
    ids = sorted({pk for pk in case_ids if pk is not None})
    if not ids:
        return 0
    deferred = deferred_bumps.get()
    if deferred is not None and using is None:
        deferred.update(ids)
        return len(ids)
    db = using or router.db_for_write(Case)
    return Case.objects.using(db).filter(pk__in=ids).update(updated_at=timezone.now())


@contextmanager
def bumped_together() -> Iterator[None]:
    """Bump every case the block bumps once, when it ends (one number allocation and one UPDATE
    for all of them, not a round of four statements per change), still inside the caller's
    transaction: the numbers become visible at its commit, as before. For an ingest batch,
    whose posts each bump their case a few times. If the block raises, nothing is bumped."""
    if deferred_bumps.get() is not None:  # an enclosing block bumps them
        yield
        return
    ids: set[Any] = set()
    token = deferred_bumps.set(ids)
    try:
        yield
    finally:
        deferred_bumps.reset(token)
    bump(ids)


def bump_customer_cases(customer: Any) -> int:
    """Mark every case of ``customer`` as changed (a merge into it, an identity linked to it, an
    edit of the customer): a syncing client sees the customer's new state on each of them."""
    if customer is None or customer.pk is None:
        return 0
    return Case.objects.filter(customer_id=customer.pk).update(updated_at=timezone.now())


def touch_customer(customer: Any) -> None:
    """A change of ``customer`` a syncing client must see (a merge into it, an identity linked or
    unlinked): its ``updated_at`` moves when the (host's) model has one, and once the transaction
    commits each of its cases takes a new ``change_seq`` (cases the change moved took theirs in
    it). A model without ``updated_at`` is found by ``customers/?updated_since=`` through
    socialcare's own records instead (merges, identity links).

    The cases are bumped after the commit, in a transaction of their own: a merge holds the
    customer row locked, and a writer of one of its cases checks that row's key when it commits,
    so locking all its cases inside the merge would deadlock (PostgreSQL)."""
    if customer is None or customer.pk is None:
        return
    model = type(customer)
    if has_field(model, "updated_at"):
        model._base_manager.filter(pk=customer.pk).update(updated_at=timezone.now())
    transaction.on_commit(lambda: bump_customer_cases(customer))
