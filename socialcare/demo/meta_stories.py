"""Two Meta cases the demo plays through the services of the real flow, not by hand:

- **A commenter taken private.** Karl-Heinz comments on Acme's Facebook Page (a ``feed``
  webhook, parsed by ``MetaAdapter`` and stored by ``ingest_post``). He never wrote to the Page,
  so Lukas answers with the one private reply Meta allows to a comment
  (``services.private_replies``: the comment it answers, the fields ``send_reply`` queues it
  with, the fields ``deliver_post`` stores once Meta answered with Karl's page-scoped id). Karl
  answers in Messenger: the message (a ``messages`` webhook, through ``ingest_post``) joins the
  same case because it answers the private reply (``answered_case``, which notes it on the
  timeline) and opens the 24-hour window.
- **A fetched Instagram mention.** A blogger @mentions Acme in a caption: the ``mentions``
  webhook names only the media (``ingest_post`` opens "Mention from unknown author"); its text
  and author then came from the Graph API (``services.mention_details.complete`` with the
  ``MentionDetails`` Meta would have answered: the author as a ``username:`` identity).

The demo has no network: nothing is sent or fetched. The outbound post is stored ``sent`` as
the worker would store it, like the demo's other replies, and each service call is replayed at
its moment (``at``: the events it wrote are moved there).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from socialcare.demo.data import WAITING
from socialcare.demo.stories import Story
from socialcare.models import Case, CaseEvent, Channel, Post, SocialIdentity, Visibility
from socialcare.platforms.base import InboundPost, SentPost
from socialcare.platforms.meta import MetaAdapter
from socialcare.platforms.meta import ids as meta_ids
from socialcare.platforms.meta.mentions import MentionDetails
from socialcare.services import cases as case_services
from socialcare.services import private_replies
from socialcare.services.events import record_event
from socialcare.services.ingest import channel_config, ingest_post
from socialcare.services.mention_details import complete
from socialcare.services.replies import note_response
from socialcare.services.reply_window import reply_window
from socialcare.services.templates import check_length

__all__ = ["COMMENT", "MENTION_USERNAME", "PRIVATE_REPLY", "play_meta_stories"]

T = TypeVar("T")

#: Acme's Page post Karl-Heinz comments on, his comment, and Meta's ids of the two messages.
PAGE_POST = "900000000000300"
COMMENT_ID = f"{PAGE_POST}_900000000000301"
PRIVATE_REPLY_MID = "m_demo_private_reply_karl_0001"
ANSWER_MID = "m_demo_answer_karl_0001"
COMMENT = (
    "Seit dem Update gestern verbindet sich mein Acme Hub nicht mehr mit dem WLAN. Neustart und "
    "Zurücksetzen haben nichts gebracht. Hat noch jemand das Problem?"
)
PRIVATE_REPLY = (
    "Hallo Herr Größmann, danke für Ihren Kommentar! Damit wir uns Ihren Hub genauer ansehen "
    "können: Schicken Sie uns hier bitte die Seriennummer (auf der Unterseite) und die "
    "Firmware-Version aus der App. – Lukas"
)
ANSWER = "Danke für die schnelle Antwort! Seriennummer HB-2291-0457, Firmware 5.1.0."

#: The media an Instagram blogger @mentioned Acme in, and what the Graph API says of it.
MENTION_MEDIA = "17990000000000401"
MENTION_USERNAME = "smarthome.sara"
MENTION_PERMALINK = "https://www.instagram.com/p/DemoHubReview1/"
# A caption comes without the "@" of the mention (platforms.meta.mentions).
CAPTION = (
    "Three months in with the acme Hub 🏡 Setup took five minutes and the lights just work. "
    "Only wish: a better night mode on the Cam. #smarthome #review"
)

#: When each step happened, in hours before the demo's "now".
COMMENT_HOURS_AGO = 6.0
ANSWER_HOURS_AGO = 4.0
MENTION_HOURS_AGO = 0.4


class Builder(Protocol):
    """What of the loader's builder the stories use."""

    now: dt.datetime
    channels: dict[str, Channel]
    agents: dict[str, Any]
    identities: dict[tuple[str, str], SocialIdentity]
    posts: int

    def at_time(
        self, at: dt.datetime, service: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T: ...


def play_meta_stories(builder: Builder) -> list[tuple[Story, Case]]:
    """Play both stories; return them with their cases, for the loader's list of cases."""
    return [_private_reply_answered(builder), _fetched_mention(builder)]


# A commenter taken private ----------------------------------------------------------------------


def _private_reply_answered(builder: Builder) -> tuple[Story, Case]:
    channel = builder.channels["facebook"]
    karl = builder.identities["karl", "facebook"]
    psid = meta_ids.platform_user_id(karl.external_id)  # what the webhooks name him by
    lukas = builder.agents["lukas"]
    commented = builder.now - dt.timedelta(hours=COMMENT_HOURS_AGO)

    comment = _ingest(builder, channel, _feed_comment(channel, psid, karl.display_name, commented))
    case = comment.case
    clock = commented + dt.timedelta(minutes=3)
    builder.at_time(clock, case_services.assign_case, case, lukas)
    clock += dt.timedelta(minutes=1)
    builder.at_time(clock, case_services.set_tags, case, ("hub", "wifi"), actor=lukas)

    # Karl never wrote to the Page: no direct message may go, but a private reply to his comment.
    clock += dt.timedelta(minutes=9)
    reply = _send_private_reply(builder, case, lukas, clock, recipient=psid)
    waited = clock + dt.timedelta(minutes=1)
    builder.at_time(waited, case_services.change_status, case, WAITING, actor=lukas)

    answered = builder.now - dt.timedelta(hours=ANSWER_HOURS_AGO)
    answer = _ingest(builder, channel, _messenger_message(channel, psid, answered))
    if answer.case_id != case.pk or reply.conversation_id != answer.conversation_id:
        raise RuntimeError("The demo's Messenger answer did not join the private reply's case.")
    case.refresh_from_db()
    story = Story(
        "karl", "facebook", case.status, case.priority, COMMENT_HOURS_AGO, COMMENT,
        agent="lukas", reply=PRIVATE_REPLY, follow_up=ANSWER, tags=("hub", "wifi"),
    )  # fmt: skip
    return story, case


def _send_private_reply(
    builder: Builder, case: Case, agent: Any, at: dt.datetime, *, recipient: str
) -> Post:
    """What ``send_reply`` queues and ``deliver_post`` stores once Meta took the private reply
    (``{"recipient_id": <PSID>, "message_id": ...}``), at ``at``."""
    if reply_window(case, now=at).open:
        raise RuntimeError(f"{case.reference}: the demo's private reply needs a closed window.")
    chance = private_replies.private_reply(case, now=at)
    if not chance.possible or chance.comment is None:
        raise RuntimeError(f"{case.reference}: no private reply can go: {chance.reason}")
    comment = chance.comment
    check_length(PRIVATE_REPLY, case.channel.platform, Visibility.PRIVATE)
    post = Post.objects.create(
        platform=case.channel.platform,
        channel=case.channel,
        direction=Post.Direction.OUTBOUND,
        kind=Post.Kind.DIRECT_MESSAGE,
        visibility=Visibility.PRIVATE,
        text=PRIVATE_REPLY,
        parent=comment,
        in_reply_to_external_id=comment.external_id or "",
        conversation_id=comment.conversation_id,
        posted_at=at,
        received_at=at,
        case=case,
        sent_by=agent,
        send_status=Post.SendStatus.QUEUED,
        **private_replies.queued_fields(comment),
    )
    record_event(
        case,
        CaseEvent.Kind.REPLIED,
        actor=agent,
        post=post,
        at=at,
        text=PRIVATE_REPLY,
        visibility=Visibility.PRIVATE,
        template="",
        held_for_approval=False,
    )
    sent = SentPost(external_id=PRIVATE_REPLY_MID, posted_at=at, recipient_id=recipient)
    Post.objects.filter(pk=post.pk).update(
        send_status=Post.SendStatus.SENT,
        send_attempts=1,
        external_id=sent.external_id,
        **private_replies.sent_fields(post, sent),
    )
    note_response(case, at)
    builder.posts += 1
    post.refresh_from_db()
    return post


def _feed_comment(channel: Channel, psid: str, name: str, at: dt.datetime) -> dict[str, Any]:
    """A Page ``feed`` webhook for a comment on Acme's post, as Meta sends it."""
    post = f"{channel.account_id}_{PAGE_POST}"
    value = {
        "from": {"id": psid, "name": name},
        "post_id": post,
        "comment_id": COMMENT_ID,
        "parent_id": post,
        "created_time": int(at.timestamp()),
        "item": "comment",
        "verb": "add",
        "message": COMMENT,
    }
    entry = {"id": channel.account_id, "time": int(at.timestamp()), "changes": [
        {"field": "feed", "value": value},
    ]}  # fmt: skip
    return {"object": "page", "entry": [entry]}


def _messenger_message(channel: Channel, psid: str, at: dt.datetime) -> dict[str, Any]:
    """A Messenger ``messages`` webhook: Karl writes to the Page."""
    ms = int(at.timestamp() * 1000)
    item = {
        "sender": {"id": psid},
        "recipient": {"id": channel.account_id},
        "timestamp": ms,
        "message": {"mid": ANSWER_MID, "text": ANSWER},
    }
    return {
        "object": "page",
        "entry": [{"id": channel.account_id, "time": ms, "messaging": [item]}],
    }


# A fetched Instagram mention ---------------------------------------------------------------------


def _fetched_mention(builder: Builder) -> tuple[Story, Case]:
    channel = builder.channels["instagram"]
    delivered = builder.now - dt.timedelta(hours=MENTION_HOURS_AGO)
    body = {"object": "instagram", "entry": [{
        "id": channel.account_id, "time": int(delivered.timestamp()),
        "changes": [{"field": "mentions", "value": {"media_id": MENTION_MEDIA}}],
    }]}  # fmt: skip
    post = _ingest(builder, channel, body)  # ids only: "Mention from unknown author"
    posted = delivered - dt.timedelta(minutes=1)
    answer = {
        "id": MENTION_MEDIA,
        "caption": CAPTION,
        "media_type": "IMAGE",
        "timestamp": posted.strftime("%Y-%m-%dT%H:%M:%S+0000"),
        "username": MENTION_USERNAME,
        "permalink": MENTION_PERMALINK,
    }
    details = MentionDetails(
        media_id=MENTION_MEDIA,
        comment_id="",
        text=CAPTION,
        username=MENTION_USERNAME,
        posted_at=posted,
        permalink=MENTION_PERMALINK,
        media_type="IMAGE",
        answer=answer,
    )
    post = builder.at_time(delivered + dt.timedelta(seconds=30), complete, post, details)
    if not post.text or post.author is None:
        raise RuntimeError("The demo's Instagram mention was not completed.")
    case = Case.objects.get(pk=post.case_id)
    story = Story(
        "?" + MENTION_USERNAME, "instagram", case.status, case.priority, MENTION_HOURS_AGO,
        CAPTION, kind=Post.Kind.MENTION,
    )  # fmt: skip
    return story, case


# Ingest, replayed -------------------------------------------------------------------------------


def _ingest(builder: Builder, channel: Channel, body: dict[str, Any]) -> Post:
    """Parse ``body`` as the channel's webhook does and ingest its one post at its time."""
    raw = json.dumps(body, ensure_ascii=False).encode()
    [item] = MetaAdapter().parse(raw, channel_config(channel))
    if not isinstance(item, InboundPost):
        raise RuntimeError(f"The demo's webhook is not a post: {item!r}")
    result = builder.at_time(item.posted_at, ingest_post, channel, item)
    post = result.post
    # Received a couple of seconds after it was written (ingest stamps the loading clock).
    Post.objects.filter(pk=post.pk).update(received_at=item.posted_at + dt.timedelta(seconds=2))
    builder.posts += 1
    post.refresh_from_db()
    return post
