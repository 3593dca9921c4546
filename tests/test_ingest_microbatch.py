"""Micro-batching: a worker processing one delivery also claims the pending deliveries of the same
channel waiting behind it and ingests them in one transaction. Every delivery keeps its own
status, error and post count, every post is stored once, and the posts and cases are exactly what
the same deliveries processed one at a time, in the same order, give."""

from __future__ import annotations

import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from socialcare.models import Channel, Post, WebhookDelivery
from socialcare.services import ingest_posts
from socialcare.services.deliveries import accept_delivery
from socialcare.services.ingest import process_delivery
from tests.ingest_helpers import process_concurrently, snapshot
from tests.test_ingest import wipe
from tests.test_ingest_batch import generate, make_targets, merged_body

pytestmark = pytest.mark.django_db


def arrivals(posts, *, seed: int = 4, dup_every: int = 6) -> list[tuple[int, bytes]]:
    """(channel id, body) per delivery: one post each, every ``dup_every``-th sent twice (a
    platform retry), in a shuffled arrival order (replies may arrive before what they answer)."""
    bodies = []
    for n, post in enumerate(posts):
        bodies.append((post.target.channel_id, post.body))
        if n % dup_every == 0:
            bodies.append((post.target.channel_id, post.body))
    random.Random(seed).shuffle(bodies)
    return bodies


def accept_all(bodies: list[tuple[int, bytes]]) -> list[int]:
    channels = {c.pk: c for c in Channel.objects.all()}
    return [accept_delivery(channels[c], body, {}, queue=False).pk for c, body in bodies]


def one_at_a_time(bodies) -> dict:
    for pk in accept_all(bodies):
        assert process_delivery(pk, batch=1).status == "processed"
    return snapshot()


def test_pending_deliveries_of_a_channel_are_ingested_together_as_one_at_a_time():
    targets = make_targets()
    posts = generate(targets, 90, seed=21)
    bodies = arrivals(posts)
    expected = one_at_a_time(bodies)
    assert len(expected["posts"]) == 90
    wipe()

    ids = accept_all(bodies)
    process_delivery(ids[0], batch=500)
    # The first call took every pending delivery of its channel, none of the other channel.
    first_channel = WebhookDelivery.objects.get(pk=ids[0]).channel_id
    done = WebhookDelivery.objects.filter(channel_id=first_channel)
    assert set(done.values_list("status", flat=True)) == {"processed"}
    assert WebhookDelivery.objects.exclude(channel_id=first_channel).filter(status="pending")
    for pk in ids:  # their own tasks: the batched ones are no-ops, the rest batch again
        process_delivery(pk, batch=500)
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"processed"}
    assert snapshot() == expected
    # Each delivery has its own count: a post once, its redelivery 0.
    assert sum(WebhookDelivery.objects.values_list("posts_count", flat=True)) == 90
    assert sorted(WebhookDelivery.objects.values_list("posts_count", flat=True)).count(0) == (
        len(bodies) - 90
    )
    # The workload has what a batch must resolve in memory: a thread with its reply, and a
    # private conversation with a follow-up, inside one batch.
    assert Post.objects.filter(parent__isnull=False, parent__direction="inbound").exists()
    private = Post.objects.filter(visibility="private", direction="inbound")
    conversations = list(private.values_list("conversation_id", flat=True))
    assert any(conversations.count(c) > 1 for c in conversations if c)


def test_a_thread_out_of_order_and_a_duplicate_inside_one_batch():
    """Replies delivered before the post they answer, and the same post twice, in one batch."""
    targets = make_targets()[:1]
    posts = generate(targets, 40, seed=31)
    bodies = [(p.target.channel_id, p.body) for p in reversed(posts)]  # newest first
    bodies.insert(5, bodies[3])
    expected = one_at_a_time(bodies)
    wipe()
    ids = accept_all(bodies)
    assert process_delivery(ids[0], batch=100).status == "processed"
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"processed"}
    assert snapshot() == expected
    assert WebhookDelivery.objects.get(pk=ids[5]).posts_count == 0
    assert Post.objects.count() == 40


def test_a_dm_and_its_reply_in_one_delivery_join_one_case():
    targets = make_targets()[:1]
    posts = generate(targets, 200, seed=13)
    private = [p for p in posts if '"direct_message_events"' in p.body.decode()]
    assert len(private) >= 4
    bodies = [(p.target.channel_id, p.body) for p in private]
    expected = one_at_a_time(bodies)
    wipe()
    channel = Channel.objects.get(pk=targets[0].channel_id)
    delivery = accept_delivery(channel, merged_body(private), {}, queue=False)
    assert process_delivery(delivery.pk).posts_count == len(private)
    assert snapshot() == expected
    # Follow-ups of one customer's conversation share the customer's case.
    by_author: dict = {}
    for author, case in Post.objects.values_list("author_id", "case_id"):
        by_author.setdefault(author, set()).add(case)
    assert any(len(cases) == 1 for cases in by_author.values())
    assert Post.objects.filter(case__isnull=True).count() == 0


def test_a_bad_event_fails_only_its_own_delivery(monkeypatch, robustness):
    targets = make_targets()[:1]
    posts = generate(targets, 15, seed=41)
    bad = posts[7].external_id
    real = ingest_posts.record_event

    def failing(case, kind, *, post=None, **data):
        if post is not None and post.external_id == bad:
            raise RuntimeError("the event store is on fire")
        return real(case, kind, post=post, **data)

    monkeypatch.setattr(ingest_posts, "record_event", failing)
    robustness.fault()
    channel = Channel.objects.get(pk=targets[0].channel_id)
    ids = [accept_delivery(channel, p.body, {}, queue=False).pk for p in posts]
    # A delivery whose body cannot be parsed, in the same batch.
    broken = accept_delivery(channel, b'{"tweet_create_events": [{"id_str": ', {}, queue=False)
    robustness.bad_inputs(1)
    process_delivery(ids[0], batch=50)
    statuses = dict(WebhookDelivery.objects.values_list("pk", "status"))
    assert statuses[ids[7]] == "failed"
    assert "the event store is on fire" in WebhookDelivery.objects.get(pk=ids[7]).last_error
    assert statuses[broken.pk] == "failed"
    assert WebhookDelivery.objects.get(pk=broken.pk).last_error
    assert {statuses[pk] for n, pk in enumerate(ids) if n != 7} == {"processed"}
    stored = set(Post.objects.values_list("external_id", flat=True))
    assert stored == {p.external_id for p in posts} - {bad}

    # The retry stores the missing post, nothing twice.
    monkeypatch.setattr(ingest_posts, "record_event", real)
    assert process_delivery(ids[7]).status == "processed"
    found = set(Post.objects.values_list("external_id", flat=True))
    robustness.lost(len({p.external_id for p in posts} - found))
    assert found == {p.external_id for p in posts}
    assert Post.objects.count() == 15


def test_micro_batching_uses_far_fewer_queries_per_post():
    targets = make_targets()[:1]
    posts = generate(targets, 60, seed=51)
    bodies = [(p.target.channel_id, p.body) for p in posts]
    ids = accept_all(bodies)
    with CaptureQueriesContext(connection) as single:
        for pk in ids:
            process_delivery(pk, batch=1)
    wipe()
    ids = accept_all(bodies)
    with CaptureQueriesContext(connection) as batched:
        for pk in ids:
            process_delivery(pk, batch=60)
    assert Post.objects.count() == 60
    assert len(batched) < 0.7 * len(single), (len(batched), len(single))


@pytest.mark.django_db(transaction=True)
def test_two_workers_micro_batching_store_every_post_once():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent workers need PostgreSQL")
    targets = make_targets()
    posts = generate(targets, 80, seed=61)
    bodies = arrivals(posts, seed=7, dup_every=4)
    expected = one_at_a_time(bodies)
    wipe()
    ids = accept_all(bodies)
    assert process_concurrently(ids) == []  # INGEST_BATCH_DELIVERIES: both workers batch
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"processed"}
    assert Post.objects.count() == 80
    assert sum(WebhookDelivery.objects.values_list("posts_count", flat=True)) == 80
    assert snapshot()["posts"] == expected["posts"]
