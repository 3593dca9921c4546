"""The collision guard: a reply written against a conversation that moved on is not sent
blindly (docs/case-page.md, "Replying while someone else does"; docs/api.md, ``if_unchanged_since``).

The writer says when they last read the case (the case page: when it was rendered; the API:
``if_unchanged_since``). What counts as a change is what a writer would answer differently: a
post of the customer, a reply (an agent's, one waiting for approval, or an automatic one) and an
internal note, recorded on the case after that time. The time compared is when socialcare
*recorded* each one (a post's ``received_at``, a note's time), never the platform's time: a post
that arrives late with an old date still counts.

:func:`send_reply_if_unchanged` checks and sends in one transaction holding the case's row, so of
two agents answering the same state, the second one always hears of the first one's reply.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from socialcare.models import Case, CaseEvent, Post
from socialcare.services.access import Viewer
from socialcare.services.db_retry import retry_on_deadlock
from socialcare.services.presence import agent_name
from socialcare.services.replies import send_reply

#: The most changes listed (the newest ones); ``count`` says how many there were in all.
MAX_LISTED = 20

POST, REPLY, NOTE = "post", "reply", "note"


@dataclass(frozen=True)
class Change:
    """One thing recorded on the case after the writer's time."""

    kind: str  # POST (the customer's), REPLY (the brand's) or NOTE
    at: dt.datetime  # when socialcare recorded it
    by: str
    text: str
    post_id: int | None = None
    event_id: int | None = None
    status: str = ""  # a reply's send status

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "at": self.at.isoformat(),
            "by": self.by,
            "text": self.text,
            "post": self.post_id,
            "event": self.event_id,
            "status": self.status,
        }

    @property
    def label(self) -> str:
        """ "Maya Okafor replied", "Customer @ada wrote", "Hannah Weber added a note"."""
        return {
            POST: f"{self.by} wrote",
            REPLY: f"{self.by} replied",
            NOTE: f"{self.by} added a note",
        }[self.kind]


@dataclass(frozen=True)
class Changes:
    since: dt.datetime
    count: int
    items: list[Change]  # oldest first, at most MAX_LISTED (the newest)

    def __bool__(self) -> bool:
        return self.count > 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "count": self.count,
            "changes": [c.as_dict() for c in self.items],
        }


class ConversationChanged(Exception):
    """The case got new posts, replies or notes after the writer's time; nothing was sent."""

    def __init__(self, changes: Changes) -> None:
        self.changes = changes
        super().__init__(f"{changes.count} new posts, replies or notes since {changes.since}")


def changes_since(case: Case | int, since: dt.datetime, *, user: Any = None) -> Changes:
    """What was recorded on ``case`` after ``since``: the customer's posts, replies and notes,
    oldest first. ``user``: the reader, for whom a note naming another team's case is shown
    with that reference hidden (services.access.Viewer)."""
    case_id = case.pk if isinstance(case, Case) else case
    posts = list(
        Post.objects.filter(case_id=case_id, received_at__gt=since)
        .select_related("author", "sent_by")
        .order_by("-received_at", "-id")[:MAX_LISTED]
    )
    post_count = (
        len(posts)
        if len(posts) < MAX_LISTED
        else Post.objects.filter(case_id=case_id, received_at__gt=since).count()
    )
    notes = CaseEvent.objects.filter(case_id=case_id, kind=CaseEvent.Kind.NOTE, at__gt=since)
    note_rows = list(notes.select_related("actor").order_by("-at", "-id")[:MAX_LISTED])
    note_count = len(note_rows) if len(note_rows) < MAX_LISTED else notes.count()
    viewer = Viewer(user) if user is not None else None
    items = [_post_change(p) for p in posts] + [
        Change(
            kind=NOTE,
            at=e.at,
            by=agent_name(e.actor),
            text=viewer.text(e.data.get("text", "")) if viewer else e.data.get("text", ""),
            event_id=e.pk,
        )
        for e in note_rows
    ]
    items.sort(key=lambda c: (c.at, c.post_id or 0, c.event_id or 0))
    return Changes(since=since, count=post_count + note_count, items=items[-MAX_LISTED:])


def _post_change(post: Post) -> Change:
    if post.direction == Post.Direction.INBOUND:
        author = post.author
        who = (author.display_name or f"@{author.handle}") if author else "The customer"
        return Change(kind=POST, at=post.received_at, by=who, text=post.text, post_id=post.pk)
    return Change(
        kind=REPLY,
        at=post.received_at,
        by=agent_name(post.sent_by),
        text=post.text,
        post_id=post.pk,
        status=post.send_status or "",
    )


@retry_on_deadlock
@transaction.atomic
def send_reply_if_unchanged(
    case: Case, text: str = "", *, since: dt.datetime | None, actor: Any, **options: Any
) -> Post:
    """``services.replies.send_reply`` — unless the case got new posts, replies or notes after
    ``since`` (None: no check), then :class:`ConversationChanged` and nothing is stored. The
    check and the send hold the case's row: two replies written against the same state cannot
    both pass."""
    if since is not None:
        Case.objects.select_for_update(of=("self",)).filter(pk=case.pk).first()
        changes = changes_since(case, since, user=actor)
        if changes:
            raise ConversationChanged(changes)
    return send_reply(case, text, actor=actor, **options)
