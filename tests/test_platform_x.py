"""The X adapter: Account Activity webhooks in (signature, CRC, parsing), API v2 replies out.

Pure adapter tests: no database. Sending runs against a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialcare.platforms.base import (
    ChannelConfig,
    InboundIdentity,
    InboundPost,
    OutboundMessage,
    ParseError,
    PlatformAdapter,
    PostDeletion,
    PostEdit,
    RateLimited,
    SendError,
    SentPost,
    TransientSendError,
)
from socialcare.platforms.x import XAdapter, parse_created_at
from tests.platform_server import Answer
from tests.platform_server import platform_server as platform_server  # fixture: `as` re-exports
from tests.shared_data import FIXTURES, json_paths

BRAND = "1114259648326987776"  # Learn_Awesome, the brand of the tweet fixtures
DM_BRAND = "835740314006511618"  # the brand of the DM fixture
SECRET = "apiSecret"
UTC = dt.UTC

adapter = XAdapter()


def fixture(name: str) -> bytes:
    return (FIXTURES / "x" / name).read_bytes()


def channel(account_id: str = BRAND, **kwargs: Any) -> ChannelConfig:
    kwargs.setdefault("secrets", {"webhook_secret": SECRET, "access_token": "x-user-token"})
    return ChannelConfig(platform="x", account_id=account_id, handle="Learn_Awesome", **kwargs)


def without_raw(event: Any) -> Any:
    return dataclasses.replace(event, raw={})


def tweet_body(tweet: dict[str, Any], for_user_id: str = BRAND) -> bytes:
    return json.dumps({"for_user_id": for_user_id, "tweet_create_events": [tweet]}).encode()


def reply_tweet() -> dict[str, Any]:
    return copy.deepcopy(json.loads(fixture("tweet_create_reply.json"))["tweet_create_events"][0])


# The adapter is what the registry serves ---------------------------------------------------------
def test_adapter_satisfies_the_protocol_and_is_registered():
    from socialcare.platforms.registry import get_adapter

    assert isinstance(adapter, PlatformAdapter)
    assert XAdapter.platforms == ("x",)
    assert XAdapter.receives_webhooks is True
    assert isinstance(get_adapter("x"), XAdapter)


def test_adapter_module_imports_nothing_of_the_database():
    code = (
        "import sys, socialcare.platforms.x\n"
        "bad = [m for m in sys.modules if m.startswith(('socialcare.models', 'django.db'))]\n"
        "assert not bad, bad\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr


# Parsing: the fixtures ---------------------------------------------------------------------------
def test_captured_reply_parses_to_a_public_reply():
    events = adapter.parse(fixture("tweet_create_reply.json"), channel())

    assert [without_raw(e) for e in events] == [
        InboundPost(
            platform="x",
            external_id="1332557345071644672",
            author=InboundIdentity(
                platform="x",
                external_id="1247048165561270272",
                handle="TanuLearns",
                display_name="Tanu Learns",
                profile_url="https://x.com/TanuLearns",
                avatar_url="https://pbs.twimg.com/profile_images/1247102105732526080/hAad9SZ9_normal.jpg",
                followers_count=20,
                platform_verified=False,
            ),
            kind="reply",
            visibility="public",
            text="@Learn_Awesome Save this",
            posted_at=dt.datetime(2020, 11, 28, 5, 30, 3, 440000, tzinfo=UTC),
            direction="inbound",
            url="https://x.com/TanuLearns/status/1332557345071644672",
            in_reply_to="1332252354599555074",
            conversation_id="",
            language="en",
        )
    ]
    assert events[0].raw["id_str"] == "1332557345071644672"
    assert events[0].posted_at.utcoffset() == dt.timedelta(0)


def test_truncated_tweet_keeps_the_full_text_and_the_verified_author():
    [post] = adapter.parse(fixture("tweet_create_extended.json"), channel())

    assert without_raw(post) == InboundPost(
        platform="x",
        external_id="1332975772104323072",
        author=InboundIdentity(
            platform="x",
            external_id="987654321012345678",
            handle="priya_reads",
            display_name="Priya \U0001f33f",
            profile_url="https://x.com/priya_reads",
            avatar_url="https://pbs.twimg.com/profile_images/1/p_normal.jpg",
            followers_count=48210,
            platform_verified=True,
        ),
        kind="mention",
        visibility="public",
        text=(
            "@Learn_Awesome your checkout has been broken for two days, I tried three cards and "
            "every time it says payment declined. My bank says nothing was declined. Really "
            "frustrating \U0001f621 #fail"
        ),
        posted_at=dt.datetime(2020, 11, 29, 9, 12, 44, tzinfo=UTC),
        url="https://x.com/priya_reads/status/1332975772104323072",
        conversation_id="1332975772104323072",
        language="en",
    )
    assert "\u2026" not in post.text


def test_captured_direct_message_takes_its_author_from_the_users_map():
    [dm] = adapter.parse(fixture("direct_message.json"), channel(DM_BRAND))

    assert without_raw(dm) == InboundPost(
        platform="x",
        external_id="958501034212564996",
        author=InboundIdentity(
            platform="x",
            external_id="272953809",
            handle="nicpottier",
            display_name="Nicolas Pottier",
            profile_url="https://x.com/nicpottier",
        ),
        kind="direct_message",
        visibility="private",
        text="Hello World & good wishes.",
        posted_at=dt.datetime(2018, 1, 31, 0, 43, 49, 301000, tzinfo=UTC),
        direction="inbound",
        conversation_id="dm:272953809",
    )
    assert dm.author.followers_count is None  # not in the users map: keep what is stored


def test_tweet_delete_marks_the_tweet_deleted():
    assert adapter.parse(fixture("tweet_delete.json"), channel()) == [
        PostDeletion(
            platform="x",
            external_id="1332557345071644672",
            deleted_at=dt.datetime(2020, 11, 28, 5, 39, 59, tzinfo=UTC),
        )
    ]


# Parsing: the rules beyond the fixtures ------------------------------------------------------------
def test_created_at_is_used_without_timestamp_ms():
    tweet = reply_tweet()
    del tweet["timestamp_ms"]
    tweet["created_at"] = "Sat Nov 28 07:30:03 +0200 2020"

    [post] = adapter.parse(tweet_body(tweet), channel())

    assert post.posted_at == dt.datetime(2020, 11, 28, 5, 30, 3, tzinfo=UTC)
    assert post.posted_at.tzinfo == UTC


def test_created_at_parser_is_strict_and_locale_independent():
    assert parse_created_at("Sun Nov 29 09:12:44 +0000 2020") == dt.datetime(
        2020, 11, 29, 9, 12, 44, tzinfo=UTC
    )
    for bad in ("2020-11-29T09:12:44Z", "Sun Foo 29 09:12:44 +0000 2020", "", 5, None):
        with pytest.raises(ParseError):
            parse_created_at(bad)


def test_a_tweet_without_any_timestamp_is_a_parse_error():
    tweet = reply_tweet()
    del tweet["timestamp_ms"], tweet["created_at"]
    with pytest.raises(ParseError, match="timestamp"):
        adapter.parse(tweet_body(tweet), channel())


def test_tweets_by_the_brand_are_outbound():
    tweet = reply_tweet()
    tweet["user"] = {"id_str": BRAND, "screen_name": "Learn_Awesome", "name": "Learn Awesome"}

    [post] = adapter.parse(tweet_body(tweet), channel())

    assert post.direction == "outbound"
    assert post.author.external_id == BRAND


def test_direct_messages_sent_by_the_brand_are_outbound_in_the_customers_conversation():
    body = json.loads(fixture("direct_message.json"))
    create = body["direct_message_events"][0]["message_create"]
    create["sender_id"], create["target"]["recipient_id"] = DM_BRAND, "272953809"

    [dm] = adapter.parse(json.dumps(body).encode(), channel(DM_BRAND))

    assert dm.direction == "outbound"
    assert dm.conversation_id == "dm:272953809"
    assert dm.author.handle == "resistbot"


def test_html_entities_are_unescaped_in_tweets():
    tweet = reply_tweet()
    tweet["text"] = "@Learn_Awesome 2 &lt; 3 &amp;&amp; 5 &gt; 4"

    [post] = adapter.parse(tweet_body(tweet), channel())

    assert post.text == "@Learn_Awesome 2 < 3 && 5 > 4"


def test_media_become_attachments():
    tweet = reply_tweet()
    tweet["extended_entities"] = {
        "media": [
            {
                "id_str": "77",
                "type": "photo",
                "media_url_https": "https://pbs.twimg.com/media/receipt.jpg",
            }
        ]
    }
    [post] = adapter.parse(tweet_body(tweet), channel())
    assert post.attachments == (
        {"type": "photo", "url": "https://pbs.twimg.com/media/receipt.jpg", "id": "77"},
    )

    long_tweet = json.loads(fixture("tweet_create_extended.json"))["tweet_create_events"][0]
    long_tweet["extended_tweet"]["extended_entities"] = {
        "media": [{"id_str": "78", "type": "video", "media_url_https": "https://v/thumb.jpg"}]
    }
    [post] = adapter.parse(tweet_body(long_tweet), channel())
    assert post.attachments == ({"type": "video", "url": "https://v/thumb.jpg", "id": "78"},)


def test_direct_message_attachment():
    body = json.loads(fixture("direct_message.json"))
    body["direct_message_events"][0]["message_create"]["message_data"]["attachment"] = {
        "type": "media",
        "media": {"id_str": "99", "type": "photo", "media_url_https": "https://ton.x/1.jpg"},
    }

    [dm] = adapter.parse(json.dumps(body).encode(), channel(DM_BRAND))

    assert dm.attachments == ({"type": "photo", "url": "https://ton.x/1.jpg", "id": "99"},)


def test_unknown_events_typing_indicators_and_retweets_give_nothing():
    retweet = reply_tweet()
    retweet["retweeted_status"] = reply_tweet()
    body = {
        "for_user_id": BRAND,
        "favorite_events": [{"id": "1"}],
        "follow_events": [{"type": "follow"}],
        "direct_message_indicate_typing_events": [{"sender_id": "1"}],
        "direct_message_events": [{"type": "something_else", "id": "5"}],
        "tweet_create_events": [retweet],
    }
    assert adapter.parse(json.dumps(body).encode(), channel()) == []


def test_several_event_types_in_one_delivery_keep_their_order():
    body = {
        "for_user_id": BRAND,
        "tweet_delete_events": json.loads(fixture("tweet_delete.json"))["tweet_delete_events"],
        "tweet_create_events": [reply_tweet()],
    }
    events = adapter.parse(json.dumps(body).encode(), channel())
    assert [type(e) for e in events] == [PostDeletion, InboundPost]


def test_delivery_for_another_account_names_both_accounts():
    with pytest.raises(ParseError) as error:
        adapter.parse(fixture("tweet_create_reply.json"), channel("42"))
    assert BRAND in str(error.value)
    assert "'42'" in str(error.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"[1, 2]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (b"null", "not a JSON object"),
        (b"{}", "for_user_id"),
        (b'{"for_user_id": {"a": 1}}', "for_user_id"),
        (b'{"for_user_id": "' + BRAND.encode() + b'", "tweet_create_events": {}}', "array"),
        (b'{"for_user_id": "' + BRAND.encode() + b'", "tweet_create_events": [7]}', "object"),
        (b'{"for_user_id": "' + BRAND.encode() + b'", "tweet_create_events": [{}]}', "id"),
        (
            b'{"for_user_id": "' + BRAND.encode() + b'", "tweet_create_events": '
            b'[{"id_str": "1", "timestamp_ms": "1"}]}',
            "user",
        ),
        (
            b'{"for_user_id": "' + BRAND.encode() + b'", "tweet_create_events": '
            b'[{"id_str": "1", "timestamp_ms": "soon", "user": {"id_str": "2"}}]}',
            "timestamp",
        ),
        (
            b'{"for_user_id": "' + BRAND.encode() + b'", "direct_message_events": '
            b'[{"type": "message_create", "id": "1"}]}',
            "message_create",
        ),
        (b'{"for_user_id": "' + BRAND.encode() + b'", "tweet_delete_events": [{}]}', "status"),
        (b'{"for_user_id": ' + b"1" * 5000 + b"}", "JSON"),
        (b"[" * 100_000, "nested"),
    ],
)
def test_malformed_bodies_are_readable_parse_errors(body: bytes, message: str):
    with pytest.raises(ParseError, match=message):
        adapter.parse(body, channel())


# Signatures and the CRC challenge ------------------------------------------------------------------
def test_documented_signature_vector_verifies():
    headers = {
        "x-twitter-webhooks-signature": "sha256=nGkJPHLB/i6Gk7EZ5dU58u50dqfLZpSQXZhpjxyFf6k="
    }
    assert adapter.verify_signature(fixture("tweet_create_reply.json"), headers, channel())
    # header names are case-insensitive
    shouted = {"X-Twitter-Webhooks-Signature": headers["x-twitter-webhooks-signature"]}
    assert adapter.verify_signature(fixture("tweet_create_reply.json"), shouted, channel())


@pytest.mark.parametrize("name", ["tweet_create_extended.json", "direct_message.json"])
def test_every_fixture_verifies_with_its_own_signature(name: str):
    body = fixture(name)
    headers = {"x-twitter-webhooks-signature": adapter.signature_for(body, SECRET)}
    assert adapter.verify_signature(body, headers, channel())


def test_signature_refusals():
    body = fixture("tweet_create_reply.json")
    good = {"x-twitter-webhooks-signature": "sha256=nGkJPHLB/i6Gk7EZ5dU58u50dqfLZpSQXZhpjxyFf6k="}

    assert not adapter.verify_signature(body.replace(b"Save", b"Sell"), good, channel())
    assert not adapter.verify_signature(body + b" ", good, channel())
    # re-serialized JSON is not the signed body
    assert not adapter.verify_signature(json.dumps(json.loads(body)).encode(), good, channel())
    assert not adapter.verify_signature(
        body, good, channel(secrets={"webhook_secret": "wrongSecret"})
    )
    assert not adapter.verify_signature(body, {}, channel())
    assert not adapter.verify_signature(body, {"x-twitter-webhooks-signature": ""}, channel())
    assert not adapter.verify_signature(body, good, channel(secrets={}))
    assert not adapter.verify_signature(
        body, {"x-twitter-webhooks-signature": "sha256="}, channel()
    )
    assert not adapter.verify_signature(
        body, {"x-twitter-webhooks-signature": "sha256=\u00e9\u00e9"}, channel()
    )
    # Meta's header does not count
    assert not adapter.verify_signature(body, {"X-Hub-Signature-256": good.popitem()[1]}, channel())


@given(st.binary(max_size=512), st.text(max_size=80))
@settings(max_examples=200, deadline=None, database=None)
def test_random_bodies_and_headers_never_verify(body: bytes, signature: str):
    headers = {"x-twitter-webhooks-signature": signature}
    assert adapter.verify_signature(body, headers, channel()) is False


def test_crc_challenge_matches_the_documented_vector():
    challenge = adapter.answer_challenge({"crc_token": "test token"}, channel())

    assert challenge is not None
    assert challenge.content_type == "application/json"
    assert json.loads(challenge.body) == {
        "response_token": "sha256=O5hJl2njQRIa4vsumZ+3oom9ECR5m3aQLRZkPoYelp0="
    }


@pytest.mark.parametrize(
    ("params", "secrets"),
    [
        ({}, {"webhook_secret": SECRET}),
        ({"crc_token": ""}, {"webhook_secret": SECRET}),
        ({"hub.challenge": "x"}, {"webhook_secret": SECRET}),
        ({"crc_token": "test token"}, {}),
    ],
)
def test_crc_challenge_is_refused_without_token_or_secret(params: dict, secrets: dict):
    assert adapter.answer_challenge(params, channel(secrets=secrets)) is None


# Property: nothing but ParseError (or a list of events) ever comes out -----------------------------
FIXTURE_NAMES = [
    "tweet_create_reply.json",
    "tweet_create_extended.json",
    "direct_message.json",
    "tweet_delete.json",
]
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["", "1", BRAND, "message_create", "Sat Nov 28 05:30:03 +0000 2020"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def mutated_fixtures(draw: st.DrawFn) -> tuple[bytes, str]:
    name = draw(st.sampled_from(FIXTURE_NAMES))
    document = json.loads(fixture(name))
    account = document["for_user_id"]
    for _ in range(draw(st.integers(1, 4))):
        paths = json_paths(document)[1:]  # not the root: random bytes cover non-object bodies
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
    return json.dumps(document).encode(), account


def _check_events(events: Any) -> None:
    assert isinstance(events, list)
    for event in events:
        assert isinstance(event, InboundPost | PostEdit | PostDeletion)
        post = event.post if isinstance(event, PostEdit) else event
        if isinstance(post, InboundPost):
            assert post.external_id and isinstance(post.external_id, str)
            assert isinstance(post.text, str)
            assert post.posted_at.tzinfo is not None
        else:
            assert post.deleted_at.tzinfo is not None


@given(mutated_fixtures())
@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_mutated_fixtures_only_ever_raise_parse_error(case: tuple[bytes, str]):
    body, account = case
    try:
        events = adapter.parse(body, channel(account))
    except ParseError as exc:
        assert str(exc)
    else:
        _check_events(events)


@given(st.binary(max_size=2048))
@settings(max_examples=200, deadline=None, database=None)
def test_random_bytes_only_ever_raise_parse_error(body: bytes):
    try:
        events = adapter.parse(body, channel())
    except ParseError:
        pass
    else:
        _check_events(events)


# Sending -------------------------------------------------------------------------------------------
@pytest.fixture
def client():
    with httpx.Client(timeout=5) as http:
        yield http


def send_channel(server_url: str, **secrets: str) -> ChannelConfig:
    return ChannelConfig(
        platform="x",
        account_id=BRAND,
        handle="Learn_Awesome",
        base_url=server_url,
        secrets=secrets or {"access_token": "x-user-token", "webhook_secret": SECRET},
    )


PUBLIC = OutboundMessage(
    text="Sorry about that! Could you DM us your order number? \U0001f64f",
    visibility="public",
    in_reply_to="1332557345071644672",
)
PRIVATE = OutboundMessage(
    text="Here is your refund link", visibility="private", recipient="272953809"
)


def test_public_reply_posts_a_tweet_in_reply(platform_server, client):
    platform_server.route("POST", "/2/tweets", 201, {"data": {"id": "1999", "text": PUBLIC.text}})

    sent = adapter.send(send_channel(platform_server.url), PUBLIC, client)

    assert sent == SentPost(
        external_id="1999", url="https://x.com/Learn_Awesome/status/1999", local_id=""
    )
    [request] = platform_server.requests
    assert (request.method, request.path) == ("POST", "/2/tweets")
    assert request.headers["authorization"] == "Bearer x-user-token"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "text": PUBLIC.text,
        "reply": {"in_reply_to_tweet_id": "1332557345071644672"},
    }


def test_private_message_goes_to_the_participant_conversation(platform_server, client):
    path = "/2/dm_conversations/with/272953809/messages"
    platform_server.route(
        "POST",
        path,
        201,
        {"data": {"dm_conversation_id": "272953809-1114259648326987776", "dm_event_id": "1582"}},
    )

    sent = adapter.send(send_channel(platform_server.url), PRIVATE, client)

    assert sent == SentPost(external_id="1582")
    [request] = platform_server.requests_to("POST", path)
    assert request.headers["authorization"] == "Bearer x-user-token"
    assert request.json() == {"text": "Here is your refund link"}


def test_private_message_recipient_falls_back_to_the_dm_conversation(platform_server, client):
    path = "/2/dm_conversations/with/272953809/messages"
    platform_server.route("POST", path, 201, {"data": {"dm_event_id": "1583"}})
    message = OutboundMessage(text="hi", visibility="private", conversation_id="dm:272953809")

    assert adapter.send(send_channel(platform_server.url), message, client).external_id == "1583"


def test_default_base_url_is_the_x_api():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"data": {"id": "5"}})

    with httpx.Client(transport=httpx.MockTransport(handler)) as mock:
        adapter.send(channel(), PUBLIC, mock)
    assert str(seen[0].url) == "https://api.x.com/2/tweets"


def test_429_is_rate_limited_with_retry_after(platform_server, client):
    platform_server.route("POST", "/2/tweets", 429, {"title": "Too Many"}, {"Retry-After": "17"})

    with pytest.raises(RateLimited) as error:
        adapter.send(send_channel(platform_server.url), PUBLIC, client)
    assert error.value.retry_after == 17


def test_429_with_the_x_rate_limit_reset_header(platform_server, client):
    reset = int(time.time()) + 120
    platform_server.route(
        "POST", "/2/tweets", 429, {"title": "Too Many"}, {"x-rate-limit-reset": str(reset)}
    )

    with pytest.raises(RateLimited) as error:
        adapter.send(send_channel(platform_server.url), PUBLIC, client)
    assert 100 <= error.value.retry_after <= 121


def test_server_error_is_transient(platform_server, client):
    platform_server.route("POST", "/2/tweets", 500, {"title": "Internal"})

    with pytest.raises(TransientSendError) as error:
        adapter.send(send_channel(platform_server.url), PUBLIC, client)
    assert not isinstance(error.value, RateLimited)


@pytest.mark.parametrize("status", [400, 401, 403])
def test_client_errors_are_final(platform_server, client, status: int):
    platform_server.route(
        "POST", "/2/tweets", status, {"detail": "You are not allowed to create a Tweet"}
    )

    with pytest.raises(SendError, match=str(status)):
        adapter.send(send_channel(platform_server.url), PUBLIC, client)


def test_connection_refused_is_transient(client):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransientSendError):
        adapter.send(send_channel(f"http://127.0.0.1:{port}"), PUBLIC, client)


def test_timeout_is_transient(platform_server):
    platform_server.route("POST", "/2/tweets", Answer(201, {"data": {"id": "1"}}, delay=1.0))

    with httpx.Client(timeout=0.2) as impatient, pytest.raises(TransientSendError):
        adapter.send(send_channel(platform_server.url), PUBLIC, impatient)


def test_success_without_an_id_is_a_final_error(platform_server, client):
    # The tweet may be out: retrying could post it twice.
    platform_server.route("POST", "/2/tweets", 201, {"errors": [{"message": "odd"}]})

    with pytest.raises(SendError) as error:
        adapter.send(send_channel(platform_server.url), PUBLIC, client)
    assert not isinstance(error.value, TransientSendError)


def test_missing_token_or_recipient_fails_before_any_request(platform_server, client):
    with pytest.raises(SendError, match="access_token"):
        adapter.send(send_channel(platform_server.url, webhook_secret=SECRET), PUBLIC, client)
    with pytest.raises(SendError, match="recipient"):
        adapter.send(
            send_channel(platform_server.url),
            OutboundMessage(text="hi", visibility="private"),
            client,
        )
    assert platform_server.requests == []
