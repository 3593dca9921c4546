"""The change sequence: one number per change a syncing client must see (docs/api.md, "Sync")."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, connections, models, transaction

#: Inside ``services.change_seq.bumped_together``: the ids of the cases to give new change
#: numbers when the block ends (in the same transaction). ``CaseQuerySet.update`` then writes
#: without taking numbers and adds its cases here.
deferred_bumps: contextvars.ContextVar[set[Any] | None] = contextvars.ContextVar(
    "socialcare_deferred_bumps", default=None
)


class ChangeCounter(models.Model):
    """The last change number handed out, one row per sequence (``case``).

    A row, not a PostgreSQL SEQUENCE: ``nextval`` is not ordered by commit (a transaction holding
    number 10 may commit after the one holding 11, and a client that has paged past 11 would never
    see 10). Updating this row locks it until the transaction commits, so numbers become visible
    in the order they were handed out, on PostgreSQL and on SQLite (which serialises writers)."""

    name = models.CharField(primary_key=True, max_length=40)
    value = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "change counter"

    def __str__(self) -> str:
        return f"{self.name}: {self.value}"


def allocate(
    count: int,
    *,
    name: str = "case",
    using: str = "default",
    floor: Callable[[], int] | None = None,
) -> int:
    """Take ``count`` consecutive change numbers and return the first. Call it inside the
    transaction that stores the change (the counter row stays locked until it commits). ``floor``:
    the largest number already in use, should the row be missing (a flushed test database)."""
    counters = ChangeCounter.objects.using(using)
    with transaction.atomic(using=using, savepoint=False):
        last = _take_returning(count, name, using)
        if last is not None:
            return last - count + 1
        if not counters.filter(name=name).update(value=models.F("value") + count):
            try:
                with transaction.atomic(using=using):
                    counters.create(name=name, value=(floor() if floor else 0) + count)
            except IntegrityError:  # created meanwhile by another writer
                counters.filter(name=name).update(value=models.F("value") + count)
        last = counters.values_list("value", flat=True).get(name=name)
    return last - count + 1


def _take_returning(count: int, name: str, using: str) -> int | None:
    """One ``UPDATE … RETURNING`` where the database has it (PostgreSQL, SQLite 3.35+): the new
    value, or None when the row is missing or the database cannot (then two queries)."""
    conn = connections[using]
    if not conn.features.can_return_columns_from_insert:
        return None
    quote = conn.ops.quote_name
    table, value = quote(ChangeCounter._meta.db_table), quote("value")
    with conn.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {value} = {value} + %s WHERE {quote('name')} = %s "
            f"RETURNING {value}",
            [count, name],
        )
        row = cursor.fetchone()
    return row[0] if row else None
