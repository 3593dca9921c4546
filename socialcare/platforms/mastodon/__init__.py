"""Mastodon: mentions are polled from ``GET /api/v1/notifications``; replies are statuses.

Identifiers on Mastodon are local to a server. A status' global id is its ``uri`` (the
ActivityPub id), so that is the post's ``external_id``; its ``id`` is only unique on the brand's
server and is kept as ``local_id`` because replies name their parent by it (``in_reply_to_id``).
An account's stable global id is its ``url`` (present on every Mastodon version and on the
Mastodon-compatible servers); its handle is the fully qualified ``user@domain``.

Polling walks forwards with ``min_id``: the channel cursor is the highest notification id seen.
Mastodon answers ``min_id`` with the page *immediately* newer than that id (newest first inside
the page), so a full page means more newer pages remain. The ``Link`` header is not needed: its
``rel="prev"`` link is present on every non-empty page and says nothing about whether more exist.
The poll asks ``include_filtered=true``: since Mastodon 4.3 a notification policy filters
private mentions from accounts the brand does not follow, by default, and only that parameter
returns them (docs/ingestion.md, "Mastodon").

Edits: Mastodon notifies edits (``update``) only of statuses the account boosted, so
``services.mastodon_edits`` re-fetches the statuses of open cases (``fetch_statuses``) and
``parse`` turns a status with a newer ``edited_at`` into a ``PostEdit``. Limits:
``instance_limits`` reads the server's ``/api/v2/instance``; ``status_length`` counts as
Mastodon counts. Rate limits: every answer's ``X-RateLimit-*`` headers are read; a poll that
sees the window nearly used up returns its page with ``retry_after`` (``PollPage``).
"""

from __future__ import annotations

from typing import ClassVar

from socialcare.platforms.base import PolledAdapter
from socialcare.platforms.mastodon.common import (
    MAX_HTML_CHARS,
    PAGE_LIMIT,
    PLATFORM,
    PRIVATE_VISIBILITIES,
    PUBLIC_VISIBILITIES,
    RATE_LIMIT_RESERVE,
)
from socialcare.platforms.mastodon.html import html_to_text, sanitize_html
from socialcare.platforms.mastodon.limits import (
    DEFAULT_MAX_CHARACTERS,
    DEFAULT_URL_CHARACTERS,
    InstanceLimits,
    LimitsMixin,
    status_length,
)
from socialcare.platforms.mastodon.parse import ReadingMixin
from socialcare.platforms.mastodon.poll import (
    SINGLE_FETCHES,
    STATUSES_PER_CALL,
    PollingMixin,
    StatusBatch,
)
from socialcare.platforms.mastodon.send import SendingMixin, addressed_text

__all__ = [
    "DEFAULT_MAX_CHARACTERS",
    "DEFAULT_URL_CHARACTERS",
    "MAX_HTML_CHARS",
    "PAGE_LIMIT",
    "PLATFORM",
    "PRIVATE_VISIBILITIES",
    "PUBLIC_VISIBILITIES",
    "RATE_LIMIT_RESERVE",
    "SINGLE_FETCHES",
    "STATUSES_PER_CALL",
    "InstanceLimits",
    "MastodonAdapter",
    "StatusBatch",
    "addressed_text",
    "html_to_text",
    "sanitize_html",
    "status_length",
]


class MastodonAdapter(PollingMixin, ReadingMixin, SendingMixin, LimitsMixin, PolledAdapter):
    platforms: ClassVar[tuple[str, ...]] = (PLATFORM,)
