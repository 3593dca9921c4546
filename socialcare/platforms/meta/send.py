"""Sending through the Graph API: comment replies and private messages (see the package
docstring)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from socialcare.platforms.base import ChannelConfig, OutboundMessage, SendError, SentPost
from socialcare.platforms.meta.graph import DEFAULT_BASE_URL, FACEBOOK_WEB_URL, graph_post
from socialcare.platforms.shapes import platform_id as _id


def send(channel: ChannelConfig, message: OutboundMessage, client: httpx.Client) -> SentPost:
    """Send ``message`` on ``channel``: a private message, or a reply to a comment."""
    token = channel.secret("access_token")
    if not token:
        raise SendError(f"The {channel.platform} channel has no access_token.")
    base = (channel.base_url or DEFAULT_BASE_URL).rstrip("/")
    auth = {"Authorization": f"Bearer {token}"}

    if message.visibility == "private":
        recipient = message.recipient or _dm_customer(message.conversation_id)
        if not recipient:
            raise SendError("A private message needs a recipient id.")
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


def _dm_customer(conversation_id: str) -> str:
    return conversation_id[3:] if conversation_id.startswith("dm:") else ""
