"""The Mastodon adapter: polled mention notifications in (cursor, parsing, sanitizing), statuses out.

Pure adapter tests: no database. Polling and sending run against a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from typing import Any

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
    PollPage,
    RateLimited,
    SendError,
    SentPost,
    TransientSendError,
)
from socialcare.platforms.mastodon import MastodonAdapter, html_to_text, sanitize_html
from tests.platform_server import Answer, Recorded
from tests.platform_server import platform_server as platform_server  # fixture: `as` re-exports
from tests.shared_data import FIXTURES, json_paths

BRAND = "14715"  # @acmehelp on mastodon.social
NOTIFICATIONS = "/api/v1/notifications"
STATUSES = "/api/v1/statuses"

adapter = MastodonAdapter()


def fixture() -> bytes:
    return (FIXTURES / "mastodon" / "notifications_mentions.json").read_bytes()


def channel(base_url: str = "https://mastodon.social", cursor: str = "", **secrets: str):
    return ChannelConfig(
        platform="mastodon",
        account_id=BRAND,
        handle="acmehelp",
        base_url=base_url,
        secrets=secrets or {"access_token": "masto-token"},
        cursor=cursor,
    )


def mention(
    notification_id: str = "1",
    *,
    content: str = "<p>hello</p>",
    visibility: str = "public",
    account_id: str = "971724",
    **status: Any,
) -> dict[str, Any]:
    account = {
        "id": account_id,
        "username": "zsc",
        "acct": "zsc",
        "display_name": "Zsc",
        "url": "https://mastodon.social/@zsc",
        "followers_count": 112,
    }
    return {
        "id": notification_id,
        "type": "mention",
        "created_at": "2019-11-23T07:49:02.064Z",
        "account": account,
        "status": {
            "id": f"9{notification_id}",
            "uri": f"https://mastodon.social/users/zsc/statuses/9{notification_id}",
            "url": f"https://mastodon.social/@zsc/9{notification_id}",
            "created_at": "2019-11-23T07:49:01.940Z",
            "in_reply_to_id": None,
            "visibility": visibility,
            "language": "en",
            "content": content,
            "spoiler_text": "",
            "account": account,
            "media_attachments": [],
            **status,
        },
    }


def parse_one(item: dict[str, Any]) -> InboundPost:
    events = adapter.parse(json.dumps([item]).encode(), channel())
    assert len(events) == 1
    assert isinstance(events[0], InboundPost)
    return events[0]


def test_adapter_satisfies_the_protocol():
    assert isinstance(adapter, PlatformAdapter)
    assert adapter.platforms == ("mastodon",)
    assert adapter.receives_webhooks is False
    assert adapter.verify_signature(fixture(), {}, channel()) is False
    assert adapter.answer_challenge({"hub.challenge": "x"}, channel()) is None


def test_registry_serves_this_adapter():
    from socialcare.platforms.registry import get_adapter

    assert isinstance(get_adapter("mastodon"), MastodonAdapter)


def test_adapter_module_imports_nothing_of_django_or_the_database():
    code = (
        "import sys, socialcare.platforms.mastodon\n"
        "bad = [m for m in sys.modules if m.startswith(('socialcare.models', 'django'))]\n"
        "assert not bad, bad\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr


# Parsing: the fixture ------------------------------------------------------------------------------
def test_fixture_gives_a_public_reply_and_a_private_direct_mention():
    events = adapter.parse(fixture(), channel())
    assert [type(e) for e in events] == [InboundPost, InboundPost]
    reply, direct = events

    assert reply.platform == "mastodon"
    assert reply.external_id == "https://mastodon.social/users/zsc/statuses/103186126728896492"
    assert reply.local_id == "103186126728896492"
    assert reply.url == "https://mastodon.social/@zsc/103186126728896492"
    assert reply.kind == "reply"
    assert reply.visibility == "public"
    assert reply.direction == "inbound"
    assert reply.in_reply_to == "103186038209478945"  # a local id: matched against local_id
    assert reply.language == "en"
    assert reply.text == (
        "@acmehelp the app logs me out every time I switch tabs & I lose my cart. #bug"
    )
    assert 'rel="nofollow noopener' in reply.html
    assert reply.posted_at == dt.datetime(2019, 11, 23, 7, 49, 1, 940000, tzinfo=dt.UTC)
    assert reply.author.external_id == "https://mastodon.social/@zsc"
    assert reply.author.handle == "zsc@mastodon.social"  # local account, qualified
    assert reply.author.display_name == "Zsc"
    assert reply.author.followers_count == 112
    assert reply.raw["id"] == "34975861"

    assert direct.external_id == "https://fosstodon.org/users/lena/statuses/103186177999990000"
    assert direct.local_id == "103186178000000001"
    assert direct.kind == "direct_message"
    assert direct.visibility == "private"
    assert direct.in_reply_to == ""
    assert direct.author.external_id == "https://fosstodon.org/@lena"
    assert direct.author.handle == "lena@fosstodon.org"
    assert direct.author.display_name == "Lena \u2615"
    assert direct.author.followers_count == 2045
    assert direct.text == (
        "@acmehelp private question: can you change the email on my account? "
        "It's lena@example.org now."
    )
    for post in events:
        assert post.posted_at.tzinfo is not None
        assert post.posted_at.utcoffset() == dt.timedelta(0)


def test_the_script_never_reaches_html_or_text():
    direct = adapter.parse(fixture(), channel())[1]
    assert "<script" not in direct.html.lower()
    assert "alert" not in direct.html
    assert "alert" not in direct.text
    assert direct.html.startswith("<p>")


# Parsing: the rules beyond the fixture -------------------------------------------------------------
def test_sanitizer_strips_handlers_and_dangerous_links_and_keeps_links_nofollow():
    dirty = (
        '<p onclick="steal()">Hi <a href="https://example.com/x" onmouseover="x()" '
        'target="_blank" class="evil mention">link</a> <a href="javascript:alert(1)">js</a> '
        '<a href="/admin/delete">rel</a><img src="x" onerror="alert(2)"><style>p{}</style>'
        "<iframe src='https://evil'></iframe></p>"
    )
    clean = sanitize_html(dirty)
    for forbidden in ("onclick", "onmouseover", "onerror", "javascript:", "<img", "<iframe",
                      "<style", "target=", "/admin/delete", "evil"):  # fmt: skip
        assert forbidden not in clean
    assert '<a href="https://example.com/x" class="mention" rel="nofollow noopener' in clean


def test_plain_text_keeps_paragraphs_and_line_breaks_and_unescapes_entities():
    html = (
        '<p><span class="h-card"><a href="https://m.s/@acmehelp" class="u-url mention">'
        "@<span>acmehelp</span></a></span> first line<br>second &lt;line&gt; &quot;q&quot;</p>"
        '<p>see <a href="https://example.com/a/long/path"><span class="invisible">https://</span>'
        '<span class="ellipsis">example.com/a/lo</span><span class="invisible">ng/path</span>'
        "</a> &amp; thanks</p>"
    )
    assert html_to_text(sanitize_html(html)) == (
        '@acmehelp first line\nsecond <line> "q"\n\nsee https://example.com/a/long/path & thanks'
    )


def test_other_notification_types_are_ignored():
    items = [
        {"id": "5", "type": "follow", "account": {"id": "1"}, "status": None},
        {"id": "6", "type": "favourite", "account": {"id": "1"}, "status": {"id": "x"}},
        mention("7"),
    ]
    events = adapter.parse(json.dumps(items).encode(), channel())
    assert [e.local_id for e in events] == ["97"]


@pytest.mark.parametrize(
    ("visibility", "expected"),
    [
        ("public", ("public", "mention")),
        ("unlisted", ("public", "mention")),
        ("private", ("private", "direct_message")),
        ("direct", ("private", "direct_message")),
        ("limited", ("private", "direct_message")),  # unknown: never treated as public
    ],
)
def test_visibility_decides_privacy_and_kind(visibility: str, expected: tuple[str, str]):
    post = parse_one(mention(visibility=visibility))
    assert (post.visibility, post.kind) == expected


def test_brand_status_is_outbound_and_media_and_content_warning_are_kept():
    post = parse_one(
        mention(
            account_id=BRAND,
            spoiler_text="billing",
            media_attachments=[
                {"id": "1", "type": "image", "url": "https://files/1.png", "description": "bill"},
                {"id": "2", "type": "video", "url": None, "remote_url": "https://remote/2.mp4"},
            ],
        )
    )
    assert post.direction == "outbound"
    assert post.text == "CW: billing\n\nhello"
    assert post.attachments == (
        {"type": "image", "url": "https://files/1.png", "description": "bill"},
        {"type": "video", "url": "https://remote/2.mp4"},
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff\xfe", "UTF-8"),
        (b"{not json", "not JSON"),
        (b'{"id": "1"}', "JSON list"),
        (b"[1]", "not an object"),
        (b'[{"id": "1"}]', "`type`"),
        (b'[{"id": "1", "type": "mention", "status": null}]', "`status`"),
        (b'["\\ud800"]', "not an object"),  # the lone surrogate is read as U+FFFD
    ],
)
def test_malformed_bodies_raise_parse_error(body: bytes, message: str):
    with pytest.raises(ParseError, match=message):
        adapter.parse(body, channel())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("id", 103186126728896492, "`id` must be a non-empty string"),
        ("uri", None, "`uri`"),
        ("created_at", "yesterday", "created_at"),
        ("created_at", "9999-12-31T23:59:59-23:00", "created_at"),
        ("visibility", 3, "`visibility`"),
        ("in_reply_to_id", 5, "`in_reply_to_id`"),
        ("content", ["<p>"], "`content`"),
        ("media_attachments", "none", "`media_attachments`"),
        ("media_attachments", [None], "media #0"),
        ("account", "zsc", "`account`"),
    ],
)
def test_ill_typed_status_fields_raise_parse_error(field: str, value: Any, message: str):
    item = mention()
    item["status"][field] = value
    if field == "account":
        item["account"] = value
    with pytest.raises(ParseError, match=message):
        adapter.parse(json.dumps([item]).encode(), channel())


def test_ill_typed_account_fields_raise_parse_error():
    item = mention()
    item["status"]["account"] = {**item["status"]["account"], "followers_count": "many"}
    with pytest.raises(ParseError, match="followers_count"):
        adapter.parse(json.dumps([item]).encode(), channel())
    item["status"]["account"] = {"id": "1", "url": "https://x/@y"}
    with pytest.raises(ParseError, match="`acct`"):
        adapter.parse(json.dumps([item]).encode(), channel())


# Polling -------------------------------------------------------------------------------------------
@pytest.fixture
def client():
    with httpx.Client(timeout=5) as http:
        yield http


def test_first_run_fetches_the_latest_page(platform_server, client):
    platform_server.route("GET", NOTIFICATIONS, 200, fixture())
    page = adapter.poll(channel(platform_server.url), client)

    assert isinstance(page, PollPage)
    assert page.body == fixture()  # the raw bytes, stored before parsing
    assert page.cursor == "34975990"
    assert page.has_more is False
    request = platform_server.requests_to("GET", NOTIFICATIONS)[0]
    assert request.headers["authorization"] == "Bearer masto-token"
    assert request.query["types[]"] == ["mention"]
    assert "min_id" not in request.query
    assert "since_id" not in request.query


def test_nothing_new_keeps_the_cursor(platform_server, client):
    platform_server.route("GET", NOTIFICATIONS, 200, [])
    page = adapter.poll(channel(platform_server.url, cursor="34975990"), client)
    assert page == PollPage(body=b"[]", cursor="34975990", has_more=False)
    assert platform_server.requests[0].query["min_id"] == ["34975990"]
    assert adapter.parse(page.body, channel()) == []


def _mastodon_min_id_pages(total: int):
    """Notifications 1001..1000+total; answers ``min_id`` like Mastodon: the ``limit`` ids
    immediately newer than it, newest first."""
    ids = [str(1000 + n) for n in range(1, total + 1)]

    def respond(request: Recorded) -> Answer:
        limit = int(request.query["limit"][0])
        min_id = request.query.get("min_id", ["0"])[0]
        newer = [i for i in ids if int(i) > int(min_id)][:limit]
        return Answer(200, [mention(i) for i in reversed(newer)])

    return ids, respond


def test_several_new_pages_are_drained_in_order(platform_server, client):
    ids, respond = _mastodon_min_id_pages(95)
    platform_server.route("GET", NOTIFICATIONS, respond)
    cursor, seen, pages = "1000", [], []
    while True:
        page = adapter.poll(channel(platform_server.url, cursor=cursor), client)
        pages.append(page)
        seen += [post.raw["id"] for post in adapter.parse(page.body, channel())]
        cursor = page.cursor
        if not page.has_more:
            break
    assert [len(json.loads(p.body)) for p in pages] == [40, 40, 15]
    assert [p.cursor for p in pages] == ["1040", "1080", "1095"]
    assert sorted(seen, key=int) == ids  # each exactly once
    assert [r.query["min_id"] for r in platform_server.requests] == [["1000"], ["1040"], ["1080"]]


def test_a_full_page_ending_exactly_at_the_newest_asks_once_more(platform_server, client):
    _, respond = _mastodon_min_id_pages(40)
    platform_server.route("GET", NOTIFICATIONS, respond)
    first = adapter.poll(channel(platform_server.url, cursor="1000"), client)
    assert (first.cursor, first.has_more) == ("1040", True)
    second = adapter.poll(channel(platform_server.url, cursor=first.cursor), client)
    assert (second.cursor, second.has_more, second.body) == ("1040", False, b"[]")


def test_rate_limit_with_retry_after(platform_server, client):
    platform_server.route("GET", NOTIFICATIONS, 429, {"error": "Too many requests"},
                          headers={"Retry-After": "120"})  # fmt: skip
    with pytest.raises(RateLimited) as caught:
        adapter.poll(channel(platform_server.url, cursor="1"), client)
    assert caught.value.retry_after == 120


def test_rate_limit_with_mastodon_iso_reset(platform_server, client):
    reset = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=90)).isoformat()
    platform_server.route(
        "GET", NOTIFICATIONS, 429, {"error": "Too many requests"},
        headers={"X-RateLimit-Reset": reset, "X-RateLimit-Remaining": "0"},
    )  # fmt: skip
    with pytest.raises(RateLimited) as caught:
        adapter.poll(channel(platform_server.url), client)
    assert 60 < caught.value.retry_after <= 90


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, TransientSendError), (503, TransientSendError), (401, SendError), (403, SendError),
     (404, SendError)],
)  # fmt: skip
def test_http_errors_on_poll(platform_server, client, status: int, error: type[Exception]):
    platform_server.route("GET", NOTIFICATIONS, status, {"error": "nope"})
    with pytest.raises(error) as caught:
        adapter.poll(channel(platform_server.url, cursor="1"), client)
    assert not isinstance(caught.value, RateLimited)
    assert "notifications" in str(caught.value)


def test_timeout_and_refused_connection_are_transient(platform_server):
    platform_server.route("GET", NOTIFICATIONS, Answer(200, [], delay=1.0))
    with httpx.Client(timeout=0.2) as slow, pytest.raises(TransientSendError):
        adapter.poll(channel(platform_server.url), slow)
    with httpx.Client(timeout=2) as http, pytest.raises(TransientSendError):
        adapter.poll(channel("http://127.0.0.1:9"), http)


def test_poll_without_token_or_server_is_a_send_error(client):
    with pytest.raises(SendError, match="access_token"):
        adapter.poll(channel("https://mastodon.example", access_token=""), client)
    with pytest.raises(SendError, match="base URL"):
        adapter.poll(channel(""), client)


def test_poll_answer_that_is_not_a_list_is_a_parse_error(platform_server, client):
    platform_server.route("GET", NOTIFICATIONS, 200, {"error": "odd"})
    with pytest.raises(ParseError, match="JSON list"):
        adapter.poll(channel(platform_server.url), client)


# Sending -------------------------------------------------------------------------------------------
STATUS_ANSWER = {
    "id": "103186300000000001",
    "uri": "https://mastodon.social/users/acmehelp/statuses/103186300000000001",
    "url": "https://mastodon.social/@acmehelp/103186300000000001",
    "created_at": "2019-11-23T08:10:00.000Z",
    "visibility": "public",
}


def test_public_reply(platform_server, client):
    platform_server.route("POST", STATUSES, 200, STATUS_ANSWER)
    message = OutboundMessage(
        text="@zsc@mastodon.social sorry! Could you try the latest version?",
        visibility="public",
        in_reply_to="https://mastodon.social/users/zsc/statuses/103186126728896492",
        in_reply_to_local_id="103186126728896492",
        recipient_handle="zsc@mastodon.social",
        idempotency_key="reply-42",
    )
    sent = adapter.send(channel(platform_server.url), message, client)

    assert sent == SentPost(
        external_id=STATUS_ANSWER["uri"],
        url=STATUS_ANSWER["url"],
        local_id="103186300000000001",
        posted_at=dt.datetime(2019, 11, 23, 8, 10, tzinfo=dt.UTC),
    )
    request = platform_server.requests_to("POST", STATUSES)[0]
    assert request.headers["idempotency-key"] == "reply-42"
    assert request.headers["authorization"] == "Bearer masto-token"
    assert request.json() == {
        "status": "@zsc@mastodon.social sorry! Could you try the latest version?",
        "in_reply_to_id": "103186126728896492",
        "visibility": "public",
    }


def test_public_reply_mentions_the_customer_when_the_text_does_not(platform_server, client):
    platform_server.route("POST", STATUSES, 200, STATUS_ANSWER)
    message = OutboundMessage(
        text="Fixed now!", visibility="public", in_reply_to_local_id="9", recipient_handle="zsc"
    )
    adapter.send(channel(platform_server.url), message, client)
    assert platform_server.requests[0].json()["status"] == "@zsc Fixed now!"


def test_direct_message_starts_with_the_recipient_and_is_direct(platform_server, client):
    platform_server.route("POST", STATUSES, 200, {**STATUS_ANSWER, "visibility": "direct"})
    message = OutboundMessage(
        text="Done: your email is updated.",
        visibility="private",
        in_reply_to_local_id="103186178000000001",
        recipient="https://fosstodon.org/@lena",
        recipient_handle="@lena@fosstodon.org",
        idempotency_key="dm-7",
    )
    adapter.send(channel(platform_server.url), message, client)
    request = platform_server.requests[0]
    assert request.json() == {
        "status": "@lena@fosstodon.org Done: your email is updated.",
        "in_reply_to_id": "103186178000000001",
        "visibility": "direct",
    }
    assert request.headers["idempotency-key"] == "dm-7"


def test_direct_message_already_addressed_is_not_prefixed_twice(platform_server, client):
    platform_server.route("POST", STATUSES, 200, STATUS_ANSWER)
    message = OutboundMessage(
        text="@Lena@Fosstodon.org hi", visibility="private", recipient_handle="lena@fosstodon.org"
    )
    adapter.send(channel(platform_server.url), message, client)
    body = platform_server.requests[0].json()
    assert body == {"status": "@Lena@Fosstodon.org hi", "visibility": "direct"}


def test_direct_message_without_handle_is_refused_before_any_request(platform_server, client):
    message = OutboundMessage(text="hi", visibility="private", recipient="https://x/@y")
    with pytest.raises(SendError, match="handle"):
        adapter.send(channel(platform_server.url), message, client)
    assert platform_server.requests == []


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (Answer(422, {"error": "Validation failed: Text can't be blank"}), SendError),
        (Answer(401, {"error": "The access token is invalid"}), SendError),
        (Answer(404, {"error": "Record not found"}), SendError),
        (Answer(502, "Bad Gateway"), TransientSendError),
        (Answer(429, {"error": "slow down"}, {"Retry-After": "30"}), RateLimited),
    ],
)
def test_send_errors(platform_server, client, answer: Answer, error: type[Exception]):
    platform_server.route("POST", STATUSES, answer)
    message = OutboundMessage(text="hi", visibility="public", idempotency_key="k")
    with pytest.raises(error) as caught:
        adapter.send(channel(platform_server.url), message, client)
    if error is SendError:
        assert not isinstance(caught.value, TransientSendError)
        assert str(answer.status) in str(caught.value)
    if error is RateLimited:
        assert caught.value.retry_after == 30


def test_unreadable_success_answer_is_retried_only_with_an_idempotency_key(platform_server, client):
    platform_server.route("POST", STATUSES, 200, {"id": 5})
    keyed = OutboundMessage(text="hi", visibility="public", idempotency_key="k")
    with pytest.raises(TransientSendError, match="unexpected body"):
        adapter.send(channel(platform_server.url), keyed, client)
    unkeyed = OutboundMessage(text="hi", visibility="public")
    with pytest.raises(SendError) as caught:
        adapter.send(channel(platform_server.url), unkeyed, client)
    assert not isinstance(caught.value, TransientSendError)


# Fuzzing: only ParseError or a list ------------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(
        ["", "mention", "direct", BRAND, "2019-11-23T07:49:01.940Z", "<p>x<script>y</script></p>"]
    ),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def mutated_fixture(draw: st.DrawFn) -> bytes:
    document = json.loads(fixture())
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
        assert post.external_id and isinstance(post.text, str)
        assert post.posted_at.tzinfo is not None
        assert "<script" not in post.html


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
