"""Running a write again when PostgreSQL chose it as a deadlock's victim.

Every write of a case takes a number from one counter row (``models.change``), held until the
transaction commits. A worker's batch that has numbered one case and then waits for another
case's row, while an agent's request holds that row and waits for the counter, is a deadlock:
PostgreSQL rolls one of them back (``40P01``). The batch ingests again on its own
(``services.ingest``); an agent's write runs again here, whole, so the agent sees it succeed
instead of a 500. Only the outermost transaction is retried: inside another, the caller's
transaction is lost already and the error goes up to it.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import OperationalError, transaction

logger = logging.getLogger("socialcare.db")

#: Tries in all; PostgreSQL's deadlock and serialization failures (SQLSTATE 40P01, 40001).
ATTEMPTS = 3
RETRYABLE = frozenset({"40P01", "40001"})

F = TypeVar("F", bound=Callable[..., Any])


def is_retryable(error: BaseException) -> bool:
    """Whether ``error`` is a deadlock or serialization failure the database rolled back."""
    cause = error.__cause__
    code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    return code in RETRYABLE


def retry_on_deadlock(func: F) -> F:
    """Run ``func`` (which opens its own transaction) again, up to ``ATTEMPTS`` times in all,
    when the database rolled it back as a deadlock's victim; only when no transaction was open
    around it."""

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, ATTEMPTS + 1):
            outermost = not transaction.get_connection().in_atomic_block
            try:
                return func(*args, **kwargs)
            except OperationalError as exc:
                if not outermost or attempt == ATTEMPTS or not is_retryable(exc):
                    raise
                logger.warning("%s was a deadlock's victim; running it again", func.__name__)
                time.sleep(random.uniform(0.02, 0.1) * attempt)
        raise AssertionError("unreachable")

    return run  # type: ignore[return-value]
