"""The Meta adapter: Facebook Page, Messenger and Instagram webhooks in, Graph API replies out.

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
from socialcare.platforms.meta import MetaAdapter
from tests.platform_server import Answer
from tests.platform_server import platform_server as platform_server  # fixture: `as` re-exports
from tests.shared_data import FIXTURES, json_paths

PAGE = "103149398319188"
IG_ACCOUNT = "17841405309211844"
APP_SECRET = "metaAppSecret"
VERIFY_TOKEN = "metaVerifyToken"
UTC = dt.UTC
VIDEO_POST = "103149398319188_407298303721936"
SUSIE_COMMENT = "407298303721936_408074750310958"
JONAS_REPLY = "407298303721936_408075000000001"

adapter = MetaAdapter()


def fixture(name: str) -> bytes:
    return (FIXTURES / "meta" / name).read_bytes()


def page(**kwargs: Any) -> ChannelConfig:
    kwargs.setdefault("account_id", PAGE)
    kwargs.setdefault(
        "secrets",
        {"webhook_secret": APP_SECRET, "verify_token": VERIFY_TOKEN, "access_token": "page-token"},
    )
    return ChannelConfig(platform="facebook", **kwargs)


def instagram(**kwargs: Any) -> ChannelConfig:
    return dataclasses.replace(page(account_id=IG_ACCOUNT, **kwargs), platform="instagram")


def without_raw(event: Any) -> Any:
    if isinstance(event, PostEdit):
        return dataclasses.replace(event, post=dataclasses.replace(event.post, raw={}))
    if isinstance(event, InboundPost):
        return dataclasses.replace(event, raw={})
    return event


def delivery(obj: str, account: str, **entry: Any) -> bytes:
    return json.dumps(
        {"object": obj, "entry": [{"id": account, "time": 1700000000, **entry}]}
    ).encode()


def feed_change(**value: Any) -> dict[str, Any]:
    return {"field": "feed", "value": value}


# Authors are keyed in their id space (PSID per Page, IGSID per Instagram account: meta.ids).
SUSIE = InboundIdentity(
    platform="facebook",
    external_id=f"psid:{PAGE}:3450429531722233",
    display_name="Susie Avellanosa",
)
JONAS = InboundIdentity(
    platform="facebook",
    external_id=f"psid:{PAGE}:5522113344556677",
    display_name="Jonas M\u00fcller",
)
CUSTOMER_PSID = "3424692677644577"
CUSTOMER = f"psid:{PAGE}:{CUSTOMER_PSID}"
IG_SENDER = f"igsid:{IG_ACCOUNT}:6213370838721453"


# The adapter is what the registry serves ---------------------------------------------------------
def test_adapter_satisfies_the_protocol_and_is_registered():
    from socialcare.platforms.registry import get_adapter

    assert isinstance(adapter, PlatformAdapter)
    assert MetaAdapter.platforms == ("facebook", "instagram")
    assert MetaAdapter.receives_webhooks is True
    assert isinstance(get_adapter("facebook"), MetaAdapter)
    assert isinstance(get_adapter("instagram"), MetaAdapter)


def test_adapter_module_imports_nothing_of_the_database():
    code = (
        "import sys, socialcare.platforms.meta\n"
        "bad = [m for m in sys.modules if m.startswith(('socialcare.models', 'django.db'))]\n"
        "assert not bad, bad\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr


# Parsing: the fixtures ---------------------------------------------------------------------------
def test_captured_page_comment_with_a_surrogate_pair_emoji():
    body = fixture("page_feed_comment.json")
    assert b"\\ud83d\\ude4f" in body  # on the wire: a surrogate-pair escape

    [post] = adapter.parse(body, page())

    assert without_raw(post) == InboundPost(
        platform="facebook",
        external_id=SUSIE_COMMENT,
        author=SUSIE,
        kind="comment",
        visibility="public",
        text="\U0001f64f",
        posted_at=dt.datetime(2020, 12, 26, 3, 15, 23, tzinfo=UTC),
        direction="inbound",
        url=(
            "https://www.facebook.com/ChurchofJesusChristJoliet/videos/407298303721936/"
            f"?comment_id={SUSIE_COMMENT}"
        ),
        in_reply_to=VIDEO_POST,
        conversation_id=VIDEO_POST,
    )
    assert post.text.encode("utf-8") == b"\xf0\x9f\x99\x8f"
    assert post.raw["comment_id"] == SUSIE_COMMENT


def test_reply_then_edit_then_removal():
    events = adapter.parse(fixture("page_feed_reply_edit_remove.json"), page())

    reply = InboundPost(
        platform="facebook",
        external_id=JONAS_REPLY,
        author=JONAS,
        kind="comment",
        visibility="public",
        text="Same here, my order #48213 never arrived and nobody answers the phone.",
        posted_at=dt.datetime(2020, 12, 26, 3, 24, 50, tzinfo=UTC),
        url=f"https://www.facebook.com/{VIDEO_POST}?comment_id={JONAS_REPLY}",
        in_reply_to=SUSIE_COMMENT,
        conversation_id=VIDEO_POST,
    )
    assert [without_raw(e) for e in events] == [
        reply,
        PostEdit(
            post=dataclasses.replace(
                reply,
                text="Same here, my order #48213 never arrived and nobody answers the phone. "
                "Day 9 now.",
            ),
            edited_at=dt.datetime(2020, 12, 26, 3, 25, tzinfo=UTC),
        ),
        PostDeletion(
            platform="facebook",
            external_id=SUSIE_COMMENT,
            deleted_at=dt.datetime(2020, 12, 26, 3, 30, tzinfo=UTC),
        ),
    ]


def test_captured_messenger_message():
    [dm] = adapter.parse(fixture("messenger_message.json"), page())

    assert without_raw(dm) == InboundPost(
        platform="facebook",
        external_id="m_ABt4i4wZIOP21KTsxMwTaHlgf8qsN5F1_pYhFwXvsac2EfSPOAzvt8s8WqxZHjsJUT4OHm8W49PFJtBJ3ITjIg",
        author=InboundIdentity(platform="facebook", external_id=CUSTOMER),
        kind="direct_message",
        visibility="private",
        text="aa",
        posted_at=dt.datetime(2021, 1, 3, 6, 41, 58, 99000, tzinfo=UTC),
        direction="inbound",
        conversation_id=f"dm:{CUSTOMER_PSID}",
    )


def test_echo_is_outbound_and_the_answer_carries_reply_to_and_an_image():
    echo, answer = adapter.parse(fixture("messenger_echo_and_attachment.json"), page())

    assert without_raw(echo) == InboundPost(
        platform="facebook",
        external_id="m_echo_0001",
        author=InboundIdentity(platform="facebook", external_id=PAGE),
        kind="direct_message",
        visibility="private",
        text="Thanks for reaching out! Could you send us your order number?",
        posted_at=dt.datetime(2021, 1, 3, 6, 43, 10, tzinfo=UTC),
        direction="outbound",
        conversation_id=f"dm:{CUSTOMER_PSID}",
    )
    assert without_raw(answer) == InboundPost(
        platform="facebook",
        external_id="m_cust_0002",
        author=InboundIdentity(platform="facebook", external_id=CUSTOMER),
        kind="direct_message",
        visibility="private",
        text="Here it is, order 48213",
        posted_at=dt.datetime(2021, 1, 3, 6, 43, 19, tzinfo=UTC),
        direction="inbound",
        in_reply_to="m_echo_0001",
        conversation_id=f"dm:{CUSTOMER_PSID}",
        attachments=({"type": "image", "url": "https://scontent.example/receipt.jpg"},),
    )


def test_instagram_comment_in_japanese():
    [comment] = adapter.parse(fixture("instagram_comment.json"), instagram())

    assert without_raw(comment) == InboundPost(
        platform="instagram",
        external_id="17865799348089039",
        author=InboundIdentity(
            platform="instagram",
            external_id=f"igsid:{IG_ACCOUNT}:1068245441393221",
            handle="kenji.tanaka_",
            profile_url="https://www.instagram.com/kenji.tanaka_/",
        ),
        kind="comment",
        visibility="public",
        text="注文した商品がまだ届きません。どうなっていますか？",
        posted_at=dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        in_reply_to="17887498072083520",
        conversation_id="17887498072083520",
    )


def test_instagram_direct_message():
    [dm] = adapter.parse(fixture("instagram_message.json"), instagram())

    assert without_raw(dm) == InboundPost(
        platform="instagram",
        external_id=json.loads(fixture("instagram_message.json"))["entry"][0]["messaging"][0][
            "message"
        ]["mid"],
        author=InboundIdentity(platform="instagram", external_id=IG_SENDER),
        kind="direct_message",
        visibility="private",
        text="Hi, the size guide on your site is wrong for the blue jacket",
        posted_at=dt.datetime(2023, 11, 14, 22, 21, 39, tzinfo=UTC),
        conversation_id="dm:6213370838721453",
    )


# Parsing: the rules beyond the fixtures ------------------------------------------------------------
def test_instagram_reply_to_a_comment_and_the_brands_own_comment():
    body = json.loads(fixture("instagram_comment.json"))
    value = body["entry"][0]["changes"][0]["value"]
    value["parent_id"] = "17860000000000001"
    value["from"] = {"id": IG_ACCOUNT, "username": "acme"}

    [comment] = adapter.parse(json.dumps(body).encode(), instagram())

    assert comment.in_reply_to == "17860000000000001"
    assert comment.conversation_id == "17887498072083520"
    assert comment.direction == "outbound"


def test_instagram_mention_names_only_ids():
    body = delivery(
        "instagram",
        IG_ACCOUNT,
        changes=[
            {"field": "mentions", "value": {"media_id": "17918195224117851"}},
            {
                "field": "mentions",
                "value": {"media_id": "17918195224117851", "comment_id": "17894227972186120"},
            },
        ],
    )
    caption, comment = adapter.parse(body, instagram())

    assert without_raw(caption) == InboundPost(
        platform="instagram",
        external_id="17918195224117851",
        author=InboundIdentity(platform="instagram", external_id=""),
        kind="mention",
        visibility="public",
        text="",
        posted_at=dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        url="https://graph.facebook.com/v27.0/17918195224117851",
        conversation_id="17918195224117851",
    )
    assert comment.external_id == "17894227972186120"
    assert comment.in_reply_to == "17918195224117851"
    assert comment.kind == "mention"


def test_visitor_post_is_a_mention_and_the_pages_own_post_is_outbound():
    visitor = feed_change(
        item="post",
        verb="add",
        post_id=f"{PAGE}_555",
        message="Where is my parcel?",
        created_time=1700000000,
        **{"from": {"id": "42", "name": "Ann"}},
    )
    own = feed_change(
        item="status",
        verb="add",
        post_id=f"{PAGE}_556",
        message="We are open on Sunday",
        created_time=1700000001,
        **{"from": {"id": PAGE, "name": "Acme"}},
    )
    photo = feed_change(
        item="photo",
        verb="add",
        post_id=f"{PAGE}_557",
        link="https://scontent.example/p.jpg",
        created_time=1700000002,
        **{"from": {"id": "42", "name": "Ann"}},
    )
    first, second, third = adapter.parse(
        delivery("page", PAGE, changes=[visitor, own, photo]), page()
    )

    assert (first.kind, first.external_id, first.conversation_id) == (
        "mention",
        f"{PAGE}_555",
        f"{PAGE}_555",
    )
    assert (first.in_reply_to, first.direction, first.text) == (
        "",
        "inbound",
        "Where is my parcel?",
    )
    assert first.url == f"https://www.facebook.com/{PAGE}_555"
    assert second.direction == "outbound"
    assert third.attachments == ({"type": "photo", "url": "https://scontent.example/p.jpg"},)


def test_reactions_likes_shares_and_hidden_comments_are_ignored():
    changes = [
        feed_change(item="reaction", verb="add", post_id="1_2", reaction_type="like"),
        feed_change(item="like", verb="add", post_id="1_2"),
        feed_change(item="share", verb="add", post_id="1_2"),
        feed_change(item="comment", verb="hide", post_id="1_2", comment_id="2_3"),
        feed_change(item=["comment"], verb={"add": 1}, post_id="1_2"),
        {"field": "ratings", "value": {"review_text": "meh"}},
        {"field": "mentions", "value": {"media_id": "1"}},  # Instagram field on a Page delivery
    ]
    assert adapter.parse(delivery("page", PAGE, changes=changes), page()) == []


def test_receipts_and_other_messaging_events_are_skipped():
    messaging = [
        {
            "sender": {"id": CUSTOMER_PSID},
            "recipient": {"id": PAGE},
            "delivery": {"mids": ["m_1"], "watermark": 1},
        },
        {"sender": {"id": CUSTOMER_PSID}, "recipient": {"id": PAGE}, "read": {"watermark": 1}},
        {
            "sender": {"id": CUSTOMER_PSID},
            "recipient": {"id": PAGE},
            "postback": {"payload": "GET_STARTED"},
        },
        {
            "sender": {"id": CUSTOMER_PSID},
            "recipient": {"id": PAGE},
            "reaction": {"mid": "m_1", "action": "react"},
        },
    ]
    assert adapter.parse(delivery("page", PAGE, messaging=messaging), page()) == []


def test_unsent_and_edited_messages():
    unsent = {
        "sender": {"id": "6213370838721453"},
        "recipient": {"id": IG_ACCOUNT},
        "timestamp": 1700000600000,
        "message": {"mid": "m_gone", "is_deleted": True},
    }
    edited = {
        "sender": {"id": "6213370838721453"},
        "recipient": {"id": IG_ACCOUNT},
        "timestamp": 1700000700000,
        "message_edit": {"mid": "m_edit", "text": "the green jacket", "num_edit": 1},
    }
    deletion, edit = adapter.parse(
        delivery("instagram", IG_ACCOUNT, messaging=[unsent, edited]), instagram()
    )

    assert deletion == PostDeletion(
        platform="instagram",
        external_id="m_gone",
        deleted_at=dt.datetime(2023, 11, 14, 22, 23, 20, tzinfo=UTC),
    )
    assert isinstance(edit, PostEdit)
    assert (edit.post.external_id, edit.post.text) == ("m_edit", "the green jacket")
    assert edit.edited_at == dt.datetime(2023, 11, 14, 22, 25, tzinfo=UTC)


def test_instagram_story_reply_keeps_the_story_as_an_attachment():
    item = {
        "sender": {"id": "6213370838721453"},
        "recipient": {"id": IG_ACCOUNT},
        "timestamp": 1700000600000,
        "message": {
            "mid": "m_story",
            "text": "love it",
            "reply_to": {"story": {"url": "https://lookaside.example/story", "id": "1799"}},
        },
    }
    [dm] = adapter.parse(delivery("instagram", IG_ACCOUNT, messaging=[item]), instagram())

    assert dm.in_reply_to == ""
    assert dm.attachments == ({"type": "story", "url": "https://lookaside.example/story"},)


def test_entry_for_another_account_names_both_accounts():
    with pytest.raises(ParseError) as error:
        adapter.parse(fixture("page_feed_comment.json"), instagram())
    assert PAGE in str(error.value)
    assert IG_ACCOUNT in str(error.value)


def test_every_entry_must_belong_to_the_channel():
    body = json.loads(fixture("page_feed_reply_edit_remove.json"))
    body["entry"][1]["id"] = "999"
    with pytest.raises(ParseError, match="999"):
        adapter.parse(json.dumps(body).encode(), page())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not JSON"),
        (b"\xc3\x28", "UTF-8"),
        (b"[]", "not a JSON object"),
        (b"{}", "object"),
        (b'{"object": "whatsapp_business_account", "entry": []}', "whatsapp"),
        (b'{"object": "page"}', "entry"),
        (b'{"object": "page", "entry": {}}', "entry"),
        (b'{"object": "page", "entry": ["x"]}', "entry"),
        (b'{"object": "page", "entry": [{}]}', "id"),
        (
            b'{"object": "page", "entry": [{"id": "' + PAGE.encode() + b'", "changes": {}}]}',
            "changes",
        ),
        (
            b'{"object": "page", "entry": [{"id": "'
            + PAGE.encode()
            + b'", "changes": [{"field": "feed"}]}]}',
            "value",
        ),
        (
            b'{"object": "page", "entry": [{"id": "' + PAGE.encode() + b'", "changes": '
            b'[{"field": "feed", "value": {"item": "comment", "verb": "add"}}]}]}',
            "post_id",
        ),
        (
            b'{"object": "page", "entry": [{"id": "' + PAGE.encode() + b'", "messaging": '
            b'[{"message": {"text": "hi"}}]}]}',
            "mid",
        ),
        (
            b'{"object": "page", "entry": [{"id": "' + PAGE.encode() + b'", "messaging": '
            b'[{"sender": {"id": "1"}, "recipient": {"id": "2"}, "timestamp": "later", '
            b'"message": {"mid": "m"}}]}]}',
            "timestamp",
        ),
        (b'{"object": "page", "entry": [{"id": ' + b"9" * 5000 + b"}]}", "JSON"),
        (b'{"a": ' * 100_000, "nested"),
    ],
)
def test_malformed_bodies_are_readable_parse_errors(body: bytes, message: str):
    with pytest.raises(ParseError, match=message):
        adapter.parse(body, page())


# Signatures and the verification challenge ---------------------------------------------------------
DOCUMENTED = "sha256=8753059e3199d35595a5f3f8291ae7d8de08cb70e70a390b5e320fb8df569ad7"


def test_documented_signature_vector_verifies():
    body = fixture("page_feed_comment.json")
    assert adapter.verify_signature(body, {"X-Hub-Signature-256": DOCUMENTED}, page())
    assert adapter.verify_signature(body, {"x-hub-signature-256": DOCUMENTED}, page())
    assert adapter.signature_for(body, APP_SECRET) == DOCUMENTED


@pytest.mark.parametrize("name", sorted(p.name for p in (FIXTURES / "meta").glob("*.json")))
def test_every_fixture_verifies_over_its_raw_bytes(name: str):
    body = fixture(name)
    headers = {"X-Hub-Signature-256": adapter.signature_for(body, APP_SECRET)}
    assert adapter.verify_signature(body, headers, page())
    # Re-serializing changes the bytes (\\uXXXX escapes, spacing): it must not verify.
    redumped = json.dumps(json.loads(body), ensure_ascii=False).encode()
    assert not adapter.verify_signature(redumped, headers, page())


def test_signature_refusals():
    body = fixture("page_feed_comment.json")
    good = {"X-Hub-Signature-256": DOCUMENTED}

    assert not adapter.verify_signature(body.replace(b"Susie", b"Susan"), good, page())
    assert not adapter.verify_signature(body, good, page(secrets={"webhook_secret": "other"}))
    assert not adapter.verify_signature(body, good, page(secrets={"verify_token": VERIFY_TOKEN}))
    assert not adapter.verify_signature(body, {}, page())
    assert not adapter.verify_signature(body, {"X-Hub-Signature": "sha1=abc"}, page())
    assert not adapter.verify_signature(body, {"X-Hub-Signature-256": DOCUMENTED[7:]}, page())
    assert not adapter.verify_signature(body, {"X-Hub-Signature-256": "sha256=\u00ff"}, page())


@given(st.binary(max_size=512), st.text(max_size=80))
@settings(max_examples=200, deadline=None, database=None)
def test_random_bodies_and_headers_never_verify(body: bytes, signature: str):
    assert adapter.verify_signature(body, {"X-Hub-Signature-256": signature}, page()) is False


def test_subscription_challenge_is_answered():
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    challenge = adapter.answer_challenge(params, page())
    assert challenge is not None
    assert (challenge.body, challenge.content_type) == ("1158201444", "text/plain")


@pytest.mark.parametrize(
    ("params", "secrets"),
    [
        ({"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"}, None),
        ({"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"}, None),
        ({"hub.mode": "subscribe", "hub.challenge": "1"}, None),
        ({"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN}, None),
        (
            {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"},
            {"verify_token": ""},
        ),
        ({"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"}, {}),
        ({"crc_token": "x"}, None),
    ],
)
def test_subscription_challenge_is_refused(params: dict, secrets: dict | None):
    channel = page() if secrets is None else page(secrets=secrets)
    assert adapter.answer_challenge(params, channel) is None


# Property: nothing but ParseError (or a list of events) ever comes out -----------------------------
FIXTURE_ACCOUNTS = {
    "page_feed_comment.json": page,
    "page_feed_reply_edit_remove.json": page,
    "messenger_message.json": page,
    "messenger_echo_and_attachment.json": page,
    "instagram_comment.json": instagram,
    "instagram_message.json": instagram,
}
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(
        ["", "add", "edited", "remove", "comment", "feed", "mentions", PAGE, IG_ACCOUNT]
    ),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def mutated_fixtures(draw: st.DrawFn) -> tuple[bytes, str]:
    name = draw(st.sampled_from(sorted(FIXTURE_ACCOUNTS)))
    document = copy.deepcopy(json.loads(fixture(name)))
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
    return json.dumps(document).encode(), name


def _check_events(events: Any) -> None:
    assert isinstance(events, list)
    for event in events:
        assert isinstance(event, InboundPost | PostEdit | PostDeletion)
        post = event.post if isinstance(event, PostEdit) else event
        if isinstance(post, InboundPost):
            assert post.external_id and isinstance(post.external_id, str)
            assert post.platform in ("facebook", "instagram")
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
    body, name = case
    try:
        events = adapter.parse(body, FIXTURE_ACCOUNTS[name]())
    except ParseError as exc:
        assert str(exc)
    else:
        _check_events(events)


@given(st.binary(max_size=2048))
@settings(max_examples=200, deadline=None, database=None)
def test_random_bytes_only_ever_raise_parse_error(body: bytes):
    try:
        events = adapter.parse(body, page())
    except ParseError:
        pass
    else:
        _check_events(events)


# Sending -------------------------------------------------------------------------------------------
@pytest.fixture
def client():
    with httpx.Client(timeout=5) as http:
        yield http


def facebook_at(url: str, **kwargs: Any) -> ChannelConfig:
    return page(base_url=url, **kwargs)


def instagram_at(url: str) -> ChannelConfig:
    return instagram(base_url=url)


COMMENT_REPLY = OutboundMessage(
    text="Sorry Jonas! We are on it \U0001f64f", visibility="public", in_reply_to=JONAS_REPLY
)
DM = OutboundMessage(
    text="Your refund is on its way", visibility="private", recipient=CUSTOMER_PSID
)


def test_facebook_comment_reply(platform_server, client):
    platform_server.route("POST", f"/{JONAS_REPLY}/comments", 200, {"id": "407298303721936_4081"})

    sent = adapter.send(facebook_at(platform_server.url), COMMENT_REPLY, client)

    assert sent == SentPost(
        external_id="407298303721936_4081", url="https://www.facebook.com/407298303721936_4081"
    )
    [request] = platform_server.requests
    assert (request.method, request.path) == ("POST", f"/{JONAS_REPLY}/comments")
    assert request.headers["authorization"] == "Bearer page-token"
    assert request.form() == {"message": ["Sorry Jonas! We are on it \U0001f64f"]}


def test_instagram_comment_reply_goes_to_replies(platform_server, client):
    platform_server.route("POST", "/17865799348089039/replies", 200, {"id": "17870000000000001"})
    message = OutboundMessage(
        text="こんにちは！", visibility="public", in_reply_to="17865799348089039"
    )

    sent = adapter.send(instagram_at(platform_server.url), message, client)

    assert sent == SentPost(external_id="17870000000000001")
    [request] = platform_server.requests
    assert request.form() == {"message": ["こんにちは！"]}
    assert request.headers["authorization"] == "Bearer page-token"


def test_instagram_reply_to_a_reply_answers_its_top_level_comment(platform_server, client):
    platform_server.route("POST", "/17860000000000001/replies", 200, {"id": "17870000000000002"})
    message = OutboundMessage(
        text="Thanks!",
        visibility="public",
        in_reply_to="17865799348089039",
        parent_raw={"id": "17865799348089039", "parent_id": "17860000000000001"},
    )

    assert adapter.send(instagram_at(platform_server.url), message, client).external_id == (
        "17870000000000002"
    )


def test_private_message(platform_server, client):
    platform_server.route(
        "POST", "/me/messages", 200, {"recipient_id": CUSTOMER_PSID, "message_id": "m_sent_1"}
    )

    sent = adapter.send(facebook_at(platform_server.url), DM, client)

    assert sent == SentPost(external_id="m_sent_1")
    [request] = platform_server.requests_to("POST", "/me/messages")
    assert request.headers["authorization"] == "Bearer page-token"
    assert request.json() == {
        "recipient": {"id": CUSTOMER_PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "Your refund is on its way"},
    }


def test_private_message_recipient_falls_back_to_the_dm_conversation(platform_server, client):
    platform_server.route(
        "POST", "/me/messages", 200, {"recipient_id": "6213370838721453", "message_id": "m_2"}
    )
    message = OutboundMessage(
        text="hi", visibility="private", conversation_id="dm:6213370838721453"
    )

    assert adapter.send(instagram_at(platform_server.url), message, client).external_id == "m_2"
    assert platform_server.requests[0].json()["recipient"] == {"id": "6213370838721453"}


def test_default_base_url_is_the_graph_api():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "1_2"})

    with httpx.Client(transport=httpx.MockTransport(handler)) as mock:
        adapter.send(page(), COMMENT_REPLY, mock)
    assert str(seen[0].url) == f"https://graph.facebook.com/v27.0/{JONAS_REPLY}/comments"


def test_429_is_rate_limited_with_retry_after(platform_server, client):
    platform_server.route(
        "POST", "/me/messages", 429, {"error": {"message": "slow"}}, {"Retry-After": "42"}
    )

    with pytest.raises(RateLimited) as error:
        adapter.send(facebook_at(platform_server.url), DM, client)
    assert error.value.retry_after == 42


def test_graph_throttling_codes_are_rate_limits(platform_server, client):
    usage = json.dumps(
        {PAGE: [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 7}]}
    )
    platform_server.route(
        "POST",
        "/me/messages",
        400,
        {"error": {"message": "(#32) Page request limit reached", "code": 32}},
        {"x-business-use-case-usage": usage},
    )

    with pytest.raises(RateLimited) as error:
        adapter.send(facebook_at(platform_server.url), DM, client)
    assert error.value.retry_after == 7 * 60


def test_server_error_and_transient_graph_errors_are_transient(platform_server, client):
    platform_server.route("POST", "/me/messages", 500, {"error": {"message": "boom"}})
    with pytest.raises(TransientSendError) as error:
        adapter.send(facebook_at(platform_server.url), DM, client)
    assert not isinstance(error.value, RateLimited)

    platform_server.route(
        "POST",
        "/me/messages",
        400,
        {"error": {"message": "try again", "code": 2, "is_transient": True}},
    )
    with pytest.raises(TransientSendError):
        adapter.send(facebook_at(platform_server.url), DM, client)


@pytest.mark.parametrize(
    "status, body",
    [
        (400, {"error": {"message": "(#100) Invalid parameter", "code": 100}}),
        (
            400,
            {
                "error": {
                    "message": "outside the 24 hour window",
                    "code": 10,
                    "error_subcode": 2018278,
                }
            },
        ),
        (403, {"error": {"message": "forbidden", "code": [4]}}),
        (400, "not json"),
    ],
)
def test_client_errors_are_final(platform_server, client, status: int, body: Any):
    platform_server.route("POST", f"/{JONAS_REPLY}/comments", status, body)

    with pytest.raises(SendError, match=str(status)) as error:
        adapter.send(facebook_at(platform_server.url), COMMENT_REPLY, client)
    assert not isinstance(error.value, TransientSendError)


def test_connection_refused_is_transient(client):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransientSendError):
        adapter.send(facebook_at(f"http://127.0.0.1:{port}"), DM, client)


def test_timeout_is_transient(platform_server):
    platform_server.route("POST", "/me/messages", Answer(200, {"message_id": "m"}, delay=1.0))

    with httpx.Client(timeout=0.2) as impatient, pytest.raises(TransientSendError):
        adapter.send(facebook_at(platform_server.url), DM, impatient)


def test_success_without_an_id_is_a_final_error(platform_server, client):
    platform_server.route("POST", "/me/messages", 200, {"recipient_id": CUSTOMER_PSID})

    with pytest.raises(SendError) as error:
        adapter.send(facebook_at(platform_server.url), DM, client)
    assert not isinstance(error.value, TransientSendError)


def test_missing_token_target_or_recipient_fails_before_any_request(platform_server, client):
    with pytest.raises(SendError, match="access_token"):
        adapter.send(facebook_at(platform_server.url, secrets={}), DM, client)
    with pytest.raises(SendError, match="post"):
        adapter.send(
            facebook_at(platform_server.url), OutboundMessage(text="x", visibility="public"), client
        )
    with pytest.raises(SendError, match="recipient"):
        adapter.send(
            facebook_at(platform_server.url),
            OutboundMessage(text="x", visibility="private"),
            client,
        )
    assert platform_server.requests == []
