"""The reply window and X's rules, end to end: ``send_reply`` and the worker's ``deliver_post``
against fakes of the Graph API and the X API that refuse what the real ones refuse
(``tests/fakes``); the window in the case API and on the case page."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest
from django.utils import timezone

from socialcare.exceptions import SocialCareError
from socialcare.models import Case, Post
from socialcare.platforms.base import OutboundMessage, SendError
from socialcare.platforms.meta import MetaAdapter
from socialcare.platforms.x import XAdapter, summons
from socialcare.platforms.x_text import weighted_length
from socialcare.services.deliveries import accept_delivery
from socialcare.services.ingest import channel_config, process_delivery
from socialcare.services.replies import send_reply
from socialcare.services.reply_window import reply_target, reply_window
from tests.fakes.meta_graph import MetaGraphFake
from tests.fakes.x_api import REPLY_NOT_ALLOWED, XApiFake
from tests.ingest_helpers import channel_for, fixture_bytes
from tests.platform_server import platform_server as platform_server
from tests.served import channels as channels
from tests.served import queued as queued
from tests.test_api_cases import API, grant
from tests.test_api_cases import client_for as client_for

pytestmark = pytest.mark.django_db

PSID = "3424692677644577"  # the sender of meta/messenger_message.json
BRAND_X = "1114259648326987776"  # the brand account of x/tweet_create_reply.json


def ingest(channels, name: str, body: bytes | None = None) -> Case:
    channel = channel_for(channels, name)
    delivery = accept_delivery(channel, body or fixture_bytes(name), {}, queue=False)
    process_delivery(delivery.pk)
    return Case.objects.order_by("-pk").first()


@pytest.fixture
def graph(platform_server):
    return MetaGraphFake(platform_server)


@pytest.fixture
def messenger_case(channels, graph):
    """A Messenger conversation whose customer last wrote ``hours`` ago (23 by default)."""

    def make(hours: float = 23, *, human_agent: bool = False) -> Case:
        known = Post.objects.filter(platform="facebook", kind="direct_message").first()
        case = known.case if known else ingest(channels, "meta/messenger_message.json")
        at = timezone.now() - dt.timedelta(hours=hours)
        Post.objects.filter(case=case, direction="inbound").update(posted_at=at)
        graph.user_wrote(PSID, at)
        graph.human_agent = human_agent
        case.channel.human_agent_tag = human_agent
        case.channel.save()
        return Case.objects.get(pk=case.pk)

    return make


# Meta: 24 hours, then the HUMAN_AGENT tag for 7 days -----------------------------------------


def test_a_dm_at_23_hours_goes_as_a_standard_response(messenger_case, graph, agent, queued):
    case = messenger_case(23)
    post = queued(send_reply(case, "Here is your refund.", actor=agent, visibility="private"))
    assert post.send_status == "sent", post.send_error
    [sent] = graph.sent
    assert sent["messaging_type"] == "RESPONSE" and "tag" not in sent
    assert sent["recipient"] == {"id": PSID}


def test_a_dm_at_30_hours_goes_with_the_human_agent_tag_when_the_app_has_it(
    messenger_case, graph, agent, queued
):
    case = messenger_case(30, human_agent=True)
    window = reply_window(case)
    assert (window.open, window.kind, window.tag) == (True, "human_agent", "HUMAN_AGENT")
    post = queued(send_reply(case, "Sorry for the wait.", actor=agent, visibility="private"))
    assert post.send_status == "sent", post.send_error
    [sent] = graph.sent
    assert (sent["messaging_type"], sent["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")


def test_an_automated_dm_never_carries_the_human_agent_tag(messenger_case, platform_server):
    case = messenger_case(30, human_agent=True)
    with pytest.raises(SocialCareError, match="not an automated message"):
        send_reply(case, "We are looking into it.", actor=None, visibility="private")
    assert platform_server.requests_to("POST", "/me/messages") == []


def test_a_dm_at_30_hours_is_refused_before_sending_without_the_permission(
    messenger_case, platform_server, agent
):
    case = messenger_case(30)
    with pytest.raises(SocialCareError, match="no Human Agent permission"):
        send_reply(case, "Sorry for the wait.", actor=agent, visibility="private")
    assert not Post.objects.filter(direction="outbound").exists()
    assert platform_server.requests_to("POST", "/me/messages") == []


def test_a_dm_after_8_days_is_refused_naming_the_alternatives(
    messenger_case, platform_server, agent, customer
):
    case = messenger_case(8 * 24, human_agent=True)
    Case.objects.filter(pk=case.pk).update(customer=customer)  # ada@example.com
    case = Case.objects.get(pk=case.pk)
    window = reply_window(case)
    assert not window.open and window.alternatives == ("email",)
    with pytest.raises(SocialCareError) as refused:
        send_reply(case, "Still there?", actor=agent, visibility="private")
    assert "none after 7 days" in str(refused.value)
    assert "Reply by e-mail instead" in str(refused.value)
    assert not Post.objects.filter(direction="outbound").exists()
    assert platform_server.requests_to("POST", "/me/messages") == []


def test_a_queued_dm_whose_window_closed_fails_without_calling_meta(
    messenger_case, platform_server, agent, queued
):
    case = messenger_case(23)
    post = send_reply(case, "Here you go.", actor=agent, visibility="private")
    Post.objects.filter(case=case, direction="inbound").update(
        posted_at=timezone.now() - dt.timedelta(hours=25)
    )  # the worker picks it up two hours late
    post = queued(post)
    assert post.send_status == "failed"
    assert "No private message can reach the customer now" in post.send_error
    assert platform_server.requests_to("POST", "/me/messages") == []
    notes = [e.data["text"] for e in case.events.filter(kind="note")]
    assert any("Human Agent permission" in text for text in notes)


def test_the_graph_fake_refuses_what_meta_refuses_and_the_adapter_says_why(
    platform_server, graph, channels
):
    channel = channel_config(channel_for(channels, "meta/messenger_message.json"))
    graph.user_wrote(PSID, timezone.now() - dt.timedelta(hours=30))
    late = OutboundMessage(text="hi", visibility="private", recipient=PSID)
    with httpx.Client(timeout=5) as client:
        with pytest.raises(SendError, match=r"window is closed \(code 10, subcode 2018278\)"):
            MetaAdapter().send(channel, late, client)
        tagged = OutboundMessage(
            text="hi", visibility="private", recipient=PSID, messaging_type="MESSAGE_TAG",
            tag="HUMAN_AGENT",
        )  # fmt: skip
        with pytest.raises(SendError, match="permission"):  # the app has no Human Agent feature
            MetaAdapter().send(channel, tagged, client)
        graph.human_agent = True
        assert MetaAdapter().send(channel, tagged, client).external_id.startswith("m_fake_")
        graph.user_wrote(PSID, timezone.now() - dt.timedelta(days=8))
        with pytest.raises(SendError, match="2018278"):
            MetaAdapter().send(channel, tagged, client)
        shapeless = OutboundMessage(text="hi", visibility="private", recipient="not-a-psid")
        with pytest.raises(SendError, match="recipient"):
            MetaAdapter().send(channel, shapeless, client)


# X: the reply rule and weighted counting ------------------------------------------------------


@pytest.fixture
def x_api(platform_server):
    return XApiFake(platform_server, brand_id=BRAND_X)


def tweet_payload(*, mention: bool) -> bytes:
    data = json.loads(fixture_bytes("x/tweet_create_reply.json"))
    tweet = data["tweet_create_events"][0]
    if not mention:
        tweet["text"] = "Save this"
        tweet["entities"]["user_mentions"] = []
    return json.dumps(data).encode()


def test_an_x_reply_to_a_post_that_mentions_the_brand_goes_out(channels, x_api, agent, queued):
    case = ingest(channels, "x/tweet_create_reply.json")
    x_api.knows_payload(json.loads(tweet_payload(mention=True))["tweet_create_events"][0])
    post = queued(send_reply(case, "We're on it!", actor=agent))
    assert post.send_status == "sent", post.send_error
    assert x_api.created[0]["reply"] == {"in_reply_to_tweet_id": "1332557345071644672"}


def test_an_x_reply_to_a_post_that_does_not_mention_the_brand_is_refused(
    channels, x_api, agent, platform_server
):
    case = ingest(channels, "x/tweet_create_reply.json", tweet_payload(mention=False))
    assert reply_target(case) is None
    with pytest.raises(SocialCareError, match="@mention") as refused:
        send_reply(case, "We're on it!", actor=agent)
    assert "Send a direct message instead" in str(refused.value)
    post = case.posts.get()
    with pytest.raises(SocialCareError, match="does not @mention the brand"):
        send_reply(case, "We're on it!", actor=agent, in_reply_to=post)
    assert not Post.objects.filter(direction="outbound").exists()
    assert platform_server.requests_to("POST", "/2/tweets") == []


def test_the_x_fake_refuses_a_reply_x_would_refuse_and_the_adapter_says_why(channels, x_api):
    channel = channel_config(channel_for(channels, "x/tweet_create_reply.json"))
    x_api.knows("42", mentions=("999",))
    message = OutboundMessage(text="Hi!", visibility="public", in_reply_to="42")
    with httpx.Client(timeout=5) as client, pytest.raises(SendError) as refused:
        XAdapter().send(channel, message, client)
    assert "@mentions the brand" in str(refused.value)
    assert REPLY_NOT_ALLOWED[:40] in str(refused.value)
    x_api.knows("43", quotes=BRAND_X)  # quoting one of the brand's posts summons it too
    quoted = OutboundMessage(text="Hi!", visibility="public", in_reply_to="43")
    with httpx.Client(timeout=5) as client:
        assert XAdapter().send(channel, quoted, client).external_id


def test_reply_target_is_the_latest_post_that_mentions_the_brand(channels, x_api, agent, queued):
    case = ingest(channels, "x/tweet_create_reply.json")
    mentioning = case.posts.get()
    later = Post.objects.create(
        platform="x", channel=case.channel, author=mentioning.author, case=case,
        external_id="1332557345071644999", direction="inbound", kind="reply",
        visibility="public", text="and another thing", posted_at=mentioning.posted_at
        + dt.timedelta(minutes=5),
        raw={"id_str": "1332557345071644999", "text": "and another thing", "entities": {}},
    )  # fmt: skip
    assert reply_target(case) == mentioning != later
    x_api.knows_payload(json.loads(tweet_payload(mention=True))["tweet_create_events"][0])
    post = queued(send_reply(case, "Thanks!", actor=agent))
    assert post.send_status == "sent" and post.parent == mentioning


def test_x_direct_messages_have_no_window(channels, platform_server, agent, queued):
    case = ingest(channels, "x/direct_message.json")
    Post.objects.filter(case=case).update(posted_at=timezone.now() - dt.timedelta(days=30))
    api = XApiFake(platform_server, brand_id="835740314006511618")
    api.allow_dm("272953809")
    assert reply_window(case).kind == "none" and reply_window(case).open
    post = queued(send_reply(case, "Hi Nicolas!", actor=agent, visibility="private"))
    assert post.send_status == "sent", post.send_error
    assert api.created[0]["text"] == "Hi Nicolas!"


def test_x_counts_weighted_characters(channels, x_api, agent, queued, platform_server):
    assert weighted_length("日" * 140) == 280 and weighted_length("a" * 280) == 280
    assert weighted_length("👨‍👩‍👧‍👦") == 2  # one emoji, however many code points
    assert weighted_length("see https://example.com/" + "p" * 200) == 4 + 23
    case = ingest(channels, "x/tweet_create_reply.json")
    x_api.knows_payload(json.loads(tweet_payload(mention=True))["tweet_create_events"][0])
    with pytest.raises(
        SocialCareError,
        match="282 characters is over the 280-character limit for a post on X, counted",
    ):
        send_reply(case, "日" * 141, actor=agent)  # 141 characters, 282 weighted
    assert platform_server.requests_to("POST", "/2/tweets") == []
    long_link = "a" * 250 + " https://example.com/" + "p" * 200  # 472 characters, 274 weighted
    assert queued(send_reply(case, long_link, actor=agent)).send_status == "sent"
    assert queued(send_reply(case, "日" * 140, actor=agent)).send_status == "sent"


def test_summons_reads_mentions_quotes_and_the_text():
    assert summons({"entities": {"user_mentions": [{"id_str": "7"}]}}, "", "7") is True
    assert summons({"entities": {"mentions": [{"username": "Acme"}]}}, "", "7", "acme") is True
    assert summons({"quoted_status": {"user": {"id_str": "7"}}, "text": "x"}, "", "7") is True
    assert summons({"text": "hello", "entities": {}}, "hello", "7", "acme") is False
    assert summons({}, "hi @acme!", "7", "acme") is True  # no payload stored: the text
    assert summons({}, "hi @acmeco", "7", "acme") is None  # cannot tell
    assert summons({}, "mail me@acme", "7", "acme") is None


# The window in the API and on the case page --------------------------------------------------


def test_the_case_api_shows_the_window(messenger_case, agent, client_for):
    case = messenger_case(23)
    api = client_for(grant(agent, "view_case", "change_case", "view_post"))
    body = api.get(f"{API}/cases/{case.pk}/").json()
    window = body["reply_window"]
    assert window["open"] is True and window["kind"] == "standard"
    assert window["messaging_type"] == "RESPONSE" and window["until"]
    assert api.get(f"{API}/cases/").json()["results"][0]["reply_window"] is None  # lists: null
    messenger_case(8 * 24)
    refused = api.post(
        f"{API}/cases/{case.pk}/replies/",
        {"text": "Hello?", "visibility": "private"},
    )
    assert refused.status_code == 400
    assert "none after 7 days" in refused.json()["detail"]


def test_the_case_page_shows_the_window_beside_the_composer(messenger_case, channels, admin_client):
    case = messenger_case(23)
    body = admin_client.get(f"/admin/socialcare/case/{case.pk}/change/").content.decode()
    assert 'data-reply-window="standard"' in body and "Private replies open until" in body
    assert "(24 h window)" in body
    closed = messenger_case(30)
    body = admin_client.get(f"/admin/socialcare/case/{closed.pk}/change/").content.decode()
    assert 'data-reply-window="closed"' in body and "Closed: the customer&#x27;s last" in body
    x_case = ingest(channels, "x/tweet_create_reply.json", tweet_payload(mention=False))
    body = admin_client.get(f"/admin/socialcare/case/{x_case.pk}/change/").content.decode()
    assert 'data-public-reply="closed"' in body and "Send a direct message instead" in body
