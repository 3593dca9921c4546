"""Platform delete events (real payloads): the words go, the row and the statistics stay."""

from __future__ import annotations

from typing import Any

import pytest

from socialcare.models import CaseEvent, Post, WebhookDelivery
from socialcare.services.deliveries import accept_delivery
from socialcare.services.ingest import process_delivery
from tests.ingest_helpers import channel_for, fixture_bytes, make_channels

pytestmark = pytest.mark.django_db

TWEET = "1332557345071644672"
FB_COMMENT = "407298303721936_408074750310958"


@pytest.fixture
def channels() -> dict:
    return make_channels()


def deliver(channels: dict, name: str) -> WebhookDelivery:
    delivery = accept_delivery(channel_for(channels, name), fixture_bytes(name), {}, queue=False)
    processed = process_delivery(delivery.pk)
    assert processed.status == WebhookDelivery.Status.PROCESSED, processed.last_error
    return processed


def words_left(post: Post) -> list[str]:
    """Where the post's words can still be read: the post itself and its case's events."""
    found = []
    post.refresh_from_db()
    if post.text or post.html or post.raw or post.attachments or post.url:
        found.append("post")
    for event in CaseEvent.objects.filter(post=post):
        if {"text", "old_text", "author"} & set(event.data) and event.kind != "post_deleted":
            found.append(f"event {event.kind}")
    return found


def test_x_delete_removes_the_words_and_keeps_the_record(channels: dict, robustness: Any) -> None:
    deliver(channels, "x/tweet_create_reply.json")
    post = Post.objects.get(external_id=TWEET)
    case, posted_at, sentiment = post.case, post.posted_at, post.sentiment
    assert "Save this" in post.text and post.raw

    deliver(channels, "x/tweet_delete.json")

    left = words_left(post)
    robustness.lost(len(left))
    assert left == []
    assert post.deleted_at is not None
    assert (post.case, post.posted_at, post.sentiment) == (case, posted_at, sentiment)
    [deleted] = case.events.filter(kind="post_deleted")
    assert deleted.data["text"] == "The customer deleted this post on the platform."
    case.refresh_from_db()
    assert "Save this" not in case.subject
    added = case.events.get(kind="post_added", post=post)
    assert added.data.get("removed") == "deleted on the platform"


def test_x_delete_before_the_post_never_stores_its_words(channels: dict) -> None:
    deliver(channels, "x/tweet_delete.json")
    deliver(channels, "x/tweet_create_reply.json")
    post = Post.objects.get(external_id=TWEET)
    assert post.deleted_at is not None and post.case is not None
    assert words_left(post) == []
    assert Post.objects.count() == 1


def test_x_delete_twice_is_harmless(channels: dict) -> None:
    deliver(channels, "x/tweet_create_reply.json")
    deliver(channels, "x/tweet_delete.json")
    deliver(channels, "x/tweet_delete.json")
    post = Post.objects.get(external_id=TWEET)
    assert post.case.events.filter(kind="post_deleted").count() == 1


def test_facebook_comment_removed(channels: dict, robustness: Any) -> None:
    deliver(channels, "meta/page_feed_comment.json")
    deliver(channels, "meta/page_feed_reply_edit_remove.json")
    post = Post.objects.get(external_id=FB_COMMENT)
    left = words_left(post)
    robustness.lost(len(left))
    assert left == []
    assert post.deleted_at is not None and post.case is not None
    # The other comments of the same delivery keep their words.
    kept = Post.objects.exclude(pk=post.pk).filter(deleted_at__isnull=True)
    assert kept.exists() and all(p.text for p in kept)
