"""The event feed (``GET api/v1/events/``): every case event the reader may see, in order, each
as the outbound webhook for the same change would carry it (docs/api.md, "The event feed").

**Order and late commits.** Events are read in primary-key order. Ids are handed out when a row
is inserted, not when its transaction commits: on PostgreSQL (and any database with concurrent
writers) a transaction holding id 41 may commit after one holding id 42 was read. Reading "after
42" would then skip 41 for good. The feed therefore remembers the *gaps* below its cursor: ids
missing when the page was read (a transaction still in flight, or rolled back, or a deleted
case). The cursor carries them with the time they were first seen; every later request looks
them up again and returns those that have appeared (so an event can come after ones with higher
ids: upsert by ``id``). A gap is dropped once it was looked up ``GAP_WAIT`` after it was seen.
The guarantee holds for a transaction that writes events and commits within ``GAP_WAIT``
(60 s) and before ``GAP_WINDOW`` more events are written; only the newest ``MAX_GAPS`` gaps are
kept. On SQLite writers are serialized, so there are no late commits (only rollback gaps).

Reads happen in this order, each statement seeing everything committed before it started:
the newest id ``M``, the ids present in ``(M - GAP_WINDOW, M]`` (what is missing is a gap), then
the page, limited to ids up to ``M``. An event committed after the gap scan is either in the page
or a gap; one with an id above ``M`` is read by the next request.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core import signing
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Max, Q, QuerySet
from django.utils.dateparse import parse_datetime

from socialcare.models import CaseEvent
from socialcare.services import outbound_payloads as payloads
from socialcare.services.access import Viewer, visible_events

SALT = "socialcare.api.event-feed"
VERSION = 1
#: Seconds a missing id is waited for (looked up on every request until then).
GAP_WAIT = 60
#: How far below the newest id a transaction in flight may hold an id.
GAP_WINDOW = 5000
#: Gaps one cursor carries at most (the newest are kept).
MAX_GAPS = 100
DEFAULT_LIMIT = 100
MAX_LIMIT = 500

K = CaseEvent.Kind
#: Kinds whose change an outbound webhook announces too, and that webhook's event type.
WEBHOOK_EVENTS: dict[str, str] = {
    K.CREATED: "case.created",
    K.STATUS_CHANGED: "case.status_changed",
    K.PRIORITY_CHANGED: "case.updated",
    K.ASSIGNEE_CHANGED: "case.updated",
    K.TEAM_CHANGED: "case.updated",
    K.TAGS_CHANGED: "case.updated",
    K.CUSTOMER_CHANGED: "case.updated",
    K.SLA_BREACHED: "case.sla_breached",
    K.ESCALATED: "case.sla_warning",
    K.POST_ADDED: "post.created",
    K.MODERATED: "post.moderated",
}
#: ``case.updated``'s ``field`` per kind, and the event data keys of the old and new values.
UPDATED_FIELDS: dict[str, tuple[str, str, str]] = {
    K.PRIORITY_CHANGED: ("priority", "from", "to"),
    K.ASSIGNEE_CHANGED: ("assignee", "from_id", "to_id"),
    K.TEAM_CHANGED: ("team", "from_id", "to_id"),
    K.TAGS_CHANGED: ("tags", "from", "to"),
    K.CUSTOMER_CHANGED: ("customer", "from_id", "to_id"),
}


class InvalidCursor(ValueError):
    """The cursor was not issued by this server (or by another version of the feed)."""


@dataclass(frozen=True)
class FeedCursor:
    after: int = 0
    #: (missing id, Unix time first seen), oldest id first.
    gaps: tuple[tuple[int, int], ...] = ()


@dataclass
class FeedPage:
    items: list[dict[str, Any]]
    cursor: FeedCursor
    has_more: bool
    events: list[CaseEvent] = field(default_factory=list)


def encode_cursor(cursor: FeedCursor) -> str:
    body = {"v": VERSION, "a": cursor.after, "g": [list(gap) for gap in cursor.gaps]}
    return signing.dumps(body, salt=SALT, compress=True)


def decode_cursor(token: str) -> FeedCursor:
    """The cursor ``token`` stands for; ``InvalidCursor`` unless this server issued it."""
    try:
        body = signing.loads(token, salt=SALT)
        if not isinstance(body, dict) or body.get("v") != VERSION:
            raise InvalidCursor("This cursor is not one the event feed issued.")
        after = body["a"]
        gaps = tuple((int(g[0]), int(g[1])) for g in body["g"])
        if not isinstance(after, int) or after < 0:
            raise InvalidCursor("This cursor is not one the event feed issued.")
    except (signing.BadSignature, KeyError, TypeError, ValueError, IndexError) as exc:
        if isinstance(exc, InvalidCursor):
            raise
        raise InvalidCursor("This cursor is not one the event feed issued.") from None
    return FeedCursor(after=after, gaps=gaps)


def feed_events(
    user: Any, *, cases: Iterable[int] = (), kinds: Iterable[str] = ()
) -> QuerySet[CaseEvent]:
    """The events ``user`` may see (the team rule), narrowed to ``cases`` and ``kinds``."""
    events = visible_events(user, CaseEvent.objects.all())
    cases, kinds = list(cases), list(kinds)
    if cases:
        events = events.filter(case__in=cases)
    if kinds:
        events = events.filter(kind__in=kinds)
    return events


def read_feed(
    user: Any,
    cursor: FeedCursor | None = None,
    *,
    limit: int = DEFAULT_LIMIT,
    cases: Iterable[int] = (),
    kinds: Iterable[str] = (),
    now: float | None = None,
) -> FeedPage:
    """The next page of ``user``'s feed after ``cursor`` (from the first event when None)."""
    cursor = cursor or FeedCursor()
    limit = max(1, min(limit, MAX_LIMIT))
    now_ts = int(time.time() if now is None else now)
    newest = CaseEvent.objects.aggregate(m=Max("pk"))["m"] or 0
    newest = max(newest, cursor.after)
    low = max(cursor.after, newest - GAP_WINDOW)
    present = set(CaseEvent.objects.filter(pk__gt=low, pk__lte=newest).values_list("pk", flat=True))
    waited = [gap for gap, _ in cursor.gaps]
    after_cursor = Q(pk__gt=cursor.after, pk__lte=newest)
    selection = feed_events(user, cases=cases, kinds=kinds).filter(
        after_cursor | Q(pk__in=waited) if waited else after_cursor
    )
    rows = list(selection.select_related("actor", "case").order_by("pk")[: limit + 1])
    has_more = len(rows) > limit
    events = rows[:limit]
    returned = {event.pk for event in events}
    beyond = [event.pk for event in events if event.pk > cursor.after]
    after = beyond[-1] if has_more and beyond else (cursor.after if has_more else newest)
    # Gaps: the old ones not found yet and not given up (a gap is given up only once looked up
    # after GAP_WAIT: a full page may end before it), then the new ones up to ``after``.
    reached = events[-1].pk if has_more and events else newest
    gaps = [
        (gap, seen)
        for gap, seen in cursor.gaps
        if gap not in returned and (now_ts - seen < GAP_WAIT or gap > reached)
    ]
    known = {gap for gap, _ in gaps}
    gaps += [
        (pk, now_ts)
        for pk in range(low + 1, after + 1)
        if pk not in present and pk not in returned and pk not in known
    ]
    gaps = sorted(gaps)[-MAX_GAPS:]
    items = render(user, events)
    return FeedPage(items, FeedCursor(after, tuple(gaps)), has_more, events)


# The items ----------------------------------------------------------------------------------------


def _json(value: Any) -> Any:
    """As the outbound webhook stores it (datetimes as DjangoJSONEncoder writes them)."""
    if isinstance(value, str) and (parsed := parse_datetime(value)) is not None:
        value = parsed
    if isinstance(value, dt.datetime):
        return DjangoJSONEncoder().default(value)
    return value


def event_name(event: CaseEvent) -> str:
    """The webhook event type of ``event``'s change, or ``case.<kind>`` (the feed's own) when
    no webhook announces it; a refused or failed moderation is ``post.moderation_failed``."""
    if event.kind == K.MODERATED and (event.data or {}).get("error"):
        return "post.moderation_failed"
    return WEBHOOK_EVENTS.get(event.kind, f"case.{event.kind}")


def render(user: Any, events: list[CaseEvent]) -> list[dict[str, Any]]:
    """The feed items of ``events``: a constant number of queries whatever their number."""
    cases = payloads.case_rows(sorted({event.case_id for event in events}))
    posts = payloads.post_rows(sorted({e.post_id for e in events if e.post_id is not None}))
    case_json = {pk: payloads.case_payload(case) for pk, case in cases.items()}
    post_json = {pk: payloads.post_payload(post) for pk, post in posts.items()}
    viewer = Viewer(user)
    for event in events:  # their own cases, which the reader sees (see Viewer.learn_events)
        event.case_reference = event.case.reference
    viewer.learn_events([e for e in events if event_name(e).startswith("case.")])
    items = []
    for event in events:
        data = _data(event, case_json.get(event.case_id), post_json.get(event.post_id), viewer)
        items.append(
            {
                "id": event.pk,
                "event": event_name(event),
                "at": payloads.iso(event.at),
                "case": event.case_id,
                "kind": event.kind,
                "data": data,
            }
        )
    # The payloads name other cases too (a merge's ``merged_into``, texts): another team's
    # case is hidden as in timelines, with one query for the whole page.
    viewer.learn(viewer.references_in([item["data"] for item in items]))
    for item in items:
        item["data"] = viewer.data(item["data"])
    return items


def _data(event: CaseEvent, case: dict | None, post: dict | None, viewer: Viewer) -> dict[str, Any]:
    d = event.data or {}
    actor = payloads.user_data(event.actor) if event.actor_id else None
    builder = _BUILDERS.get(event.kind)
    if builder is not None and not (event.kind == K.MODERATED and d.get("error")):
        return builder(d, case, post, actor)
    return {"case": case, "post": post, "actor": actor, "details": viewer.event_data(event)}


def _updated(event_kind: str) -> Callable[..., dict[str, Any]]:
    name, old, new = UPDATED_FIELDS[event_kind]

    def build(d: dict, case: dict | None, post: dict | None, actor: Any) -> dict[str, Any]:
        return {"case": case, "field": name, "old": d.get(old), "new": d.get(new), "actor": actor}

    return build


def _sla(d: dict, case: dict | None, post: dict | None, actor: Any) -> dict[str, Any]:
    return {"case": case, "target": d.get("target"), "due_at": _json(d.get("due_at"))}


_BUILDERS: dict[str, Callable[..., dict[str, Any]]] = {
    K.CREATED: lambda d, case, post, actor: {"case": case, "actor": actor},
    K.STATUS_CHANGED: lambda d, case, post, actor: {
        "case": case,
        "from": d.get("from"),
        "to": d.get("to"),
        "actor": actor,
    },
    **{kind: _updated(kind) for kind in UPDATED_FIELDS},
    K.SLA_BREACHED: _sla,
    K.ESCALATED: _sla,
    K.POST_ADDED: lambda d, case, post, actor: {
        "post": post,
        "case": case,
        "case_created": bool(d.get("case_created", False)),
    },
    K.MODERATED: lambda d, case, post, actor: {
        "post": post,
        "case": case,
        "action": d.get("action"),
        "reason": d.get("reason", ""),
        "source": d.get("source") or None,
        "actor": actor,
    },
}
