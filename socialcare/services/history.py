"""Backfills: posts from the past are stored, threaded and searchable, but page no one.

A channel connected with its history, or a poll after downtime, brings posts dated days, months
or years back. Were they live, their cases would open with SLA targets long past: the first SLA
scan would mark them breached, raise them to urgent and e-mail the team, and the detectors would
see a wave. So a post is **from history** when, at first sight, it is older than
``SOCIALCARE["BACKFILL_HORIZON"]`` (24 hours; ``None``: never), or it came with a polled
channel's first poll (``BACKFILL_FIRST_POLL``, on by default: the delivery's source is
``history``). Such a post:

- is stored, de-duplicated and threaded into cases as any other (``Post.from_history``);
- opens a case marked "from history" with no SLA clock (no due times, so no warnings, breaches
  or notifications), and joins an existing case without moving its clocks;
- is not shown to the crisis detectors (no incidents, so no playbook steps or holding replies).

An agent can open and work such a case as any other. The first *live* post of the case (a
customer writing again) starts the clock then, exactly as for a new case (``case_facts``).
"First sight" is when the delivery was received, not when the worker got to it.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from django.utils import timezone

from socialcare.conf import app_settings
from socialcare.models import WebhookDelivery

#: (whole delivery is history, when it was received) of the delivery being ingested.
_delivery: contextvars.ContextVar[tuple[bool, dt.datetime] | None] = contextvars.ContextVar(
    "socialcare_history_delivery", default=None
)


@contextmanager
def ingesting(delivery: WebhookDelivery) -> Iterator[None]:
    """Judge the posts ingested inside by ``delivery``: its source and when it was received."""
    token = _delivery.set(
        (delivery.source == WebhookDelivery.Source.HISTORY, delivery.received_at or timezone.now())
    )
    try:
        yield
    finally:
        _delivery.reset(token)


def is_history(posted_at: dt.datetime) -> bool:
    """Whether a post dated ``posted_at``, seen now (or with the delivery being ingested), is
    from history."""
    current = _delivery.get()
    whole, seen_at = current if current is not None else (False, timezone.now())
    if whole:
        return True
    horizon = app_settings.BACKFILL_HORIZON
    return horizon is not None and posted_at < seen_at - horizon


def first_poll_source(poll_cursor: str) -> str:
    """The source of a poll's delivery: ``history`` for a channel's first poll (no cursor yet)
    when ``BACKFILL_FIRST_POLL`` is on, else ``poll``."""
    if not poll_cursor and app_settings.BACKFILL_FIRST_POLL:
        return WebhookDelivery.Source.HISTORY
    return WebhookDelivery.Source.POLL
