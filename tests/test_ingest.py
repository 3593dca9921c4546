"""Every fixture delivery ingests to the right posts, identities and cases; replays change nothing."""

from __future__ import annotations

import random

import pytest
import time_machine
from django.db import connection

from socialcare.models import Case, CaseEvent, Post, SocialIdentity, WebhookDelivery
from socialcare.services import cases as case_services
from socialcare.services.deliveries import accept_delivery
from socialcare.services.ingest import process_delivery
from tests.ingest_helpers import (
    DELIVERIES,
    channel_for,
    fixture_bytes,
    make_channels,
    process_concurrently,
    snapshot,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def channels():
    return make_channels()


def deliver(channels, name: str) -> WebhookDelivery:
    delivery = accept_delivery(channel_for(channels, name), fixture_bytes(name), {}, queue=False)
    processed = process_delivery(delivery.pk)
    assert processed.status == WebhookDelivery.Status.PROCESSED, processed.last_error
    return processed


def test_x_public_reply(channels):
    deliver(channels, "x/tweet_create_reply.json")
    post = Post.objects.get(platform="x", external_id="1332557345071644672")
    assert post.text == "@Learn_Awesome Save this"
    assert post.direction == "inbound"
    assert post.kind == "reply"
    assert post.visibility == "public"
    assert post.in_reply_to_external_id == "1332252354599555074"
    assert post.author.external_id == "1247048165561270272"
    assert post.author.handle == "TanuLearns"
    assert post.author.display_name == "Tanu Learns"
    assert post.author.followers_count == 20
    assert post.reach == 20
    assert post.posted_at.isoformat() == "2020-11-28T05:30:03.440000+00:00"
    case = post.case
    assert case.identity == post.author
    assert case.status == Case.Status.NEW
    assert case.first_response_due_at is not None
    assert list(case.events.values_list("kind", flat=True)) == ["created", "post_added"]


def test_x_extended_tweet_stores_full_text_and_scores_it(channels):
    deliver(channels, "x/tweet_create_extended.json")
    post = Post.objects.get(external_id="1332975772104323072")
    assert post.text.endswith("Really frustrating 😡 #fail")
    assert "payment declined" in post.text
    assert post.author.display_name == "Priya 🌿"
    assert post.author.platform_verified is True
    assert post.author.followers_count == 48210
    assert post.sentiment < -0.5
    assert post.case.priority in ("high", "urgent")


def test_x_direct_message_is_private_and_unescaped(channels):
    deliver(channels, "x/direct_message.json")
    post = Post.objects.get(external_id="958501034212564996")
    assert post.text == "Hello World & good wishes."
    assert post.kind == "direct_message"
    assert post.visibility == "private"
    assert post.author.handle == "nicpottier"
    assert post.author.display_name == "Nicolas Pottier"
    assert post.case.visibility == "private"


def test_x_delete_marks_the_post_deleted_and_keeps_the_row(channels):
    deliver(channels, "x/tweet_create_reply.json")
    deliver(channels, "x/tweet_delete.json")
    post = Post.objects.get(external_id="1332557345071644672")
    assert post.deleted_at is not None
    assert post.text == ""
    assert post.case.events.filter(kind="post_deleted").count() == 1


def test_delete_before_create_ends_as_if_they_came_in_order(channels):
    deliver(channels, "x/tweet_delete.json")
    tombstone = Post.objects.get(external_id="1332557345071644672")
    assert tombstone.deleted_at is not None
    assert tombstone.text == ""
    assert tombstone.case is None
    deliver(channels, "x/tweet_create_reply.json")
    post = Post.objects.get(external_id="1332557345071644672")
    assert post.deleted_at is not None  # never shown as live
    assert post.case is not None
    assert post.case.events.filter(kind="post_deleted").count() == 1
    assert Post.objects.count() == 1


def test_facebook_comment_with_emoji(channels):
    deliver(channels, "meta/page_feed_comment.json")
    post = Post.objects.get(external_id="407298303721936_408074750310958")
    assert post.platform == "facebook"
    assert post.text == "🙏"
    assert post.kind == "comment"
    assert post.author.display_name == "Susie Avellanosa"
    assert post.conversation_id == "103149398319188_407298303721936"


def test_facebook_reply_edit_and_remove(channels):
    deliver(channels, "meta/page_feed_comment.json")
    deliver(channels, "meta/page_feed_reply_edit_remove.json")
    susie = Post.objects.get(external_id="407298303721936_408074750310958")
    jonas = Post.objects.get(external_id="407298303721936_408075000000001")
    assert jonas.parent == susie
    assert jonas.conversation_id == susie.conversation_id
    assert jonas.author.display_name == "Jonas Müller"
    # Someone else's reply in the thread is that person's own case.
    assert jonas.case != susie.case
    assert jonas.text.endswith("Day 9 now.")
    assert jonas.edited_at is not None
    edit = jonas.case.events.get(kind="post_edited")
    assert edit.data["old_text"].endswith("nobody answers the phone.")
    assert susie.deleted_at is not None
    assert jonas.deleted_at is None


def test_messenger_thread_with_echo_and_attachment(channels):
    deliver(channels, "meta/messenger_message.json")
    deliver(channels, "meta/messenger_echo_and_attachment.json")
    first = Post.objects.get(external_id__startswith="m_ABt4i4w")
    echo = Post.objects.get(external_id="m_echo_0001")
    answer = Post.objects.get(external_id="m_cust_0002")
    assert first.visibility == answer.visibility == "private"
    assert echo.direction == "outbound"
    assert echo.author is None
    assert answer.parent == echo
    assert answer.attachments and answer.attachments[0]["type"] == "image"
    # One customer, one DM conversation: one case holding all three.
    assert first.case == answer.case == echo.case
    assert SocialIdentity.objects.filter(external_id__endswith=":3424692677644577").count() == 1


def test_instagram_comment_in_japanese_and_dm(channels):
    deliver(channels, "meta/instagram_comment.json")
    deliver(channels, "meta/instagram_message.json")
    comment = Post.objects.get(external_id="17865799348089039")
    assert comment.platform == "instagram"
    assert comment.text == "注文した商品がまだ届きません。どうなっていますか？"
    assert comment.author.handle == "kenji.tanaka_"
    assert comment.visibility == "public"
    dm = Post.objects.get(platform="instagram", kind="direct_message")
    # Instagram comments and Direct messages name people by the same IGSID (meta.ids).
    assert dm.author.external_id == "igsid:17841405309211844:6213370838721453"
    assert dm.visibility == "private"
    assert "size guide" in dm.text


def test_mastodon_mentions_sanitized_and_direct_is_private(channels):
    deliver(channels, "mastodon/notifications_mentions.json")
    public = Post.objects.get(
        external_id="https://mastodon.social/users/zsc/statuses/103186126728896492"
    )
    assert public.local_id == "103186126728896492"
    assert public.in_reply_to_external_id == "103186038209478945"
    assert public.visibility == "public"
    assert "logs me out every time I switch tabs & I lose my cart" in public.text
    direct = Post.objects.get(
        external_id="https://fosstodon.org/users/lena/statuses/103186177999990000"
    )
    assert direct.visibility == "private"
    assert direct.kind == "direct_message"
    assert "<script" not in direct.html
    assert "alert(1)" not in direct.text
    assert "It's lena@example.org now." in direct.text
    assert direct.author.handle == "lena@fosstodon.org"
    assert direct.author.followers_count == 2045


def test_bluesky_mention_and_reply_share_one_case(channels):
    deliver(channels, "bluesky/list_notifications.json")
    mention = Post.objects.get(
        external_id="at://did:plc:u5cwb2mwiv2bfq53cjufe6yn/app.bsky.feed.post/3k43tv4rft22g"
    )
    reply = Post.objects.get(
        external_id="at://did:plc:u5cwb2mwiv2bfq53cjufe6yn/app.bsky.feed.post/3k43u2bxkq22h"
    )
    assert "👨‍❤️‍👨" in mention.text
    assert mention.author.external_id == "did:plc:u5cwb2mwiv2bfq53cjufe6yn"
    assert mention.author.handle == "bnewbold.staging.bsky.dev"
    assert reply.conversation_id == mention.external_id
    assert reply.case == mention.case


def test_reply_arriving_before_its_parent_is_relinked(channels):
    import json

    payload = json.loads(fixture_bytes("meta/page_feed_reply_edit_remove.json"))
    payload["entry"] = payload["entry"][:1]
    payload["entry"][0]["changes"] = payload["entry"][0]["changes"][:1]  # Jonas's reply only
    channel = channel_for(channels, "meta/page_feed_reply_edit_remove.json")
    early = accept_delivery(channel, json.dumps(payload).encode(), {}, queue=False)
    assert process_delivery(early.pk).status == "processed"
    jonas = Post.objects.get(external_id="407298303721936_408075000000001")
    assert jonas.parent is None
    deliver(channels, "meta/page_feed_comment.json")
    jonas.refresh_from_db()
    assert jonas.parent.external_id == "407298303721936_408074750310958"


def test_delete_arriving_before_the_post_still_threads_its_replies(channels):
    deliver(channels, "meta/page_feed_reply_edit_remove.json")
    jonas = Post.objects.get(external_id="407298303721936_408075000000001")
    assert jonas.parent.external_id == "407298303721936_408074750310958"
    assert jonas.parent.deleted_at is not None


def test_resolved_case_reopens_when_the_customer_writes_again(channels):
    # The fixture's customer wrote at 06:41:58 and answers at 06:43:19 on 2021-01-03 (UTC).
    deliver(channels, "meta/messenger_message.json")
    case = Case.objects.get()
    with time_machine.travel("2021-01-03T06:42:30Z", tick=False):
        case_services.change_status(case, "resolved")
    with time_machine.travel("2021-01-03T06:44:00Z", tick=False):
        deliver(channels, "meta/messenger_echo_and_attachment.json")
    case.refresh_from_db()
    assert case.status == "open"
    assert case.resolved_at is None
    assert case.posts.count() == 3
    assert case.events.filter(kind="status_changed", data__to="open").exists()


def test_resolved_case_past_the_reopen_window_gets_a_new_case(channels):
    deliver(channels, "meta/messenger_message.json")
    case = Case.objects.get()
    with time_machine.travel("2021-01-03T06:42:30Z", tick=False):
        case_services.change_status(case, "resolved")
    with time_machine.travel("2021-01-20T00:00:00Z", tick=False):
        deliver(channels, "meta/messenger_echo_and_attachment.json")
    case.refresh_from_db()
    assert case.status == "resolved"
    assert Post.objects.get(external_id="m_cust_0002").case != case


def test_late_delivery_of_an_earlier_message_joins_the_resolved_case_quietly(channels):
    deliver(channels, "meta/messenger_message.json")
    case = Case.objects.get()
    case_services.change_status(case, "resolved")  # now: after both fixture messages were sent
    deliver(channels, "meta/messenger_echo_and_attachment.json")
    case.refresh_from_db()
    assert case.status == "resolved"
    assert Post.objects.get(external_id="m_cust_0002").case == case


def test_closed_case_is_not_reopened_a_new_case_opens(channels):
    deliver(channels, "meta/messenger_message.json")
    old = Case.objects.get()
    with time_machine.travel("2021-01-03T06:42:30Z", tick=False):
        case_services.change_status(old, "closed")
    deliver(channels, "meta/messenger_echo_and_attachment.json")
    answer = Post.objects.get(external_id="m_cust_0002")
    assert answer.case != old
    old.refresh_from_db()
    assert old.status == "closed"


def test_waiting_on_customer_goes_back_to_open_on_reply(channels):
    deliver(channels, "meta/messenger_message.json")
    case = Case.objects.get()
    case_services.change_status(case, "waiting_on_customer")
    deliver(channels, "meta/messenger_echo_and_attachment.json")
    case.refresh_from_db()
    assert case.status == "open"


def test_identity_profile_refreshes_but_not_from_older_deliveries(channels):
    deliver(channels, "x/tweet_create_reply.json")
    identity = SocialIdentity.objects.get(external_id="1247048165561270272")
    identity.followers_count = 999
    identity.save()
    # The same (older) tweet arriving again is a duplicate: nothing changes.
    deliver(channels, "x/tweet_create_reply.json")
    identity.refresh_from_db()
    assert identity.followers_count == 999


def ingest_all(channels, names: list[str]) -> None:
    for name in names:
        delivery = accept_delivery(
            channel_for(channels, name), fixture_bytes(name), {}, queue=False
        )
        process_delivery(delivery.pk)


def wipe() -> None:
    CaseEvent.objects.all().delete()
    Post.objects.update(parent=None, case=None)
    Post.objects.all().delete()
    Case.objects.update(merged_into=None)
    Case.objects.all().delete()
    SocialIdentity.objects.all().delete()
    WebhookDelivery.objects.all().delete()


def test_replaying_twice_in_shuffled_order_gives_the_same_posts_and_cases(channels):
    names = list(DELIVERIES)
    ingest_all(channels, names)
    ordered = snapshot()
    assert len(ordered["posts"]) == 14
    for seed in range(5):
        wipe()
        shuffled = names * 2
        random.Random(seed).shuffle(shuffled)
        ingest_all(channels, shuffled)
        assert snapshot() == ordered, f"seed {seed}"
    assert not WebhookDelivery.objects.exclude(status="processed").exists()


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_give_the_same_result_as_one_pass():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent workers need PostgreSQL")

    channels = make_channels()
    names = list(DELIVERIES)
    ingest_all(channels, names)
    ordered = snapshot()
    wipe()
    ids = [
        accept_delivery(channel_for(channels, n), fixture_bytes(n), {}, queue=False).pk
        for n in names * 2
    ]
    assert process_concurrently(ids) == []
    assert snapshot() == ordered
    assert not WebhookDelivery.objects.exclude(status="processed").exists()


def test_mentions_without_an_author_never_share_an_identity(channels):
    import json

    channel = channels[("instagram", "17841405309211844")]
    for n in (1, 2):
        body = json.dumps(
            {
                "object": "instagram",
                "entry": [
                    {
                        "id": "17841405309211844",
                        "time": 1700000000 + n,
                        "changes": [
                            {
                                "field": "mentions",
                                "value": {
                                    "media_id": f"1790000000000{n}",
                                    "comment_id": f"1795{n}",
                                },
                            }
                        ],
                    }
                ],
            }
        ).encode()
        delivery = accept_delivery(channel, body, {}, queue=False)
        assert process_delivery(delivery.pk).status == "processed"
    mentions = Post.objects.filter(platform="instagram", kind="mention")
    assert mentions.count() == 2
    assert all(p.author is None for p in mentions)
    assert len({p.case_id for p in mentions}) == 2
    assert not SocialIdentity.objects.filter(external_id="").exists()
