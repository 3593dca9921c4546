"""Private Replies: the one private message a Facebook Page or an Instagram account may send a
person who commented publicly, and how that person's answer finds its case.

Meta lets a business start a private conversation with a commenter only this way (the person
never wrote to the account, so no messaging window is open, whatever id their comment carries):
``POST /{page-id}/messages`` (Instagram: ``/{ig-user-id}/messages``) with
``recipient: {"comment_id": ...}``. One message per comment, within 7 days of the comment. It
does not open the 24-hour window: the conversation continues in Messenger / Instagram Direct
only once the person answers. Meta answers with the person's page-scoped id (``recipient_id``);
the sent post's conversation becomes ``dm:<that id>``, the conversation Meta's parser gives the
person's messages, so their answer joins the case of the private reply (``answered_case``) by
that conversation, not by comparing identities (docs/ingestion.md, "Identity spaces on Meta"). docs/replies.md has each rule with
its source.

Who asks here: ``send_reply`` (a private message on a case whose reply window is closed goes as
a private reply when one is possible), ``hand_off`` (refused before anything is sent when
neither a direct message nor a private reply can go), ``deliver_post`` (the rules again at send
time), the case page (one line above the composer) and ingest (``_candidate_cases``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from socialcare.exceptions import SocialCareError
from socialcare.models import Case, CaseEvent, Post, Visibility
from socialcare.platforms.base import InboundPost, SentPost
from socialcare.services.events import record_event
from socialcare.services.reply_window import (
    META_PLATFORMS,
    ReplyWindow,
    alternatives_for,
    clock_text,
    reply_window,
)

#: How long after a comment Meta accepts a private reply to it.
PRIVATE_REPLY_WINDOW = dt.timedelta(days=7)
#: ``Post.raw`` keys of an outbound private message sent as a private reply: the comment it
#: answers (set when queued), and the page-scoped id Meta named (set when sent).
REPLY_TO = "private_reply_to"
RECIPIENT = "private_reply_recipient"
#: The prefix of the conversation id Meta's parser gives Messenger / Instagram Direct messages.
DM_PREFIX = "dm:"
#: Send states in which a private reply has used its comment's one message (a failed one has not).
USED_STATES = (
    Post.SendStatus.QUEUED,
    Post.SendStatus.SENDING,
    Post.SendStatus.SENT,
    Post.SendStatus.AWAITING_APPROVAL,
)


def inbox(platform: str) -> str:
    """Where the conversation continues: "Messenger" or "Instagram Direct"."""
    return "Instagram Direct" if platform == "instagram" else "Messenger"


@dataclass(frozen=True)
class PrivateReply:
    """Whether a private reply to the customer's latest comment on a case may go now.

    ``comment``: the comment it would answer (None when the case has none); ``until``: when Meta
    stops accepting one (7 days after the comment); ``reason``: why it cannot go ("" when it
    can); ``alternatives``: what is left, as ``ReplyWindow.alternatives`` names them."""

    comment: Post | None
    until: dt.datetime | None = None
    reason: str = ""
    alternatives: tuple[str, ...] = ()

    @property
    def possible(self) -> bool:
        return self.comment is not None and not self.reason

    @property
    def refusal(self) -> str:
        """Why no private reply can go, and what the agent can do instead."""
        closed = ReplyWindow(open=False, kind="closed", alternatives=self.alternatives)
        return f"No private reply can go to the customer: {self.reason} {_instead(closed)}"

    def summary(self, zone: dt.tzinfo | None = None) -> str:
        """One line for the composer ("" when there is no comment to answer)."""
        if self.comment is None:
            return ""
        if self.possible:
            return (
                f"Private reply possible until {clock_text(self.until, zone)} (one message to this "
                f"comment; the conversation continues in {inbox(self.comment.platform)} once the "
                "customer answers)."
            )
        return f"Private reply: not possible — {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        """The API's ``reply_window.private_reply`` object (``ReplyWindow.as_dict``'s sibling)."""
        return {
            "possible": self.possible,
            "until": self.until,
            "comment": self.comment.pk if self.comment is not None else None,
            "reason": self.reason,
        }


def private_reply_target(case: Case) -> Post | None:
    """The comment a private reply on ``case`` answers: the customer's latest visible public
    comment on a Facebook or Instagram case (None on other platforms, or without one)."""
    channel = case.channel
    if channel is None or channel.platform not in META_PLATFORMS:
        return None
    return (
        case.posts.inbound()
        .visible()
        .filter(visibility=Visibility.PUBLIC, kind=Post.Kind.COMMENT, external_id__isnull=False)
        .order_by("-posted_at", "-pk")
        .first()
    )


def private_reply(
    case: Case, *, now: dt.datetime | None = None, exclude: Post | None = None
) -> PrivateReply:
    """Whether a private reply to the customer's latest comment on ``case`` may go at ``now``.
    ``exclude``: a private reply not to count as the comment's one message (the one being
    sent)."""
    comment = private_reply_target(case)
    alternatives = alternatives_for(case)
    if comment is None:
        return PrivateReply(
            None,
            reason=f"{case.reference} has no public comment by the customer to answer with a "
            "private reply.",
            alternatives=alternatives,
        )
    return _judge(comment, now=now, exclude=exclude, alternatives=alternatives)


def private_reply_refusal(case: Case, *, now: dt.datetime | None = None) -> str:
    """Why no private reply can go on ``case`` now ("" when one can)."""
    chance = private_reply(case, now=now)
    return "" if chance.possible else chance.refusal


def private_reply_state(case: Case, *, now: dt.datetime | None = None) -> PrivateReply | None:
    """What the case API shows of a private reply on ``case`` at ``now``: None when there is no
    comment to answer (not a Facebook or Instagram case — no query then —, or no public comment
    by the customer). Without the alternatives: the reply window lists them."""
    comment = private_reply_target(case)
    if comment is None:
        return None
    return _judge(comment, now=now, exclude=None, alternatives=())


def composer_line(case: Case, window: ReplyWindow) -> str:
    """The case page's line about a private reply: on a Facebook or Instagram case whose reply
    window is closed and that has a comment to answer ("" otherwise, without a query)."""
    channel = case.channel
    if window.open or channel is None or channel.platform not in META_PLATFORMS:
        return ""
    return private_reply(case).summary()


def _judge(
    comment: Post,
    *,
    now: dt.datetime | None,
    exclude: Post | None,
    alternatives: tuple[str, ...],
) -> PrivateReply:
    now = now or timezone.now()
    until = comment.posted_at + PRIVATE_REPLY_WINDOW
    others = private_replies_to(comment)
    if exclude is not None:
        others = others.exclude(pk=exclude.pk)
    used = others.first()
    reason = ""
    if used is not None:
        done = "was already sent" if used.send_status == Post.SendStatus.SENT else "is queued"
        reason = (
            f"a private reply to the customer's comment {done} ({clock_text(used.posted_at, None)}); "
            "Meta allows one per comment."
        )
    elif now >= until:
        reason = (
            f"the customer's comment is {_age(now - comment.posted_at)} old; Meta allows a "
            "private reply only within 7 days of the comment."
        )
    return PrivateReply(comment, until=until, reason=reason, alternatives=alternatives)


def private_replies_to(comment: Post) -> QuerySet[Post]:
    """The private replies that used ``comment``'s one message (queued, sending or sent)."""
    return Post.objects.filter(
        parent=comment,
        direction=Post.Direction.OUTBOUND,
        visibility=Visibility.PRIVATE,
        send_status__in=USED_STATES,
    ).order_by("posted_at", "pk")


# Sending --------------------------------------------------------------------------------------


def private_reply_fallback(case: Case, window: ReplyWindow) -> Post:
    """The comment a private message on ``case`` answers as a private reply, its reply window
    being closed; ``SocialCareError`` saying why not (the window's reason, the private reply's
    and the alternatives) when none can go."""
    chance = private_reply(case)
    if chance.possible and chance.comment is not None:
        return chance.comment
    if chance.comment is None:
        raise SocialCareError(window.refusal)
    raise SocialCareError(
        f"No private message can reach the customer now: {window.reason} No private reply to "
        f"their comment either: {chance.reason} {_instead(window)}"
    )


def hand_off_refusal(case: Case, *, automated: bool = False) -> str:
    """Why ``case`` (Facebook or Instagram) cannot be taken private by direct message: neither a
    direct message (reply window) nor a private reply to the customer's comment can go. ""
    when one can, and on other platforms."""
    channel = case.channel
    if channel is None or channel.platform not in META_PLATFORMS:
        return ""
    window = reply_window(case, automated=automated)
    if window.open:
        return ""
    chance = private_reply(case)
    if chance.possible:
        return ""
    if chance.comment is None:  # "... wrote to it first, and SC-12 has no public comment ..."
        reason = f"{window.reason.rstrip('.')}, and {chance.reason}"
    else:
        reason = chance.reason
    return (
        f"{case.reference} cannot be taken private by direct message: {reason} {_instead(window)}"
    )


def is_private_reply(post: Post) -> bool:
    """Whether ``post`` is an outbound private message sent as a private reply to a comment."""
    return bool(private_reply_comment_id(post))


def private_reply_comment_id(post: Post) -> str:
    """The id of the comment ``post`` answers privately ("" when it is not a private reply)."""
    if post.direction != Post.Direction.OUTBOUND or post.visibility != Visibility.PRIVATE:
        return ""
    value = (post.raw or {}).get(REPLY_TO) if isinstance(post.raw, dict) else None
    return value if isinstance(value, str) else ""


def queued_fields(comment: Post | None) -> dict[str, Any]:
    """``Post`` fields of a private message queued as a private reply to ``comment``."""
    if comment is None:
        return {}
    return {"raw": {REPLY_TO: comment.external_id}}


def send_time_refusal(post: Post) -> str:
    """Why the queued private reply ``post`` may not go now ("" when it may): 7 days passed since
    its comment, or another private reply used the comment's one message."""
    comment = post.parent
    if comment is None or comment.deleted_at is not None:
        return "The comment this private reply answers is gone; Meta cannot deliver it."
    chance = _judge(comment, now=None, exclude=post, alternatives=())
    return f"No private reply can go to the customer: {chance.reason}" if chance.reason else ""


def sent_fields(post: Post, sent: SentPost) -> dict[str, Any]:
    """``Post`` fields to store once the private reply ``post`` is sent: its conversation is the
    person's Messenger / Instagram Direct conversation (``dm:<recipient id>``), so their answer
    finds it; the recipient id is kept in ``raw``. Nothing for other posts."""
    if not is_private_reply(post):
        return {}
    recipient = sent.recipient_id
    fields: dict[str, Any] = {"raw": {**(post.raw or {}), RECIPIENT: recipient}}
    if recipient:
        fields["conversation_id"] = f"{DM_PREFIX}{recipient}"[:500]
    return fields


def private_recipient(case: Case) -> str:
    """The page-scoped id a private message on ``case`` goes to: from the case's Messenger /
    Instagram Direct conversation (the customer's latest message, else the private reply sent
    to their comment), "" when it has none."""
    found = (
        case.posts.filter(visibility=Visibility.PRIVATE, conversation_id__startswith=DM_PREFIX)
        .filter(direction=Post.Direction.INBOUND)
        .order_by("-posted_at", "-pk")
        .values_list("conversation_id", flat=True)
        .first()
    ) or (
        case.posts.filter(
            visibility=Visibility.PRIVATE,
            direction=Post.Direction.OUTBOUND,
            send_status=Post.SendStatus.SENT,
            parent__isnull=False,
            conversation_id__startswith=DM_PREFIX,
        )
        .order_by("-posted_at", "-pk")
        .values_list("conversation_id", flat=True)
        .first()
    )
    return found[len(DM_PREFIX) :] if found else ""


# The customer's answer ------------------------------------------------------------------------


def answered_case(
    item: InboundPost, usable: Callable[[Case | None, InboundPost], Case | None]
) -> Case | None:
    """The case a Messenger / Instagram Direct message joins because it answers a private reply:
    the case of the latest private reply sent into its conversation (``dm:<sender>``, the
    recipient id Meta returned), whatever identity wrote it. ``usable``: ingest's check that a
    post may join a case (reopening it when the rules say so). The first answer is noted on the
    case's timeline."""
    if (
        item.platform not in META_PLATFORMS
        or item.visibility != Visibility.PRIVATE
        or not item.conversation_id.startswith(DM_PREFIX)
    ):
        return None
    reply = (
        Post.objects.filter(
            platform=item.platform,
            direction=Post.Direction.OUTBOUND,
            visibility=Visibility.PRIVATE,
            send_status=Post.SendStatus.SENT,
            conversation_id=item.conversation_id,
            parent__isnull=False,
            case__isnull=False,
        )
        .select_related("case")
        .order_by("-posted_at", "-pk")
        .first()
    )
    if reply is None or not is_private_reply(reply):
        return None
    case = usable(_live(reply.case), item)
    if case is None:
        return None
    if not case.posts.filter(
        direction=Post.Direction.INBOUND, conversation_id=item.conversation_id
    ).exists():
        record_event(
            case,
            CaseEvent.Kind.NOTE,
            post=reply,
            at=item.posted_at,
            text=f"The customer answered the private reply in {inbox(item.platform)}: the "
            "conversation continues there (24-hour window from their message).",
            private_reply_answered=reply.pk,
        )
    return case


def _live(case: Case | None) -> Case | None:
    """Follow merges to the case worked on now."""
    for _ in range(20):
        if case is None or not case.merged_into_id:
            return case
        case = case.merged_into
    return case


def _instead(window: ReplyWindow) -> str:
    """ "Reply publicly or by e-mail instead." from a window's alternatives."""
    if not window.alternatives:
        return "Wait for the customer to write to the account."
    return f"{window.instead.capitalize()} instead."


def _age(delta: dt.timedelta) -> str:
    days = delta.days
    if days >= 2:
        return f"{days} days"
    return f"{int(delta.total_seconds() // 3600)} hours"
