"""Bluesky (AT Protocol): mentions, replies and quotes are polled from
``app.bsky.notification.listNotifications``; replies are ``app.bsky.feed.post`` records and
private messages go through the chat service (``chat.bsky.convo.*``).

Identity: a post's id is its at-URI; an account's stable id is its DID (handles change).

Auth: the channel's ``access_token`` secret is an app password (with direct-message access for
private replies). A session from ``com.atproto.server.createSession`` (identifier = the channel
handle, else its DID) is kept in memory per worker process until its access token is about to
expire, because Bluesky allows only 30 logins per 5 minutes (300 a day) per account; an answer
of 401 drops it and the call is tried once more with a fresh session.

Polling: ``listNotifications`` pages *backwards* in time (newest first; its ``cursor`` leads to
older pages), so the channel cursor is the newest ``indexedAt`` seen. A poll reads pages until it
reaches a notification at or before that time (at most ``MAX_PAGES`` pages; the first run reads
only the latest page), keeps reasons mention/reply/quote, then fetches the authors' follower
counts with ``app.bsky.actor.getProfiles`` (25 actors a call). The polled body is::

    {"notifications": [<listNotifications notification, verbatim>, ...],
     "profiles": [<getProfiles profileViewDetailed, verbatim>, ...]}

``parse`` reads that shape and the plain ``listNotifications`` answer alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from socialcare.platforms.base import Challenge, ChannelConfig
from socialcare.platforms.bluesky.common import (
    CHAT_PROXY,
    DEFAULT_BASE_URL,
    MAX_PAGES,
    PLATFORM,
    SessionRefused,
    post_url,
    split_at_uri,
)
from socialcare.platforms.bluesky.parse import ReadingMixin
from socialcare.platforms.bluesky.poll import PollingMixin
from socialcare.platforms.bluesky.send import SendingMixin
from socialcare.platforms.bluesky.session import SessionMixin, forget_session

__all__ = [
    "CHAT_PROXY",
    "DEFAULT_BASE_URL",
    "MAX_PAGES",
    "PLATFORM",
    "BlueskyAdapter",
    "SessionRefused",
    "forget_session",
    "post_url",
    "split_at_uri",
]


class BlueskyAdapter(SessionMixin, PollingMixin, ReadingMixin, SendingMixin):
    platforms: ClassVar[tuple[str, ...]] = (PLATFORM,)
    receives_webhooks: ClassVar[bool] = False

    # Webhooks: Bluesky is polled -------------------------------------------------------------
    def verify_signature(
        self, body: bytes, headers: Mapping[str, str], channel: ChannelConfig
    ) -> bool:
        return False

    def answer_challenge(
        self, params: Mapping[str, str], channel: ChannelConfig
    ) -> Challenge | None:
        return None
