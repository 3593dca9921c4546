"""The case API's ``reply_window.private_reply``: whether the one private reply Meta allows to a
commenter may go, until when, to which comment, or why not. Cases come through the real webhook
and the private reply through the worker, against the Graph fake (as in test_private_replies)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from socialcare.models import Case, Post
from tests.platform_server import platform_server as platform_server
from tests.served import channels as channels
from tests.served import meta_webhook as meta_webhook
from tests.served import queued as queued
from tests.test_api_cases import API, grant
from tests.test_api_cases import client_for as client_for
from tests.test_private_replies import FB_COMMENT, FB_PSID, case_of, dm, fb_comment, private_posts
from tests.test_private_replies import graph as graph
from tests.test_private_replies import page as page

pytestmark = pytest.mark.django_db

SCHEMA = "/socialcare/api/schema/"


@pytest.fixture
def api(agent, client_for):
    return client_for(grant(agent, "view_case", "change_case", "view_post", "add_post"))


def when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def window_of(api, case: Case) -> dict:
    response = api.get(f"{API}/cases/{case.pk}/")
    assert response.status_code == 200, response.content
    return response.json()["reply_window"]


def test_a_facebook_comment_case_may_get_a_private_reply_for_7_days(page, meta_webhook, api):
    meta_webhook(page, fb_comment(timezone.now() - dt.timedelta(hours=2)))
    case = case_of(FB_COMMENT)
    comment = case.posts.get()

    window = window_of(api, case)
    assert window["open"] is False and window["kind"] == "closed"  # never wrote privately
    chance = window["private_reply"]
    assert chance == {
        "possible": True,
        "until": chance["until"],
        "comment": comment.pk,
        "reason": "",
    }
    assert when(chance["until"]) == comment.posted_at + dt.timedelta(days=7)
    # Lists show neither (it would cost queries per case): read it on the case.
    [row] = api.get(f"{API}/cases/").json()["results"]
    assert row["reply_window"] is None


def test_after_the_private_reply_it_is_not_possible_and_says_why(
    page, graph, meta_webhook, queued, api
):
    now = timezone.now()
    meta_webhook(page, fb_comment(now - dt.timedelta(hours=2)))
    case = case_of(FB_COMMENT)
    comment = case.posts.get()
    graph.commented(FB_COMMENT, FB_PSID, at=comment.posted_at)
    sent = api.post(f"{API}/cases/{case.pk}/replies/", {"text": "Hi!", "visibility": "private"})
    assert sent.status_code in (200, 201), sent.content
    assert queued(private_posts(case).get()).send_status == "sent"

    chance = window_of(api, case)["private_reply"]
    assert chance["possible"] is False and chance["comment"] == comment.pk
    assert chance["reason"].startswith("a private reply to the customer's comment was already sent")
    assert chance["reason"].endswith("Meta allows one per comment.")
    assert when(chance["until"]) == comment.posted_at + dt.timedelta(days=7)

    # The customer answers in Messenger: the window opens; the private reply stays used.
    graph.answered(FB_PSID, now)
    meta_webhook(page, dm("meta/messenger_message.json", FB_PSID, now, "m_answer_1", "Order 1234"))
    window = window_of(api, case)
    assert window["open"] is True and window["kind"] == "standard"
    assert when(window["since"]) == Post.objects.get(external_id="m_answer_1").posted_at
    assert window["private_reply"]["possible"] is False


def test_a_messenger_case_shows_its_window_and_no_private_reply(page, meta_webhook, api):
    at = timezone.now() - dt.timedelta(hours=1)
    meta_webhook(
        page, dm("meta/messenger_message.json", "7100000000000009", at, "m_dm_1", "Hello?")
    )
    case = case_of("m_dm_1")

    window = window_of(api, case)
    assert window["open"] is True and window["kind"] == "standard"
    assert window["messaging_type"] == "RESPONSE"
    assert when(window["until"]) == case.posts.get().posted_at + dt.timedelta(hours=24)
    assert window["private_reply"] is None  # no comment to answer


def test_a_list_of_comment_cases_costs_no_more_queries(
    page, meta_webhook, api, django_assert_num_queries
):
    start = timezone.now() - dt.timedelta(hours=3)
    for n in range(3):
        body = fb_comment(start + dt.timedelta(minutes=n))
        value = body["entry"][0]["changes"][0]["value"]
        value["comment_id"] = f"{value['post_id']}_90000000000000{n}"
        value["from"]["id"] = f"71000000000001{n}"
        meta_webhook(page, body)
    api.get(f"{API}/cases/?page_size=1")  # the key's last use is recorded once a minute
    # key + user, user and group permissions, the page (its tags in it): as for any case list
    for size in (1, 3):
        with django_assert_num_queries(4):
            rows = api.get(f"{API}/cases/?page_size={size}").json()["results"]
        assert len(rows) == size and all(row["reply_window"] is None for row in rows)


def test_the_schema_describes_the_private_reply(admin_client):
    response = admin_client.get(SCHEMA, {"format": "json"})
    assert response.status_code == 200
    schemas = response.json()["components"]["schemas"]
    field = schemas["ReplyWindow"]["properties"]["private_reply"]
    # OpenAPI 3.1: the object or null
    assert field["oneOf"] == [{"$ref": "#/components/schemas/PrivateReply"}, {"type": "null"}]
    private_reply = schemas["PrivateReply"]
    assert set(private_reply["properties"]) == {"possible", "until", "comment", "reason"}
    assert private_reply["properties"]["until"]["format"] == "date-time"
    assert "7 days" in private_reply["properties"]["until"]["description"]
