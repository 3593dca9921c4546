"""The Bluesky adapter: polled notifications in (session, backwards paging, profiles, parsing),
post records and chat messages out.

Pure adapter tests: no database. Polling and sending run against a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialcare.platforms.base import (
    ChannelConfig,
    InboundPost,
    OutboundMessage,
    ParseError,
    PlatformAdapter,
    RateLimited,
    SendError,
    TransientSendError,
)
from socialcare.platforms.bluesky import CHAT_PROXY, BlueskyAdapter, forget_session
from socialcare.platforms.bluesky.poll import OVERLAP, PAGES_PER_POLL
from tests.platform_server import Answer, Recorded
from tests.platform_server import platform_server as platform_server  # fixture: `as` re-exports
from tests.shared_data import FIXTURES, json_paths

BRAND = "did:plc:acmesupport000000000000"
BRYAN = "did:plc:u5cwb2mwiv2bfq53cjufe6yn"
MENTION_URI = f"at://{BRYAN}/app.bsky.feed.post/3k43tv4rft22g"
MENTION_CID = "bafyreig2fjxi3rptqdgylg7e5hmjl6mcke7rn2b6cugzlqq3i4zu6rq52q"
REPLY_URI = f"at://{BRYAN}/app.bsky.feed.post/3k43u2bxkq22h"
REPLY_CID = "bafyreihzlq3aqqnwq3avgmrwjjjtmqhvnt3b2hfrgcvr5ahv5ykmgh2nou"
ZWJ_FAMILY = "\U0001f468\u200d\u2764\ufe0f\u200d\U0001f468"

XRPC = "/xrpc/"
SESSION = XRPC + "com.atproto.server.createSession"
REFRESH = XRPC + "com.atproto.server.refreshSession"
LIST = XRPC + "app.bsky.notification.listNotifications"
PROFILES = XRPC + "app.bsky.actor.getProfiles"
CREATE = XRPC + "com.atproto.repo.createRecord"
CONVO = XRPC + "chat.bsky.convo.getConvoForMembers"
SEND_MESSAGE = XRPC + "chat.bsky.convo.sendMessage"

adapter = BlueskyAdapter()


def fixture() -> bytes:
    return (FIXTURES / "bluesky" / "list_notifications.json").read_bytes()


def fixture_notifications() -> list[dict[str, Any]]:
    return json.loads(fixture())["notifications"]


def channel(base_url: str = "", cursor: str = "", **secrets: str) -> ChannelConfig:
    return ChannelConfig(
        platform="bluesky",
        account_id=BRAND,
        handle="acme.support",
        base_url=base_url,
        secrets=secrets or {"access_token": "app-pass-word"},
        cursor=cursor,
    )


def notification(
    n: int, *, reason: str = "mention", indexed_at: str = "", author: str = BRYAN
) -> dict[str, Any]:
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    when = indexed_at or (start + dt.timedelta(seconds=n)).isoformat().replace("+00:00", "Z")
    return {
        "uri": f"at://{author}/app.bsky.feed.post/rkey{n}",
        "cid": f"bafycid{n}",
        "author": {"did": author, "handle": f"{author.rsplit(':', 1)[-1]}.bsky.social"},
        "reason": reason,
        "record": {"$type": "app.bsky.feed.post", "text": f"post {n}", "createdAt": when},
        "isRead": False,
        "indexedAt": when,
    }


def parse(body: dict[str, Any] | list[dict[str, Any]]) -> list[Any]:
    if isinstance(body, list):
        body = {"notifications": body}
    return adapter.parse(json.dumps(body).encode(), channel())


def test_adapter_satisfies_the_protocol():
    assert isinstance(adapter, PlatformAdapter)
    assert adapter.platforms == ("bluesky",)
    assert adapter.receives_webhooks is False
    assert adapter.verify_signature(fixture(), {}, channel()) is False
    assert adapter.answer_challenge({}, channel()) is None


def test_registry_serves_this_adapter():
    from socialcare.platforms.registry import get_adapter

    assert isinstance(get_adapter("bluesky"), BlueskyAdapter)


def test_adapter_module_imports_nothing_of_django_or_the_database():
    code = (
        "import sys, socialcare.platforms.bluesky\n"
        "bad = [m for m in sys.modules if m.startswith(('socialcare.models', 'django'))]\n"
        "assert not bad, bad\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr


# Parsing: the fixture ------------------------------------------------------------------------------
def test_fixture_gives_a_mention_and_a_reply_in_one_conversation():
    events = adapter.parse(fixture(), channel())
    assert [type(e) for e in events] == [InboundPost, InboundPost]
    mention, reply = events

    assert mention.external_id == MENTION_URI
    assert mention.kind == "mention"
    assert mention.visibility == "public"
    assert mention.direction == "inbound"
    assert mention.url == "https://bsky.app/profile/bnewbold.staging.bsky.dev/post/3k43tv4rft22g"
    assert mention.in_reply_to == ""
    assert mention.posted_at == dt.datetime(2023, 8, 7, 5, 46, 10, 493943, tzinfo=dt.UTC)
    assert mention.raw["cid"] == MENTION_CID
    assert mention.author.external_id == BRYAN
    assert mention.author.handle == "bnewbold.staging.bsky.dev"
    assert mention.author.display_name == "bryan"
    assert mention.author.avatar_url.startswith("https://cdn.bsky.app/img/avatar/")
    assert mention.author.followers_count is None  # not in notifications: keep what is stored

    assert reply.external_id == REPLY_URI
    assert reply.kind == "reply"
    assert reply.text == "example of a reply"
    assert reply.in_reply_to == f"at://{BRAND}/app.bsky.feed.post/3k43tx00000aa"
    assert reply.raw["cid"] == REPLY_CID

    assert mention.conversation_id == reply.conversation_id == MENTION_URI
    for post in events:
        assert post.posted_at.utcoffset() == dt.timedelta(0)


def test_text_keeps_the_zwj_sequence_and_link_facets_are_sliced_by_bytes():
    mention = adapter.parse(fixture(), channel())[0]
    assert mention.text == (
        f"\u2728 example mentioning @acme.support to share the URL {ZWJ_FAMILY} "
        "https://example.com/index.html."
    )
    assert ZWJ_FAMILY in mention.text
    # byteStart 75 / byteEnd 105 are UTF-8 offsets: as character offsets they would be wrong.
    assert mention.text[75:105] != "https://example.com/index.html"
    assert mention.attachments == (
        {"type": "link", "url": "https://example.com/index.html", "text": "https://example.com/index.html"},
    )  # fmt: skip


# Parsing: the rules beyond the fixture -------------------------------------------------------------
def test_polled_shape_brings_follower_counts():
    body = {
        "notifications": fixture_notifications(),
        "profiles": [{"did": BRYAN, "handle": "bnewbold.staging.bsky.dev", "followersCount": 4321}],
    }
    events = parse(body)
    assert [e.author.followers_count for e in events] == [4321, 4321]


def test_quote_is_a_mention_and_other_reasons_are_ignored():
    events = parse(
        [
            notification(1, reason="like"),
            notification(2, reason="follow"),
            notification(3, reason="repost"),
            notification(4, reason="quote"),
            notification(5, reason="reply"),
        ]
    )
    assert [(e.external_id.rsplit("/", 1)[-1], e.kind) for e in events] == [
        ("rkey4", "mention"),
        ("rkey5", "reply"),
    ]


def test_brand_posts_are_outbound_and_embeds_become_attachments():
    item = notification(1, author=BRAND)
    item["record"]["langs"] = ["de"]
    item["record"]["embed"] = {
        "$type": "app.bsky.embed.recordWithMedia",
        "record": {"record": {"uri": MENTION_URI, "cid": MENTION_CID}},
        "media": {
            "$type": "app.bsky.embed.images",
            "images": [
                {"alt": "receipt", "image": {"$type": "blob", "ref": {"$link": "bafkimg"}}},
                "junk",
            ],
        },
    }
    item["record"]["facets"] = [{"index": "junk"}, {"features": 3}, 7]  # skipped, not fatal
    (post,) = parse([item])
    assert post.direction == "outbound"
    assert post.language == "de"
    assert post.attachments == (
        {"type": "image", "url": f"https://cdn.bsky.app/img/feed_fullsize/plain/{BRAND}/bafkimg@jpeg",
         "alt": "receipt"},
        {"type": "quote", "url": MENTION_URI},
    )  # fmt: skip


def test_invalid_handle_falls_back_to_the_did_in_urls():
    item = notification(1)
    item["author"]["handle"] = "handle.invalid"
    (post,) = parse([item])
    assert post.url == f"https://bsky.app/profile/{BRYAN}/post/rkey1"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xc3\x28", "UTF-8"),
        (b"[]", "JSON object"),
        (b"{}", "`notifications`"),
        (b'{"notifications": {}}', "`notifications`"),
        (b'{"notifications": [], "profiles": 5}', "`profiles`"),
        (b'{"notifications": [], "profiles": [5]}', "profile #0"),
        (b'{"notifications": ["x"]}', "not an object"),
        (b'{"notifications": [{"uri": "at://a/b/c"}]}', "`reason`"),
    ],
)
def test_malformed_bodies_raise_parse_error(body: bytes, message: str):
    with pytest.raises(ParseError, match=message):
        adapter.parse(body, channel())


def _break(path: tuple, value: Any) -> dict[str, Any]:
    item = fixture_notifications()[1]
    target = item
    for step in path[:-1]:
        target = target[step]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return item


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("uri",), KeyError, "`uri`"),
        (("uri",), "https://bsky.app/x", "at-URI"),
        (("uri",), f"at://{BRYAN}/app.bsky.feed.like/abc", "not a post"),
        (("cid",), None, "`cid`"),
        (("author",), "bryan", "`author`"),
        (("author", "did"), "bryan", "not a DID"),
        (("author", "handle"), 5, "`handle`"),
        (("record",), None, "`record`"),
        (("record", "text"), 42, "`text`"),
        (("record", "createdAt"), "tuesday", "createdAt"),
        (("record", "createdAt"), "0001-01-01T00:00:00+05:00", "createdAt"),
        (("record", "reply"), [], "reply must be an object"),
        (("record", "reply", "parent"), KeyError, "`parent`"),
        (("record", "reply", "root", "uri"), 1, "`uri`"),
    ],
)
def test_ill_typed_notification_fields_raise_parse_error(path: tuple, value: Any, message: str):
    with pytest.raises(ParseError, match=message):
        parse([_break(path, value)])


# Polling -------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def fresh_sessions():
    forget_session()
    yield
    forget_session()


@pytest.fixture
def client():
    with httpx.Client(timeout=5) as http:
        yield http


SESSION_ANSWER = {
    "accessJwt": "jwt-access",
    "refreshJwt": "jwt-refresh",
    "handle": "acme.support",
    "did": BRAND,
}


def _serve_session(server: Any) -> None:
    server.route("POST", SESSION, 200, SESSION_ANSWER)


def _serve_profiles(server: Any, followers: int = 77) -> None:
    def respond(request: Recorded) -> Answer:
        return Answer(
            200,
            {"profiles": [{"did": d, "handle": "h", "followersCount": followers}
                          for d in request.query["actors"]]},
        )  # fmt: skip

    server.route("GET", PROFILES, respond)


def test_first_run_reads_one_page_and_fetches_profiles(platform_server, client):
    _serve_session(platform_server)
    _serve_profiles(platform_server)
    answer = json.loads(fixture())
    answer["notifications"].append(
        notification(1, reason="like", indexed_at="2023-08-07T05:00:00Z")
    )
    platform_server.route("GET", LIST, 200, answer)

    page = adapter.poll(channel(platform_server.url), client)

    assert json.loads(page.cursor)["h"] == "2023-08-07T05:49:41.000Z"  # the newest sortAt seen
    assert page.has_more is False
    body = json.loads(page.body)
    assert set(body) == {"notifications", "profiles"}
    assert [n["uri"] for n in body["notifications"]] == [MENTION_URI, REPLY_URI]  # no like
    assert body["notifications"] == fixture_notifications()  # verbatim
    assert [e.author.followers_count for e in adapter.parse(page.body, channel())] == [77, 77]

    session = platform_server.requests_to("POST", SESSION)[0]
    assert session.json() == {"identifier": "acme.support", "password": "app-pass-word"}
    (listed,) = platform_server.requests_to("GET", LIST)  # first run: the latest page only
    assert listed.headers["authorization"] == "Bearer jwt-access"
    assert listed.query["limit"] == ["100"]
    assert listed.query["priority"] == ["false"]
    assert listed.query["reasons"] == ["mention", "reply", "quote"]
    assert "cursor" not in listed.query
    (profiles,) = platform_server.requests_to("GET", PROFILES)
    assert profiles.query["actors"] == [BRYAN]
    assert profiles.headers["authorization"] == "Bearer jwt-access"


def test_nothing_new_keeps_the_cursor_and_skips_profiles(platform_server, client):
    _serve_session(platform_server)
    _serve_profiles(platform_server)
    platform_server.route("GET", LIST, 200, json.loads(fixture()))
    # The cursor of earlier versions (the newest indexedAt seen): the hour below it is read
    # again, and what it finds goes to ingest, which drops the posts it already has.
    first = adapter.poll(channel(platform_server.url, cursor="2023-08-07T05:49:41.000Z"), client)
    assert [n["uri"] for n in json.loads(first.body)["notifications"]] == [MENTION_URI, REPLY_URI]
    platform_server.requests.clear()

    page = adapter.poll(channel(platform_server.url, cursor=first.cursor), client)
    assert page.cursor == first.cursor  # polling stores nothing
    assert json.loads(page.body) == {"notifications": [], "profiles": []}
    assert platform_server.requests_to("GET", PROFILES) == []
    # The fixture's cursor, then the same answer naming the same cursor: the end of the list.
    assert len(platform_server.requests_to("GET", LIST)) == 2
    assert adapter.parse(page.body, channel()) == []


def _ten_minutes_apart(count: int) -> list[dict[str, Any]]:
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return [
        notification(n, indexed_at=(start + dt.timedelta(minutes=10 * n)).isoformat())
        for n in range(count - 1, -1, -1)
    ]  # newest first, like the API


def test_pages_are_read_backwards_an_hour_past_the_newest_seen(platform_server, client):
    _serve_session(platform_server)
    _serve_profiles(platform_server)
    items = _ten_minutes_apart(21)  # n = 20 … 0
    items[3]["reason"] = "like"  # n=17: not kept

    def respond(request: Recorded) -> Answer:  # pages of 5; an opaque cursor
        start = int(request.query.get("cursor", ["0"])[0])
        answer: dict[str, Any] = {"notifications": items[start : start + 5]}
        if start + 5 < len(items):
            answer["cursor"] = str(start + 5)
        return Answer(200, answer)

    platform_server.route("GET", LIST, respond)
    seen_until = items[10]["indexedAt"]  # n=10 was the newest the previous poll saw
    page = adapter.poll(channel(platform_server.url, cursor=seen_until), client)

    kept = [n["uri"].rsplit("rkey", 1)[-1] for n in json.loads(page.body)["notifications"]]
    # Down to the page holding n=3, the first older than an hour (6 × 10 min) below n=10: the
    # posts n=10…4 are handed on again in case one was indexed late (this cursor has no digests
    # of them); ingest drops those it has. n=3…1, below the overlap, are not.
    assert dt.timedelta(hours=1) == OVERLAP
    assert kept == [str(n) for n in range(20, 3, -1) if n != 17]
    assert json.loads(page.cursor) == {"v": 2, "h": "2024-01-01T03:20:00.000Z", "b": ANY}
    assert page.has_more is False
    assert [r.query.get("cursor") for r in platform_server.requests_to("GET", LIST)] == [
        None, ["5"], ["10"], ["15"],
    ]  # fmt: skip
    # The next poll reads down to an hour below n=20 and finds nothing new.
    platform_server.requests.clear()
    again = adapter.poll(channel(platform_server.url, cursor=page.cursor), client)
    assert json.loads(again.body)["notifications"] == []
    assert again.cursor == page.cursor
    assert len(platform_server.requests_to("GET", LIST)) == 2


def test_paging_is_bounded_per_call_and_the_next_call_continues(platform_server, client):
    _serve_session(platform_server)
    _serve_profiles(platform_server)
    counter = iter(range(10_000, 0, -1))

    def respond(request: Recorded) -> Answer:  # an endless stream within the hour
        n = next(counter)
        return Answer(200, {"notifications": [notification(n)], "cursor": f"page-{n}"})

    platform_server.route("GET", LIST, respond)
    page = adapter.poll(channel(platform_server.url, cursor="2024-01-01T03:00:00Z"), client)
    assert len(platform_server.requests_to("GET", LIST)) == PAGES_PER_POLL
    assert page.has_more is True
    last = f"page-{10_001 - PAGES_PER_POLL}"  # the cursor of the last page read
    assert json.loads(page.cursor)["p"] == last
    platform_server.requests.clear()
    adapter.poll(channel(platform_server.url, cursor=page.cursor), client)
    assert platform_server.requests_to("GET", LIST)[0].query["cursor"] == [last]


def test_profiles_are_fetched_25_actors_at_a_time(platform_server, client):
    _serve_session(platform_server)
    _serve_profiles(platform_server, followers=3)
    authors = [f"did:plc:customer{n:02d}" for n in range(30)]
    items = [notification(n, author=did) for n, did in enumerate(authors)]
    items.append(notification(99, author=authors[0]))  # a second post of the same author
    platform_server.route("GET", LIST, 200, {"notifications": items})

    page = adapter.poll(channel(platform_server.url), client)

    calls = platform_server.requests_to("GET", PROFILES)
    assert [len(c.query["actors"]) for c in calls] == [25, 5]
    assert sorted(did for c in calls for did in c.query["actors"]) == sorted(authors)
    assert {e.author.followers_count for e in adapter.parse(page.body, channel())} == {3}


def test_rate_limit_with_retry_after(platform_server, client):
    _serve_session(platform_server)
    platform_server.route("GET", LIST, 429, {"error": "RateLimitExceeded"},
                          headers={"Retry-After": "45"})  # fmt: skip
    with pytest.raises(RateLimited) as caught:
        adapter.poll(channel(platform_server.url), client)
    assert caught.value.retry_after == 45


def test_server_error_is_transient(platform_server, client):
    _serve_session(platform_server)
    platform_server.route("GET", LIST, 500, {"error": "InternalServerError"})
    with pytest.raises(TransientSendError) as caught:
        adapter.poll(channel(platform_server.url), client)
    assert not isinstance(caught.value, RateLimited)


def test_bad_app_password_is_a_send_error(platform_server, client):
    platform_server.route("POST", SESSION, 401,
                          {"error": "AuthenticationRequired", "message": "Invalid identifier or password"})  # fmt: skip
    with pytest.raises(SendError, match="Invalid identifier or password") as caught:
        adapter.poll(channel(platform_server.url), client)
    assert not isinstance(caught.value, TransientSendError)
    assert platform_server.requests_to("GET", LIST) == []


def test_missing_secret_or_refused_connection(client):
    with pytest.raises(SendError, match="app password"):
        adapter.poll(channel("http://127.0.0.1:9", access_token=""), client)
    with pytest.raises(TransientSendError):
        adapter.poll(channel("http://127.0.0.1:9"), client)


# Sending -------------------------------------------------------------------------------------------
CREATED = {
    "uri": f"at://{BRAND}/app.bsky.feed.post/3kreply0000aa",
    "cid": "bafyreicreated",
    "validationStatus": "valid",
}


def test_reply_record_carries_root_and_parent_strong_refs(platform_server, client):
    _serve_session(platform_server)
    platform_server.route("POST", CREATE, 200, CREATED)
    parent = fixture_notifications()[1]  # bryan's reply, in the thread rooted at his mention
    message = OutboundMessage(
        text=f"{ZWJ_FAMILY} Thanks! Details: https://acme.example/help.",
        visibility="public",
        in_reply_to=REPLY_URI,
        parent_raw=parent,
    )
    sent = adapter.send(channel(platform_server.url), message, client)

    assert sent.external_id == CREATED["uri"]
    assert sent.url == "https://bsky.app/profile/acme.support/post/3kreply0000aa"
    assert sent.posted_at is not None and sent.posted_at.tzinfo is not None
    request = platform_server.requests_to("POST", CREATE)[0]
    assert request.headers["authorization"] == "Bearer jwt-access"
    body = request.json()
    assert body["repo"] == BRAND
    assert body["collection"] == "app.bsky.feed.post"
    record = body["record"]
    assert record["$type"] == "app.bsky.feed.post"
    assert record["text"] == message.text
    assert dt.datetime.fromisoformat(record["createdAt"].replace("Z", "+00:00")).tzinfo
    assert record["reply"] == {
        "root": {"uri": MENTION_URI, "cid": MENTION_CID},
        "parent": {"uri": REPLY_URI, "cid": REPLY_CID},
    }
    (facet,) = record["facets"]
    start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
    assert message.text.encode()[start:end] == b"https://acme.example/help"
    assert facet["features"] == [
        {"$type": "app.bsky.richtext.facet#link", "uri": "https://acme.example/help"}
    ]


def test_reply_to_a_top_level_post_uses_it_as_root(platform_server, client):
    _serve_session(platform_server)
    platform_server.route("POST", CREATE, 200, CREATED)
    message = OutboundMessage(
        text="Hi @bnewbold.staging.bsky.dev!",
        visibility="public",
        parent_raw=fixture_notifications()[0],
        recipient=BRYAN,
        recipient_handle="bnewbold.staging.bsky.dev",
    )
    adapter.send(channel(platform_server.url), message, client)
    record = platform_server.requests_to("POST", CREATE)[0].json()["record"]
    ref = {"uri": MENTION_URI, "cid": MENTION_CID}
    assert record["reply"] == {"root": ref, "parent": ref}
    assert record["facets"] == [
        {
            "index": {"byteStart": 3, "byteEnd": 29},
            "features": [{"$type": "app.bsky.richtext.facet#mention", "did": BRYAN}],
        }
    ]


@pytest.mark.parametrize(
    "parent_raw",
    [
        {},
        {"uri": MENTION_URI},
        {"cid": MENTION_CID},
        {"uri": MENTION_URI, "cid": MENTION_CID, "record": {"reply": {"root": {"uri": "x"}}}},
    ],
)
def test_reply_without_parent_refs_is_refused_before_any_request(
    platform_server, client, parent_raw: dict[str, Any]
):
    message = OutboundMessage(text="hi", visibility="public", parent_raw=parent_raw)
    with pytest.raises(SendError, match=r"(?i)uri"):
        adapter.send(channel(platform_server.url), message, client)
    assert platform_server.requests == []


def test_private_message_goes_through_the_chat_service(platform_server, client):
    _serve_session(platform_server)
    platform_server.route(
        "GET", CONVO, 200, {"convo": {"id": "convo-1", "rev": "1", "members": []}}
    )
    platform_server.route(
        "POST", SEND_MESSAGE, 200,
        {"id": "msg-9", "rev": "2", "text": "x", "sender": {"did": BRAND},
         "sentAt": "2024-05-22T10:00:00.000Z"},
    )  # fmt: skip
    message = OutboundMessage(
        text="Could you send us your order number?",
        visibility="private",
        recipient=BRYAN,
        recipient_handle="bnewbold.staging.bsky.dev",
    )
    sent = adapter.send(channel(platform_server.url), message, client)

    assert sent.external_id == "bsky-chat:convo-1/msg-9"
    assert sent.local_id == "msg-9"
    assert sent.url == "https://bsky.app/messages/convo-1"
    assert sent.posted_at == dt.datetime(2024, 5, 22, 10, tzinfo=dt.UTC)
    convo = platform_server.requests_to("GET", CONVO)[0]
    assert convo.headers["atproto-proxy"] == CHAT_PROXY == "did:web:api.bsky.chat#bsky_chat"
    assert convo.headers["authorization"] == "Bearer jwt-access"
    assert sorted(convo.query["members"]) == sorted([BRAND, BRYAN])
    sent_request = platform_server.requests_to("POST", SEND_MESSAGE)[0]
    assert sent_request.headers["atproto-proxy"] == CHAT_PROXY
    assert sent_request.json() == {
        "convoId": "convo-1",
        "message": {"text": "Could you send us your order number?"},
    }
    assert platform_server.requests_to("POST", CREATE) == []


def test_private_message_needs_a_did(platform_server, client):
    message = OutboundMessage(text="hi", visibility="private", recipient_handle="bryan")
    with pytest.raises(SendError, match="DID"):
        adapter.send(channel(platform_server.url), message, client)
    assert platform_server.requests == []


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (Answer(400, {"error": "InvalidRequest", "message": "Record/text must be 300 graphemes"}),
         SendError),
        (Answer(401, {"error": "ExpiredToken"}), SendError),
        (Answer(502, "Bad Gateway"), TransientSendError),
        (Answer(429, {"error": "RateLimitExceeded"}, {"Retry-After": "12"}), RateLimited),
        (Answer(200, {"cid": "no-uri"}), SendError),
    ],
)  # fmt: skip
def test_send_errors(platform_server, client, answer: Answer, error: type[Exception]):
    _serve_session(platform_server)
    platform_server.route("POST", CREATE, answer)
    message = OutboundMessage(text="hi", visibility="public", parent_raw=fixture_notifications()[0])
    with pytest.raises(error) as caught:
        adapter.send(channel(platform_server.url), message, client)
    if error is SendError:
        assert not isinstance(caught.value, TransientSendError)
    if error is RateLimited:
        assert caught.value.retry_after == 12


def test_chat_refusal_is_a_send_error(platform_server, client):
    _serve_session(platform_server)
    platform_server.route("GET", CONVO, 400, {"error": "MessagesDisabled", "message": "nope"})
    message = OutboundMessage(text="hi", visibility="private", recipient=BRYAN)
    with pytest.raises(SendError) as caught:
        adapter.send(channel(platform_server.url), message, client)
    assert not isinstance(caught.value, TransientSendError)
    assert str(caught.value) == (
        "The customer does not accept direct messages from @acme.support on Bluesky (they "
        "accept direct messages from no one). Reply publicly or by e-mail."
    )
    assert platform_server.requests_to("POST", SEND_MESSAGE) == []


# Fuzzing: only ParseError or a list ------------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(
        ["", "mention", "reply", "quote", BRAND, MENTION_URI, "at://x", "2023-08-07T05:46:10Z"]
    ),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def mutated_fixture(draw: st.DrawFn) -> bytes:
    document = json.loads(fixture())
    if draw(st.booleans()):  # the polled shape
        document = {
            "notifications": document["notifications"],
            "profiles": [{"did": BRYAN, "handle": "b", "followersCount": 5}],
        }
    for _ in range(draw(st.integers(1, 4))):
        paths = json_paths(document)[1:]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()):
            parent[path[-1]] = draw(JSON_VALUES)
        elif isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
    return json.dumps(document).encode()


def _check(events: Any) -> None:
    assert isinstance(events, list)
    for post in events:
        assert isinstance(post, InboundPost)
        assert post.external_id.startswith("at://")
        assert post.author.external_id.startswith("did:")
        assert isinstance(post.text, str)
        assert post.posted_at.tzinfo is not None
        assert post.conversation_id


@given(mutated_fixture())
@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_mutated_fixture_only_ever_raises_parse_error(body: bytes):
    try:
        events = adapter.parse(body, channel())
    except ParseError as exc:
        assert str(exc)
    else:
        _check(events)


@given(st.binary(max_size=2048))
@settings(max_examples=200, deadline=None, database=None)
def test_random_bytes_only_ever_raise_parse_error(body: bytes):
    try:
        events = adapter.parse(body, channel())
    except ParseError:
        pass
    else:
        _check(events)


def test_session_is_kept_between_polls_and_renewed_when_refused(platform_server, client):
    """Bluesky allows 30 logins per 5 minutes: polls reuse the session until it is refused
    (400 ExpiredToken, as the PDS answers an expired access token), then refresh it."""
    _serve_session(platform_server)
    _serve_profiles(platform_server)
    platform_server.route("POST", REFRESH, 200, {**SESSION_ANSWER, "accessJwt": "jwt-access-2"})
    platform_server.route("GET", LIST, 200, json.loads(fixture()))
    config = channel(platform_server.url, cursor="2023-08-07T05:49:41.000Z")
    adapter.poll(config, client)
    adapter.poll(config, client)
    assert len(platform_server.requests_to("POST", SESSION)) == 1
    platform_server.route(
        "GET",
        LIST,
        [
            Answer(400, {"error": "ExpiredToken", "message": "Token has expired"}),
            Answer(200, json.loads(fixture())),
        ],
    )
    page = adapter.poll(config, client)
    assert json.loads(page.cursor)["h"] == "2023-08-07T05:49:41.000Z"
    assert len(platform_server.requests_to("POST", SESSION)) == 1  # no second login
    (refresh,) = platform_server.requests_to("POST", REFRESH)
    assert refresh.headers["authorization"] == "Bearer jwt-refresh"
    retried = platform_server.requests_to("GET", LIST)[-1]
    assert retried.headers["authorization"] == "Bearer jwt-access-2"


def test_a_wrong_app_password_is_a_send_error_not_a_retry_loop(platform_server, client):
    platform_server.route("POST", SESSION, 401, {"error": "AuthenticationRequired"})
    with pytest.raises(SendError):
        adapter.poll(channel(platform_server.url), client)
    assert len(platform_server.requests_to("POST", SESSION)) == 1
