"""Sending through the Graph API: comment replies and private messages (see the package
docstring)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from socialcare.platforms.base import (
    MAX_IDENTITY_ID,
    ChannelConfig,
    OutboundMessage,
    SendError,
    SentPost,
)
from socialcare.platforms.meta import mentions
from socialcare.platforms.meta.graph import FACEBOOK_WEB_URL, graph_base, graph_post
from socialcare.platforms.meta.ids import account_of, platform_user_id
from socialcare.platforms.shapes import platform_id as _id


def send(channel: ChannelConfig, message: OutboundMessage, client: httpx.Client) -> SentPost:
    """Send ``message`` on ``channel``: a private message, or a reply to a comment."""
    token = channel.secret("access_token")
    if not token:
        raise SendError(f"The {channel.platform} channel has no access_token.")
    base = graph_base(channel)
    auth = {"Authorization": f"Bearer {token}"}

    if message.visibility == "private" and message.private_reply_to:
        return _private_reply(channel, message, client, base, auth)
    if message.visibility == "private":
        recipient = message.recipient or _dm_customer(message.conversation_id)
        if not recipient:
            raise SendError("A private message needs a recipient id.")
        scope = account_of(recipient)  # a PSID / IGSID is only valid from its own account
        if scope and channel.account_id and scope != channel.account_id:
            raise SendError(
                f"This person's id belongs to account {scope}, not to this channel's "
                f"({channel.account_id}): Meta would not find them. Answer from that channel."
            )
        recipient = platform_user_id(recipient)
        payload: dict[str, Any] = {
            "recipient": {"id": recipient},
            "messaging_type": message.messaging_type or "RESPONSE",
            "message": {"text": message.text},
        }
        if message.tag:
            payload["tag"] = message.tag
        answer = graph_post(client, f"{base}/me/messages", auth, json_body=payload)
        message_id = _id(answer.get("message_id"), "message_id", required=False)
        if not message_id:
            raise SendError(f"Meta accepted the message but named no id: {answer!r:.300}")
        return SentPost(external_id=message_id)

    if channel.platform == "instagram" and mentions.mention_ids(message.parent_raw):
        return mentions.reply(channel, message, client)  # POST /<ig-user-id>/mentions
    target = message.in_reply_to
    if not target:
        raise SendError("A public reply on Facebook or Instagram needs a post to answer.")
    if channel.platform == "instagram":
        # Instagram threads are one level deep: answering a reply means replying to its
        # top-level comment (named by the stored reply's parent_id).
        parent_of_parent = message.parent_raw.get("parent_id")
        if isinstance(parent_of_parent, str) and parent_of_parent:
            target = parent_of_parent
        path = f"/{quote(target, safe='')}/replies"
    else:
        path = f"/{quote(target, safe='')}/comments"
    answer = graph_post(client, base + path, auth, form_body={"message": message.text})
    comment_id = _id(answer.get("id"), "comment id", required=False)
    if not comment_id:
        raise SendError(f"Meta accepted the comment but named no id: {answer!r:.300}")
    url = f"{FACEBOOK_WEB_URL}/{comment_id}" if channel.platform != "instagram" else ""
    return SentPost(external_id=comment_id, url=url)


def _private_reply(
    channel: ChannelConfig,
    message: OutboundMessage,
    client: httpx.Client,
    base: str,
    auth: dict[str, str],
) -> SentPost:
    """A Private Reply: ``POST /{page-id}/messages`` (Instagram: ``/{ig-user-id}/messages``, the
    channel's account) with ``recipient: {"comment_id": ...}`` and no ``messaging_type`` (the
    documented request has none; it is not a message in the 24-hour window). Meta answers
    ``{"recipient_id": <PSID / IGSID>, "message_id": ...}``."""
    if not channel.account_id:
        raise SendError("A private reply needs the channel's Page or Instagram account id.")
    payload = {
        "recipient": {"comment_id": message.private_reply_to},
        "message": {"text": message.text},
    }
    path = f"/{quote(channel.account_id, safe='')}/messages"
    answer = graph_post(client, base + path, auth, json_body=payload)
    message_id = _id(answer.get("message_id"), "message_id", required=False)
    if not message_id:
        raise SendError(f"Meta accepted the private reply but named no id: {answer!r:.300}")
    return SentPost(external_id=message_id, recipient_id=_recipient_id(answer))


def _recipient_id(answer: dict[str, Any]) -> str:
    """The ``recipient_id`` Meta answered with, "" when it is not a usable id (the message is
    out: an odd answer must not fail it)."""
    value = answer.get("recipient_id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and 0 < len(value) <= MAX_IDENTITY_ID else ""


def _dm_customer(conversation_id: str) -> str:
    return conversation_id[3:] if conversation_id.startswith("dm:") else ""
