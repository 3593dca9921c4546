"""The adapter protocol and the normalized shapes every platform is turned into.

An adapter knows one platform's wire format: how a webhook is signed and challenged, how a delivery
or a polled page becomes ``InboundPost`` / ``PostEdit`` / ``PostDeletion`` events, and how a reply is
sent. It never touches the database: the ingest service turns events into rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx


# Errors ---------------------------------------------------------------------------------------
class PlatformError(Exception):
    """Base class of adapter errors."""


class ParseError(PlatformError):
    """The body is not a delivery this adapter understands. The message says what is wrong.

    ``events`` holds what could be read when only some items of a batch were malformed (one
    bad comment among a thousand): the caller keeps those and records the error for the rest.
    """

    def __init__(self, message: str, events: Iterable[Event] = ()) -> None:
        super().__init__(message)
        self.events: tuple[Event, ...] = tuple(events)


class SendError(PlatformError):
    """Sending failed for good (rejected by the platform): do not retry."""


class TransientSendError(PlatformError):
    """Sending failed for now (5xx, timeout, connection refused): retry later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(TransientSendError):
    """The platform asked us to slow down (HTTP 429); ``retry_after`` is in seconds."""


# What adapters read and return -----------------------------------------------------------------
class SessionStore(Protocol):
    """A channel's login session (string fields the adapter chooses: tokens, expiry), shared by
    every worker that serves the channel."""

    def load(self) -> dict[str, str]:
        """The stored session ({} when there is none)."""

    def renew(self, change: Callable[[dict[str, str]], dict[str, str] | None]) -> dict[str, str]:
        """Under a lock that other workers wait for: ``change(stored)`` returns the session to
        store (it logged in again) or None to keep the stored one (another worker just renewed
        it); the session kept is returned. An exception from ``change`` stores nothing."""


@dataclass(frozen=True)
class ChannelConfig:
    """What an adapter may know of a channel: no model, just values."""

    platform: str
    account_id: str
    handle: str = ""
    base_url: str = ""
    secrets: Mapping[str, str] = field(default_factory=dict)
    cursor: str = ""
    #: Meta: the Graph API version of SOCIALCARE["META_GRAPH_VERSION"] ("v27.0"); "" elsewhere
    #: (and in tests that build a config: the Meta adapter's default).
    graph_version: str = ""
    #: Where a login session (Bluesky) is kept for every worker: ``services.platform_sessions``
    #: stores it encrypted with the channel. None: the adapter keeps one in this process.
    session_store: SessionStore | None = field(default=None, compare=False, repr=False)

    def secret(self, name: str) -> str:
        return str(self.secrets.get(name) or "")


@dataclass(frozen=True)
class InboundIdentity:
    """An account as a delivery describes it. ``None`` means "not in this delivery": keep what
    is stored (e.g. Bluesky notifications carry no follower counts)."""

    platform: str
    external_id: str
    handle: str = ""
    display_name: str = ""
    profile_url: str = ""
    avatar_url: str = ""
    followers_count: int | None = None
    platform_verified: bool | None = None


@dataclass(frozen=True)
class InboundPost:
    """One message seen on a platform.

    ``direction`` is "outbound" for the brand's own posts seen coming back (X tweets by the brand,
    Messenger echoes). ``in_reply_to`` is the parent's ``external_id`` (or its ``local_id`` on
    platforms where replies name the server-local id, like Mastodon). ``conversation_id`` names
    the thread root when the platform says it.
    """

    platform: str
    external_id: str
    author: InboundIdentity
    kind: str  # mention | reply | comment | direct_message | email
    visibility: str  # public | private
    text: str
    posted_at: dt.datetime
    direction: str = "inbound"
    html: str = ""
    url: str = ""
    in_reply_to: str = ""
    conversation_id: str = ""
    local_id: str = ""
    language: str = ""
    attachments: tuple[Mapping[str, Any], ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PostEdit:
    """A post's new text. Carries the whole post, so an edit that arrives before the original
    (deliveries come out of order) still records the post."""

    post: InboundPost
    edited_at: dt.datetime


@dataclass(frozen=True)
class PostDeletion:
    """A post deleted on the platform: marked deleted, never removed."""

    platform: str
    external_id: str
    deleted_at: dt.datetime


Event = InboundPost | PostEdit | PostDeletion


@dataclass(frozen=True)
class Challenge:
    """The answer to a webhook verification GET."""

    body: str
    content_type: str = "text/plain"


@dataclass(frozen=True)
class PollPage:
    """One polled page: the raw bytes (stored as a delivery before parsing) and the next cursor."""

    body: bytes
    cursor: str
    has_more: bool = False
    #: Seconds until the platform's rate-limit window resets, when its headers say the window
    #: is (nearly) used up: the page is kept, and polling waits that long before the next call.
    retry_after: float | None = None


@dataclass(frozen=True)
class OutboundMessage:
    """A reply to send. ``in_reply_to`` is the parent post (public replies); ``recipient`` the
    identity's platform id (private messages)."""

    text: str
    visibility: str
    in_reply_to: str = ""
    in_reply_to_local_id: str = ""
    conversation_id: str = ""
    recipient: str = ""
    recipient_handle: str = ""
    idempotency_key: str = ""
    #: The parent post's stored raw payload, for platforms that need more than its id (Bluesky
    #: replies name the parent's and the thread root's CIDs).
    parent_raw: Mapping[str, Any] = field(default_factory=dict)
    #: Meta private messages: the Send API's ``messaging_type`` (empty: ``RESPONSE``) and
    #: message ``tag`` (``HUMAN_AGENT`` past the 24-hour window), from ``services.reply_window``.
    messaging_type: str = ""
    tag: str = ""
    #: Meta private messages: the comment to answer with a Private Reply (``recipient:
    #: {"comment_id": ...}``) instead of messaging ``recipient`` (``services.private_replies``).
    private_reply_to: str = ""


@dataclass(frozen=True)
class SentPost:
    external_id: str
    url: str = ""
    local_id: str = ""
    posted_at: dt.datetime | None = None
    #: Meta private messages: the page-scoped id (PSID / IGSID) Meta answered with; for a
    #: Private Reply, the id the person's Messenger / Instagram Direct messages will come from.
    recipient_id: str = ""


# The protocol ----------------------------------------------------------------------------------
@runtime_checkable
class PlatformAdapter(Protocol):
    #: Platform keys this adapter serves (Meta's adapter serves facebook and instagram).
    platforms: ClassVar[tuple[str, ...]]
    #: True for platforms that push webhooks; False for polled ones.
    receives_webhooks: ClassVar[bool]

    def verify_signature(
        self, body: bytes, headers: Mapping[str, str], channel: ChannelConfig
    ) -> bool:
        """True when ``body`` was signed with the channel's secret (constant-time compare)."""

    def answer_challenge(
        self, params: Mapping[str, str], channel: ChannelConfig
    ) -> Challenge | None:
        """The answer to the platform's verification GET, or None to refuse it."""

    def parse(self, body: bytes, channel: ChannelConfig) -> list[Event]:
        """Events in a delivery or polled page; raises ``ParseError`` for anything else."""

    def poll(self, channel: ChannelConfig, client: httpx.Client) -> PollPage:
        """Fetch the next page after ``channel.cursor`` (polled platforms only)."""

    def send(
        self, channel: ChannelConfig, message: OutboundMessage, client: httpx.Client
    ) -> SentPost:
        """Publish a reply or private message; raises ``SendError``/``TransientSendError``."""


# Helpers shared by adapters --------------------------------------------------------------------
def hmac_sha256(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), payload, hashlib.sha256).digest()


def encode(text: str) -> bytes:
    """UTF-8 bytes of any ``str``, even one holding lone surrogates (a hostile query string or
    header decoded with ``surrogateescape``): never a UnicodeEncodeError."""
    return text.encode("utf-8", "surrogatepass")


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(encode(a), encode(b))


def header(headers: Mapping[str, str], name: str) -> str:
    """Case-insensitive header lookup."""
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return ""


def from_epoch_ms(value: Any) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(int(value) / 1000, tz=dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise ParseError(f"Bad epoch-milliseconds timestamp {value!r}.") from exc


def from_epoch_s(value: Any) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(int(value), tz=dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise ParseError(f"Bad epoch-seconds timestamp {value!r}.") from exc


def from_iso(value: Any) -> dt.datetime:
    """An ISO-8601 timestamp as an aware UTC datetime (naive input is taken as UTC)."""
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC)
    except (ValueError, OverflowError) as exc:
        raise ParseError(f"Bad ISO timestamp {value!r}.") from exc


def retry_after_seconds(response: httpx.Response, default: float = 60.0) -> float:
    """Seconds to wait from ``Retry-After`` or a rate-limit reset header (epoch seconds)."""
    import time

    value = response.headers.get("retry-after")
    if value:
        try:
            return _bounded(float(value))
        except ValueError:
            try:  # an HTTP date
                from email.utils import parsedate_to_datetime

                return _bounded(parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    for name in ("x-rate-limit-reset", "x-ratelimit-reset", "ratelimit-reset"):
        value = response.headers.get(name)
        if value:
            try:
                reset = float(value)
            except ValueError:
                try:
                    reset = from_iso(value).timestamp()
                except ParseError:
                    continue
            # Small numbers are "seconds from now" (IETF draft); large ones are epoch seconds.
            return _bounded(reset - time.time() if reset > 10**9 else reset)
    return default


#: The longest wait a platform's rate-limit answer can impose on us (a day).
MAX_RETRY_AFTER = 86_400.0


def _bounded(seconds: float) -> float:
    if seconds != seconds:  # NaN
        return MAX_RETRY_AFTER
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


def raise_for_send_status(response: httpx.Response) -> None:
    """Turn an HTTP error answer into the adapter error the reply service understands."""
    if response.status_code == 429:
        raise RateLimited(
            "Rate limited by the platform.", retry_after=retry_after_seconds(response)
        )
    if response.status_code >= 500 or response.status_code == 408:
        raise TransientSendError(
            f"Platform error {response.status_code}.", retry_after=retry_after_seconds(response, 30)
        )
    if response.status_code >= 400:
        raise SendError(
            f"Platform refused the message ({response.status_code}): {response.text[:500]}"
        )


#: The deepest nesting of arrays and objects a delivery may have. Real payloads stay under 15
#: levels; deeper ones are refused before anything recurses over them (ingest, JSON columns).
MAX_JSON_DEPTH = 64
#: The longest ids that fit their columns (``Post.external_id`` and friends, ``SocialIdentity``).
MAX_POST_ID = 500
MAX_LOCAL_ID = 100
MAX_IDENTITY_ID = 255

#: Escapes that decode to text no database column can hold: NUL and UTF-16 surrogates (a lone
#: one has no UTF-8 form; a pair decodes to one character and is left alone by ``_clean``).
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89abcdefABCDEF])")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _clean(text: str) -> str:
    """``text`` without NUL characters and with lone surrogates replaced by U+FFFD."""
    return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)


def _check_tree(data: Any, clean: bool) -> Any:
    """Refuse nesting deeper than ``MAX_JSON_DEPTH``; with ``clean``, rewrite every string
    (keys too) with ``_clean``. Iterative: a hostile document cannot exhaust the stack."""
    if clean and isinstance(data, str):
        return _clean(data)
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ParseError(f"Body is nested deeper than {MAX_JSON_DEPTH} levels.")
        if isinstance(node, dict):
            if clean and any(isinstance(k, str) and _UNSTORABLE.search(k) for k in node):
                items = [(_clean(k), v) for k, v in node.items()]
                node.clear()
                node.update(items)
            for key, value in node.items():
                if isinstance(value, dict | list):
                    stack.append((value, depth + 1))
                elif clean and isinstance(value, str):
                    node[key] = _clean(value)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                if isinstance(value, dict | list):
                    stack.append((value, depth + 1))
                elif clean and isinstance(value, str):
                    node[index] = _clean(value)
    return data


def load_json(body: bytes) -> Any:
    """Parse JSON from raw bytes, with ``ParseError`` on anything that is not UTF-8 JSON or is
    nested deeper than ``MAX_JSON_DEPTH``. Text no database can store is made storable: NUL
    characters (``\\u0000``) are dropped and lone surrogate escapes become U+FFFD, so one
    broken emoji never costs a customer's post."""
    if not isinstance(body, bytes | bytearray | memoryview):
        raise ParseError(f"Body is {type(body).__name__}, not bytes.")
    body = bytes(body)
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ParseError(f"Body is not UTF-8 (byte {exc.start}).") from exc
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"Body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
        ) from exc
    except RecursionError as exc:
        raise ParseError(f"Body is nested deeper than {MAX_JSON_DEPTH} levels.") from exc
    except ValueError as exc:  # e.g. an integer longer than Python's digit limit
        raise ParseError(f"Body is not usable JSON: {exc}.") from exc
    clean = _SUSPECT_ESCAPE.search(body) is not None
    if clean or body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH:
        data = _check_tree(data, clean)
    return data


def check_ids(event: Event) -> Event:
    """``event`` itself, or ``ParseError`` when one of its ids is longer than its column."""
    post = event.post if isinstance(event, PostEdit) else event
    limits: list[tuple[str, str, int]] = [("id", post.external_id, MAX_POST_ID)]
    if isinstance(post, InboundPost):
        limits += [
            ("author id", post.author.external_id, MAX_IDENTITY_ID),
            ("in-reply-to id", post.in_reply_to, MAX_POST_ID),
            ("conversation id", post.conversation_id, MAX_POST_ID),
            ("local id", post.local_id, MAX_LOCAL_ID),
        ]
    for what, value, limit in limits:
        if len(value) > limit:
            raise ParseError(f"The post's {what} is {len(value)} characters (at most {limit}).")
    return event


class Collector:
    """Reads a batch item by item: a malformed item is an error, not the end of the batch.

    ::

        found = Collector()
        for item in items:
            with found.item():
                found.add(read(item))
        return found.result()   # or ParseError(events=what was read) naming the bad items
    """

    #: Item errors quoted in the message (the count is always complete).
    SHOWN = 10

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.errors: list[str] = []
        self.items = 0

    @contextmanager
    def item(self) -> Iterator[None]:
        self.items += 1
        try:
            yield
        except ParseError as exc:
            self.errors.append(str(exc))

    def add(self, event: Event | None) -> None:
        if event is not None:
            self.events.append(check_ids(event))

    def result(self) -> list[Event]:
        if not self.errors:
            return self.events
        shown = "; ".join(self.errors[: self.SHOWN])
        more = (
            f"; and {len(self.errors) - self.SHOWN} more" if len(self.errors) > self.SHOWN else ""
        )
        raise ParseError(
            f"{len(self.errors)} of {self.items} items refused: {shown}{more}", events=self.events
        )


def http_call(
    client: httpx.Client, method: str, url: str, what: str, **kwargs: Any
) -> httpx.Response:
    """One HTTP request whose transport failures are adapter errors: a timeout or a lost
    connection → ``TransientSendError`` (tried again later), a request that cannot be made (bad
    URL) → ``SendError``. The answer, whatever its status, is the caller's to read."""
    try:
        return client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise TransientSendError(f"{what}: timed out ({exc}).", retry_after=30) from exc
    except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as exc:
        raise TransientSendError(f"{what}: connection failed ({exc}).", retry_after=30) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise SendError(f"{what}: cannot make the request ({exc}).") from exc


def accepted(response: httpx.Response, what: str) -> httpx.Response:
    """``response`` when it is a 2xx; otherwise the adapter error for its status (429 →
    ``RateLimited``, 5xx → ``TransientSendError``, other refusals → ``SendError``), named
    ``what``."""
    try:
        raise_for_send_status(response)
    except TransientSendError as exc:  # RateLimited included: keep the class and the delay
        raise type(exc)(f"{what}: {exc}", retry_after=exc.retry_after) from None
    except SendError as exc:
        raise SendError(f"{what}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise SendError(f"{what}: unexpected HTTP {response.status_code}.")
    return response


class PolledAdapter:
    """What a polled platform's adapter answers to webhooks: nothing is ever signed for it."""

    receives_webhooks: ClassVar[bool] = False

    def verify_signature(
        self, body: bytes, headers: Mapping[str, str], channel: ChannelConfig
    ) -> bool:
        return False

    def answer_challenge(
        self, params: Mapping[str, str], channel: ChannelConfig
    ) -> Challenge | None:
        return None
