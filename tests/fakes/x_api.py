"""X API v2 ``POST /2/tweets`` and direct messages as X enforces them.

Sources (docs/replies.md): since 23 Feb 2026, a reply through the API on a self-serve plan goes
only to a post whose author "summoned" the replier, by @mentioning it or quoting one of its
posts; X answers others 403 with "Reply to this conversation is not allowed because you have not
been mentioned or otherwise engaged by the author of the post you are replying to." A post may
weigh at most 280 characters by twitter-text's count; a longer one is answered 400 "Your Tweet
text is too long".

Direct messages (docs/replies.md, "X direct-message pacing"): the DM create endpoints allow 15
requests per 15 minutes and 1,440 per 24 hours per user, and 1,440 per 24 hours per app. Each
limit is a window that starts with its first request and resets ``x-rate-limit-reset`` later; past
it X answers 429 ``{"errors": [{"code": 88, "message": "Rate limit exceeded"}]}``. Every answer
carries ``x-rate-limit-limit`` / ``-remaining`` / ``-reset`` (epoch seconds) for the 15-minute
window, and the 24-hour ones X sends undocumented (``x-user-limit-24hour-*``,
``x-app-limit-24hour-*``). The user is the bearer token; ``clock`` is injectable.

::

    api = XApiFake(platform_server, brand_id="1114259648326987776")
    api.knows_payload(tweet)             # a v1.1 tweet as the Account Activity API sent it
    api.allow_dm("272953809")            # POST /2/dm_conversations/with/272953809/messages
    api.other_client_sent(15)            # another app used this 15 minutes' DMs of the account
    api.dm_times                         # when each accepted DM arrived, by the fake's clock
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping
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


#: X's limits on creating direct messages: (header prefix, requests, seconds, per app).
DM_LIMITS = (
    ("x-rate-limit", 15, 15 * 60, False),
    ("x-user-limit-24hour", 1_440, 24 * 3600, False),
    ("x-app-limit-24hour", 1_440, 24 * 3600, True),
)
RATE_LIMIT_EXCEEDED = {"errors": [{"code": 88, "message": "Rate limit exceeded"}]}


class Window:
    """``limit`` requests in a window that opens with its first request and resets ``seconds``
    later."""

    def __init__(self, limit: int, seconds: int) -> None:
        self.limit, self.seconds = limit, seconds
        self.start: float | None = None
        self.used = 0

    def _roll(self, now: float) -> None:
        if self.start is None or now >= self.start + self.seconds:
            self.start, self.used = now, 0

    def remaining(self, now: float) -> int:
        self._roll(now)
        return self.limit - self.used

    def take(self, now: float) -> None:
        self._roll(now)
        self.used += 1

    def reset(self, now: float) -> int:
        self._roll(now)
        return int(self.start + self.seconds)  # type: ignore[operator]


def problem(status: int, title: str, detail: str) -> Answer:
    """X API v2's error answer (RFC 7807 problem details)."""
    return Answer(
        status, {"title": title, "detail": detail, "type": "about:blank", "status": status}
    )


class XApiFake:
    """Serves ``POST /2/tweets`` on ``server``; ``tweets`` are the posts it knows (id ->
    (mentioned user ids, quoted author id)); ``created`` what it accepted."""

    def __init__(
        self, server: PlatformServer, *, brand_id: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.server = server
        self.brand_id = brand_id
        self.clock = clock
        self.tweets: dict[str, tuple[frozenset[str], str]] = {}
        self.created: list[dict[str, Any]] = []
        self.dm_times: list[float] = []
        self.dm_refused = 0
        self._windows: dict[tuple[str, str], Window] = {}
        self._dm_lock = threading.Lock()
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

    def other_client_sent(self, count: int, token: str = "test-token") -> None:
        """Another client of the account (or another app's) created ``count`` DMs just now."""
        with self._dm_lock:
            for window in self._dm_windows(f"Bearer {token}"):
                for _ in range(count):
                    window.take(self.clock())

    def _dm_windows(self, user: str) -> list[Window]:
        windows = []
        for prefix, limit, seconds, per_app in DM_LIMITS:
            key = (prefix, "app" if per_app else user)
            windows.append(self._windows.setdefault(key, Window(limit, seconds)))
        return windows

    def direct_message(self, request: Recorded) -> Answer:
        with self._dm_lock:
            now = self.clock()
            windows = self._dm_windows(request.headers.get("authorization", ""))
            refused = any(w.remaining(now) <= 0 for w in windows)
            if not refused:
                for window in windows:
                    window.take(now)
            headers = {}
            for (prefix, *_), window in zip(DM_LIMITS, windows, strict=True):
                headers[f"{prefix}-limit"] = str(window.limit)
                headers[f"{prefix}-remaining"] = str(max(window.remaining(now), 0))
                headers[f"{prefix}-reset"] = str(window.reset(now))
            if refused:
                self.dm_refused += 1
                return Answer(429, RATE_LIMIT_EXCEEDED, headers)
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return problem(
                400, "Invalid Request", "One or more parameters to your request was invalid."
            )
        self.dm_times.append(now)
        event_id = str(next(self._ids))
        self.created.append({**body, "dm_event_id": event_id, "to": request.path.split("/")[4]})
        return Answer(
            201,
            {"data": {"dm_conversation_id": f"{self.brand_id}-x", "dm_event_id": event_id}},
            headers,
        )
