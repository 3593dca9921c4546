"""Every platform adapter against hostile bodies, headers and query strings.

The property: ``parse`` returns storable events or raises the adapter's ``ParseError`` (with the
events it could read from a partly malformed batch); ``verify_signature`` answers a bool;
``answer_challenge`` a ``Challenge`` or None. Never another exception, never a hang.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socialcare.platforms.base import MAX_JSON_DEPTH, Challenge, ParseError
from socialcare.platforms.mastodon import MAX_HTML_CHARS
from tests.hostile.payloads import (
    ADAPTERS,
    CHANNELS,
    EDGE_STRINGS,
    FIXTURE_CHANNELS,
    META_SECRETS,
    SECRETS,
    WRONG_VALUES,
    encode,
    enveloped,
    fixture_bytes,
    fixture_documents,
    json_values,
    mutated_fixture,
    parse_cleanly,
    set_path,
    timed,
)
from tests.shared_data import json_paths

PLATFORMS = sorted(CHANNELS)
platforms = st.sampled_from(PLATFORMS)


@given(platforms, st.binary(max_size=4096))
def test_random_bytes_give_events_or_a_parse_error(robustness, platform: str, body: bytes):
    robustness.bad_inputs()
    parse_cleanly(platform, body)


@given(platforms, json_values, st.booleans())
def test_random_json_gives_events_or_a_parse_error(robustness, platform, document, ascii_only):
    robustness.bad_inputs()
    parse_cleanly(platform, encode(document, ascii_only))


@given(enveloped())
def test_random_items_in_a_real_envelope(robustness, sample: tuple[str, bytes]):
    robustness.bad_inputs()
    parse_cleanly(*sample)


@given(mutated_fixture())
def test_mutated_real_deliveries(robustness, sample: tuple[str, bytes]):
    robustness.bad_inputs()
    name, body = sample
    parse_cleanly(FIXTURE_CHANNELS[name].platform, body, FIXTURE_CHANNELS[name])


@given(
    st.sampled_from(sorted(FIXTURE_CHANNELS)),
    st.lists(
        st.tuples(
            st.sampled_from(["flip", "cut", "insert", "delete"]),
            st.integers(min_value=0),
            st.binary(min_size=1, max_size=4)
            | st.sampled_from([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\x00"]),
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_byte_level_corruption_of_real_deliveries(robustness, name: str, edits: list):
    """Bit flips, truncation, insertion of invalid UTF-8 (overlong, CESU surrogates, cut
    sequences) into the raw bytes of real deliveries."""
    robustness.bad_inputs()
    body = bytearray(fixture_bytes(name))
    for operation, position, data in edits:
        at = position % (len(body) + 1)
        if operation == "flip" and at < len(body):
            body[at] ^= data[0] or 0x80
        elif operation == "cut":
            del body[at:]
        elif operation == "insert":
            body[at:at] = data
        elif at < len(body):
            del body[at : at + len(data)]
    parse_cleanly(FIXTURE_CHANNELS[name].platform, bytes(body), FIXTURE_CHANNELS[name])


def test_every_path_of_every_fixture_with_every_wrong_type(robustness):
    """Exhaustive, not sampled: each value (and each container) of each real delivery replaced
    by each wrong value in turn, and each key removed."""
    tried = 0
    for name, document in fixture_documents().items():
        config = FIXTURE_CHANNELS[name]
        for path in json_paths(document):
            variants = [(value, False) for value in WRONG_VALUES]
            if path:
                variants.append((None, True))
            for value, delete in variants:
                body = encode(set_path(copy.deepcopy(document), path, value, delete=delete))
                parse_cleanly(config.platform, body, config)
                tried += 1
    robustness.bad_inputs(tried)
    assert tried > 5000


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b'{"a":' * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),
    ],
    ids=["open-brackets", "open-objects", "balanced-arrays", "balanced-objects", "one-too-deep"],
)
def test_deep_nesting_is_refused_quickly(robustness, platform: str, body: bytes):
    robustness.bad_inputs()
    with pytest.raises(ParseError) as caught:
        _, seconds = timed(lambda: ADAPTERS[platform].parse(body, CHANNELS[platform]))
    assert "nested" in str(caught.value) or "JSON" in str(caught.value)
    _, seconds = timed(lambda: parse_cleanly(platform, body))
    assert seconds < 5


@pytest.mark.parametrize("name", sorted(FIXTURE_CHANNELS))
def test_deep_nesting_inside_a_real_delivery(robustness, name: str):
    """65 levels anywhere in a real delivery is refused; the real payloads (under 15) are not."""
    document = fixture_documents()[name]
    deepest = max(len(path) for path in json_paths(document))
    assert deepest < 15
    path = max(json_paths(document), key=len)
    nested = json.loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    body = encode(set_path(document, path, nested))
    robustness.bad_inputs()
    with pytest.raises(ParseError, match="nested deeper"):
        ADAPTERS[FIXTURE_CHANNELS[name].platform].parse(body, FIXTURE_CHANNELS[name])


@pytest.mark.parametrize(
    "body",
    [b"\xff", b"\xc0\xaf", b'["\xed\xa0\x80"]', b'{"a": "\xe2\x82"}', b"\xef\xbb\xbf[]", b""],
    ids=["ff", "overlong", "cesu-surrogate", "cut-sequence", "bom", "empty"],
)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_invalid_utf8_is_a_parse_error(robustness, platform: str, body: bytes):
    robustness.bad_inputs()
    with pytest.raises(ParseError):
        ADAPTERS[platform].parse(body, CHANNELS[platform])


# Text a database cannot store ---------------------------------------------------------------------
TEXT_PATHS = {
    "x/tweet_create_reply.json": ("tweet_create_events", 0, "text"),
    "meta/page_feed_comment.json": ("entry", 0, "changes", 0, "value", "message"),
    "meta/messenger_message.json": ("entry", 0, "messaging", 0, "message", "text"),
    "meta/instagram_comment.json": ("entry", 0, "changes", 0, "value", "text"),
    "mastodon/notifications_mentions.json": (0, "status", "content"),
    "bluesky/list_notifications.json": ("notifications", 0, "record", "text"),
}


@pytest.mark.parametrize("name", sorted(TEXT_PATHS))
def test_nul_and_lone_surrogates_are_made_storable_not_lost(robustness, name: str):
    """A post whose text holds ``\\u0000`` or half an emoji is kept, minus what no database can
    store (PostgreSQL refuses both): never lost, never a failed insert."""
    config = FIXTURE_CHANNELS[name]
    document = fixture_documents()[name]
    written = "Refund\u0000 please \ud83d now \u202eRTL\u200b"
    body = encode(set_path(document, TEXT_PATHS[name], written))
    robustness.bad_inputs()
    events = parse_cleanly(config.platform, body, config)
    texts = [getattr(e, "text", "") for e in events]
    assert any("Refund please \ufffd now \u202eRTL\u200b" in text for text in texts), texts


@pytest.mark.parametrize("name", sorted(TEXT_PATHS))
def test_a_huge_post_is_read_whole_in_bounded_time(name: str):
    config = FIXTURE_CHANNELS[name]
    document = fixture_documents()[name]
    written = "é\u200b" * 1_500_000  # 7.5 MB of UTF-8 once escaped: over the webhook limit
    body = encode(set_path(document, TEXT_PATHS[name], written), ascii_only=False)
    events, seconds = timed(lambda: parse_cleanly(config.platform, body, config))
    # Mastodon's status HTML is cut at MAX_HTML_CHARS before sanitizing (its raw is kept whole).
    whole = MAX_HTML_CHARS // 2 if config.platform == "mastodon" else 2_000_000
    assert any(len(getattr(e, "text", "")) >= whole for e in events)
    assert seconds < 20


@pytest.mark.parametrize(
    "content", ["<b>" * 1_000_000, "&amp;" * 1_000_000, "<p>a</p>" * 500_000, "<" * 3_000_000]
)
def test_hostile_status_html_is_read_in_bounded_time(robustness, content: str):
    """A remote fediverse server can send megabytes of nested tags or entities: sanitizing and
    reading them is bounded (the HTML is cut at ``MAX_HTML_CHARS``)."""
    name = "mastodon/notifications_mentions.json"
    document = fixture_documents()[name]
    document[0]["status"]["content"] = content
    robustness.bad_inputs()
    events, seconds = timed(
        lambda: parse_cleanly("mastodon", encode(document), FIXTURE_CHANNELS[name])
    )
    assert len(events) == 2
    assert seconds < 5


def test_a_post_id_too_long_for_its_column_is_refused_alone(robustness):
    document = fixture_documents()["x/tweet_create_reply.json"]
    good = document["tweet_create_events"][0]
    bad = {**good, "id_str": "1" * 501}
    document["tweet_create_events"] = [good, bad]
    robustness.bad_inputs()
    with pytest.raises(ParseError, match=r"1 of 2 items refused.*at most 500") as caught:
        ADAPTERS["x"].parse(encode(document), FIXTURE_CHANNELS["x/tweet_create_reply.json"])
    assert [e.external_id for e in caught.value.events] == [good["id_str"]]


# A batch with good and bad items ------------------------------------------------------------------
def _batch(name: str, path: tuple, good: int, bad: list[Any]) -> tuple[bytes, int]:
    """``good`` copies of the fixture's item at ``path`` (fresh ids) and the ``bad`` items."""
    document = fixture_documents()[name]
    container = document
    for part in path[:-1]:
        container = container[part]
    template = container[path[-1]][0]
    items = []
    for n in range(good):
        item = copy.deepcopy(template)
        _renumber(item, n)
        items.append(item)
    container[path[-1]] = items[: good // 2] + bad + items[good // 2 :]
    return encode(document), good


def _renumber(item: dict, n: int) -> None:
    """Give a copied item its own id (whatever the platform calls it)."""
    for key in ("id_str", "comment_id", "mid", "uri", "id"):
        holder = item
        for nested in ("value", "message", "status"):
            if isinstance(holder.get(nested), dict) and key in holder[nested]:
                holder = holder[nested]
        if isinstance(holder.get(key), str):
            holder[key] = f"{holder[key]}-{n}"
            return


MIXED = {
    "x/tweet_create_reply.json": ("tweet_create_events",),
    "meta/page_feed_comment.json": ("entry", 0, "changes"),
    "meta/messenger_message.json": ("entry", 0, "messaging"),
    "meta/instagram_comment.json": ("entry", 0, "changes"),
    "mastodon/notifications_mentions.json": ((),),
    "bluesky/list_notifications.json": ("notifications",),
}
BAD_ITEMS = [None, 7, "text", [], {}, {"id": None, "type": "mention", "reason": "mention"}]


@pytest.mark.parametrize("name", sorted(MIXED))
def test_a_mixed_batch_keeps_every_valid_item(robustness, name: str):
    config = FIXTURE_CHANNELS[name]
    path = MIXED[name]
    if path == ((),):  # the body itself is the list
        document = fixture_documents()[name]
        items = []
        for n in range(20):
            item = copy.deepcopy(document[0])
            item["status"]["uri"] += f"-{n}"
            items.append(item)
        body, good = encode(items[:10] + BAD_ITEMS + items[10:]), 20
    else:
        body, good = _batch(name, path, 20, BAD_ITEMS)
    robustness.bad_inputs(len(BAD_ITEMS))
    with pytest.raises(ParseError, match="items refused: ") as caught:
        ADAPTERS[config.platform].parse(body, config)
    kept = parse_cleanly(config.platform, body, config)
    ids = {getattr(e, "external_id", "") or e.post.external_id for e in kept}
    robustness.lost(good - len(ids))
    assert len(ids) == good, caught.value


def test_a_meta_entry_for_another_page_does_not_lose_this_pages_entries(robustness):
    document = fixture_documents()["meta/page_feed_reply_edit_remove.json"]
    foreign = copy.deepcopy(document["entry"][0])
    foreign["id"] = "999"
    document["entry"].insert(0, foreign)
    config = FIXTURE_CHANNELS["meta/page_feed_reply_edit_remove.json"]
    robustness.bad_inputs()
    with pytest.raises(ParseError, match="'999'") as caught:
        ADAPTERS["facebook"].parse(encode(document), config)
    expected = ADAPTERS["facebook"].parse(
        fixture_bytes("meta/page_feed_reply_edit_remove.json"), config
    )
    robustness.lost(len(expected) - len(caught.value.events))
    assert list(caught.value.events) == expected


# Signatures and challenges ------------------------------------------------------------------------
header_text = st.text(max_size=200) | st.sampled_from(EDGE_STRINGS)
hostile_headers = st.dictionaries(
    st.sampled_from(["X-Hub-Signature-256", "x-twitter-webhooks-signature", "Content-Type"])
    | st.text(max_size=30),
    header_text
    | st.sampled_from(["sha256=", "sha256=" + "0" * 64, "sha256=" + "A" * 44, "sha256=\ud800"]),
    max_size=6,
)


@given(platforms, st.binary(max_size=1024), hostile_headers)
def test_hostile_signatures_are_just_refused(robustness, platform, body, headers):
    robustness.bad_inputs()
    answer = ADAPTERS[platform].verify_signature(body, headers, CHANNELS[platform])
    assert answer is False


@pytest.mark.parametrize("platform", ["x", "facebook", "instagram"])
def test_a_right_signature_among_hostile_headers_is_accepted(platform: str):
    body = b'{"\xe2\x80\xae": "\xf0\x9f\x99\x8f"}'
    if platform == "x":
        digest = hmac.new(SECRETS["webhook_secret"].encode(), body, hashlib.sha256).digest()
        headers = {"X-Twitter-Webhooks-Signature": "sha256=" + base64.b64encode(digest).decode()}
    else:
        digest = hmac.new(META_SECRETS["webhook_secret"].encode(), body, hashlib.sha256)
        headers = {"x-hub-signature-256": "SHA256=" + digest.hexdigest().upper()}
    headers |= {f"X-Junk-{n}": "\u202e\x00" * 100 for n in range(200)}
    assert ADAPTERS[platform].verify_signature(body, headers, CHANNELS[platform]) is True


query = st.dictionaries(
    st.sampled_from(["crc_token", "hub.mode", "hub.verify_token", "hub.challenge"])
    | st.text(max_size=12),
    header_text | st.sampled_from(["subscribe", "metaVerifyToken", "x" * 100_000]),
    max_size=6,
)


@given(platforms, query)
def test_hostile_challenges_are_answered_or_refused(robustness, platform, params):
    robustness.bad_inputs()
    answer = ADAPTERS[platform].answer_challenge(params, CHANNELS[platform])
    if platform in ("mastodon", "bluesky"):
        assert answer is None
    elif answer is not None:
        assert isinstance(answer, Challenge) and isinstance(answer.body, str)
        if platform == "x":
            assert params.get("crc_token")
            assert json.loads(answer.body)["response_token"].startswith("sha256=")
        else:  # Meta echoes the challenge only for the right verify token
            assert params["hub.verify_token"] == META_SECRETS["verify_token"]
            assert answer.body == params["hub.challenge"]


@pytest.mark.parametrize(
    ("platform", "body"),
    [
        # Found by the fuzzer (fuzz/fuzz_adapters.py): a sender id with a colon cannot be
        # scoped to the account (platforms/meta/ids.py) and must be refused, not crash.
        (
            "instagram",
            b'{"object":"instagram","entry":[{"id":"17841405309211844","time":1700000500000,'
            b'"messaging":[{"sender":{"id":"21337083872:453"},"recipient":{"id":'
            b'"17841405309211844"},"timestamp":1700000499000,"message":{"mid":"m_1","text":"hi"}}]}]}',
        ),
        (
            "facebook",
            b'{"object":"page","entry":[{"id":"103149398319188","time":1609656118325,'
            b'"messaging":[{"sender":{"id":"34:4692677644577"},"recipient":{"id":'
            b'"103149398319188"},"timestamp":1609656118099,"message":{"mid":"m_2","text":"aa"}}]}]}',
        ),
    ],
)
def test_a_meta_sender_id_that_cannot_be_scoped_is_a_parse_error(robustness, platform, body):
    with pytest.raises(ParseError, match="Not a Meta user id"):
        ADAPTERS[platform].parse(body, CHANNELS[platform])
    assert parse_cleanly(platform, body) == []
