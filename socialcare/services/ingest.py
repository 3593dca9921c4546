"""From a stored delivery to posts on cases: parsing, de-duplication, threading, scoring.

A delivery with one event is ingested in its own transaction. A batch — a delivery that carries
many events (a Meta delivery with many entries, an X delivery with many events, a poll page),
or several pending deliveries of one channel claimed together (micro-batching,
``INGEST_BATCH_DELIVERIES``) — is ingested in one transaction; should an event fail, the batch
runs again with a savepoint per event, so the bad event is rolled back and reported on its own
delivery while the others are kept. The channel is locked once; the authors, the
already-stored posts, and which parents, early replies, conversations and open cases do not
exist are read once for the whole batch; the detectors see the batch's posts in one pass after
the commit. Threading decisions for a channel are serialized on the channel's row lock, so two
workers replaying the same deliveries in any order reach the same posts and cases as one ordered
pass (see docs/ingestion.md).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone

from socialcare import signals
from socialcare.conf import app_settings
from socialcare.models import Case, CaseEvent, Channel, Post, SocialIdentity, WebhookDelivery
from socialcare.models.choices import PRIORITY_RANK, Priority
from socialcare.platforms.base import (
    ChannelConfig,
    Event,
    InboundPost,
    ParseError,
    PostDeletion,
    PostEdit,
)
from socialcare.platforms.registry import UnknownPlatform, get_adapter
from socialcare.services import account_routing, private_replies, sla
from socialcare.services import cases as case_services
from socialcare.services.events import record_event, written_together
from socialcare.services.identities import (
    IdentityCache,
    prefetch_identities,
    upsert_identity,
    write_seen,
)
from socialcare.services.platform_sessions import ChannelSessionStore

logger = logging.getLogger("socialcare.ingest")

OUTBOUND = Post.Direction.OUTBOUND
INBOUND = Post.Direction.INBOUND


@dataclass(frozen=True)
class IngestResult:
    action: str  # created | duplicate | edited | deleted | tombstone
    post: Post | None = None
    case: Case | None = None
    case_created: bool = False

    @property
    def created(self) -> bool:
        return self.action == "created"


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


# Batches ----------------------------------------------------------------------------------------
@dataclass
class _Batch:
    """What a batch (one delivery's many events, or several deliveries of one channel) already
    knows inside its one transaction. Every set holds facts of the form "the database has no
    such row", read once for the whole batch and kept true as the batch writes: a look-up it
    answers is skipped, anything else is asked of the database as one event alone would."""

    channel_id: int
    identities: IdentityCache
    #: (platform, external_id) of the batch's events that are known not to be stored yet.
    absent: set[tuple[str, str]] = field(default_factory=set)
    #: (platform, ref) that no stored post has: no parent to look up.
    no_post: set[tuple[str, str]] = field(default_factory=set)
    #: (platform, ref) that no stored post replies to: no early replies to look up or adopt.
    childless: set[tuple[str, str]] = field(default_factory=set)
    #: (platform, conversation id) with no stored post.
    quiet: set[tuple[str, str]] = field(default_factory=set)
    #: Identity ids known to have no case that is open, resolved or waiting (not merged).
    caseless: set[int] = field(default_factory=set)
    #: Committed inbound posts to show the detectors once the batch commits, in order.
    observed: list[Post] = field(default_factory=list)

    def forget(self) -> None:
        """Stop trusting what was read (a rolled-back savepoint undid writes it accounted for)."""
        self.identities.clear()
        for known in (self.absent, self.no_post, self.childless, self.quiet, self.caseless):
            known.clear()

    def settled(self, event: Event, key: tuple[str, str]) -> None:
        """Keep the sets true after ``event`` (whose post is ``key``) was ingested."""
        self.absent.discard(key)
        if isinstance(event, PostDeletion):  # it may have left a tombstone
            self.no_post.discard(key)

    def stored(self, post: Post) -> None:
        """Keep the sets true after the batch stored ``post``."""
        for ref in (post.external_id, post.local_id):
            if ref:
                self.no_post.discard((post.platform, ref))
        if post.in_reply_to_external_id:
            self.childless.discard((post.platform, post.in_reply_to_external_id))
        if post.conversation_id:
            self.quiet.discard((post.platform, post.conversation_id))


_batch: contextvars.ContextVar[_Batch | None] = contextvars.ContextVar(
    "socialcare_ingest_batch", default=None
)


def _event_posts(events: Sequence[Event]) -> list[InboundPost]:
    return [
        e.post if isinstance(e, PostEdit) else e for e in events if not isinstance(e, PostDeletion)
    ]


def _by_platform(keys: set[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for platform, value in keys:
        grouped.setdefault(platform, []).append(value)
    return grouped


def _stored_refs(channel: Channel, refs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The refs (global ids, or ids on the brand's server) that name a stored post."""
    found: set[tuple[str, str]] = set()
    for platform, values in _by_platform(refs).items():
        rows = Post.objects.filter(platform=platform).filter(
            Q(external_id__in=values) | Q(channel=channel, local_id__in=values)
        )
        for external_id, local_id in rows.values_list("external_id", "local_id"):
            found |= {(platform, external_id), (platform, local_id)}
    return found & refs


@contextmanager
def _batched(channel: Channel, events: Sequence[Event]) -> Iterator[_Batch]:
    """Read, in one query each for the whole batch, its authors, its already-stored posts, and
    which parents, early replies, conversations and open cases do not exist. Must run inside the
    batch's transaction, which holds the channel's lock."""
    items = _event_posts(events)
    keys = {(i.platform, i.external_id) for i in items if i.external_id}
    keys |= {(e.platform, e.external_id) for e in events if isinstance(e, PostDeletion)}
    stored: set[tuple[str, str]] = set()
    for platform, ids in _by_platform(keys).items():
        stored |= {
            (platform, x)
            for x in Post.objects.filter(platform=platform, external_id__in=ids).values_list(
                "external_id", flat=True
            )
        }
    parents = {(i.platform, i.in_reply_to) for i in items if i.in_reply_to}
    own_refs = {(i.platform, r) for i in items for r in (i.external_id, i.local_id) if r}
    replied: set[tuple[str, str]] = set()
    for platform, refs in _by_platform(own_refs).items():
        replied |= {
            (platform, r)
            for r in Post.objects.filter(platform=platform, in_reply_to_external_id__in=refs)
            .values_list("in_reply_to_external_id", flat=True)
            .distinct()
        }
    conversations = {(i.platform, i.conversation_id) for i in items if i.conversation_id}
    talked: set[tuple[str, str]] = set()
    for platform, ids in _by_platform(conversations).items():
        talked |= {
            (platform, c)
            for c in Post.objects.filter(platform=platform, conversation_id__in=ids)
            .values_list("conversation_id", flat=True)
            .distinct()
        }
    identities = prefetch_identities([i.author for i in items if i.author.external_id])
    known = {identity.pk for identity in identities.values() if identity is not None}
    with_cases = set(
        Case.objects.filter(identity__in=known, merged_into__isnull=True)
        .exclude(status=Case.Status.CLOSED)
        .values_list("identity_id", flat=True)
        .distinct()
        if known
        else []
    )
    batch = _Batch(
        channel_id=channel.pk,
        identities=identities,
        absent=keys - stored,
        no_post=parents - _stored_refs(channel, parents) if parents else set(),
        childless=own_refs - replied,
        quiet=conversations - talked,
        caseless=known - with_cases,
    )
    token = _batch.set(batch)
    try:
        with sla.policies_cached():
            yield batch
    finally:
        _batch.reset(token)


def _known_absent(platform: str, external_id: str) -> bool:
    batch = _batch.get()
    return batch is not None and (platform, external_id) in batch.absent


def _known(kind: str, key: object) -> bool:
    """Whether the running batch knows the fact ``kind`` (a set of :class:`_Batch`) of ``key``."""
    batch = _batch.get()
    return batch is not None and key in getattr(batch, kind)


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
    with _batched(channel, events) as batch:
        for work in works:
            for event in sorted(work.events, key=_event_time):
                key = _event_key(event)
                if not isolate:
                    work.created += ingest(channel, event).created
                    batch.settled(event, key)
                    continue
                observed, seen = len(batch.observed), dict(batch.identities.seen)
                try:
                    with transaction.atomic():
                        work.created += ingest(channel, event).created
                except Exception as exc:  # one bad event must not lose the others
                    logger.exception(
                        "Ingesting %s from delivery %s failed", _event_id(event), work.delivery.pk
                    )
                    work.errors.append(f"{_event_id(event)}: {type(exc).__name__}: {exc}")
                    del batch.observed[observed:]
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
    delivery is claimed, and re-ingesting a post is a no-op. A parse error or a failing event marks
    the delivery failed with a readable error (retryable); the other events are kept.

    Micro-batching: unless this delivery carries ``BATCH_EVENTS`` events or more, up to ``batch``
    (default ``INGEST_BATCH_DELIVERIES``) - 1 more *pending* deliveries of the same channel,
    waiting behind it, are claimed with it and ingested in the same transaction (each keeps its own status, error and post count); their own tasks then
    find them processed."""
    batch = app_settings.INGEST_BATCH_DELIVERIES if batch is None else batch
    delivery, claimed = _claim(delivery_id)
    if not claimed:
        return delivery
    if delivery.channel_id is None:  # came to an app's URL: first find its account's channel
        delivery = account_routing.route_claimed(delivery)
        if delivery.status != WebhookDelivery.Status.PROCESSING:
            return delivery  # split, unrouted, duplicate or unreadable: nothing more here
    works = [_parse(delivery)]
    if batch > 1 and len(works[0].events) < BATCH_EVENTS:
        works += [_parse(d) for d in _claim_more(delivery, batch - 1)]
    if sum(len(w.events) for w in works) > 1:
        _process_batch(delivery.channel, works)
    else:
        for work in works:
            work.created += _ingest_each(work.delivery, work.events, work.errors)
            _finish(work.delivery, work.errors, work.created)
    for work in works:
        signals.delivery_processed.send(WebhookDelivery, delivery=work.delivery)
    return delivery


def _claim(delivery_id: int) -> tuple[WebhookDelivery | None, bool]:
    """The delivery, and whether this worker claimed it ("processing") from pending or failed.
    A delivery already taken (micro-batched with another, whose own task comes after) costs
    one query."""
    delivery = WebhookDelivery.objects.select_related("channel").filter(pk=delivery_id).first()
    if delivery is None or delivery.status not in _CLAIMABLE:
        return delivery, False
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(pk=delivery_id, status=delivery.status).update(
        status=WebhookDelivery.Status.PROCESSING, claimed_at=now, attempts=F("attempts") + 1
    )
    if not claimed:  # another worker claimed it in between: what it is now
        return (
            WebhookDelivery.objects.select_related("channel").filter(pk=delivery_id).first(),
            False,
        )
    delivery.status = WebhookDelivery.Status.PROCESSING
    delivery.claimed_at = now
    delivery.attempts += 1
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


def _claim_more(delivery: WebhookDelivery, limit: int) -> list[WebhookDelivery]:
    """Claim up to ``limit`` pending deliveries of ``delivery``'s channel, oldest first, that no
    other worker holds (PostgreSQL: ``SKIP LOCKED``; SQLite serializes writers)."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(channel_id=delivery.channel_id, status=WebhookDelivery.Status.PENDING)
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        WebhookDelivery.objects.filter(pk__in=ids, status=WebhookDelivery.Status.PENDING).update(
            status=WebhookDelivery.Status.PROCESSING, claimed_at=now, attempts=F("attempts") + 1
        )
        more = list(
            WebhookDelivery.objects.filter(
                pk__in=ids, status=WebhookDelivery.Status.PROCESSING, claimed_at=now
            ).order_by("pk")
        )
    for other in more:
        other.channel = delivery.channel
    return more


def _process_batch(channel: Channel, works: list[_Work]) -> None:
    try:
        with transaction.atomic():
            observed = _ingest_batch(channel, works)
            WebhookDelivery.objects.bulk_update(  # one UPDATE for the batch's deliveries
                [_finished(w.delivery, w.errors, w.created) for w in works], _FINISHED
            )
    except DatabaseError:
        # Only the commit itself can fail here (each event has its own savepoint, e.g. a
        # deferred constraint): nothing was kept, so ingest event by event instead.
        logger.exception(
            "Deliveries %s failed as a batch; ingesting event by event",
            [w.delivery.pk for w in works],
        )
        for work in works:
            work.delivery.refresh_from_db(fields=["posts_count"])  # as stored: rolled back
            if work.events:
                work.errors = []  # the batch's event errors were rolled back with it
            work.created = _ingest_each(work.delivery, work.events, work.errors)
            _finish(work.delivery, work.errors, work.created)
        return
    _watch_for_crisis(observed)


def _ingest_each(delivery: WebhookDelivery, events: Sequence[Event], errors: list[str]) -> int:
    """Each event in its own transaction."""
    created = 0
    for event in events:
        try:
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
    # The row was read after this worker claimed it: nobody else writes its count meanwhile.
    delivery.posts_count = (delivery.posts_count or 0) + created
    return delivery


def _finish(delivery: WebhookDelivery, errors: list[str], created: int) -> None:
    _finished(delivery, errors, created).save(update_fields=_FINISHED)


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


# Posts ------------------------------------------------------------------------------------------
def _lock_channel(channel: Channel) -> None:
    batch = _batch.get()
    if batch is not None and batch.channel_id == channel.pk:
        return  # the batch's transaction holds the lock already
    # FOR NO KEY UPDATE: ingest transactions of one channel still run one at a time, but the
    # lock does not conflict with the FOR KEY SHARE that PostgreSQL's foreign-key checks take on
    # the channel row when another transaction (an agent's reply, a webhook accept) inserts a row
    # pointing at it. Plain FOR UPDATE deadlocked against replies (found by tests/scaleout).
    Channel.objects.select_for_update(no_key=True).filter(pk=channel.pk).values_list("pk").first()


def find_post(channel: Channel, platform: str, ref: str) -> Post | None:
    """The post a platform reference names: its global id, or its id on the brand's server."""
    if not ref or _known("no_post", (platform, ref)):
        return None
    return (
        Post.objects.filter(platform=platform)
        .filter(Q(external_id=ref) | Q(channel=channel, local_id=ref))
        .select_related("case")
        .first()
    )


def _live(case: Case | None) -> Case | None:
    """Follow merges to the case that is worked on now."""
    for _ in range(20):
        if case is None or not case.merged_into_id:
            return case
        case = case.merged_into
    return case


@transaction.atomic(savepoint=False)  # a batch's event already runs in its own savepoint
def ingest_post(
    channel: Channel, item: InboundPost, *, edited_at: dt.datetime | None = None
) -> IngestResult:
    _lock_channel(channel)
    if _known_absent(item.platform, item.external_id):
        existing = None
    else:
        existing = Post.objects.filter(platform=item.platform, external_id=item.external_id).first()
    deleted_at = None
    if existing is not None:
        if not (existing.raw or {}).get("tombstone"):
            return IngestResult("duplicate", existing, existing.case)
        # Its delete came first. Record the post as one ordered pass would have, then delete it.
        deleted_at = existing.deleted_at
        existing.delete()
    result = _ingest_new_post(channel, item, edited_at)
    if deleted_at is not None:
        ingest_deletion(channel, PostDeletion(item.platform, item.external_id, deleted_at))
    return result


def _ingest_new_post(
    channel: Channel, item: InboundPost, edited_at: dt.datetime | None
) -> IngestResult:
    parent = find_post(channel, item.platform, item.in_reply_to)
    if item.direction == OUTBOUND:
        return _ingest_outbound(channel, item, parent)

    # Some deliveries do not name the author (Instagram mentions): no identity, never a shared one.
    batch = _batch.get()
    key = (item.author.platform, item.author.external_id)
    unseen = batch is not None and key in batch.identities and batch.identities[key] is None
    identity = (
        upsert_identity(
            item.author,
            seen_at=item.posted_at,
            cache=batch.identities if batch is not None else None,
        )
        if item.author.external_id
        else None
    )
    if unseen and identity is not None and identity.pk in batch.identities.created:
        batch.caseless.add(identity.pk)  # created by this batch: no case can have it yet
    from socialcare import scoring

    mood = scoring.sentiment(item.text)
    score = scoring.priority_score(
        sentiment=mood,
        followers=identity.followers_count if identity else 0,
        verified=identity.platform_verified if identity else False,
    )
    priority = scoring.priority_for(score, mood)
    with written_together():  # the case's "created" event and this post's, one INSERT
        case, case_created = _case_for(channel, identity, item, parent, priority)
        post = _store_post(
            channel,
            item,
            parent,
            case,
            author=identity,
            direction=INBOUND,
            edited_at=edited_at,
            sentiment=mood,
            reach=identity.followers_count if identity else 0,
        )
        record_event(
            case,
            CaseEvent.Kind.POST_ADDED,
            post=post,
            at=item.posted_at,
            text=item.text[:280],
            author=str(identity) if identity else "unknown",
            score=score,
            case_created=case_created,
        )
    if parent is not None and parent.direction == OUTBOUND and parent.case_id is None:
        # The brand's message this answers (an echo seen before any case) joins the case too.
        Post.objects.filter(pk=parent.pk).update(case=case)
    _after_inbound(case, post, priority, case_created)
    if batch is not None:
        batch.stored(post)
        batch.caseless.discard(identity.pk if identity else None)
        batch.observed.append(post)  # shown to the detectors once the batch commits
    else:
        transaction.on_commit(lambda: _watch_for_crisis([post]))
    _adopt_children(channel, post, case)
    from socialcare.services.mention_details import after_ingest

    after_ingest(post)  # an Instagram mention names only ids: its text and author are fetched
    transaction.on_commit(
        lambda: signals.post_received.send(Post, post=post, case=case, case_created=case_created)
    )
    return IngestResult("created", post, case, case_created)


def _store_post(
    channel: Channel, item: InboundPost, parent: Post | None, case: Case | None, **fields: Any
) -> Post:
    """INSERT the post a platform item describes (its texts, ids and times cut to the columns),
    with the direction-specific ``fields``."""
    return Post.objects.create(
        platform=item.platform,
        external_id=item.external_id,
        channel=channel,
        kind=item.kind,
        visibility=item.visibility,
        text=item.text,
        html=item.html,
        url=item.url[:1000],
        in_reply_to_external_id=item.in_reply_to[:500],
        parent=parent,
        conversation_id=item.conversation_id[:500],
        local_id=item.local_id[:100],
        language=item.language[:16],
        posted_at=item.posted_at,
        attachments=list(item.attachments),
        raw=dict(item.raw),
        case=case,
        **fields,
    )


def _watch_for_crisis(posts: list[Post]) -> None:
    """Step 3 of the flow: detectors see every committed customer post (a batch's posts in one
    pass). A detector failing must not fail the delivery (the posts are stored); it is logged."""
    from socialcare.services import detectors

    if not posts:
        return
    try:
        with transaction.atomic(), sla.policies_cached():
            detectors.observe_posts(posts)
    except Exception:
        logger.exception("Detectors failed on posts %s", [p.pk for p in posts])


def _case_for(
    channel: Channel,
    identity: SocialIdentity,
    item: InboundPost,
    parent: Post | None,
    priority: str,
) -> tuple[Case, bool]:
    """The case this customer post belongs to, reopening or opening one as the rules say."""
    for candidate in _candidate_cases(channel, identity, item, parent):
        case = _usable(candidate, item)
        if case is not None:
            return case, False
    subject = (
        " ".join(item.text.split())[:120]
        or f"{item.kind.replace('_', ' ').capitalize()} from {identity or 'unknown author'}"
    )
    case = case_services.open_case(
        channel=channel,
        identity=identity,
        subject=subject,
        priority=priority,
        visibility=item.visibility,
        opened_at=item.posted_at,
        last_inbound_at=item.posted_at,
    )
    return case, True


def _candidate_cases(
    channel: Channel, identity: SocialIdentity, item: InboundPost, parent: Post | None
):
    """Cases this post may join, best first: its parent's, its early-arrived replies', its
    conversation's, and for private messages the customer's open one. Only cases of this same
    customer qualify: someone else replying in a thread gets a case of their own."""

    if identity is None:
        return  # an unnamed author matches nobody's case

    def mine(case: Case | None) -> Case | None:
        case = _live(case)
        if case is not None and case.identity_id in (identity.pk, None):
            return case
        return None

    if parent is not None and parent.case_id:
        yield mine(parent.case)
    if item.visibility == "private" and not _known("quiet", (item.platform, item.conversation_id)):
        yield private_replies.answered_case(item, _usable)  # answers a private reply: its case
    refs = [r for r in (item.external_id, item.local_id) if r]
    child = (
        Post.objects.filter(
            platform=item.platform, in_reply_to_external_id__in=refs, case__isnull=False
        )
        .filter(Q(author=identity) | Q(direction=OUTBOUND))
        .select_related("case")
        .order_by("posted_at", "pk")
        .first()
        if not _childless(item.platform, refs)
        else None
    )
    if child is not None:
        yield mine(child.case)
    if item.conversation_id and not _known("quiet", (item.platform, item.conversation_id)):
        sibling = (
            Post.objects.filter(
                platform=item.platform,
                conversation_id=item.conversation_id,
                author=identity,
                case__isnull=False,
            )
            .select_related("case")
            .order_by("-posted_at", "-pk")
            .first()
        )
        if sibling is not None:
            yield mine(sibling.case)
    if item.visibility == "private" and not _known("caseless", identity.pk):
        recent = (
            Case.objects.filter(identity=identity, merged_into__isnull=True)
            .exclude(status=Case.Status.CLOSED)
            .order_by(
                # An open case first, then the most recently resolved one.
                F("resolved_at").desc(nulls_first=True),
                "-created_at",
            )
            .first()
        )
        yield recent


def _childless(platform: str, refs: list[str]) -> bool:
    """Whether the running batch knows that no stored post replies to any of ``refs``."""
    return all(_known("childless", (platform, ref)) for ref in refs)


def _usable(case: Case | None, item: InboundPost) -> Case | None:
    """``case`` if this post may join it (reopening it when needed), else None."""
    if case is None:
        return None
    if case.is_open:
        if case.status == Case.Status.WAITING_ON_CUSTOMER:
            case_services.change_status(case, Case.Status.OPEN, reason="customer replied")
        return case
    ended_at = case.closed_at if case.status == Case.Status.CLOSED else case.resolved_at
    if ended_at is not None and item.posted_at <= ended_at:
        return case  # a late delivery of something said before the case ended
    if (
        case.status == Case.Status.RESOLVED
        and timezone.now() - case.resolved_at <= app_settings.REOPEN_WINDOW
    ):
        case_services.reopen_case(case, reason="customer wrote again")
        return case
    return None


def _after_inbound(case: Case, post: Post, priority: str, case_created: bool) -> None:
    """Keep the case's clocks and priority in step with a new customer post."""
    updates: dict = {}
    if case.last_inbound_at is None or post.posted_at > case.last_inbound_at:
        updates["last_inbound_at"] = post.posted_at
        policy = case.sla_policy
        if case.first_responded_at and policy and policy.next_response_minutes:
            calendar = sla.calendar_for(case)
            updates["next_response_due_at"] = sla.add_business_time(
                post.posted_at, dt.timedelta(minutes=policy.next_response_minutes), calendar
            )
    if updates:
        Case.objects.filter(pk=case.pk).update(**updates, updated_at=timezone.now())
        for name, value in updates.items():
            setattr(case, name, value)
    if (
        not case_created
        and PRIORITY_RANK[Priority(priority)] > PRIORITY_RANK[Priority(case.priority)]
    ):
        case_services.raise_priority(case, priority, reason=f"new post scored {priority}")


def _adopt_children(channel: Channel, post: Post, case: Case | None) -> None:
    """Link replies that arrived before this post, and fold this customer's cases that such
    replies opened into this post's case (what one ordered pass would have given)."""
    refs = [r for r in (post.external_id, post.local_id) if r]
    if _childless(post.platform, refs):
        return
    children = Post.objects.filter(
        platform=post.platform, in_reply_to_external_id__in=refs, parent__isnull=True
    ).exclude(pk=post.pk)
    if not children.exists():
        return
    children.update(parent=post)
    if case is None:
        return
    for child in Post.objects.filter(parent=post).exclude(case=case).select_related("case"):
        other = _live(child.case)
        if other is None:
            if child.direction == OUTBOUND:
                Post.objects.filter(pk=child.pk).update(case=case)
            continue
        if (
            other.pk != case.pk
            and other.identity_id == case.identity_id
            and not other.merged_into_id
        ):
            case_services.merge_cases(other, case)


def _ingest_outbound(channel: Channel, item: InboundPost, parent: Post | None) -> IngestResult:
    """The brand's own post seen coming back (sent natively on the platform, or an echo)."""
    case = _live(parent.case) if parent is not None else None
    refs = [r for r in (item.external_id, item.local_id) if r]
    if case is None and not _childless(item.platform, refs):
        child = (
            Post.objects.filter(
                platform=item.platform, in_reply_to_external_id__in=refs, case__isnull=False
            )
            .select_related("case")
            .first()
        )
        case = _live(child.case) if child else None
    post = _store_post(
        channel, item, parent, case, direction=OUTBOUND, send_status=Post.SendStatus.SENT
    )
    batch = _batch.get()
    if batch is not None:
        batch.stored(post)
    if case is not None:
        record_event(
            case,
            CaseEvent.Kind.REPLIED,
            post=post,
            at=item.posted_at,
            text=item.text[:280],
            via="platform",
        )
        from socialcare.services.replies import note_response

        note_response(case, post.posted_at)
    _adopt_children(channel, post, case)
    return IngestResult("created", post, case)


# Edits and deletes -----------------------------------------------------------------------------
@transaction.atomic
def ingest_edit(channel: Channel, edit: PostEdit) -> IngestResult:
    _lock_channel(channel)
    item = edit.post
    post = Post.objects.filter(platform=item.platform, external_id=item.external_id).first()
    if post is None:
        return ingest_post(channel, item, edited_at=edit.edited_at)
    if post.deleted_at or (post.edited_at and edit.edited_at <= post.edited_at):
        return IngestResult("duplicate", post, post.case)
    if post.text == item.text:
        return IngestResult("duplicate", post, post.case)
    old_text = post.text
    Post.objects.filter(pk=post.pk).update(text=item.text, html=item.html, edited_at=edit.edited_at)
    post.refresh_from_db()
    if post.case_id:
        record_event(
            post.case,
            CaseEvent.Kind.POST_EDITED,
            post=post,
            at=edit.edited_at,
            old_text=old_text,
            text=item.text[:2000],
        )
    return IngestResult("edited", post, post.case)


@transaction.atomic
def ingest_deletion(channel: Channel, deletion: PostDeletion) -> IngestResult:
    """Honour the customer's delete: the post's text, HTML, URL, media and raw payload are
    removed and the words quoted in its case events dropped; the row stays (its times, case
    link, sentiment) so the case statistics hold. A delete that arrives before its post leaves
    a tombstone, so the late post is never shown (docs/privacy.md)."""
    from socialcare.services.privacy import clear_post_content, scrub_events

    _lock_channel(channel)
    post = Post.objects.filter(platform=deletion.platform, external_id=deletion.external_id).first()
    if post is None:
        post = Post.objects.create(
            platform=deletion.platform,
            external_id=deletion.external_id,
            channel=channel,
            direction=INBOUND,
            kind=Post.Kind.MENTION,
            visibility="public",
            posted_at=deletion.deleted_at,
            deleted_at=deletion.deleted_at,
            raw={"tombstone": True},
        )
        _adopt_children(channel, post, None)
        return IngestResult("tombstone", post, None)
    if post.deleted_at:
        return IngestResult("duplicate", post, post.case)
    Post.objects.filter(pk=post.pk).update(deleted_at=deletion.deleted_at)
    clear_post_content(Post.objects.filter(pk=post.pk))
    scrub_events(CaseEvent.objects.filter(post=post), "deleted on the platform")
    quoted = " ".join(post.text.split())[:120]
    if post.case_id and quoted:
        # A case opened by this post took its words as the subject.
        Case.objects.filter(pk=post.case_id, subject=quoted).update(subject="")
    post.refresh_from_db()
    if post.case_id:
        record_event(
            post.case,
            CaseEvent.Kind.POST_DELETED,
            post=post,
            at=deletion.deleted_at,
            text="The customer deleted this post on the platform.",
        )
    return IngestResult("deleted", post, post.case)
