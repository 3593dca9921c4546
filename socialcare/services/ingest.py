"""From a stored delivery to posts on cases: parsing, de-duplication, threading, scoring.

A delivery with one event is ingested in its own transaction. A batch — a delivery that carries
many events (a Meta delivery with many entries, an X delivery with many events, a poll page),
or several pending deliveries of one channel claimed together (micro-batching,
``INGEST_BATCH_DELIVERIES``) — is ingested in one transaction; should an event fail, the batch
runs again with a savepoint per event, so the bad event is rolled back and reported on its own
delivery while the others are kept. The channel is locked once; the authors, the
already-stored posts, and which parents, early replies, conversations and open cases do not
exist are read once for the whole batch; the detectors see the batch's posts in one pass after
the commit. A claim carries a lease (``services.deliveries.Claim``): renewed between events and
before a batch's transaction; a delivery whose lease passed is taken over by the next task that
meets it; the batch's finish locks the rows it still holds and is rolled back (then redone event
by event for the rest) if another worker took one over. Threading decisions for a channel are
serialized on the channel's row lock, so two workers replaying the same deliveries in any order
reach the same posts and cases as one ordered pass (see docs/ingestion.md).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone

from socialcare import signals
from socialcare.conf import app_settings
from socialcare.models import Channel, Post, WebhookDelivery
from socialcare.platforms.base import (
    ChannelConfig,
    Event,
    ParseError,
    PostDeletion,
    PostEdit,
)
from socialcare.platforms.registry import UnknownPlatform, get_adapter
from socialcare.services import (
    account_routing,
    change_seq,
    history,
)
from socialcare.services.deliveries import Claim, holder_dead, lapsed, takeable
from socialcare.services.events import written_together
from socialcare.services.identities import (
    write_seen,
)
from socialcare.services.ingest_batch import (
    _batched,
    _lock_channel,
)
from socialcare.services.ingest_posts import (  # noqa: F401 (their public home was here)
    IngestResult,
    _watch_for_crisis,
    find_post,
    ingest_deletion,
    ingest_edit,
    ingest_post,
)
from socialcare.services.platform_sessions import ChannelSessionStore
from socialcare.services.routing.after_commit import routed_together

logger = logging.getLogger("socialcare.ingest")


def channel_config(channel: Channel) -> ChannelConfig:
    """What an adapter may know of a channel."""
    return ChannelConfig(
        platform=channel.platform,
        account_id=channel.account_id,
        handle=channel.handle,
        base_url=channel.base_url,
        secrets=dict(channel.secrets),
        cursor=channel.poll_cursor,
        graph_version=str(app_settings.META_GRAPH_VERSION or ""),
        session_store=ChannelSessionStore(channel.pk) if channel.pk else None,
    )


@dataclass
class _Work:
    """One claimed delivery inside a batch: its events, and what ingesting them gave."""

    delivery: WebhookDelivery
    events: list[Event]
    errors: list[str] = field(default_factory=list)
    created: int = 0


def _ingest_batch(channel: Channel, works: Sequence[_Work]) -> list[Post]:
    """Every event of the batch in one transaction: delivery by delivery in arrival order, and
    inside a delivery in the order they happened (a platform groups a delivery's events by type,
    not by time). Returns the inbound posts stored, for the detectors once committed.

    Optimistic: the events run under one savepoint for the whole batch first (a savepoint per
    event is two round trips per post). Should one of them fail, that savepoint is rolled back
    and the batch runs again with a savepoint per event, so the bad event is rolled back and
    reported on its own delivery and the others are kept."""
    _lock_channel(channel)  # held by the outer transaction, across a retry
    before = [(list(w.errors), w.created) for w in works]
    try:
        with transaction.atomic():
            return _ingest_events(channel, works, isolate=False)
    except Exception:
        logger.info(
            "An event of deliveries %s failed; ingesting them again event by event",
            [w.delivery.pk for w in works],
        )
    for work, (errors, created) in zip(works, before, strict=True):
        work.errors, work.created = errors, created
    return _ingest_events(channel, works, isolate=True)


def _ingest_events(channel: Channel, works: Sequence[_Work], *, isolate: bool) -> list[Post]:
    """The batch's events in order; ``isolate``: each in its own savepoint (a failing one is
    recorded on its delivery), else the first failure propagates."""
    events = [e for w in works for e in w.events]
    # Optimistic (``isolate`` false): the batch's events are stored together when it ends or
    # when a statement touches their table; with a savepoint per event, each event's own.
    with (
        _batched(channel, events) as batch,
        change_seq.bumped_together(),
        routed_together() as routed,
        written_together(until_read=True) if not isolate else nullcontext(),
    ):
        for work in works:
            with history.ingesting(work.delivery):
                for event in sorted(work.events, key=_event_time):
                    key = _event_key(event)
                    if not isolate:
                        work.created += ingest(channel, event).created
                        batch.settled(event, key)
                        continue
                    observed, seen = len(batch.observed), dict(batch.identities.seen)
                    changed = len(routed)
                    try:
                        with transaction.atomic():
                            work.created += ingest(channel, event).created
                    except Exception as exc:  # one bad event must not lose the others
                        logger.exception(
                            "Ingesting %s from delivery %s failed",
                            _event_id(event),
                            work.delivery.pk,
                        )
                        work.errors.append(f"{_event_id(event)}: {type(exc).__name__}: {exc}")
                        del batch.observed[observed:]
                        del routed[changed:]
                        batch.identities.seen = seen
                        batch.forget()
                    else:
                        batch.settled(event, key)
        write_seen(batch.identities)
        return list(batch.observed)


def _event_time(event: Event) -> dt.datetime:
    if isinstance(event, PostEdit):
        return event.edited_at
    if isinstance(event, PostDeletion):
        return event.deleted_at
    return event.posted_at


def _event_key(event: Event) -> tuple[str, str]:
    if isinstance(event, PostEdit):
        return (event.post.platform, event.post.external_id)
    return (event.platform, event.external_id)


# Deliveries -------------------------------------------------------------------------------------
_CLAIMABLE = [WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED]
#: A delivery carrying this many events is a batch already: no more deliveries are claimed with
#: it (keeps the transaction, the channel lock and the worker's memory bounded).
BATCH_EVENTS = 100


def process_delivery(delivery_id: int, *, batch: int | None = None) -> WebhookDelivery | None:
    """Parse a stored delivery and ingest its events. Safe to call twice: only a pending or failed
    delivery, or one whose claim has lapsed (its worker died: ``deliveries.takeable``), is
    claimed, and re-ingesting a post is a no-op. A parse error or a failing event marks the
    delivery failed with a readable error (retryable); the other events are kept.

    Micro-batching: unless this delivery carries ``BATCH_EVENTS`` events or more, up to ``batch``
    (default ``INGEST_BATCH_DELIVERIES``) - 1 more deliveries of the same channel waiting behind
    it (pending, or abandoned by a dead worker) are claimed with it and ingested in the same
    transaction (each keeps its own status, error and post count); their own tasks then find
    them taken."""
    batch = app_settings.INGEST_BATCH_DELIVERIES if batch is None else batch
    claim = Claim()
    delivery, claimed = _claim(delivery_id, claim)
    if not claimed:
        return delivery
    if delivery.channel_id is None:  # came to an app's URL: first find its account's channel
        delivery = account_routing.route_claimed(delivery)
        if delivery.status != WebhookDelivery.Status.PROCESSING:
            return delivery  # split, unrouted, duplicate or unreadable: nothing more here
    works = [_parse(delivery)]
    if batch > 1 and len(works[0].events) < BATCH_EVENTS:
        works += [_parse(d) for d in _claim_more(delivery, batch - 1, claim)]
    if sum(len(w.events) for w in works) > 1:
        works = _process_batch(delivery.channel, works, claim)
    else:
        works = [w for w in works if _ingest_and_finish(w, claim)]
    for work in works:
        signals.delivery_processed.send(WebhookDelivery, delivery=work.delivery)
    if delivery.pk not in claim.held:  # taken over meanwhile: as its new worker left it
        delivery.refresh_from_db()
    return delivery


def _claim(delivery_id: int, claim: Claim) -> tuple[WebhookDelivery | None, bool]:
    """The delivery, and whether ``claim`` took it ("processing"): from pending or failed, or
    from a worker whose lease has passed. A delivery another worker holds (micro-batched with
    another, whose own task comes after) costs one query."""
    delivery = WebhookDelivery.objects.select_related("channel").filter(pk=delivery_id).first()
    if delivery is None:
        return None, False
    now = timezone.now()
    if delivery.status in _CLAIMABLE:
        free = Q(status=delivery.status)
    elif delivery.status == WebhookDelivery.Status.PROCESSING and lapsed(delivery, now):
        free = takeable(now)
    elif delivery.status == WebhookDelivery.Status.PROCESSING and holder_dead(delivery.claimed_by):
        free = Q(status=delivery.status, claim_token=delivery.claim_token)
    else:
        return delivery, False
    values = claim.values(now)
    claimed = WebhookDelivery.objects.filter(free, pk=delivery_id).update(
        **values, attempts=F("attempts") + 1
    )
    if not claimed:  # another worker claimed it in between: what it is now
        return (
            WebhookDelivery.objects.select_related("channel").filter(pk=delivery_id).first(),
            False,
        )
    if delivery.status == WebhookDelivery.Status.PROCESSING:
        logger.warning(
            "Delivery %s taken over from %s (dead, or its lease passed at %s)",
            delivery_id,
            delivery.claimed_by or "a worker",
            delivery.lease_until or delivery.claimed_at,
        )
    for name, value in values.items():
        setattr(delivery, name, value)
    delivery.attempts += 1
    claim.took([delivery])
    return delivery, True


def _parse(delivery: WebhookDelivery) -> _Work:
    try:
        adapter = get_adapter(delivery.platform)
        return _Work(
            delivery, list(adapter.parse(bytes(delivery.body), channel_config(delivery.channel)))
        )
    except (ParseError, UnknownPlatform) as exc:
        # What could be read before a bad item is kept; the delivery still ends failed.
        return _Work(delivery, list(getattr(exc, "events", ())), [str(exc)])
    except Exception as exc:  # a parser bug fails this delivery, not the whole batch
        logger.exception("Parsing delivery %s failed", delivery.pk)
        return _Work(delivery, [], [f"{type(exc).__name__}: {exc}"])


def _claim_more(delivery: WebhookDelivery, limit: int, claim: Claim) -> list[WebhookDelivery]:
    """Claim up to ``limit`` deliveries of ``delivery``'s channel, oldest first, that no live
    worker holds: pending ones, and those a dead worker's lapsed claim left in processing
    (PostgreSQL: ``SKIP LOCKED``; SQLite serializes writers)."""
    now = timezone.now()
    free = Q(status=WebhookDelivery.Status.PENDING) | takeable(now)
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(free, channel_id=delivery.channel_id)
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        WebhookDelivery.objects.filter(free, pk__in=ids).update(
            **claim.values(now), attempts=F("attempts") + 1
        )
        more = list(
            WebhookDelivery.objects.filter(pk__in=ids, claim_token=claim.token).order_by("pk")
        )
    for other in more:
        other.channel = delivery.channel
    claim.took(more)
    return more


class _ClaimLost(Exception):
    """Raised inside a batch's transaction to roll it back: another worker took over some of
    its deliveries."""

    def __init__(self, held: set[int]) -> None:
        super().__init__(sorted(held))
        self.held = held


def _process_batch(channel: Channel, works: list[_Work], claim: Claim) -> list[_Work]:
    """The batch in one transaction; returns the works this worker finished (all of them,
    unless another worker took some over)."""
    held = claim.renew()  # outside the transaction: the others see it
    works = [w for w in works if w.delivery.pk in held]
    parsed = [list(w.errors) for w in works]
    try:
        with transaction.atomic():
            observed = _ingest_batch(channel, works)
            still = claim.confirm_in_transaction()
            if len(still) < len(works):
                raise _ClaimLost(still)
            counts = [(w.delivery.posts_count or 0) + w.created for w in works]
            WebhookDelivery.objects.bulk_update(  # one UPDATE for the batch's deliveries
                [_finished(w.delivery, w.errors, w.created) for w in works], _FINISHED
            )
            for work, count in zip(works, counts, strict=True):
                work.delivery.posts_count = count
    except (DatabaseError, _ClaimLost) as exc:
        if isinstance(exc, _ClaimLost):
            # Too slow: another worker took some of them over. Nothing of the batch was kept;
            # those are its to ingest, the others are ingested here event by event.
            claim.lose(claim.held - exc.held)
        else:
            # Only the commit itself can fail here (each event has its own savepoint, e.g. a
            # deferred constraint): nothing was kept, so ingest event by event instead.
            logger.exception(
                "Deliveries %s failed as a batch; ingesting event by event",
                [w.delivery.pk for w in works],
            )
        finished = []
        for work, errors in zip(works, parsed, strict=True):
            if work.delivery.pk not in claim.held:
                continue
            work.delivery.refresh_from_db(fields=["posts_count"])  # as stored: rolled back
            work.errors, work.created = list(errors), 0  # the batch's were rolled back with it
            if _ingest_and_finish(work, claim):
                finished.append(work)
        return finished
    _watch_for_crisis(observed)
    return works


def _ingest_and_finish(work: _Work, claim: Claim) -> bool:
    """A delivery's events each in its own transaction, then its finish; False when another
    worker took it over meanwhile (it finishes it)."""
    work.created += _ingest_each(work.delivery, work.events, work.errors, claim)
    return _finish(work.delivery, work.errors, work.created, claim)


def _ingest_each(
    delivery: WebhookDelivery, events: Sequence[Event], errors: list[str], claim: Claim
) -> int:
    """Each event in its own transaction, renewing the claim's lease between them; stops when
    another worker took the delivery over."""
    created = 0
    for event in events:
        if delivery.pk not in claim.renew():
            break
        try:
            with history.ingesting(delivery):
                created += ingest(delivery.channel, event).created
        except Exception as exc:  # one bad event must not lose the others
            logger.exception("Ingesting %s from delivery %s failed", _event_id(event), delivery.pk)
            errors.append(f"{_event_id(event)}: {type(exc).__name__}: {exc}")
    return created


_FINISHED = ["status", "last_error", "processed_at", "posts_count"]


def _finished(delivery: WebhookDelivery, errors: list[str], created: int) -> WebhookDelivery:
    delivery.status = WebhookDelivery.Status.FAILED if errors else WebhookDelivery.Status.PROCESSED
    delivery.last_error = "\n".join(errors)[:10000]
    delivery.processed_at = timezone.now()
    # Added to the count as stored: a worker that lost the delivery after committing some of its
    # posts event by event added those (``_finish``); its successor found them stored.
    delivery.posts_count = F("posts_count") + created
    return delivery


def _finish(delivery: WebhookDelivery, errors: list[str], created: int, claim: Claim) -> bool:
    """Record the outcome if ``claim`` still holds the delivery; else (another worker took it
    over) leave it to that worker, read it as it is, and return False."""
    count = (delivery.posts_count or 0) + created
    _finished(delivery, errors, created)
    done = (
        claim.mine()
        .filter(pk=delivery.pk)
        .update(**{name: getattr(delivery, name) for name in _FINISHED})
    )
    if not done:
        claim.lose([delivery.pk])
        if created:  # committed event by event before it was lost: its successor found them
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                posts_count=F("posts_count") + created
            )
        delivery.refresh_from_db()
        return False
    delivery.posts_count = count
    return True


def _event_id(event: Event) -> str:
    if isinstance(event, PostEdit):
        return f"edit of {event.post.external_id}"
    if isinstance(event, PostDeletion):
        return f"delete of {event.external_id}"
    return event.external_id


def ingest(channel: Channel, event: Event) -> IngestResult:
    """Store one event from ``channel``: a new post, an edit or a platform delete."""
    if isinstance(event, PostEdit):
        return ingest_edit(channel, event)
    if isinstance(event, PostDeletion):
        return ingest_deletion(channel, event)
    return ingest_post(channel, event)
