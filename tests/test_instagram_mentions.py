"""Instagram mentions end to end: the signed ``mentions`` webhook (ids only), the worker fetching
the text and author from the Graph API, the reply going to ``POST /<ig-user-id>/mentions``,
against a fake that refuses what Meta refuses (``tests/fakes/meta_mentions.py``)."""

from __future__ import annotations

import ast
import datetime as dt
import json

import httpx
import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from socialcare import tasks
from socialcare.models import Case, CaseEvent, Post, SocialIdentity
from socialcare.platforms.base import OutboundMessage, SendError
from socialcare.platforms.meta import MetaAdapter, mentions
from socialcare.services.ingest import channel_config
from socialcare.services.replies import send_reply
from tests.fakes.meta_mentions import InstagramMentionsFake
from tests.ingest_helpers import fixture_bytes
from tests.platform_server import Answer
from tests.platform_server import platform_server as platform_server
from tests.served import channels as channels
from tests.served import meta_webhook as meta_webhook

pytestmark = pytest.mark.django_db

IG = "17841405309211844"  # the brand's Instagram account (meta/instagram_comment.json)
MEDIA = "17918195224117851"
COMMENT = "17894227972186120"
ANGRY = "acme my order never arrived and support ignores me, this is terrible and a scam"


@pytest.fixture
def instagram(channels):
    return channels[("instagram", IG)]


@pytest.fixture
def meta(platform_server):
    return InstagramMentionsFake(platform_server, account_id=IG)


@pytest.fixture
def worker(django_capture_on_commit_callbacks):
    """Run the delayed fetches the queue holds (as the cluster would when they fall due);
    returns the delays they were scheduled with, in seconds."""

    def run() -> list[int]:
        delays = []
        for schedule in Schedule.objects.filter(func="socialcare.tasks.fetch_mention"):
            delays.append(round((schedule.next_run - timezone.now()).total_seconds() / 10) * 10)
            args = ast.literal_eval(schedule.args)
            schedule.delete()
            with django_capture_on_commit_callbacks(execute=True):
                tasks.fetch_mention(*args)
        return delays

    return run


def graph_time(minutes_ago: int) -> str:
    at = timezone.now() - dt.timedelta(minutes=minutes_ago)
    return at.strftime("%Y-%m-%dT%H:%M:%S+0000")


def mention_delivery(media_id: str = MEDIA, comment_id: str = "") -> bytes:
    value = {"media_id": media_id, **({"comment_id": comment_id} if comment_id else {})}
    return json.dumps(
        {
            "object": "instagram",
            "entry": [
                {
                    "id": IG,
                    "time": int(timezone.now().timestamp()),
                    "changes": [{"field": "mentions", "value": value}],
                }
            ],
        }
    ).encode()


def notes(case: Case) -> list[str]:
    return [e.summary() for e in case.events.filter(kind=CaseEvent.Kind.NOTE).order_by("pk")]


def test_caption_mention_shows_text_and_author_and_is_answered_on_the_mention(
    instagram, meta, meta_webhook, agent, django_capture_on_commit_callbacks, socialcare_settings
):
    meta.caption_mention(MEDIA, caption=ANGRY, username="ada.lovelace", timestamp=graph_time(12))

    with socialcare_settings(CUSTOMERS_FOR_CASES="create"):
        meta_webhook(instagram, mention_delivery())

    post = Post.objects.get(platform="instagram", external_id=MEDIA)
    assert post.text == ANGRY
    assert post.author.handle == "ada.lovelace"
    assert post.author.profile_url == "https://www.instagram.com/ada.lovelace/"
    assert post.url == f"https://www.instagram.com/p/{MEDIA[-6:]}/"
    assert timezone.now() - post.posted_at > dt.timedelta(minutes=11)  # Meta's time, not ours
    assert post.raw["media_id"] == MEDIA and post.raw["mention"]["username"] == "ada.lovelace"
    case = post.case
    assert case.subject == ANGRY
    assert case.identity == post.author
    assert case.customer is not None  # created, as for a case opened with a known author
    assert case.customer == post.author.customer
    assert case.priority == "high"  # scored again with the words, not the empty text
    assert any("@ada.lovelace wrote" in n for n in notes(case))

    with django_capture_on_commit_callbacks(execute=True):
        reply = send_reply(case, "So sorry Ada, we are on it.", actor=agent)
    reply.refresh_from_db()

    assert reply.parent == post
    assert reply.send_status == "sent", reply.send_error
    assert meta.answered == [
        {
            "media_id": MEDIA,
            "comment_id": "",
            "message": "So sorry Ada, we are on it.",
            "id": reply.external_id,
        }
    ]
    assert reply.url == post.url


def test_comment_mention_is_answered_under_the_comment_and_shown_on_the_case_page(
    instagram, channels, meta, meta_webhook, agent, client, django_capture_on_commit_callbacks
):
    # The same handle already commented on the brand's media (an IGSID identity): a username
    # is not an id, so the mention's author is an identity of its own, not that one.
    comment_channel = channels[("instagram", IG)]
    meta_webhook(comment_channel, fixture_bytes("meta/instagram_comment.json"))
    meta.comment_mention(COMMENT, media_id=MEDIA, text="@acme where is my parcel?",
                         username="kenji.tanaka_")  # fmt: skip

    meta_webhook(instagram, mention_delivery(MEDIA, COMMENT))

    post = Post.objects.get(platform="instagram", external_id=COMMENT)
    assert post.text == "@acme where is my parcel?"
    assert post.author.external_id == "username:kenji.tanaka_"
    assert SocialIdentity.objects.filter(platform="instagram", handle="kenji.tanaka_").count() == 2
    assert post.case.subject == "@acme where is my parcel?"

    agent.user_permissions.add(*Permission.objects.filter(codename__in=["view_case"]))
    client.force_login(agent)
    page = client.get(reverse("admin:socialcare_case_change", args=[post.case_id]))
    assert page.status_code == 200
    assert "@acme where is my parcel?" in page.content.decode()
    assert "kenji.tanaka_" in page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        reply = send_reply(post.case, "It left our warehouse today!", actor=agent)
    reply.refresh_from_db()
    assert reply.send_status == "sent", reply.send_error
    assert [(a["media_id"], a["comment_id"], a["message"]) for a in meta.answered] == [
        (MEDIA, COMMENT, "It left our warehouse today!")
    ]


def test_the_old_replies_path_is_refused_on_a_mention(instagram, meta, platform_server):
    meta.comment_mention(COMMENT, media_id=MEDIA, text="hi @acme", username="ada.lovelace")
    message = OutboundMessage(text="Hello", visibility="public", in_reply_to=COMMENT)

    with httpx.Client() as http, pytest.raises(SendError, match="Unsupported post request"):
        MetaAdapter().send(channel_config(instagram), message, http)  # /<comment>/replies

    assert meta.answered == []


def test_an_answer_must_name_a_mention_of_the_account(instagram, meta):
    meta.comment_mention(COMMENT, media_id=MEDIA, text="hi @acme", username="ada.lovelace")
    elsewhere = {"media_id": "17900000000000009", "comment_id": COMMENT}

    with httpx.Client() as http, pytest.raises(SendError, match="Unsupported post request"):
        mentions.reply(
            channel_config(instagram),
            OutboundMessage(text="Hello", visibility="public", parent_raw=elsewhere),
            http,
        )
    assert meta.answered == []


def test_a_failed_fetch_is_retried_with_backoff_and_noted_once(
    instagram, meta, meta_webhook, worker, platform_server
):
    meta.caption_mention(MEDIA, caption="Where is my parcel acme?", username="ada.lovelace")
    down = Answer(503, {"error": {"message": "Service temporarily unavailable", "code": 2}})
    platform_server.route("GET", f"/{IG}", [down, down, meta.read])

    meta_webhook(instagram, mention_delivery())
    post = Post.objects.get(external_id=MEDIA)
    assert post.text == "" and post.case is not None  # stored and on a case meanwhile
    assert worker() == [30]  # attempt 2, after 30 s
    assert Post.objects.get(pk=post.pk).text == ""
    assert worker() == [60]  # attempt 3, after 60 s: Meta answers

    post.refresh_from_db()
    assert post.text == "Where is my parcel acme?"
    assert post.author.handle == "ada.lovelace"
    [retrying, fetched] = notes(post.case)
    assert retrying.startswith("Instagram mention not fetched yet: Temporary Meta error")
    assert "Retrying in 30 s" in retrying
    assert "@ada.lovelace wrote" in fetched


def test_a_fetch_that_keeps_failing_gives_up_with_a_note_and_keeps_the_post(
    instagram, meta, meta_webhook, worker, platform_server
):
    platform_server.route("GET", f"/{IG}", 503, {"error": {"message": "Down", "code": 2}})

    meta_webhook(instagram, mention_delivery())
    delays = [delay for _ in range(5) for delay in worker()]

    assert delays == [30, 60, 120, 240]
    post = Post.objects.get(external_id=MEDIA)
    assert post.text == "" and post.author is None and post.case is not None
    assert "gave up after 5 attempts" in notes(post.case)[-1]
    assert not Schedule.objects.filter(func="socialcare.tasks.fetch_mention").exists()


def test_a_deleted_mention_stays_with_a_note_saying_why(instagram, meta, meta_webhook, worker):
    meta.caption_mention(MEDIA, caption="hi @acme", username="ada.lovelace")
    meta.delete(MEDIA)

    meta_webhook(instagram, mention_delivery())

    post = Post.objects.get(external_id=MEDIA)
    assert post.text == "" and post.case.subject == "Mention from unknown author"
    [note] = notes(post.case)
    assert "could not be fetched: Meta refused (HTTP 400, code 100, subcode 33)" in note
    assert "does not exist, cannot be loaded due to missing permissions" in note
    assert worker() == []  # not retried: Meta will not show it


def test_a_field_meta_refuses_is_dropped_and_the_text_still_fetched(
    instagram, platform_server, meta_webhook
):
    strict = InstagramMentionsFake(platform_server, account_id=IG, listed_fields_only=True)
    strict.comment_mention(COMMENT, media_id=MEDIA, text="acme love it!", username="ada.lovelace")

    meta_webhook(instagram, mention_delivery(MEDIA, COMMENT))

    post = Post.objects.get(external_id=COMMENT)
    assert post.text == "acme love it!"
    assert post.author is None  # the listed fields name no author
    assert post.case.subject == "acme love it!"
    assert "an author Instagram did not name" in notes(post.case)[-1]
    assert len(strict.reads) == 2 and "username" not in strict.reads[1]


def test_fetching_twice_changes_nothing(
    instagram, meta, meta_webhook, django_capture_on_commit_callbacks
):
    meta.caption_mention(MEDIA, caption="Where is my parcel acme?", username="ada.lovelace")
    meta_webhook(instagram, mention_delivery())
    post = Post.objects.get(external_id=MEDIA)

    with django_capture_on_commit_callbacks(execute=True):
        tasks.fetch_mention(post.pk)  # a duplicate task

    assert len(meta.reads) == 1
    assert len(notes(post.case)) == 1
