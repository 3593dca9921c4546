"""What the Mastodon modules share: constants, field access with readable errors, the channel's
server and token, and HTTP calls with the adapter's error mapping and rate-limit reading."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from socialcare.platforms.base import (
    ChannelConfig,
    ParseError,
    SendError,
    accepted,
    from_iso,
    http_call,
    retry_after_seconds,
)
from socialcare.platforms.shapes import field_str as _str
from socialcare.platforms.shapes import short as _short

PLATFORM = "mastodon"
#: Notifications per page: Mastodon >= 4.1 defaults to 40 (max 80); older servers cap at 30,
#: which only means a backlog takes one more poll to drain.
PAGE_LIMIT = 40

#: Status HTML longer than this is cut before it is sanitized (the raw payload keeps all of it).
#: Mastodon's own limit is 500 characters; other fediverse servers allow more, but sanitizing
#: and reading tens of thousands of nested tags costs seconds of worker time per post.
MAX_HTML_CHARS = 50_000

PRIVATE_VISIBILITIES = {"direct", "private"}
PUBLIC_VISIBILITIES = {"public", "unlisted", "local"}

#: Requests of the account's rate-limit window (300 per 5 minutes by default) a poll leaves to
#: replies: when ``X-RateLimit-Remaining`` falls to this, polling waits for ``X-RateLimit-Reset``.
RATE_LIMIT_RESERVE = 10
#: The wait when a server says the window is used up but not when it resets (its window length).
DEFAULT_RATE_WINDOW = 300.0


# Field access with readable errors ----------------------------------------------------------------
def opt_int(container: Mapping[str, Any], key: str, where: str) -> int | None:
    value = container.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParseError(f"{where}: `{key}` must be an integer or null, got {_short(value)}.")
    return value


def timestamp(container: Mapping[str, Any], key: str, where: str) -> dt.datetime:
    value = _str(container, key, where)
    try:
        return from_iso(value)
    except ParseError as exc:
        raise ParseError(f"{where}: `{key}`: {exc}") from None
    except OverflowError:
        raise ParseError(f"{where}: `{key}` is out of range: {_short(value)}.") from None


def id_key(value: str) -> tuple[int, str]:
    """Mastodon ids are decimal strings (snowflakes): compare by length, then text."""
    return (len(value), value)


def host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


# The channel's server and token -------------------------------------------------------------------
def base_url(channel: ChannelConfig, action: str) -> str:
    base = channel.base_url.strip().rstrip("/")
    if not base:
        raise SendError(f"Mastodon {action}: the channel has no base URL (its server).")
    return base


def auth_headers(channel: ChannelConfig) -> dict[str, str]:
    token = channel.secret("access_token")
    if not token:
        raise SendError("Mastodon: the channel has no `access_token` secret.")
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


# HTTP ---------------------------------------------------------------------------------------------
def request(
    client: httpx.Client,
    method: str,
    url: str,
    what: str,
    *,
    passthrough: tuple[int, ...] = (),
    **kwargs: Any,
) -> httpx.Response:
    """One HTTP call with the adapter error mapping: 429 → ``RateLimited`` (waiting for
    ``Retry-After`` or ``X-RateLimit-Reset``), 5xx and network failures → ``TransientSendError``,
    other refusals → ``SendError``. An answer whose status is in ``passthrough`` is returned
    for the caller to read."""
    response = http_call(client, method, url, what, **kwargs)
    if response.status_code in passthrough:
        return response
    return accepted(response, what)


def rate_limit_wait(response: httpx.Response) -> float | None:
    """Seconds to wait before the next poll call when the answer's ``X-RateLimit-Remaining``
    is at or under ``RATE_LIMIT_RESERVE`` (a tenth of ``X-RateLimit-Limit`` when that is
    smaller): until ``X-RateLimit-Reset``. None while there is room, or when the server sends
    no such header."""
    try:
        left = int(response.headers.get("x-ratelimit-remaining", "").strip())
    except ValueError:
        return None
    try:  # a server with a small limit keeps a tenth of it, not the whole window, in reserve
        reserve = min(RATE_LIMIT_RESERVE, int(response.headers["x-ratelimit-limit"]) // 10)
    except (KeyError, ValueError):
        reserve = RATE_LIMIT_RESERVE
    if left > reserve:
        return None
    return retry_after_seconds(response, DEFAULT_RATE_WINDOW)
