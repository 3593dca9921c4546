"""Whether an interrupted comment reply is on Facebook or Instagram
(``socialcare.platforms.lookup``).

Facebook: ``GET /{object-id}/comments`` (Graph API reference "/{object-id}/comments": a comment's
``/comments`` edge are its replies) with ``filter=stream`` (every comment, not the default
"top" filtering), ``order=reverse_chronological``, ``fields=id,message,from,created_time`` and
``limit=100``; pages follow ``paging.cursors.after`` while ``paging.next`` is there. The reply is
the comment whose ``from.id`` is the Page with the same text.

Instagram: ``GET /{ig-comment-id}/replies`` (Instagram Graph API "IG Comment Replies") with
``fields=id,text,timestamp,username,from``; the reply is the one by the channel's account
(``from.id``, else ``username``) with the same text. Private messages and replies to
@mentions are not looked for (``CannotCheck``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import httpx

from socialcare.platforms.base import ChannelConfig, OutboundMessage, ParseError, SentPost, from_iso
from socialcare.platforms.lookup import MAX_LOOKUP_PAGES, CannotCheck, not_before, same_text
from socialcare.platforms.meta import mentions
from socialcare.platforms.meta.graph import FACEBOOK_WEB_URL, graph_base, graph_get


def find_published(
    channel: ChannelConfig, message: OutboundMessage, since: dt.datetime, client: httpx.Client
) -> SentPost | None:
    """The brand's reply ``message`` under its comment since ``since``, or None when Meta lists
    none."""
    if message.visibility == "private":
        raise CannotCheck("Private messages on Facebook and Instagram are not looked for.")
    if channel.platform == "instagram" and mentions.mention_ids(message.parent_raw):
        raise CannotCheck("Replies to Instagram @mentions are not looked for.")
    token = channel.secret("access_token")
    target = message.in_reply_to
    if not token or not target:
        raise CannotCheck("No access token or no comment to look under.")
    instagram = channel.platform == "instagram"
    if instagram:
        parent_of_parent = message.parent_raw.get("parent_id")
        if isinstance(parent_of_parent, str) and parent_of_parent:
            target = parent_of_parent  # Instagram threads are one level deep (see send)
        path = f"/{quote(target, safe='')}/replies"
        params = {"fields": "id,text,timestamp,username,from", "limit": "100"}
    else:
        path = f"/{quote(target, safe='')}/comments"
        params = {
            "fields": "id,message,from,created_time",
            "filter": "stream",
            "order": "reverse_chronological",
            "limit": "100",
        }
    url = graph_base(channel) + path
    auth = {"Authorization": f"Bearer {token}"}
    for _ in range(MAX_LOOKUP_PAGES):
        answer = graph_get(client, url, auth, params)
        comments = answer.get("data")
        if not isinstance(comments, list):
            raise ParseError(f"Meta answered the replies without a data list: {answer!r:.300}")
        older = False
        for comment in comments:
            if not isinstance(comment, dict) or not isinstance(comment.get("id"), str):
                continue
            created = _created(comment, "timestamp" if instagram else "created_time")
            if not not_before(created, since):
                older = True
                continue
            if _by_brand(comment, channel) and same_text(
                str(comment.get("text" if instagram else "message") or ""), message.text
            ):
                comment_id = comment["id"]
                url_of = "" if instagram else f"{FACEBOOK_WEB_URL}/{comment_id}"
                return SentPost(external_id=comment_id, url=url_of, posted_at=created)
        paging = answer.get("paging") if isinstance(answer.get("paging"), dict) else {}
        cursors = paging.get("cursors") if isinstance(paging.get("cursors"), dict) else {}
        after = cursors.get("after")
        if (older and not instagram) or not paging.get("next") or not isinstance(after, str):
            return None  # newest first on Facebook: past ``since`` nothing newer follows
        params["after"] = after
    raise CannotCheck(f"More than {MAX_LOOKUP_PAGES * 100} replies to look through.")


def _created(comment: dict[str, Any], key: str) -> dt.datetime | None:
    try:
        return from_iso(comment[key]) if comment.get(key) else None
    except ParseError:
        return None


def _by_brand(comment: dict[str, Any], channel: ChannelConfig) -> bool:
    author = comment.get("from") if isinstance(comment.get("from"), dict) else {}
    if author.get("id") and channel.account_id:
        return str(author["id"]) == channel.account_id
    handle = channel.handle.lstrip("@").casefold()
    return bool(handle) and str(comment.get("username") or "").casefold() == handle
