"""What the Bluesky modules share: constants, field access with readable errors, and XRPC
calls with the adapter's error mapping."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from socialcare.platforms.base import (
    ParseError,
    SendError,
    TransientSendError,
    from_iso,
    load_json,
    raise_for_send_status,
)
from socialcare.platforms.shapes import short as _short

logger = logging.getLogger("socialcare.platforms.bluesky")

PLATFORM = "bluesky"
DEFAULT_BASE_URL = "https://bsky.social"
CHAT_PROXY = "did:web:api.bsky.chat#bsky_chat"
POST_COLLECTION = "app.bsky.feed.post"
REASONS = ("mention", "reply", "quote")
PAGE_LIMIT = 50
#: Pages read per poll when catching up (2,000 notifications between two one-minute polls).
#: A burst larger than that loses its oldest notifications; the poll logs a warning.
MAX_PAGES = 40
#: ``app.bsky.actor.getProfiles`` accepts at most 25 actors.
PROFILES_PER_CALL = 25
CDN = "https://cdn.bsky.app/img/feed_fullsize/plain"
WEB = "https://bsky.app"

URL_RE = re.compile(r"https?://[^\s<>\"]+")


# Field access with readable errors ----------------------------------------------------------------


def parse_timestamp(value: Any, where: str) -> dt.datetime:
    if not isinstance(value, str) or not value:
        raise ParseError(f"{where} must be an ISO timestamp string, got {_short(value)}.")
    try:
        return from_iso(value)
    except ParseError as exc:
        raise ParseError(f"{where}: {exc}") from None
    except OverflowError:
        raise ParseError(f"{where} is out of range: {_short(value)}.") from None


def maybe_timestamp(value: Any) -> dt.datetime | None:
    try:
        return parse_timestamp(value, "timestamp")
    except ParseError:
        return None


def nonneg_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def split_at_uri(uri: str) -> tuple[str, str, str]:
    """``at://<authority>/<collection>/<rkey>`` → its three parts (ParseError otherwise)."""
    parts = uri[len("at://") :].split("/") if uri.startswith("at://") else []
    if len(parts) != 3 or not all(parts):
        raise ParseError(f"Not a record at-URI: {_short(uri)}.")
    return parts[0], parts[1], parts[2]


def post_url(handle_or_did: str, uri: str) -> str:
    _, _, rkey = split_at_uri(uri)
    return f"{WEB}/profile/{handle_or_did}/post/{rkey}"


def handle_or_did(handle: str, did: str) -> str:
    return handle if handle and handle != "handle.invalid" else did


# HTTP ---------------------------------------------------------------------------------------------
def xrpc_request(
    client: httpx.Client, method: str, url: str, what: str, **kwargs: Any
) -> httpx.Response:
    """One XRPC call with the adapter error mapping: 429 → ``RateLimited``, 5xx and network
    failures → ``TransientSendError``, other refusals (4xx: bad password, expired or
    under-scoped token, unknown record) → ``SendError`` carrying the XRPC error."""
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise TransientSendError(f"{what}: timed out ({exc}).", retry_after=30) from exc
    except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as exc:
        raise TransientSendError(f"{what}: connection failed ({exc}).", retry_after=30) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise SendError(f"{what}: cannot make the request ({exc}).") from exc
    if response.status_code == 401 and not url.endswith("com.atproto.server.createSession"):
        raise SessionRefused(f"{what}: the session was refused (401).")
    try:
        raise_for_send_status(response)
    except TransientSendError as exc:  # RateLimited included: keep the class and the delay
        raise type(exc)(f"{what}: {exc}", retry_after=exc.retry_after) from None
    except SendError as exc:
        raise SendError(f"{what}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise SendError(f"{what}: unexpected HTTP {response.status_code}.")
    return response


def json_object(
    response: httpx.Response, what: str, error: type[Exception] = SendError
) -> Mapping[str, Any]:
    """The answer's JSON object; ``error`` (``SendError`` when sending, ``ParseError`` when
    polling) if it is anything else."""
    try:
        data = load_json(response.content)
    except ParseError as exc:
        raise error(f"{what}: unexpected answer: {exc}") from None
    if not isinstance(data, dict):
        raise error(f"{what}: expected a JSON object, got {type(data).__name__}.")
    return data


def chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def byte_span(text: str, start: int, end: int) -> dict[str, int]:
    return {"byteStart": len(text[:start].encode()), "byteEnd": len(text[:end].encode())}


class SessionRefused(SendError):
    """A call was refused with 401: the kept session expired or was revoked."""
