"""The one timeline of a case: what the admin case page, the API timeline
(``GET cases/{id}/timeline/``) and the customer export list: one query of its events, one order.

**What is on it.** The case's events. Every post on a case has its event there: "post added" for
a customer's post, "replied" for the brand's (sent through socialcare, or made on the platform
and seen coming back: ``via="platform"``), recorded when the post joins the case by any path
(ingest, a late root adopting earlier replies, opening a case for a post, a merge: see
:func:`record_post_events`). Such an event *stands for its post* while the post is on that case:
the page shows the post in its place, the API gives the post's details in the row's ``post``.

**The order rule** (:data:`ORDERING`), oldest first:

1. by when it happened: the event's ``at``. A post's event is at the post's time on the
   platform (``posted_at``) when it is recorded on arrival or when the post joins the case
   later; an agent's reply is at the time it was written (the post shows when it was sent);
2. at equal times, "Case opened" first, then posts (``post_added`` / ``replied``), then the
   events they caused (a status change, a note, an SLA alert, ...);
3. then by the event's id (the order they were written).

The API pages by a cursor over these three keys, so a page boundary never splits or repeats a
tie. A post on the case without its event (made outside the services; migration 0024 gave the
existing ones theirs) still shows on the case page, placed by the same rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import (
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)

from socialcare.models import Case, CaseEvent, Post, Priority
from socialcare.services.events import record_event, written_together

if TYPE_CHECKING:
    from socialcare.services.access import Viewer

#: The events that say "this post arrived / was sent": each stands for its post.
POST_EVENTS = (CaseEvent.Kind.POST_ADDED, CaseEvent.Kind.REPLIED)
#: The order of a timeline (see the module docstring); ``timeline_rank`` is annotated by
#: :func:`with_order_keys`.
ORDERING = ("at", "timeline_rank", "id")
#: ``timeline_rank``: "Case opened", posts, everything else.
RANK_OPENED, RANK_POST, RANK_OTHER = 0, 1, 2

#: How many timeline entries the case page shows at first ("show older" asks for more).
TIMELINE_PAGE = 200
#: The most a "show older" link may ask for in one page.
TIMELINE_MAX = 5000


def with_order_keys(events: QuerySet) -> QuerySet:
    """``events`` annotated with ``timeline_rank`` (see :data:`ORDERING`)."""
    return events.annotate(
        timeline_rank=models.Case(
            When(kind=CaseEvent.Kind.CREATED, then=Value(RANK_OPENED)),
            When(kind__in=POST_EVENTS, then=Value(RANK_POST)),
            default=Value(RANK_OTHER),
            output_field=IntegerField(),
        ),
    )


def timeline_events(case: Case | int, *, merged: Sequence[int] = ()) -> QuerySet:
    """The events of ``case``'s timeline with their order keys, not ordered yet (the API's
    cursor orders them by :data:`ORDERING`). ``merged``: the ids of cases merged into it, whose
    events are listed too, except their events of posts that moved here with the merge (this
    case's own event stands for each of those: a post is listed once)."""
    pk = case.pk if isinstance(case, Case) else case
    events = CaseEvent.objects.filter(case__in=[pk, *merged])
    if merged:
        events = events.exclude(Q(kind__in=POST_EVENTS) & Q(post__case=pk) & ~Q(case=pk))
    return with_order_keys(events)


def ordered(events: QuerySet, *, newest_first: bool = False) -> QuerySet:
    """``events`` (with order keys) in timeline order."""
    if newest_first:
        return events.order_by(*(f"-{key}" for key in ORDERING))
    return events.order_by(*ORDERING)


# Recording -------------------------------------------------------------------------------------


def record_post_events(case: Case, posts: Iterable[int] | None = None, *, actor: Any = None) -> int:
    """Give each post of ``posts`` (ids; default: every post of ``case``) that is on ``case`` and
    has no "post added" / "replied" event there its event, at the post's ``posted_at``: "post
    added" for a customer's post, "replied" for the brand's (``via="platform"`` when no agent
    sent it through socialcare). ``actor``: who put the posts on the case (None: the system).
    Returns how many were recorded. Call it whenever posts join a case other than by their own
    ingest or send, which record theirs."""
    missing = Post.objects.filter(case=case).filter(
        ~Exists(
            CaseEvent.objects.filter(
                case=case.pk, kind__in=POST_EVENTS, post=OuterRef("pk")
            ).values("pk")
        )
    )
    if posts is not None:
        ids = list(posts)
        if not ids:
            return 0
        missing = missing.filter(pk__in=ids)
    found = list(
        missing.select_related("author", "sent_by")
        .only("pk", "direction", "text", "visibility", "posted_at", "author", "sent_by", "case")
        .order_by("posted_at", "pk")
    )
    with written_together():
        for post in found:
            record_post_event(case, post, actor)
    return len(found)


def record_post_event(case: Case, post: Post, actor: Any = None) -> CaseEvent:
    """Record ``post``'s own event on ``case`` (see :func:`record_post_events`), without looking
    for one already there: for a post that has just joined the case."""
    if post.direction == Post.Direction.INBOUND:
        return record_event(
            case,
            CaseEvent.Kind.POST_ADDED,
            actor=actor,
            post=post,
            at=post.posted_at,
            text=post.text[:280],
            author=str(post.author) if post.author_id else "unknown",
        )
    if post.sent_by_id:  # an agent's reply that came with a merge
        return record_event(
            case,
            CaseEvent.Kind.REPLIED,
            actor=post.sent_by,
            post=post,
            at=post.posted_at,
            text=post.text[:2000],
            visibility=post.visibility,
        )
    return record_event(
        case,
        CaseEvent.Kind.REPLIED,
        actor=actor,
        post=post,
        at=post.posted_at,
        text=post.text[:280],
        via="platform",
    )


# The case page's items -------------------------------------------------------------------------


@dataclass
class TimelineItem:
    """One entry: a post (``inbound``/``outbound``, with the event that stands for it, if any),
    an internal ``note`` or another ``event``."""

    kind: str
    at: dt.datetime
    post: Post | None = None
    event: CaseEvent | None = None
    rank: int = RANK_OTHER

    @property
    def sort_key(self) -> tuple:
        """:data:`ORDERING`; a post without its event after the events at its time and rank."""
        if self.event is not None:
            return (self.at, self.rank, 0, self.event.pk)
        return (self.at, self.rank, 1, self.post.pk if self.post else 0)


@dataclass
class Timeline:
    items: list[TimelineItem]
    has_older: bool
    limit: int

    @property
    def older_limit(self) -> int:
        return min(self.limit + TIMELINE_PAGE, TIMELINE_MAX)

    @cached_property
    def groups(self) -> list[TimelineGroup]:
        """:attr:`items` with system events of the same minute folded (:func:`fold_system_events`)."""
        return fold_system_events(self.items)


# Folding system events ---------------------------------------------------------------------------

K = CaseEvent.Kind
#: What the case page folds together when several happen in the same minute: changes to the case
#: itself, never what someone wrote (posts, replies, notes), moderation or a hand-off.
SYSTEM_EVENTS = frozenset(
    {
        K.CREATED,
        K.STATUS_CHANGED,
        K.PRIORITY_CHANGED,
        K.ASSIGNEE_CHANGED,
        K.TEAM_CHANGED,
        K.TAGS_CHANGED,
        K.CUSTOMER_CHANGED,
        K.SLA_BREACHED,
        K.SLA_WITHDRAWN,
        K.ESCALATED,
        K.INCIDENT_LINKED,
        K.MACRO_APPLIED,
    }
)


@dataclass
class TimelineGroup:
    """One line of the case page: a single entry, or system events of one minute folded."""

    items: list[TimelineItem] = field(default_factory=list)

    @property
    def folded(self) -> bool:
        return len(self.items) > 1

    @property
    def item(self) -> TimelineItem:
        return self.items[0]

    @property
    def at(self) -> dt.datetime:
        return self.items[0].at

    @property
    def summary(self) -> str:
        """ "Opened · assigned to Maya Okafor · status Open · tagged billing"."""
        labels = [fold_label(item.event) for item in self.items if item.event is not None]
        line = " · ".join(labels)
        return line[:1].upper() + line[1:]

    @property
    def actors(self) -> str:
        """Who did them, each once, in order ("system", "aiko")."""
        names: list[str] = []
        for item in self.items:
            name = item.event.actor_label if item.event is not None else ""
            if name and name not in names:
                names.append(name)
        return ", ".join(names)


def is_system_event(item: TimelineItem) -> bool:
    """Whether ``item`` may be folded with others of its minute (:data:`SYSTEM_EVENTS`)."""
    return item.kind == "event" and item.event is not None and item.event.kind in SYSTEM_EVENTS


def fold_system_events(items: Iterable[TimelineItem]) -> list[TimelineGroup]:
    """``items`` (in timeline order) as groups: neighbouring system events of the same minute
    become one group, everything else (posts, replies, notes, other events, a system event alone
    in its minute) a group of one. The order never changes; nothing is read from the database."""
    groups: list[TimelineGroup] = []
    for item in items:
        last = groups[-1] if groups else None
        if (
            last is not None
            and is_system_event(item)
            and is_system_event(last.items[-1])
            and _minute(last.items[-1].at) == _minute(item.at)
        ):
            last.items.append(item)
        else:
            groups.append(TimelineGroup([item]))
    return groups


def _minute(at: dt.datetime) -> dt.datetime:
    return at.replace(second=0, microsecond=0)


def fold_label(event: CaseEvent) -> str:
    """A few words for ``event`` in a folded line ("assigned to Maya", "status Open")."""
    d = event.data or {}
    match event.kind:
        case K.CREATED:
            return "opened"
        case K.ASSIGNEE_CHANGED:
            return f"assigned to {d['to']}" if d.get("to") else "unassigned"
        case K.TEAM_CHANGED:
            return f"team {d['to']}" if d.get("to") else "no team"
        case K.STATUS_CHANGED:
            return f"status {_label(Case.Status, d.get('to'))}"
        case K.PRIORITY_CHANGED:
            return f"priority {_label(Priority, d.get('to'))}"
        case K.TAGS_CHANGED:
            tags = d.get("to") or []
            return f"tagged {', '.join(tags)}" if tags else "tags removed"
        case _:
            shown = getattr(event, "shown_summary", "") or event.get_kind_display()
            return shown[:1].lower() + shown[1:] if shown[1:2].islower() else shown


def _label(choices: Any, value: Any) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value)


#: What the page reads of a post (not its raw payload or HTML).
_POST_RELATED = ("post", "post__author", "post__sent_by", "post__channel")


def build_timeline(
    case: Case, *, limit: int = TIMELINE_PAGE, viewer: Viewer | None = None
) -> Timeline:
    """The latest ``limit`` entries of ``case``'s timeline, oldest first, in two queries (its
    events; its posts without their event, normally none). A deleted post shows as deleted.
    Each event's ``shown_summary`` is its summary as ``viewer`` (``services.access.Viewer``) may
    read it (another team's case named "a case in another team"); without one, its summary."""
    limit = max(1, min(limit, TIMELINE_MAX))
    events = list(
        ordered(timeline_events(case), newest_first=True)
        .select_related("actor", *_POST_RELATED)
        .defer("post__raw", "post__html")[: limit + 1]
    )
    orphans = list(
        Post.objects.filter(case=case)
        .filter(
            ~Exists(
                CaseEvent.objects.filter(
                    case=case.pk, kind__in=POST_EVENTS, post=OuterRef("pk")
                ).values("pk")
            )
        )
        .select_related("author", "sent_by", "channel")
        .defer("raw", "html")
        .order_by("-posted_at", "-pk")[: limit + 1]
    )
    shown = events[:limit]
    if viewer is not None:
        viewer.learn_events(shown)
    items = [_event_item(case, event, viewer) for event in shown] + [
        TimelineItem(kind=p.direction, at=p.posted_at, post=p, rank=RANK_POST)
        for p in orphans[:limit]
    ]
    items.sort(key=lambda item: item.sort_key)
    has_older = len(items) > limit or len(events) > limit or len(orphans) > limit
    return Timeline(items=items[-limit:], has_older=has_older, limit=limit)


def _event_item(case: Case, event: CaseEvent, viewer: Viewer | None) -> TimelineItem:
    rank = event.timeline_rank
    if event.kind in POST_EVENTS and event.post_id is not None and event.post.case_id == case.pk:
        post = event.post
        return TimelineItem(kind=post.direction, at=event.at, post=post, event=event, rank=rank)
    summary = event.summary()
    event.shown_summary = viewer.event_summary(event, summary) if viewer else summary
    return TimelineItem(kind=_event_kind(event), at=event.at, event=event, rank=rank)


def _event_kind(event: CaseEvent) -> str:
    if event.kind == CaseEvent.Kind.REPLIED:
        return "outbound"  # a reply without a post of its own: an email sent on hand-off
    if event.kind == CaseEvent.Kind.NOTE and event.post_id is None:
        return "note"
    return "event"
