"""What a batch of ingestion knows (``services.ingest``): facts of the form "the database has no
such row", read once for the whole batch inside its transaction and kept true as it writes, and
the channel's row lock that serializes threading decisions."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from socialcare.models import Case, Channel, Post
from socialcare.platforms.base import (
    Event,
    InboundPost,
    PostDeletion,
    PostEdit,
)
from socialcare.services import (
    sla,
)
from socialcare.services.identities import (
    IdentityCache,
    prefetch_identities,
)


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
    #: (platform, conversation id, identity id): that author has no stored post on a case in
    #: that conversation (read for the batch's known authors; see :meth:`silent_in`).
    silent: set[tuple[str, str, int]] = field(default_factory=set)
    #: The same, for posts this batch stored: these authors have spoken there since.
    spoke: set[tuple[str, str, int]] = field(default_factory=set)
    #: (platform, conversation id) with no stored brand's post without a case (no early echo).
    echoless: set[tuple[str, str]] = field(default_factory=set)
    #: Committed inbound posts to show the detectors once the batch commits, in order.
    observed: list[Post] = field(default_factory=list)

    def forget(self) -> None:
        """Stop trusting what was read (a rolled-back savepoint undid writes it accounted for)."""
        self.identities.clear()
        for known in (
            self.absent,
            self.no_post,
            self.childless,
            self.quiet,
            self.caseless,
            self.silent,
            self.spoke,
            self.echoless,
        ):
            known.clear()

    def silent_in(self, platform: str, conversation_id: str, identity_id: int) -> bool:
        """Whether the author is known to have no stored post on a case in the conversation: none
        was read for the batch, or the batch created the identity, and the batch stored none."""
        key = (platform, conversation_id, identity_id)
        return key not in self.spoke and (
            key in self.silent or identity_id in self.identities.created
        )

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
            if post.author_id and post.case_id:
                self.spoke.add((post.platform, post.conversation_id, post.author_id))
            if post.direction == Post.Direction.OUTBOUND and not post.case_id:
                self.echoless.discard((post.platform, post.conversation_id))


_batch: contextvars.ContextVar[_Batch | None] = contextvars.ContextVar(
    "socialcare_ingest_batch", default=None
)


def _event_posts(events: Sequence[Event]) -> list[InboundPost]:
    return [
        e.post if isinstance(e, PostEdit) else e for e in events if not isinstance(e, PostDeletion)
    ]


def _by_platform(keys: set[tuple[str, Any]]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
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
    silent, echoless = _silent_authors(items, identities, talked), set()
    private = {(i.platform, i.conversation_id) for i in items if i.visibility == "private"}
    for platform, ids in _by_platform(private & talked).items():
        echoed = set(
            Post.objects.filter(
                platform=platform,
                conversation_id__in=ids,
                direction=Post.Direction.OUTBOUND,
                case__isnull=True,
            )
            .values_list("conversation_id", flat=True)
            .distinct()
        )
        echoless |= {(platform, c) for c in ids if c not in echoed}
    batch = _Batch(
        channel_id=channel.pk,
        identities=identities,
        absent=keys - stored,
        no_post=parents - _stored_refs(channel, parents) if parents else set(),
        childless=own_refs - replied,
        quiet=conversations - talked,
        caseless=known - with_cases,
        silent=silent,
        echoless=echoless | (private - talked),
    )
    token = _batch.set(batch)
    try:
        with sla.policies_cached():
            yield batch
    finally:
        _batch.reset(token)


def _silent_authors(
    items: Sequence[InboundPost], identities: IdentityCache, talked: set[tuple[str, str]]
) -> set[tuple[str, str, int]]:
    """(platform, conversation, identity id) of the batch's posts, in conversations that have
    stored posts, whose (already stored) author has no post on a case there."""
    wanted: set[tuple[str, str, int]] = set()
    for item in items:
        identity = identities.get((item.author.platform, item.author.external_id))
        if identity is not None and (item.platform, item.conversation_id) in talked:
            wanted.add((item.platform, item.conversation_id, identity.pk))
    spoke: set[tuple[str, str, int]] = set()
    for platform, keys in _by_platform({(p, (c, a)) for p, c, a in wanted}).items():
        rows = Post.objects.filter(
            platform=platform,
            conversation_id__in={c for c, _ in keys},
            author_id__in={a for _, a in keys},
            case__isnull=False,
        ).values_list("conversation_id", "author_id")
        spoke |= {(platform, c, a) for c, a in rows.distinct()}
    return wanted - spoke


def _known_absent(platform: str, external_id: str) -> bool:
    batch = _batch.get()
    return batch is not None and (platform, external_id) in batch.absent


def _known(kind: str, key: object) -> bool:
    """Whether the running batch knows the fact ``kind`` (a set of :class:`_Batch`) of ``key``."""
    batch = _batch.get()
    return batch is not None and key in getattr(batch, kind)


def _lock_channel(channel: Channel) -> None:
    batch = _batch.get()
    if batch is not None and batch.channel_id == channel.pk:
        return  # the batch's transaction holds the lock already
    # FOR NO KEY UPDATE: ingest transactions of one channel still run one at a time, but the
    # lock does not conflict with the FOR KEY SHARE that PostgreSQL's foreign-key checks take on
    # the channel row when another transaction (an agent's reply, a webhook accept) inserts a row
    # pointing at it. Plain FOR UPDATE deadlocked against replies (found by tests/scaleout).
    Channel.objects.select_for_update(no_key=True).filter(pk=channel.pk).values_list("pk").first()


def _silent(platform: str, conversation_id: str, identity_id: int) -> bool:
    """Whether the running batch knows the author has no post on a case in the conversation."""
    batch = _batch.get()
    return batch is not None and batch.silent_in(platform, conversation_id, identity_id)


def _childless(platform: str, refs: list[str]) -> bool:
    """Whether the running batch knows that no stored post replies to any of ``refs``."""
    return all(_known("childless", (platform, ref)) for ref in refs)
