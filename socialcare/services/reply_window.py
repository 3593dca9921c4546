"""The reply window of a case: whether a private message may reach its customer now, until when,
with which Meta ``messaging_type`` and ``tag``, or why not and what to do instead. And X's reply
rule: which customer post a public reply may answer. The composer, the API and the sender all
ask here (docs/replies.md has each rule with its source).

- Facebook and Instagram (Messenger Platform): a private message may go within 24 hours of the
  customer's last private message (``messaging_type: RESPONSE``); after that, only when the
  channel's Meta app has the Human Agent permission (``Channel.human_agent_tag``), as
  ``messaging_type: MESSAGE_TAG`` with ``tag: HUMAN_AGENT``, until 7 days after it; then never,
  until the customer writes again.
- X: direct messages have no window. A public reply may answer only a post that @mentions the
  brand or quotes one of its posts (``reply_target``, ``public_reply_refusal``).
- Bluesky: no window, but the customer chooses who may message them; the chat service is asked
  whether the brand may (``services.chat_availability``), closed with the reason when not.
- Other platforms: no window.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils import timezone

from socialcare.models import Case, Post, Visibility, customer_email
from socialcare.platforms import x as x_platform
from socialcare.services.chat_availability import bluesky_chat

#: Meta's standard messaging window, and the Human Agent tag's (from the customer's last message).
STANDARD_WINDOW = dt.timedelta(hours=24)
HUMAN_AGENT_WINDOW = dt.timedelta(days=7)
META_PLATFORMS = frozenset({"facebook", "instagram"})

#: What a closed window leaves the agent, as ``ReplyWindow.alternatives`` names them.
PUBLIC_REPLY = "public reply"
EMAIL = "email"
#: How many of the customer's latest public posts ``reply_target`` looks through on X.
X_TARGET_CANDIDATES = 50


@dataclass(frozen=True)
class ReplyWindow:
    """Whether a private message may be sent now (``open``) and on what terms.

    ``kind``: ``none`` (the platform has no window), ``standard`` (Meta's 24 hours),
    ``human_agent`` (Meta's 7 days with the HUMAN_AGENT tag) or ``closed``. ``until``: when the
    current window closes; ``since``: the customer's last private message that opened it.
    ``reason`` says why it is closed (or which rule applies); ``alternatives`` name what is left
    (``"public reply"``, ``"email"``)."""

    open: bool
    kind: str
    until: dt.datetime | None = None
    since: dt.datetime | None = None
    messaging_type: str = ""
    tag: str = ""
    reason: str = ""
    alternatives: tuple[str, ...] = ()

    @property
    def refusal(self) -> str:
        """Why a private message cannot go now, and what the agent can do instead."""
        instead = (
            f"{self.instead.capitalize()} instead"
            if self.alternatives
            else "Wait for the customer to write again"
        )
        return f"No private message can reach the customer now: {self.reason} {instead}."

    @property
    def instead(self) -> str:
        """The alternatives in words: "reply publicly or by e-mail"."""
        if PUBLIC_REPLY in self.alternatives:
            return "reply publicly or by e-mail" if EMAIL in self.alternatives else "reply publicly"
        if EMAIL in self.alternatives:
            return "reply by e-mail"
        return "wait for the customer to write again"

    def summary(self, zone: dt.tzinfo | None = None) -> str:
        """One line for the composer: "Private replies open until 14:32 (24 h window)"."""
        if self.kind == "standard":
            return f"Private replies open until {clock_text(self.until, zone)} (24 h window)."
        if self.kind == "human_agent":
            return (
                f"Human-agent window until {clock_text(self.until, zone)}: private replies go with "
                "Meta's HUMAN_AGENT tag (7 days)."
            )
        if self.kind == "closed":
            return f"Closed: {self.reason.rstrip('.')} — {self.instead}."
        return self.reason

    def as_dict(self) -> dict[str, Any]:
        """The API's ``reply_window`` object."""
        return {
            "open": self.open,
            "kind": self.kind,
            "until": self.until,
            "since": self.since,
            "messaging_type": self.messaging_type,
            "tag": self.tag,
            "reason": self.reason,
            "alternatives": list(self.alternatives),
        }


def reply_window(
    case: Case, *, now: dt.datetime | None = None, automated: bool = False
) -> ReplyWindow:
    """The private-message window of ``case`` through its channel at ``now``. ``automated``: for
    a message no person wrote (a playbook's), which Meta's HUMAN_AGENT tag may not carry."""
    channel = case.channel
    if channel is None:
        return ReplyWindow(open=False, kind="closed", reason=f"{case.reference} has no channel.")
    if not channel.can_message_private:
        return ReplyWindow(
            open=False,
            kind="closed",
            reason=f"{channel} cannot send private messages.",
            alternatives=alternatives_for(case),
        )
    if channel.platform == "bluesky":
        return _bluesky_window(case)
    if channel.platform not in META_PLATFORMS:
        reason = "Direct messages on X have no reply window." if channel.platform == "x" else ""
        return ReplyWindow(open=True, kind="none", reason=reason)
    since = last_private_message_at(case)
    if since is None:
        return ReplyWindow(
            open=False,
            kind="closed",
            reason="the customer has not written to this account privately, and Meta lets a "
            "business message only people who wrote to it first.",
            alternatives=alternatives_for(case),
        )
    now = now or timezone.now()
    if now < since + STANDARD_WINDOW:
        return ReplyWindow(
            open=True,
            kind="standard",
            until=since + STANDARD_WINDOW,
            since=since,
            messaging_type="RESPONSE",
            reason="Meta allows private replies for 24 hours after the customer's last message.",
        )
    ago = _ago(now - since)
    if now < since + HUMAN_AGENT_WINDOW and channel.human_agent_tag and not automated:
        return ReplyWindow(
            open=True,
            kind="human_agent",
            until=since + HUMAN_AGENT_WINDOW,
            since=since,
            messaging_type="MESSAGE_TAG",
            tag="HUMAN_AGENT",
            reason=f"The customer's last message was {ago} ago: past Meta's 24 hours, a human "
            "agent may answer with the HUMAN_AGENT tag for 7 days.",
        )
    if now < since + HUMAN_AGENT_WINDOW and channel.human_agent_tag:
        reason = (
            f"the customer's last private message was {ago} ago; past Meta's 24 hours only a "
            "person may answer (HUMAN_AGENT tag), not an automated message."
        )
    elif now < since + HUMAN_AGENT_WINDOW:
        reason = (
            f"the customer's last private message was {ago} ago; Meta allows private replies "
            "for 24 hours, and this channel has no Human Agent permission (7 days)."
        )
    else:
        reason = (
            f"the customer's last private message was {ago} ago; Meta allows none after 7 days "
            "(24 hours, or 7 days with the Human Agent permission)."
        )
    return ReplyWindow(
        open=False, kind="closed", since=since, reason=reason, alternatives=alternatives_for(case)
    )


def _bluesky_window(case: Case) -> ReplyWindow:
    """Open unless Bluesky's chat service says the customer does not accept the brand's
    messages (or the channel's app password cannot reach it)."""
    verdict = bluesky_chat(case)
    if verdict.open:
        return ReplyWindow(open=True, kind="none")
    return ReplyWindow(
        open=False, kind="closed", reason=verdict.reason, alternatives=alternatives_for(case)
    )


def last_private_message_at(case: Case) -> dt.datetime | None:
    """When the customer last wrote privately to the case's channel: on this case, or from its
    identity on another case of the channel (one conversation on the platform)."""
    mine = Q(case_id=case.pk)
    if case.identity_id is not None and case.channel_id is not None:
        mine |= Q(author_id=case.identity_id, channel_id=case.channel_id)
    return (
        Post.objects.filter(mine, direction=Post.Direction.INBOUND, visibility=Visibility.PRIVATE)
        .order_by("-posted_at")
        .values_list("posted_at", flat=True)
        .first()
    )


def alternatives_for(case: Case) -> tuple[str, ...]:
    """What the agent can do instead of a private message: a public reply, an e-mail."""
    found = []
    channel = case.channel
    if channel is not None and channel.can_reply_public and reply_target(case) is not None:
        found.append(PUBLIC_REPLY)
    if customer_email(case.customer if case.customer_id else None):
        found.append(EMAIL)
    return tuple(found)


# X's reply rule ---------------------------------------------------------------------------------


def reply_target(case: Case) -> Post | None:
    """The customer post a public reply answers: the case's latest visible inbound public post;
    on X, the latest one X lets the brand answer (``allows_public_reply``)."""
    posts = (
        case.posts.inbound()
        .visible()
        .filter(visibility=Visibility.PUBLIC)
        .order_by("-posted_at", "-pk")
    )
    channel = case.channel
    if channel is None or channel.platform != "x":
        return posts.first()
    for post in posts[:X_TARGET_CANDIDATES]:
        if allows_public_reply(post, channel):
            return post
    return None


def allows_public_reply(post: Post, channel: Any = None) -> bool:
    """Whether the platform lets the brand reply publicly to ``post``. On X: the post @mentions
    the brand or quotes one of its posts; a post whose payload was not stored (made by hand or
    imported) is judged by its text, and given the benefit of the doubt when that cannot tell
    (X itself then answers, and a refusal fails the reply with X's reason)."""
    channel = channel or post.channel
    if post.platform != "x" or channel is None:
        return True
    verdict = x_platform.summons(post.raw, post.text, channel.account_id, channel.handle)
    return verdict is not False


def public_reply_refusal(case: Case) -> str:
    """Why no public reply can go on ``case`` now ("" when one can)."""
    channel = case.channel
    if channel is None or channel.platform != "x" or not channel.can_reply_public:
        return ""
    if reply_target(case) is not None:
        return ""
    public = case.posts.inbound().visible().filter(visibility=Visibility.PUBLIC)
    if public.exists():
        return (
            f"None of the customer's posts on {case.reference} @mentions "
            f"{'@' + channel.handle.lstrip('@') if channel.handle else 'the brand'} or quotes "
            f"one of its posts: {x_platform.REPLY_RULE}. Send a direct message instead."
        )
    return ""


def _ago(delta: dt.timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours >= 48:
        return f"{hours // 24} days"
    return f"{hours} hours"


def clock_text(at: dt.datetime | None, zone: dt.tzinfo | None) -> str:
    """``at`` as an agent reads it: "14:32" today, "09 Dec 10:00" another day."""
    if at is None:
        return "—"
    local = timezone.localtime(at, zone)
    today = timezone.localtime(timezone.now(), zone).date()
    if local.date() == today:
        return local.strftime("%H:%M")
    return local.strftime("%d %b %H:%M")
