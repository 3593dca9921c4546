"""X API v2 ``POST /2/tweets`` and direct messages as X enforces them.

Sources (docs/replies.md): since 23 Feb 2026, a reply through the API on a self-serve plan goes
only to a post whose author "summoned" the replier, by @mentioning it or quoting one of its
posts; X answers others 403 with "Reply to this conversation is not allowed because you have not
been mentioned or otherwise engaged by the author of the post you are replying to." A post may
weigh at most 280 characters by twitter-text's count; a longer one is answered 400 "Your Tweet
text is too long".

::

    api = XApiFake(platform_server, brand_id="1114259648326987776")
    api.knows_payload(tweet)             # a v1.1 tweet as the Account Activity API sent it
    api.allow_dm("272953809")            # POST /2/dm_conversations/with/272953809/messages
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from socialcare.platforms.x_text import weighted_length
from tests.platform_server import Answer, PlatformServer, Recorded

REPLY_NOT_ALLOWED = (
    "Reply to this conversation is not allowed because you have not been mentioned or otherwise "
    "engaged by the author of the post you are replying to."
)
TOO_LONG = (
    "Your Tweet text is too long. For more information on how Twitter determines text length "
    "see https://github.com/twitter/twitter-text."
)


def problem(status: int, title: str, detail: str) -> Answer:
    """X API v2's error answer (RFC 7807 problem details)."""
    return Answer(
        status, {"title": title, "detail": detail, "type": "about:blank", "status": status}
    )


class XApiFake:
    """Serves ``POST /2/tweets`` on ``server``; ``tweets`` are the posts it knows (id ->
    (mentioned user ids, quoted author id)); ``created`` what it accepted."""

    def __init__(self, server: PlatformServer, *, brand_id: str) -> None:
        self.server = server
        self.brand_id = brand_id
        self.tweets: dict[str, tuple[frozenset[str], str]] = {}
        self.created: list[dict[str, Any]] = []
        self._ids = itertools.count(2_000_000_000_000_000_001)
        server.route("POST", "/2/tweets", self.create)

    def knows(self, tweet_id: str, *, mentions: tuple[str, ...] = (), quotes: str = "") -> None:
        """A post on X: the user ids it @mentions and the author of the post it quotes."""
        self.tweets[tweet_id] = (frozenset(mentions), quotes)

    def knows_payload(self, tweet: Mapping[str, Any]) -> None:
        """A v1.1 tweet (Account Activity API payload), with its mentions and quote."""
        holders = [tweet, tweet.get("extended_tweet") or {}]
        mentions = tuple(
            str(m.get("id_str") or m.get("id"))
            for holder in holders
            for m in (holder.get("entities") or {}).get("user_mentions") or []
        )
        quoted = (tweet.get("quoted_status") or {}).get("user") or {}
        self.knows(
            str(tweet.get("id_str") or tweet.get("id")),
            mentions=mentions,
            quotes=str(quoted.get("id_str") or ""),
        )

    def allow_dm(self, participant_id: str) -> None:
        path = f"/2/dm_conversations/with/{participant_id}/messages"
        self.server.route("POST", path, self.direct_message)

    def create(self, request: Recorded) -> Answer:
        body = request.json()
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text:
            return problem(
                400, "Invalid Request", "One or more parameters to your request was invalid."
            )
        if weighted_length(text) > 280:
            return problem(400, "Bad Request", TOO_LONG)
        reply = body.get("reply")
        if reply is not None:
            target = str((reply or {}).get("in_reply_to_tweet_id") or "")
            if target not in self.tweets:
                return problem(
                    403,
                    "Forbidden",
                    "You attempted to reply to a Tweet that is deleted or not visible to you.",
                )
            mentions, quotes = self.tweets[target]
            if self.brand_id not in mentions and quotes != self.brand_id:
                return problem(403, "Forbidden", REPLY_NOT_ALLOWED)
        tweet_id = str(next(self._ids))
        self.created.append({**body, "id": tweet_id})
        return Answer(
            201, {"data": {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id]}}
        )

    def direct_message(self, request: Recorded) -> Answer:
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return problem(
                400, "Invalid Request", "One or more parameters to your request was invalid."
            )
        event_id = str(next(self._ids))
        self.created.append({**body, "dm_event_id": event_id})
        return Answer(
            201, {"data": {"dm_conversation_id": f"{self.brand_id}-x", "dm_event_id": event_id}}
        )
