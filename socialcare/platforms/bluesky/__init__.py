"""Bluesky (AT Protocol): mentions, replies and quotes are polled from
``app.bsky.notification.listNotifications``; replies are ``app.bsky.feed.post`` records and
private messages go through the chat service (``chat.bsky.convo.*``).

Identity: a post's id is its at-URI; an account's stable id is its DID (handles change).

Auth: the channel's ``access_token`` secret is an app password (with direct-message access for
private replies). One session per channel (``createSession``, identifier = the channel handle,
else its DID) is shared by every worker through ``ChannelConfig.session_store`` and renewed with
``refreshSession``; an answer of 401 or 400 ``ExpiredToken`` / ``InvalidToken`` renews it and
the call is tried once more (``session``).

Polling (``poll``): ``listNotifications`` pages *backwards* by ``sortAt`` = least(createdAt,
indexedAt), so a post indexed late sorts below posts already seen. Each poll reads (with
``priority=false`` and the API's own ``cursor``, through pages the ``reasons`` filter left
empty) down to an hour below the newest ``sortAt`` seen, hands on what is new or sits in a slice
of that hour that changed (ingest drops posts it already has), and keeps the newest ``sortAt``
and the slices' digests in the channel cursor (the first run reads only the latest page). It
stops early, keeping what it read, when the ``ratelimit-remaining`` header runs low. It then
fetches the authors' follower counts with ``app.bsky.actor.getProfiles`` (25 actors a call).
The polled body is::

    {"notifications": [<listNotifications notification, verbatim>, ...],
     "profiles": [<getProfiles profileViewDetailed, verbatim>, ...]}

``parse`` reads that shape and the plain ``listNotifications`` answer alike.
"""

from __future__ import annotations

from typing import ClassVar

from socialcare.platforms.base import PolledAdapter
from socialcare.platforms.bluesky.common import (
    CHAT_PROXY,
    DEFAULT_BASE_URL,
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
    "PLATFORM",
    "BlueskyAdapter",
    "SessionRefused",
    "forget_session",
    "post_url",
    "split_at_uri",
]


class BlueskyAdapter(SessionMixin, PollingMixin, ReadingMixin, SendingMixin, PolledAdapter):
    platforms: ClassVar[tuple[str, ...]] = (PLATFORM,)
