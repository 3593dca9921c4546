"""Edits honoured on every platform that reports them, with the old text kept (#19, "Also").

Every delivery goes through the real endpoint (or the real poll) and the worker's
``process_delivery``. Fixtures: ``tests/fixtures/edits/README.md`` (each names its source);
the rules per platform: docs/ingestion.md, "Edits".
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse

from socialcare.models import CaseEvent, Channel, PlatformApp, Post, WebhookDelivery
from socialcare.platforms.base import ChannelConfig, InboundPost, ParseError, PostEdit
from socialcare.platforms.bluesky import forget_session
from socialcare.platforms.x import XAdapter
from socialcare.platforms.x_edits import snowflake_time
from socialcare.services import account_routing
from socialcare.services.ingest import process_delivery
from socialcare.services.polling import poll_channel
from tests.fakes.bluesky_pds import BRAND_DID, BlueskyPdsFake
from tests.fakes.mastodon_server import MastodonFake
from tests.ingest_helpers import (
    X_SECRET,
    fixture_bytes,
    meta_signature,
    x_signature,
)
from tests.platform_server import platform_server as platform_server  # fixture: re-exported
from tests.served import channels as channels  # fixture: re-exported

pytestmark = pytest.mark.django_db

HERE = Path(__file__).parent / "fixtures" / "edits"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "ingestion.md"
X_BRAND, X_BRAND_A = "1114259648326987776", "1111111111111111111"
PAGE = "103149398319188"
Status = WebhookDelivery.Status

# X: the original, its two versions and the brand's reply to the newest (fixtures README).
ORIGINAL, EDIT1, EDIT2 = "2125152450533539617", "2125154129969618946", "2125155503273934855"
BRAND_REPLY = "2125157606392860683"
TEXTS = {
    "x_aaa_mention.json": "@Learn_Awesome my order 7731 arrived broken, teh box was crushed",
    "x_aaa_mention_edit1.json": "@Learn_Awesome my order 7731 arrived broken, the box was crushed",
    "x_aaa_mention_edit2.json": "@Learn_Awesome my order 7731 arrived broken, the box was "
    "crushed. Who do I ask for a refund?",
}
X_FILES = list(TEXTS)
#: A moment just after the fixtures' deliveries: they are live posts, not a backfill.
X_NOW = dt.datetime(2026, 11, 24, 9, 25, tzinfo=dt.UTC)
MID = "m_ABt4i4wZIOP21KTsxMwTaHlgf8qsN5F1_pYhFwXvsac2EfSPOAzvt8s8WqxZHjsJUT4OHm8W49PFJtBJ3ITjIg"
COMMENT = "407298303721936_408074750310958"


def edits(file: str) -> bytes:
    return (HERE / file).read_bytes()


def webhook(client: Any, channel: Channel, raw: bytes) -> WebhookDelivery:
    """POST ``raw`` to the channel's URL signed as its platform signs, then run the worker."""
    if channel.platform == "x":
        headers = {"HTTP_X_TWITTER_WEBHOOKS_SIGNATURE": x_signature(raw)}
    else:
        headers = {"HTTP_X_HUB_SIGNATURE_256": meta_signature(raw)}
    url = f"/socialcare/webhooks/{channel.platform}/{channel.pk}/"
    response = client.generic("POST", url, raw, content_type="application/json", **headers)
    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    process_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Status.PROCESSED, delivery.last_error
    return delivery


def edited_events(post: Post) -> list[CaseEvent]:
    return list(
        CaseEvent.objects.filter(case=post.case, kind=CaseEvent.Kind.POST_EDITED).order_by("at")
    )


@pytest.fixture
def x_channel(channels: dict) -> Channel:
    return channels[("x", X_BRAND)]


@pytest.fixture
def page(channels: dict) -> Channel:
    return channels[("facebook", PAGE)]


# X: Account Activity API --------------------------------------------------------------------------
@time_machine.travel(X_NOW, tick=False)
def test_x_edits_keep_one_post_with_the_newest_text_and_every_old_text(client, x_channel):
    for name in X_FILES:
        webhook(client, x_channel, edits(name))

    (post,) = Post.objects.filter(platform="x")  # a version is never a post of its own
    assert post.external_id == ORIGINAL
    assert post.text == TEXTS["x_aaa_mention_edit2.json"]
    assert post.edited_at == dt.datetime(2026, 11, 24, 9, 12, 10, 117000, tzinfo=dt.UTC)
    assert post.url == f"https://x.com/TanuLearns/status/{ORIGINAL}"
    assert post.case.posts.count() == 1
    assert [e.data["old_text"] for e in edited_events(post)] == [
        TEXTS["x_aaa_mention.json"],
        TEXTS["x_aaa_mention_edit1.json"],
    ]


@time_machine.travel(X_NOW, tick=False)
@pytest.mark.parametrize(
    "order",
    [
        pytest.param([2, 1, 0], id="newest-first"),
        pytest.param([1, 2, 0], id="edits-then-original"),
        pytest.param([0, 2, 1], id="older-edit-last"),
    ],
)
def test_x_edits_arriving_before_their_post_still_end_with_the_newest_text(
    client, x_channel, order
):
    for index in order:
        webhook(client, x_channel, edits(X_FILES[index]))

    (post,) = Post.objects.filter(platform="x")
    assert (post.external_id, post.text) == (ORIGINAL, TEXTS["x_aaa_mention_edit2.json"])
    # Dated when the customer wrote the original (its id tells), not when an edit came.
    assert post.posted_at == dt.datetime(2026, 11, 24, 9, 0, 2, 287000, tzinfo=dt.UTC)


@time_machine.travel(X_NOW, tick=False)
def test_x_a_reply_to_the_newest_version_joins_the_case_when_the_edit_came_first(client, x_channel):
    webhook(client, x_channel, edits("x_aaa_mention_edit2.json"))
    webhook(client, x_channel, edits("x_aaa_brand_reply_to_edit.json"))
    webhook(client, x_channel, edits("x_aaa_mention.json"))

    post = Post.objects.get(external_id=ORIGINAL)
    reply = Post.objects.get(external_id=BRAND_REPLY)
    assert post.local_id == EDIT2  # the alias replies to the edited post name
    assert (reply.direction, reply.case_id, reply.parent_id) == ("outbound", post.case_id, post.pk)


@time_machine.travel(X_NOW, tick=False)
def test_x_a_reply_to_the_newest_version_joins_the_case_when_the_post_came_first(client, x_channel):
    for name in [*X_FILES, "x_aaa_brand_reply_to_edit.json"]:
        webhook(client, x_channel, edits(name))

    post = Post.objects.get(external_id=ORIGINAL)
    reply = Post.objects.get(external_id=BRAND_REPLY)
    assert post.local_id == EDIT2
    assert (reply.case_id, reply.parent_id) == (post.case_id, post.pk)


def test_x_reads_both_edit_history_shapes_and_refuses_a_malformed_one():
    adapter = XAdapter()
    config = ChannelConfig(platform="x", account_id=X_BRAND)
    (edit,) = adapter.parse(edits("x_aaa_mention_edit1.json"), config)
    assert isinstance(edit, PostEdit)
    assert (edit.post.external_id, edit.post.local_id) == (ORIGINAL, EDIT1)
    assert edit.edited_at == dt.datetime(2026, 11, 24, 9, 6, 42, 696000, tzinfo=dt.UTC)
    assert edit.post.posted_at == snowflake_time(ORIGINAL)
    (original,) = adapter.parse(edits("x_aaa_mention.json"), config)
    assert isinstance(original, InboundPost) and original.external_id == ORIGINAL

    data = json.loads(edits("x_aaa_mention_edit1.json"))
    tweet = data["tweet_create_events"][0]
    del tweet["edit_history"]
    tweet["edit_history_tweet_ids"] = [ORIGINAL, EDIT1]  # the v2 field
    (v2,) = adapter.parse(json.dumps(data).encode(), config)
    assert isinstance(v2, PostEdit) and v2.post.external_id == ORIGINAL

    tweet["edit_history_tweet_ids"] = {"oops": 1}
    with pytest.raises(ParseError, match="edit history"):
        adapter.parse(json.dumps(data).encode(), config)


def test_x_snowflake_times_are_what_x_says_and_non_snowflakes_are_none():
    # The example of xdevplatform/docs edit-tweets.mdx: id 1557433858676740098, 18:29:02.
    assert snowflake_time("1557433858676740098") == dt.datetime(
        2022, 8, 10, 18, 29, 2, 287000, tzinfo=dt.UTC
    )
    assert snowflake_time("12345") is None
    assert snowflake_time("m_abc") is None
    assert snowflake_time("99999999999999999999999") is None


# X: X Activity API (through the app's one URL) ----------------------------------------------------
@time_machine.travel(dt.datetime(2026, 11, 24, 14, 20, tzinfo=dt.UTC), tick=False)
@pytest.mark.parametrize("edit_first", [False, True], ids=["in-order", "edit-first"])
def test_x_activity_api_edit_updates_the_original_post(client, edit_first):
    account_routing.clear_cache()
    app = PlatformApp(name="Acme on X", platform="x", key="acme-x-edits")
    app.set_secret("webhook_secret", X_SECRET)
    app.save()
    brand = Channel(name="x A", platform="x", account_id=X_BRAND_A)
    brand.app = app
    brand.set_secret("access_token", "test-token")
    brand.save()
    files = ["x_xaa_mention.json", "x_xaa_mention_edited.json"]
    for name in reversed(files) if edit_first else files:
        raw = edits(name)
        response = client.generic(
            "POST",
            reverse("socialcare:app-webhook", args=["x", app.key]),
            raw,
            content_type="application/json",
            HTTP_X_TWITTER_WEBHOOKS_SIGNATURE=x_signature(raw),
        )
        assert response.status_code == 200, response.content
        process_delivery(response.json()["delivery"])
        for part in WebhookDelivery.objects.filter(status=Status.PENDING):
            process_delivery(part.pk)
    account_routing.clear_cache()

    (post,) = Post.objects.filter(platform="x")
    assert post.external_id == "2125230454996599041"
    assert post.text == "@AcmeHelp the app logs me out every five minutes since the 4.2 update"
    assert post.local_id == "2125231587458679330"  # the version's id, the alias replies name
    if not edit_first:
        (event,) = edited_events(post)
        assert event.data["old_text"] == "@AcmeHelp teh app logs me out every five minutes"


# Meta: Messenger message_edits, Page feed `edited` --------------------------------------------
def test_messenger_edits_keep_the_newest_text_and_ignore_an_older_edit_that_comes_late(
    client, page
):
    webhook(client, page, fixture_bytes("meta/messenger_message.json"))
    webhook(client, page, edits("meta_messenger_edit2.json"))
    webhook(client, page, edits("meta_messenger_edit1.json"))  # num_edit 1, delivered last

    post = Post.objects.get(external_id=MID)
    assert post.text == "My parcel 5521 never arrived and the tracking page is blank"
    (event,) = edited_events(post)
    assert event.data["old_text"] == "aa"
    assert event.summary() == "The customer edited this post. Before: aa"


def test_a_messenger_edit_before_its_message_records_the_message_with_the_new_text(client, page):
    webhook(client, page, edits("meta_messenger_edit1.json"))
    webhook(client, page, fixture_bytes("meta/messenger_message.json"))

    (post,) = Post.objects.filter(external_id=MID)
    assert (post.text, post.visibility, post.case is not None) == (
        "aa my parcel 5521 never arrived",
        "private",
        True,
    )
    # Dated when it was written, not when it was edited; its case opened then too.
    sent = dt.datetime.fromtimestamp(1609656118099 / 1000, tz=dt.UTC)
    assert post.posted_at == sent
    assert post.case.created_at == sent
    assert post.case.sla_started_at == sent


@pytest.mark.parametrize("edit_first", [False, True], ids=["in-order", "edit-first"])
def test_a_facebook_comment_edit_keeps_the_old_text_on_the_timeline(client, page, edit_first):
    files = [fixture_bytes("meta/page_feed_comment.json"), edits("meta_feed_comment_edited.json")]
    for raw in reversed(files) if edit_first else files:
        webhook(client, page, raw)

    (post,) = Post.objects.filter(external_id=COMMENT)
    assert post.text == "🙏 the sound cut out at 20:15, please fix the stream"
    assert post.posted_at == dt.datetime.fromtimestamp(1608952523, tz=dt.UTC)
    if not edit_first:
        assert [e.data["old_text"] for e in edited_events(post)] == ["🙏"]


# Mastodon: statuses of open cases re-fetched (services.mastodon_edits) ------------------------
def test_a_mastodon_edit_is_found_by_the_poll_and_keeps_the_old_text(channels, platform_server):
    cache.clear()
    Channel.objects.exclude(platform="mastodon").update(is_active=False)
    mastodon = channels[("mastodon", "14715")]
    masto = MastodonFake(platform_server, account_id="14715")
    status = masto.post("zsc@other.example", "@acmehelp my order 4411 never arrived")
    assert poll_channel(mastodon).posts == 1

    masto.edit(status["id"], "@acmehelp my order 4411 never arrived, day 6")
    outcome = poll_channel(mastodon)

    assert (outcome.error, outcome.edits) == ("", 1)
    post = Post.objects.get(platform="mastodon", local_id=status["id"])
    assert post.text == "@acmehelp my order 4411 never arrived, day 6"
    assert [e.data["old_text"] for e in edited_events(post)] == [
        "@acmehelp my order 4411 never arrived"
    ]
    cache.clear()


# Bluesky: an updated post record is not reported -----------------------------------------------
def test_bluesky_does_not_report_an_updated_post_and_the_docs_say_so(channels, platform_server):
    forget_session()
    Channel.objects.exclude(platform="bluesky").update(is_active=False)
    bluesky = channels[("bluesky", BRAND_DID)]
    now = time.time()
    pds = BlueskyPdsFake(platform_server, clock=lambda: now + 120)
    view = pds.post("did:plc:customer0000000000000001", "@acme.support my order 12", created_at=now)
    assert poll_channel(bluesky).posts == 1

    updated = pds.edit(view["uri"], "@acme.support my order 12 is late", at=now + 60)
    outcome = poll_channel(Channel.objects.get(pk=bluesky.pk))

    # The AppView re-made the notification with the new record and CID, at its old place...
    assert (updated["cid"] != view["cid"], updated["indexedAt"]) == (True, view["indexedAt"])
    # ... so the notification poll finds nothing new: the first text stays, no error.
    assert (outcome.error, outcome.posts) == ("", 0)
    post = Post.objects.get(external_id=view["uri"])
    assert (post.text, post.edited_at) == ("@acme.support my order 12", None)
    edits_doc = DOCS.read_text().split("## Edits", 1)[1].split("\n## ", 1)[0]
    assert "| Bluesky |" in edits_doc and "not reported" in edits_doc
    forget_session()


@time_machine.travel(X_NOW, tick=False)
def test_x_a_delete_naming_a_later_version_deletes_the_post(client, x_channel):
    """X: "deleting any version deletes the chain"; the delete may name the newest id."""
    for name in X_FILES:
        webhook(client, x_channel, edits(name))
    body = json.dumps(
        {
            "for_user_id": X_BRAND,
            "tweet_delete_events": [
                {
                    "status": {"id": EDIT2, "user_id": "1"},
                    "timestamp_ms": str(int(time.time() * 1000)),
                }
            ],
        }
    ).encode()
    webhook(client, x_channel, body)

    (post,) = Post.objects.filter(platform="x", raw__tombstone__isnull=True)
    assert post.external_id == ORIGINAL
    assert post.deleted_at is not None
    assert post.text == ""
    assert not Post.objects.filter(external_id=EDIT2).exists()  # no tombstone of its own
