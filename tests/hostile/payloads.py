"""Hostile payloads for every platform adapter, and the one property they must all keep.

Importable without Django (the fuzz targets in ``fuzz/`` use it too): adapters never touch the
database. The property (``parse_cleanly``): parsing any bytes returns sane events or raises the
adapter's ``ParseError`` (whose ``events`` are sane too); any other exception is a bug.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from socialcare.platforms.base import (
    MAX_IDENTITY_ID,
    MAX_LOCAL_ID,
    MAX_POST_ID,
    ChannelConfig,
    InboundPost,
    ParseError,
    PostDeletion,
    PostEdit,
)
from socialcare.platforms.bluesky import BlueskyAdapter
from socialcare.platforms.mastodon import MastodonAdapter
from socialcare.platforms.meta import MetaAdapter
from socialcare.platforms.x import XAdapter
from tests.shared_data import FIXTURES, json_paths

X_ACCOUNT = "1114259648326987776"
X_DM_ACCOUNT = "835740314006511618"
PAGE = "103149398319188"
INSTAGRAM = "17841405309211844"
MASTODON_ACCOUNT = "14715"
BLUESKY_DID = "did:plc:acmesupport000000000000"
SECRETS = {"webhook_secret": "apiSecret", "verify_token": "metaVerifyToken"}
META_SECRETS = {"webhook_secret": "metaAppSecret", "verify_token": "metaVerifyToken"}

ADAPTERS: dict[str, Any] = {
    "x": XAdapter(),
    "facebook": MetaAdapter(),
    "instagram": MetaAdapter(),
    "mastodon": MastodonAdapter(),
    "bluesky": BlueskyAdapter(),
}


def channel(platform: str, account: str) -> ChannelConfig:
    return ChannelConfig(
        platform=platform,
        account_id=account,
        handle={"mastodon": "acmehelp", "bluesky": "acme.support"}.get(platform, ""),
        base_url="https://mastodon.social" if platform == "mastodon" else "",
        secrets=META_SECRETS if platform in ("facebook", "instagram") else SECRETS,
    )


#: fixture file -> the channel it was delivered to
FIXTURE_CHANNELS: dict[str, ChannelConfig] = {
    "x/tweet_create_reply.json": channel("x", X_ACCOUNT),
    "x/tweet_create_extended.json": channel("x", X_ACCOUNT),
    "x/tweet_delete.json": channel("x", X_ACCOUNT),
    "x/direct_message.json": channel("x", X_DM_ACCOUNT),
    "meta/page_feed_comment.json": channel("facebook", PAGE),
    "meta/page_feed_reply_edit_remove.json": channel("facebook", PAGE),
    "meta/messenger_message.json": channel("facebook", PAGE),
    "meta/messenger_echo_and_attachment.json": channel("facebook", PAGE),
    "meta/instagram_comment.json": channel("instagram", INSTAGRAM),
    "meta/instagram_message.json": channel("instagram", INSTAGRAM),
    "mastodon/notifications_mentions.json": channel("mastodon", MASTODON_ACCOUNT),
    "bluesky/list_notifications.json": channel("bluesky", BLUESKY_DID),
}
#: One channel per adapter configuration, for bodies not made from a fixture.
CHANNELS: dict[str, ChannelConfig] = {
    "x": channel("x", X_ACCOUNT),
    "facebook": channel("facebook", PAGE),
    "instagram": channel("instagram", INSTAGRAM),
    "mastodon": channel("mastodon", MASTODON_ACCOUNT),
    "bluesky": channel("bluesky", BLUESKY_DID),
}


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_documents() -> dict[str, Any]:
    return {name: json.loads(fixture_bytes(name)) for name in FIXTURE_CHANNELS}


# Strings that have broken parsers before: control and format characters, surrogates, bidi
# overrides, zero-width joiners, HTML, numbers as text, near-miss timestamps and ids.
EDGE_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff",
    "x\udc80y",
    "\u202eevil\u202c",
    "\u200f\u200e\u200b\u200d\u2060",
    "\ufeff",
    "\uffff",
    "\U0001f64f",
    "👩‍👩‍👧‍👦",
    "e\u0301\u0301\u0301",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "\r\n\t\x0b\x0c\x1b",
    "9" * 5000,
    "-1",
    "1e999",
    "NaN",
    "0x10",
    "²³",
    "٣٤٥",
    "2020-02-30T00:00:00Z",
    "9999-12-31T23:59:59-23:00",
    "0001-01-01T00:00:00+14:00",
    "Sat Nov 31 99:99:99 +9999 2020",
    "Sat Nov 28 05:30:03 +0000 99999",
    "at://did:plc:x/app.bsky.feed.post/1",
    "at://///",
    "did:plc:",
    "did:",
    "mention",
    "reply",
    "message_create",
    "feed",
    "comments",
    "mentions",
    "comment",
    "add",
    "edited",
    "remove",
    "page",
    "instagram",
    "direct",
    "public",
    "x" * 600,
]
HUGE = 1_000_000


def _keys() -> list[str]:
    found: set[str] = set()
    for document in fixture_documents().values():
        for path in json_paths(document):
            found |= {part for part in path if isinstance(part, str)}
    return sorted(found)


KNOWN_KEYS = _keys()

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(EDGE_STRINGS)
)
keys = st.sampled_from(KNOWN_KEYS) | st.text(max_size=8) | st.sampled_from(EDGE_STRINGS[:12])
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=6),
    max_leaves=25,
)
#: Values of every JSON type but the expected one, and then some: what "wrong type" means.
WRONG_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    1.5,
    float("nan"),
    float("inf"),
    10**30,
    "",
    "\ud800",
    "\x00",
    "\u202e",
    "x" * 600,
    [],
    [None],
    {},
    {"id": None},
]


def encode(document: Any, ascii_only: bool = True) -> bytes:
    """JSON bytes of ``document``; lone surrogates become ``\\udXXX`` escapes (ascii) or invalid
    UTF-8 (CESU-8 bytes, ``ascii_only=False``)."""
    return json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def set_path(document: Any, path: tuple, value: Any, delete: bool = False) -> Any:
    """``document`` with the value at ``path`` replaced (or removed); the root path replaces all."""
    value = copy.deepcopy(value)  # never share (and later mutate) a strategy's own objects
    if not path:
        return value
    node = document
    for part in path[:-1]:
        node = node[part]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return document


@st.composite
def mutated_fixture(draw: st.DrawFn) -> tuple[str, bytes]:
    """A real delivery with one to four paths dropped, retyped, replaced, grown huge or filled
    with edge-case text."""
    name = draw(st.sampled_from(sorted(FIXTURE_CHANNELS)))
    document = json.loads(fixture_bytes(name))
    for _ in range(draw(st.integers(1, 4))):
        paths = json_paths(document)
        path = draw(st.sampled_from(paths))
        operation = draw(st.sampled_from(["drop", "wrong", "random", "huge", "edge", "deep"]))
        if operation == "drop" and path:
            document = set_path(document, path, None, delete=True)
        elif operation == "wrong":
            document = set_path(document, path, draw(st.sampled_from(WRONG_VALUES)))
        elif operation == "random":
            document = set_path(document, path, draw(json_values))
        elif operation == "huge":
            document = set_path(document, path, draw(st.sampled_from(["x", "é", "\u200b"])) * HUGE)
        elif operation == "edge":
            document = set_path(document, path, draw(st.sampled_from(EDGE_STRINGS)))
        else:
            depth = draw(st.integers(10, 200))
            document = set_path(document, path, json.loads("[" * depth + "]" * depth))
    return name, encode(document, ascii_only=draw(st.booleans()))


def _envelope(platform: str, items: list[Any], extra: Any) -> Any:
    """Random items inside a platform's real envelope, so generated values reach the code that
    reads single posts rather than stopping at the outer shape."""
    if platform == "x":
        key = ("tweet_create_events", "direct_message_events", "tweet_delete_events")[
            len(items) % 3
        ]
        return {"for_user_id": X_ACCOUNT, key: items, "users": extra}
    if platform in ("facebook", "instagram"):
        field = ("feed", "comments", "mentions", "live_comments")[len(items) % 4]
        return {
            "object": "page" if platform == "facebook" else "instagram",
            "entry": [
                {
                    "id": PAGE if platform == "facebook" else INSTAGRAM,
                    "time": 1700000000,
                    "changes": [{"field": field, "value": item} for item in items],
                    "messaging": items,
                }
            ],
        }
    if platform == "mastodon":
        return [{"type": "mention", "id": "1", "status": item} for item in items]
    return {
        "notifications": [
            {**item, "reason": "mention"} if isinstance(item, dict) else item for item in items
        ],
        "profiles": extra if isinstance(extra, list) else [extra],
    }


@st.composite
def enveloped(draw: st.DrawFn) -> tuple[str, bytes]:
    platform = draw(st.sampled_from(sorted(CHANNELS)))
    items = draw(st.lists(st.dictionaries(keys, json_values, max_size=8), max_size=4))
    extra = draw(json_values)
    return platform, encode(_envelope(platform, items, extra), ascii_only=draw(st.booleans()))


# The property ------------------------------------------------------------------------------------
def _storable(text: Any, what: str) -> None:
    assert isinstance(text, str), f"{what} is {type(text).__name__}"
    assert "\x00" not in text, f"{what} holds NUL"
    text.encode("utf-8")  # no lone surrogates: raises UnicodeEncodeError if any


def check_event(event: Any) -> None:
    """An event the ingest service can store on PostgreSQL as well as SQLite."""
    assert isinstance(event, InboundPost | PostEdit | PostDeletion), type(event)
    if isinstance(event, PostDeletion):
        _storable(event.external_id, "deletion id")
        assert event.external_id and len(event.external_id) <= MAX_POST_ID
        assert isinstance(event.deleted_at, dt.datetime) and event.deleted_at.tzinfo
        return
    if isinstance(event, PostEdit):
        assert isinstance(event.edited_at, dt.datetime) and event.edited_at.tzinfo
        event = event.post
    assert event.external_id and len(event.external_id) <= MAX_POST_ID
    assert len(event.author.external_id) <= MAX_IDENTITY_ID
    assert len(event.in_reply_to) <= MAX_POST_ID and len(event.conversation_id) <= MAX_POST_ID
    assert len(event.local_id) <= MAX_LOCAL_ID
    assert isinstance(event.posted_at, dt.datetime) and event.posted_at.tzinfo
    for name in (
        "external_id",
        "text",
        "html",
        "url",
        "in_reply_to",
        "conversation_id",
        "language",
    ):
        _storable(getattr(event, name), name)
    for name in ("external_id", "handle", "display_name", "profile_url", "avatar_url"):
        _storable(getattr(event.author, name), f"author.{name}")
    assert event.author.followers_count is None or isinstance(event.author.followers_count, int)
    # What lands in JSON columns must serialize, to text PostgreSQL's jsonb accepts.
    for name, value in (("raw", event.raw), ("attachments", list(event.attachments))):
        dumped = json.dumps(value, ensure_ascii=False, allow_nan=True)
        dumped.encode("utf-8")
        assert "\\u0000" not in dumped, f"{name} holds NUL"


def parse_cleanly(platform: str, body: bytes, config: ChannelConfig | None = None) -> list[Any]:
    """Parse ``body``; events or ``ParseError`` only, and every event storable. Returns the
    events read (those of a partly refused batch included)."""
    adapter = ADAPTERS[platform]
    try:
        events = adapter.parse(body, config or CHANNELS[platform])
    except ParseError as exc:
        assert str(exc), "a ParseError must say what is wrong"
        events = list(exc.events)
    assert isinstance(events, list)
    for event in events:
        check_event(event)
    return events


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    import time

    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started
