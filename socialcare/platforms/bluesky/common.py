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
    accepted,
    from_iso,
    http_call,
    load_json,
)
from socialcare.platforms.shapes import short as _short

logger = logging.getLogger("socialcare.platforms.bluesky")

PLATFORM = "bluesky"
DEFAULT_BASE_URL = "https://bsky.social"
CHAT_PROXY = "did:web:api.bsky.chat#bsky_chat"
POST_COLLECTION = "app.bsky.feed.post"
REASONS = ("mention", "reply", "quote")
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
    failures → ``TransientSendError``, a refused session (401, 400 ``ExpiredToken`` /
    ``InvalidToken``) → ``SessionRefused``, other refusals (4xx: bad password, under-scoped
    token, unknown record) → ``SendError`` (``XrpcRefused`` when the answer names its error)."""
    response = http_call(client, method, url, what, **kwargs)
    if response.status_code in (400, 401):
        refused = xrpc_refusal(response, url, what)
        if refused is not None:
            raise refused
    return accepted(response, what)


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


# Refusals -----------------------------------------------------------------------------------------
#: XRPC errors that refuse the session rather than the request. The PDS answers an access token
#: past its ``exp`` with HTTP 400 ``ExpiredToken`` and one it cannot verify with 400
#: ``InvalidToken`` (``packages/pds/src/auth-verifier.ts``); a missing one with 401.
SESSION_ERRORS = frozenset({"ExpiredToken", "InvalidToken"})
#: The ``InvalidToken`` messages of a session whose app password has no direct-message access:
#: the PDS refuses to proxy ``chat.bsky.*`` for it (``packages/pds/src/pipethrough.ts``, "Bad token
#: method"; older versions said "Bad token scope").
SCOPE_MESSAGES = frozenset({"Bad token method", "Bad token scope"})
NO_CHAT_ACCESS = (
    "the channel's app password has no access to direct messages. Create an app password with "
    "“Allow access to your direct messages” ticked (Bluesky: Settings → Privacy and security → "
    "App passwords) and store it as the channel's access token"
)


def xrpc_error(response: httpx.Response) -> tuple[str, str]:
    """The XRPC error name and message of an error answer ("" when it has none)."""
    try:
        data = response.json()
    except ValueError:
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    error, message = data.get("error"), data.get("message")
    return (error if isinstance(error, str) else ""), (message if isinstance(message, str) else "")


def xrpc_refusal(response: httpx.Response, url: str, what: str) -> XrpcRefused | None:
    """The error for a 400/401 answer: ``SessionRefused`` when the session is at fault (the
    caller renews it and tries once more), ``NoChatAccess`` for an app password without
    direct-message access, ``XrpcRefused`` carrying any other named XRPC error."""
    status = response.status_code
    error, message = xrpc_error(response)
    if error == "InvalidToken" and message in SCOPE_MESSAGES:
        return NoChatAccess(
            f"{what}: {NO_CHAT_ACCESS} (Bluesky answered InvalidToken “{message}”).", error, message
        )
    text = f"{what}: Platform refused the message ({status}): {response.text[:500]}"
    if url.endswith("com.atproto.server.createSession"):  # a wrong password is not a session
        return XrpcRefused(text, error, message)
    if status == 401 or error in SESSION_ERRORS:
        return SessionRefused(
            f"{what}: the session was refused ({status} {error or 'without an error name'}).",
            error,
            message,
        )
    return XrpcRefused(text, error, message) if error else None


class XrpcRefused(SendError):
    """A 4xx answer naming an XRPC error: ``error`` (e.g. ``NotFollowedBySender``) and its
    ``message``."""

    def __init__(self, text: str, error: str = "", message: str = "") -> None:
        super().__init__(text)
        self.error = error
        self.message = message


class SessionRefused(XrpcRefused):
    """The session was refused (401, or 400 ``ExpiredToken`` / ``InvalidToken``): it expired or
    was revoked; the caller renews it."""


class NoChatAccess(XrpcRefused):
    """The chat service was refused to this session: its app password has no direct-message
    access. A problem of the channel, not of the customer."""
