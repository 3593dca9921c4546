"""Private replies to Facebook and Instagram commenters, end to end: the comment arrives through
the real webhook, the hand-off's private step is the one private reply Meta allows (sent by the
worker to a Graph fake that refuses what Meta refuses, ``tests/fakes/meta_graph.py``), and the
customer's answer in Messenger / Instagram Direct joins the same case."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from socialcare.exceptions import SocialCareError
from socialcare.models import Case, Post
from socialcare.services.handoff import hand_off
from socialcare.services.replies import send_reply
from tests.fakes.meta_graph import MetaGraphFake
from tests.ingest_helpers import fixture_bytes
from tests.platform_server import platform_server as platform_server
from tests.served import channels as channels
from tests.served import meta_webhook as meta_webhook
from tests.served import queued as queued
from tests.test_api_cases import API, grant
from tests.test_api_cases import client_for as client_for

pytestmark = pytest.mark.django_db

PAGE = "103149398319188"  # the Page of meta/page_feed_comment.json and messenger_message.json
IG_ACCOUNT = "17841405309211844"  # the Instagram account of the instagram_* fixtures
FB_COMMENT = "407298303721936_408074750310958"
IG_COMMENT = "17865799348089039"
#: The PSID Meta answers the Facebook private reply with (matched by conversation, not by the
#: comment author's identity).
FB_PSID = "7100000000000001"
#: On Instagram the comment's ``from.id`` is already the commenter's IGSID.
IGSID = "1068245441393221"


@pytest.fixture
def page(channels):
    return channels[("facebook", PAGE)]


@pytest.fixture
def instagram(channels):
    return channels[("instagram", IG_ACCOUNT)]


@pytest.fixture
def graph(platform_server):
    return MetaGraphFake(platform_server)


def fixture(name: str) -> dict:
    return json.loads(fixture_bytes(name))


def fb_comment(at: dt.datetime) -> dict:
    body = fixture("meta/page_feed_comment.json")
    body["entry"][0]["time"] = int(at.timestamp())
    body["entry"][0]["changes"][0]["value"]["created_time"] = int(at.timestamp())
    return body


def ig_comment(at: dt.datetime) -> dict:
    body = fixture("meta/instagram_comment.json")
    body["entry"][0]["time"] = int(at.timestamp())
    return body


def dm(name: str, sender: str, at: dt.datetime, mid: str, text: str) -> dict:
    """A Messenger / Instagram Direct message from ``sender`` (the id Meta returned)."""
    body = fixture(name)
    entry = body["entry"][0]
    entry["time"] = int(at.timestamp() * 1000)
    item = entry["messaging"][0]
    item["sender"]["id"] = sender
    item["timestamp"] = int(at.timestamp() * 1000)
    item["message"] = {"mid": mid, "text": text}
    return body


def case_of(external_id: str) -> Case:
    return Post.objects.get(external_id=external_id).case


def private_posts(case: Case):
    return case.posts.filter(direction="outbound", visibility="private").order_by("pk")


def answered_notes(case: Case) -> list[str]:
    return [
        e.data["text"]
        for e in case.events.filter(kind="note")
        if "answered the private reply" in e.data.get("text", "")
    ]


# End to end: a commenter taken private, their answer on the same case ---------------------------


def test_a_facebook_commenter_is_taken_private_and_their_messenger_answer_joins_the_case(
    page, graph, meta_webhook, queued, agent
):
    now = timezone.now()
    meta_webhook(page, fb_comment(now - dt.timedelta(hours=2)))
    case = case_of(FB_COMMENT)
    comment = case.posts.get()
    graph.commented(FB_COMMENT, FB_PSID, at=comment.posted_at)

    hand_off(case, "direct_message", actor=agent, private_message="Hi Susie, how can we help?")
    [private] = private_posts(case)
    private = queued(private)
    assert private.send_status == "sent", private.send_error
    [sent] = graph.sent  # exactly one private reply, to the comment, on the Page's endpoint
    assert sent["recipient"] == {"comment_id": FB_COMMENT}
    assert sent["path"] == f"/{PAGE}/messages" and "messaging_type" not in sent
    assert private.parent_id == comment.pk and private.conversation_id == f"dm:{FB_PSID}"

    # The customer answers in Messenger: their PSID is another identity than the commenter's.
    graph.answered(FB_PSID, now)
    meta_webhook(page, dm("meta/messenger_message.json", FB_PSID, now, "m_answer_1", "Order 1234"))
    answer = Post.objects.get(external_id="m_answer_1")
    assert answer.case_id == case.pk
    assert answer.author_id != comment.author_id
    assert answered_notes(case) == [
        "The customer answered the private reply in Messenger: the conversation continues "
        "there (24-hour window from their message)."
    ]

    # The agent's next reply is a normal message to the PSID, inside the 24-hour window.
    reply = queued(send_reply(case, "Refund on its way.", actor=agent, visibility="private"))
    assert reply.send_status == "sent", reply.send_error
    assert graph.sent[-1]["recipient"] == {"id": FB_PSID}
    assert graph.sent[-1]["messaging_type"] == "RESPONSE"

    # Further messages thread by conversation, with no second note.
    later = now + dt.timedelta(minutes=5)
    meta_webhook(page, dm("meta/messenger_message.json", FB_PSID, later, "m_answer_2", "Thanks!"))
    assert Post.objects.get(external_id="m_answer_2").case_id == case.pk
    assert len(answered_notes(case)) == 1
    assert Case.objects.filter(channel=page).count() == 1


def test_an_instagram_commenter_is_taken_private_and_their_direct_answer_joins_the_case(
    instagram, graph, meta_webhook, queued, agent
):
    now = timezone.now()
    meta_webhook(instagram, ig_comment(now - dt.timedelta(hours=1)))
    case = case_of(IG_COMMENT)
    graph.commented(IG_COMMENT, IGSID, at=case.posts.get().posted_at)

    hand_off(case, "direct_message", actor=agent, private_message="Sorry! What is your order?")
    private = queued(private_posts(case).get())
    assert private.send_status == "sent", private.send_error
    [sent] = graph.sent
    assert sent["recipient"] == {"comment_id": IG_COMMENT}
    assert sent["path"] == f"/{IG_ACCOUNT}/messages"

    graph.answered(IGSID, now)
    meta_webhook(instagram, dm("meta/instagram_message.json", IGSID, now, "ig_mid_1", "#A-1234"))
    assert Post.objects.get(external_id="ig_mid_1").case_id == case.pk
    assert answered_notes(case) and "Instagram Direct" in answered_notes(case)[0]

    reply = queued(send_reply(case, "Found it, shipping today.", actor=agent, visibility="private"))
    assert reply.send_status == "sent", reply.send_error
    assert graph.sent[-1]["recipient"] == {"id": IGSID}
    assert graph.sent[-1]["messaging_type"] == "RESPONSE"


def test_a_commenter_who_already_messaged_the_page_gets_a_normal_message(
    page, graph, meta_webhook, queued, agent
):
    now = timezone.now()
    meta_webhook(page, fb_comment(now - dt.timedelta(hours=2)))
    case = case_of(FB_COMMENT)
    psid = "3450429531722233"  # the comment's from.id: a PSID of this Page, like the sender's
    meta_webhook(page, dm("meta/messenger_message.json", psid, now, "m_first", "It is order 42"))
    assert case_of("m_first").pk == case.pk
    graph.user_wrote(psid, now)

    hand_off(case, "direct_message", actor=agent, private_message="Thanks, looking into it.")
    private = queued(private_posts(case).get())
    assert private.send_status == "sent", private.send_error
    [sent] = graph.sent  # the window is open: a standard message, not the private reply
    assert sent["recipient"] == {"id": psid} and sent["messaging_type"] == "RESPONSE"
    assert not graph.private_replies and private.parent_id is None


# Refused before anything is sent ----------------------------------------------------------------


def test_a_second_private_reply_to_the_same_comment_is_refused_before_sending(
    page, graph, meta_webhook, queued, agent, platform_server
):
    meta_webhook(page, fb_comment(timezone.now() - dt.timedelta(hours=2)))
    case = case_of(FB_COMMENT)
    graph.commented(FB_COMMENT, FB_PSID, at=case.posts.get().posted_at)
    queued(send_reply(case, "Hi, can we help?", actor=agent, visibility="private"))
    assert len(graph.sent) == 1

    with pytest.raises(SocialCareError) as refused:
        send_reply(case, "Hello again?", actor=agent, visibility="private")
    assert "already sent" in str(refused.value) and "one per comment" in str(refused.value)
    assert "Reply publicly instead" in str(refused.value)
    assert private_posts(case).count() == 1
    assert len(platform_server.requests_to("POST", f"/{PAGE}/messages")) == 1


def test_a_failed_private_reply_does_not_use_the_comments_one_message(
    page, graph, meta_webhook, queued, agent
):
    meta_webhook(page, fb_comment(timezone.now() - dt.timedelta(hours=2)))
    case = case_of(FB_COMMENT)
    first = queued(send_reply(case, "Hi!", actor=agent, visibility="private"))
    assert first.send_status == "failed"  # the fake was not told of the comment: Meta's (#100)
    assert "Invalid comment_id parameter" in first.send_error

    graph.commented(FB_COMMENT, FB_PSID, at=Post.objects.get(external_id=FB_COMMENT).posted_at)
    second = queued(send_reply(case, "Hi again!", actor=agent, visibility="private"))
    assert second.send_status == "sent", second.send_error


def test_a_comment_8_days_old_is_refused_with_the_reason_and_email(
    page, graph, meta_webhook, agent, customer, platform_server
):
    meta_webhook(page, fb_comment(timezone.now() - dt.timedelta(days=8)))
    case = case_of(FB_COMMENT)
    Case.objects.filter(pk=case.pk).update(customer=customer)  # ada@example.com
    case.refresh_from_db()

    with pytest.raises(SocialCareError) as refused:
        hand_off(case, "direct_message", actor=agent, private_message="Hi Susie")
    message = str(refused.value)
    assert "cannot be taken private by direct message" in message
    assert "8 days old" in message and "within 7 days of the comment" in message
    assert "Reply publicly or by e-mail instead" in message
    case.refresh_from_db()
    assert not case.handed_off_to
    assert not case.posts.filter(direction="outbound").exists()  # no public note either
    assert platform_server.requests == []


def test_the_admin_hand_off_shows_the_refusal_as_a_message(page, graph, meta_webhook, admin_client):
    meta_webhook(page, fb_comment(timezone.now() - dt.timedelta(days=8)))
    case = case_of(FB_COMMENT)
    response = admin_client.post(
        reverse("admin:socialcare_case_hand_off", args=[case.pk]),
        {"via": "direct_message", "private_message": "Hi Susie"},
        follow=True,
    )
    assert response.status_code == 200
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("8 days old" in m and "within 7 days of the comment" in m for m in shown), shown
    case.refresh_from_db()
    assert not case.handed_off_to and not case.posts.filter(direction="outbound").exists()


def test_a_case_with_no_comment_to_answer_is_refused_before_the_public_note(
    page, graph, meta_webhook, agent, platform_server
):
    body = fb_comment(timezone.now())
    value = body["entry"][0]["changes"][0]["value"]
    value.update(item="status", verb="add", message="Where is my order?")
    del value["comment_id"]  # a visitor post on the Page: no comment
    meta_webhook(page, body)
    case = Post.objects.get(external_id=value["post_id"]).case

    with pytest.raises(SocialCareError, match="has no public comment by the customer"):
        hand_off(case, "direct_message", actor=agent, private_message="Hi")
    assert not case.posts.filter(direction="outbound").exists()
    assert platform_server.requests == []


def test_a_queued_private_reply_whose_7_days_ran_out_fails_without_calling_meta(
    page, graph, meta_webhook, queued, agent, platform_server
):
    meta_webhook(page, fb_comment(timezone.now() - dt.timedelta(days=6)))
    case = case_of(FB_COMMENT)
    post = send_reply(case, "Hi Susie", actor=agent, visibility="private")
    Post.objects.filter(external_id=FB_COMMENT).update(
        posted_at=timezone.now() - dt.timedelta(days=7, minutes=1)
    )  # the worker picks it up too late
    post = queued(post)
    assert post.send_status == "failed"
    assert "within 7 days of the comment" in post.send_error
    assert platform_server.requests == []


# Meta's refusals, if they are ever reached --------------------------------------------------------


def test_metas_refusals_turn_into_failed_posts_with_metas_message(
    page, graph, meta_webhook, queued, agent
):
    meta_webhook(page, fb_comment(timezone.now() - dt.timedelta(hours=2)))
    case = case_of(FB_COMMENT)
    graph.commented(FB_COMMENT, FB_PSID, at=case.posts.get().posted_at)
    first = queued(send_reply(case, "Hi!", actor=agent, visibility="private"))
    assert first.send_status == "sent"

    # socialcare lost track of the first (say, restored from a backup): Meta still refuses.
    Post.objects.filter(pk=first.pk).update(send_status="failed")
    second = queued(send_reply(case, "Hi again!", actor=agent, visibility="private"))
    assert second.send_status == "failed"
    assert "(#10900) Activity already replied to" in second.send_error

    # A user access token where Meta wants the Page's.
    Post.objects.filter(pk=second.pk).delete()
    page.set_secret("access_token", "user-token")
    page.save()
    third = queued(send_reply(case, "Hi once more", actor=agent, visibility="private"))
    assert third.send_status == "failed"
    assert "(#210) A page access token is required" in third.send_error
    assert any("(#210)" in e.data.get("text", "") for e in case.events.filter(kind="note"))


def test_the_graph_fake_refuses_what_meta_refuses(platform_server, graph):
    now = dt.datetime.now(dt.UTC)
    graph.commented("c-1", FB_PSID, at=now - dt.timedelta(hours=1))
    graph.commented("c-old", "7100000000000002", at=now - dt.timedelta(days=8))
    url = f"{platform_server.url}/{PAGE}/messages"
    token = {"Authorization": "Bearer test-token"}

    def send(recipient, headers=token, **extra):
        body = {"recipient": recipient, "message": {"text": "hi"}, **extra}
        answer = httpx.post(url, json=body, headers=headers, timeout=5)
        return answer.status_code, answer.json()

    def error(answer):
        status, body = answer
        assert status == 400
        return body["error"]["code"], body["error"].get("error_subcode"), body["error"]["message"]

    assert error(send({"id": FB_PSID, "comment_id": "c-1"}))[:2] == (100, None)
    assert error(send({"user_ref": "abc"}))[:2] == (100, None)
    assert error(send({"comment_id": ""}))[:2] == (100, None)
    assert error(send({"comment_id": "c-unknown"}))[:2] == (100, 2018292)
    assert error(send({"comment_id": "c-old"})) == (
        10903, None, "(#10903) This user cant reply to this activity"
    )  # fmt: skip
    assert error(send({"comment_id": "c-1"}, headers={"Authorization": "Bearer user-token"})) == (
        210, None, "(#210) A page access token is required to request this resource"
    )  # fmt: skip
    assert error(send({"comment_id": "c-1"}, headers={}))[0] == 190
    # The private reply does not open the 24-hour window: no message until the person answers.
    assert error(send({"id": FB_PSID}, messaging_type="RESPONSE"))[:2] == (100, 2018001)
    assert send({"comment_id": "c-1"}) == (200, {"recipient_id": FB_PSID, "message_id": "m_fake_1"})
    assert error(send({"comment_id": "c-1"})) == (
        10900,
        None,
        "(#10900) Activity already replied to",
    )
    graph.answered(FB_PSID, now)
    assert send({"id": FB_PSID}, messaging_type="RESPONSE")[0] == 200
    with pytest.raises(AssertionError):
        graph.answered("7100000000000002", now)  # got no private reply


# Where it shows: the case page, the API ----------------------------------------------------------


def test_the_case_page_says_whether_a_private_reply_can_go(
    page, graph, meta_webhook, queued, agent, admin_client
):
    meta_webhook(page, fb_comment(timezone.now() - dt.timedelta(hours=2)))
    case = case_of(FB_COMMENT)
    graph.commented(FB_COMMENT, FB_PSID, at=case.posts.get().posted_at)
    url = f"/admin/socialcare/case/{case.pk}/change/"
    body = admin_client.get(url).content.decode()
    assert 'id="sc-private-reply"' in body
    assert "Private reply possible until" in body and "(one message to this comment;" in body
    queued(send_reply(case, "Hi!", actor=agent, visibility="private"))
    body = admin_client.get(url).content.decode()
    assert "Private reply: not possible — a private reply to the customer&#x27;s comment was" in (
        body
    )


def test_the_api_sends_a_private_reply_and_refuses_a_second_with_400(
    page, graph, meta_webhook, queued, agent, client_for
):
    meta_webhook(page, fb_comment(timezone.now() - dt.timedelta(hours=2)))
    case = case_of(FB_COMMENT)
    graph.commented(FB_COMMENT, FB_PSID, at=case.posts.get().posted_at)
    api = client_for(grant(agent, "view_case", "change_case", "view_post", "add_post"))
    created = api.post(f"{API}/cases/{case.pk}/replies/", {"text": "Hi!", "visibility": "private"})
    assert created.status_code in (200, 201), created.content
    sent = queued(private_posts(case).get())
    assert sent.send_status == "sent" and graph.sent[0]["recipient"] == {"comment_id": FB_COMMENT}
    refused = api.post(f"{API}/cases/{case.pk}/replies/", {"text": "Hi?", "visibility": "private"})
    assert refused.status_code == 400
    assert "Meta allows one per comment" in refused.json()["detail"]
