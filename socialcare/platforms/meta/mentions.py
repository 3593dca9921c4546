"""Instagram @mentions through the Graph API: reading one, and answering it.

The ``mentions`` webhook names only ids: ``media_id`` for a mention in a caption, ``media_id``
and ``comment_id`` for a mention in a comment (``Entry.instagram_mention`` stores that value as
the post's ``raw``). The rest is read on the brand's Instagram account (``<ig-user-id>``, the
channel's account id), never on the media or comment, which belong to someone else::

    GET /<ig-user-id>?fields=mentioned_media.media_id(<media id>){id,caption,media_type,
        timestamp,username,permalink}
    GET /<ig-user-id>?fields=mentioned_comment.comment_id(<comment id>){id,text,timestamp,
        username,media{id,permalink}}

Both answer ``{"mentioned_media" | "mentioned_comment": {...}, "id": "<ig-user-id>"}``. The
author of someone else's media or comment is named by ``username``, never by id: the media's
``owner`` and the comment's ``user`` ids are returned only for the app user's own. The
mentioned-media table lists ``username``; the mentioned-comment table lists only ``id``, ``text``,
``timestamp``, ``like_count`` and ``media`` (``username`` is an IG Comment field), and
``permalink`` is an IG Media field outside the mentioned-media table. When Meta refuses such a
field (error 100 naming it), the fetch is asked again with the listed fields only, and the
author (or the link) stays unknown. Captions and comment texts come without the ``@`` of the
mention unless the brand made the media.

An answer goes to ``POST /<ig-user-id>/mentions`` with ``media_id`` (and ``comment_id`` for a
comment mention) and ``message``: ``/<id>/replies`` only works on comments on the brand's own
media. Meta answers ``{"id": "<new comment id>"}``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from socialcare.platforms.base import (
    ChannelConfig,
    OutboundMessage,
    ParseError,
    SendError,
    SentPost,
)
from socialcare.platforms.meta.graph import GraphRefused, graph_base, graph_get, graph_post
from socialcare.platforms.meta.parse import graph_time
from socialcare.platforms.shapes import opt_obj as _opt_obj
from socialcare.platforms.shapes import platform_id as _id
from socialcare.platforms.shapes import text as _text

#: Fields asked of a mentioned caption / comment, and the fallback: only what the reference lists.
MEDIA_FIELDS = "id,caption,media_type,timestamp,username,permalink"
MEDIA_LISTED_FIELDS = "id,caption,media_type,timestamp,username"
COMMENT_FIELDS = "id,text,timestamp,username,media{id,permalink}"
COMMENT_LISTED_FIELDS = "id,text,timestamp,media{id}"
#: Where the fetched answer is kept in the post's ``raw``, beside the webhook's ids.
DETAILS_KEY = "mention"
#: Graph's "Invalid parameter", also its answer to a field the node does not have.
INVALID_PARAMETER = 100


@dataclass(frozen=True)
class MentionDetails:
    """What Meta says of a mention: the words, who wrote them (a username, or "" when Meta did
    not say), when, and where to see them; ``answer`` is Meta's object, as it came."""

    media_id: str
    comment_id: str
    text: str
    username: str
    posted_at: dt.datetime | None
    permalink: str
    media_type: str = ""
    answer: dict[str, Any] = field(default_factory=dict)

    @property
    def profile_url(self) -> str:
        return (
            f"https://www.instagram.com/{quote(self.username, safe='')}/" if self.username else ""
        )


def mention_ids(raw: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(media_id, comment_id)`` when ``raw`` is a mentions webhook value (``comment_id`` is ""
    for a caption mention); None for any other payload (comments name ``id`` and ``media``,
    messages ``sender``)."""
    if not isinstance(raw, Mapping) or "sender" in raw or "from" in raw:
        return None
    try:
        media_id = _id(raw.get("media_id"), "media_id", required=False)
        comment_id = _id(raw.get("comment_id"), "comment_id", required=False)
    except ParseError:
        return None
    return (media_id, comment_id) if media_id else None


def _base(channel: ChannelConfig) -> tuple[str, dict[str, str]]:
    token = channel.secret("access_token")
    if not token:
        raise SendError(f"The {channel.platform} channel has no access_token.")
    base = graph_base(channel)
    return f"{base}/{quote(channel.account_id, safe='')}", {"Authorization": f"Bearer {token}"}


def fetch(
    channel: ChannelConfig, media_id: str, comment_id: str, client: httpx.Client
) -> MentionDetails:
    """Read the mention ``media_id`` / ``comment_id`` through the brand's account. Raises
    ``TransientSendError`` (throttled, Meta or the network down: try again later),
    ``GraphRefused`` (deleted, hidden from the account, no permission, comments disabled) or
    ``ParseError`` (an answer that cannot be read)."""
    account_url, auth = _base(channel)
    if comment_id:
        key, edge = "mentioned_comment", f"mentioned_comment.comment_id({comment_id})"
        fields = (COMMENT_FIELDS, COMMENT_LISTED_FIELDS)
    else:
        key, edge = "mentioned_media", f"mentioned_media.media_id({media_id})"
        fields = (MEDIA_FIELDS, MEDIA_LISTED_FIELDS)
    try:
        answer = graph_get(client, account_url, auth, {"fields": f"{edge}{{{fields[0]}}}"})
    except GraphRefused as exc:
        if not _field_refused(exc):
            raise
        answer = graph_get(client, account_url, auth, {"fields": f"{edge}{{{fields[1]}}}"})
    return _details(answer, key, media_id, comment_id)


def _field_refused(exc: GraphRefused) -> bool:
    """Meta refused a field it does not serve here ("(#100) Tried accessing nonexisting field
    (username) on node type ...")."""
    return exc.code == INVALID_PARAMETER and exc.subcode is None and "field" in str(exc).lower()


def _details(answer: dict[str, Any], key: str, media_id: str, comment_id: str) -> MentionDetails:
    node = answer.get(key)
    if not isinstance(node, dict):
        raise ParseError(f"Meta's answer names no {key}: {answer!r:.300}")
    media = _opt_obj(node.get("media"), f"{key}.media") if comment_id else node
    timestamp = node.get("timestamp")
    return MentionDetails(
        media_id=media_id,
        comment_id=comment_id,
        text=_text(node.get("text" if comment_id else "caption"), f"{key} text"),
        username=_text(node.get("username"), f"{key}.username").strip().lstrip("@")[:255],
        posted_at=graph_time(timestamp, f"{key}.timestamp") if timestamp else None,
        permalink=_text(media.get("permalink"), f"{key} permalink")[:1000],
        media_type=_text(media.get("media_type"), f"{key}.media_type"),
        answer=node,
    )


def reply(channel: ChannelConfig, message: OutboundMessage, client: httpx.Client) -> SentPost:
    """Answer the mention ``message.parent_raw`` describes: a comment on the media (caption
    mention) or under the comment (comment mention)."""
    ids = mention_ids(message.parent_raw)
    if ids is None:
        raise SendError("The post answered is not an Instagram mention (no media_id).")
    media_id, comment_id = ids
    account_url, auth = _base(channel)
    form = {"media_id": media_id, "message": message.text}
    if comment_id:
        form["comment_id"] = comment_id
    answer = graph_post(client, f"{account_url}/mentions", auth, form_body=form)
    new_id = _id(answer.get("id"), "comment id", required=False)
    if not new_id:
        raise SendError(f"Meta accepted the comment but named no id: {answer!r:.300}")
    details = message.parent_raw.get(DETAILS_KEY)
    url = ""
    if isinstance(details, Mapping):
        where = details.get("media") if comment_id else details
        link = where.get("permalink") if isinstance(where, Mapping) else None
        url = link[:1000] if isinstance(link, str) else ""
    return SentPost(external_id=new_id, url=url)
