"""The batched path: a delivery that carries many posts is ingested in one transaction (a
savepoint per event only once one of them failed), and ends exactly as the same posts delivered
one by one."""

from __future__ import annotations

import json
import time

import pytest
from django.db import connection
from django.db.models import Max
from django.test.utils import CaptureQueriesContext

from socialcare.models import AssignmentWait, Case, CaseEvent, Channel, Post, WebhookDelivery
from socialcare.models.change import ChangeCounter
from socialcare.services import ingest as ingest_services
from socialcare.services import ingest_posts
from socialcare.services.deliveries import accept_delivery
from socialcare.services.ingest import process_delivery
from socialcare.simulator import SimPost, Simulator, Target
from tests.ingest_helpers import process_concurrently, snapshot
from tests.test_ingest import wipe

pytestmark = pytest.mark.django_db

SECRET = "batch-secret"


def make_targets() -> list[Target]:
    targets = []
    for platform, account in (("x", "1114259648326987776"), ("facebook", "103149398319188")):
        channel = Channel(name=platform, platform=platform, account_id=account, handle="acme")
        channel.set_secret("webhook_secret", SECRET)
        channel.save()
        targets.append(Target(channel.pk, platform, platform, account, "AcmeHelp", SECRET))
    return targets


def generate(targets: list[Target], count: int, seed: int = 3) -> list[SimPost]:
    """``count`` posts dated a second apart in the past (threads, follow-ups, DMs, five
    languages), as the simulator makes them."""
    start = time.time() - count - 60
    ticks = iter(range(10 * count + 100))
    sim = Simulator(targets, seed=seed, clock=lambda: start + next(ticks))
    return [sim.next_post() for _ in range(count)]


def merged_body(posts: list[SimPost]) -> bytes:
    """One delivery carrying the events of several (X: many events and users; Meta: many
    entries)."""
    merged: dict = {}
    for post in posts:
        for key, value in json.loads(post.body).items():
            if isinstance(value, list):
                merged.setdefault(key, []).extend(value)
            elif isinstance(value, dict):
                merged.setdefault(key, {}).update(value)
            else:
                merged.setdefault(key, value)
    return json.dumps(merged).encode()


def by_channel(posts: list[SimPost]) -> dict[int, list[SimPost]]:
    groups: dict[int, list[SimPost]] = {}
    for post in posts:
        groups.setdefault(post.target.channel_id, []).append(post)
    return groups


def one_delivery(count: int, seed: int) -> tuple[list[SimPost], WebhookDelivery]:
    """``count`` posts of one channel (X) accepted as one pending delivery."""
    targets = make_targets()[:1]
    posts = generate(targets, count, seed=seed)
    channel = Channel.objects.get(pk=targets[0].channel_id)
    return posts, accept_delivery(channel, merged_body(posts), {}, queue=False)


def deliver_batched(posts: list[SimPost]) -> list[WebhookDelivery]:
    done = []
    for channel_id, group in by_channel(posts).items():
        channel = Channel.objects.get(pk=channel_id)
        delivery = accept_delivery(channel, merged_body(group), {}, queue=False)
        done.append(process_delivery(delivery.pk))
    return done


def deliver_one_by_one(posts: list[SimPost]) -> None:
    for post in posts:
        channel = Channel.objects.get(pk=post.target.channel_id)
        delivery = accept_delivery(channel, post.body, {}, queue=False)
        assert process_delivery(delivery.pk).status == "processed"


def test_a_100_post_delivery_ends_as_the_same_posts_one_by_one():
    targets = make_targets()
    posts = generate(targets, 130)
    deliver_one_by_one(posts)
    expected = snapshot()
    assert len(expected["posts"]) == 130
    wipe()
    done = deliver_batched(posts)
    assert max(d.posts_count for d in done) >= 60
    assert {d.status for d in done} == {"processed"}, [d.last_error for d in done]
    assert sum(d.posts_count for d in done) == 130
    assert snapshot() == expected
    # Replaying the batches changes nothing.
    for delivery in WebhookDelivery.objects.all():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed")
        assert process_delivery(delivery.pk).posts_count == delivery.posts_count
    assert snapshot() == expected


def test_the_batch_uses_fewer_queries_than_one_by_one():
    posts, delivery = one_delivery(100, seed=5)
    with CaptureQueriesContext(connection) as batched:
        assert process_delivery(delivery.pk).posts_count == 100
    wipe()
    with CaptureQueriesContext(connection) as single:
        deliver_one_by_one(posts)
    assert len(batched) < len(single) - 3 * 100


def test_a_clean_batch_takes_no_savepoint_per_event_and_a_taken_delivery_one_query(monkeypatch):
    targets = make_targets()[:1]
    posts = generate(targets, 50, seed=13)
    channel = Channel.objects.get(pk=targets[0].channel_id)

    def savepoints_to_ingest() -> int:
        delivery = accept_delivery(channel, merged_body(posts), {}, queue=False)
        with CaptureQueriesContext(connection) as queries:
            assert process_delivery(delivery.pk).posts_count == 50
        assert Post.objects.count() == 50
        return sum(q["sql"].upper().startswith("SAVEPOINT") for q in queries)

    optimistic = savepoints_to_ingest()
    # Its task running again (or a micro-batched delivery's own task) only looks.
    delivery = WebhookDelivery.objects.get()
    with CaptureQueriesContext(connection) as again:
        assert process_delivery(delivery.pk).status == WebhookDelivery.Status.PROCESSED
    assert len(again) == 1
    wipe()
    real = ingest_services._ingest_events
    monkeypatch.setattr(  # as after a failed event: a savepoint per event
        ingest_services, "_ingest_events", lambda c, w, isolate: real(c, w, isolate=True)
    )
    assert savepoints_to_ingest() >= optimistic + 50 - 1


def test_one_bad_event_is_rolled_back_and_reported_the_others_kept(monkeypatch):
    targets = make_targets()[:1]
    posts = generate(targets, 12, seed=7)
    bad = posts[5].external_id
    real = ingest_posts.record_event

    def failing(case, kind, *, post=None, **data):
        if post is not None and post.external_id == bad:
            raise RuntimeError("the event store is on fire")
        return real(case, kind, post=post, **data)

    monkeypatch.setattr(ingest_posts, "record_event", failing)
    [delivery] = deliver_batched(posts)
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert bad in delivery.last_error and "the event store is on fire" in delivery.last_error
    assert delivery.posts_count == 11
    stored = set(Post.objects.values_list("external_id", flat=True))
    assert bad not in stored  # written inside its savepoint, rolled back with it
    assert stored == {p.external_id for p in posts} - {bad}
    assert all(p.case_id for p in Post.objects.all())

    # The retry stores the missing one and nothing twice.
    monkeypatch.setattr(ingest_posts, "record_event", real)
    again = process_delivery(delivery.pk)
    assert again.status == WebhookDelivery.Status.PROCESSED, again.last_error
    assert again.posts_count == 12
    assert Post.objects.count() == 12


def test_a_batch_that_cannot_commit_is_ingested_event_by_event(monkeypatch):
    from django.db import DatabaseError

    targets = make_targets()[:1]
    posts = generate(targets, 8, seed=9)
    real = ingest_services._ingest_batch

    def commit_fails(channel, works):
        real(channel, works)
        raise DatabaseError("deferred constraint violated at commit")

    monkeypatch.setattr(ingest_services, "_ingest_batch", commit_fails)
    [delivery] = deliver_batched(posts)
    assert delivery.status == WebhookDelivery.Status.PROCESSED, delivery.last_error
    assert delivery.posts_count == 8
    assert Post.objects.count() == 8


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_overlapping_batches_store_every_post_once():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent workers need PostgreSQL")

    targets = make_targets()
    posts = generate(targets, 120, seed=11)
    deliver_one_by_one(posts)
    expected = snapshot()
    wipe()
    # Overlapping batches (each post in two deliveries) of 40, processed by two workers.
    ids = []
    for channel_id, group in by_channel(posts).items():
        channel = Channel.objects.get(pk=channel_id)
        for start in range(0, len(group), 20):
            chunk = group[start : start + 40]
            ids.append(accept_delivery(channel, merged_body(chunk), {}, queue=False).pk)
    assert process_concurrently(ids) == []
    assert not WebhookDelivery.objects.exclude(status="processed").exists()
    assert Post.objects.count() == 120
    assert snapshot()["posts"] == expected["posts"]


def test_a_new_cases_first_events_are_written_together_in_order():
    targets = make_targets()[:1]
    [post] = generate(targets, 1, seed=17)
    channel = Channel.objects.get(pk=targets[0].channel_id)
    delivery = accept_delivery(channel, post.body, {}, queue=False)
    with CaptureQueriesContext(connection) as queries:
        assert process_delivery(delivery.pk).posts_count == 1
    inserts = [q for q in queries if q["sql"].startswith('INSERT INTO "socialcare_caseevent"')]
    assert len(inserts) == 1
    case = Post.objects.get().case
    assert [e.kind for e in case.events.order_by("at", "pk")] == ["created", "post_added"]


def test_events_of_a_block_that_fails_are_not_written():
    from socialcare.models import Case, CaseEvent
    from socialcare.services.events import record_event, written_together

    case = Case.objects.create(subject="x")
    with pytest.raises(RuntimeError), written_together():
        record_event(case, CaseEvent.Kind.NOTE, text="half-done work")
        raise RuntimeError("the block failed")
    assert not CaseEvent.objects.filter(case=case).exists()
    with written_together():
        record_event(case, CaseEvent.Kind.NOTE, text="one")
        with written_together():  # nested: the outer block writes
            record_event(case, CaseEvent.Kind.NOTE, text="two")
        assert not CaseEvent.objects.filter(case=case).exists()
    assert [e.data["text"] for e in case.events.order_by("pk")] == ["one", "two"]


def test_a_batch_takes_the_change_numbers_of_the_cases_it_changed_once_at_its_end():
    """A batch gives the cases it changed their new change numbers once, when its events are all
    written, not at every event and every update of a case (four statements each); each case
    still has a number of its own."""
    _, delivery = one_delivery(100, seed=5)
    before = Case.objects.aggregate(m=Max("change_seq"))["m"] or 0
    with CaptureQueriesContext(connection) as queries:
        assert process_delivery(delivery.pk).posts_count == 100
    counter = ChangeCounter._meta.db_table
    taken = [q for q in queries if q["sql"].startswith("UPDATE") and counter in q["sql"]]
    cases = Case.objects.filter(change_seq__gt=before)
    new_cases = cases.count()
    assert new_cases == Case.objects.count() > 10
    # 270 before: a bump per event and per UPDATE of a post's case (last_inbound_at,
    # priority, reference); 69 when only the updates were deferred (one per new case's INSERT
    # and per case whose priority a post raised); now the saves wait for the batch's end too.
    assert len(taken) <= 2, [q["sql"][:120] for q in taken]
    assert len(set(cases.values_list("change_seq", flat=True))) == new_cases  # each its own


def test_a_batch_stores_its_timeline_events_together_and_reads_see_them():
    """The batch's events are one INSERT at its end, unless a statement of the batch touches the
    events table first (it then sees every event recorded before it); the timeline is the one
    of the same posts one by one (``test_a_100_post_delivery_ends_as_the_same_posts_one_by_one``)."""
    _, delivery = one_delivery(100, seed=5)
    with CaptureQueriesContext(connection) as queries:
        assert process_delivery(delivery.pk).posts_count == 100
    table = CaseEvent._meta.db_table
    inserts = [q for q in queries if q["sql"].startswith(f'INSERT INTO "{table}"')]
    touches = [q for q in queries if table in q["sql"] and not q["sql"].startswith("INSERT")]
    # One INSERT for the batch (SQLite splits it at its 999 parameters: ~166 events each), plus
    # one before each statement that reads or changes events; was one or two a post.
    assert len(inserts) <= 3 + len(touches) < 20, len(inserts)
    assert CaseEvent.objects.filter(kind="post_added").count() == 100


def test_a_read_inside_an_until_read_block_sees_the_events_recorded_before_it():
    from socialcare.services.events import record_event, written_together

    case = Case.objects.create(subject="x")
    with written_together(until_read=True):
        record_event(case, CaseEvent.Kind.NOTE, text="one")
        record_event(case, CaseEvent.Kind.NOTE, text="two")
        seen = list(case.events.order_by("pk").values_list("data__text", flat=True))
        record_event(case, CaseEvent.Kind.NOTE, text="three")
    assert seen == ["one", "two"]
    assert [e.data["text"] for e in case.events.order_by("pk")] == ["one", "two", "three"]
    with pytest.raises(RuntimeError), written_together(until_read=True):
        record_event(case, CaseEvent.Kind.NOTE, text="lost with its block")
        raise RuntimeError("the block failed")
    assert case.events.count() == 3


def test_a_batch_routes_its_cases_with_one_query_when_no_team_auto_assigns(
    django_capture_on_commit_callbacks,
):
    """Auto-assignment looks at the batch's new cases together after the commit: one query finds
    that none of their teams auto-assigns and none of them waits in a queue."""
    _, delivery = one_delivery(50, seed=5)
    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert process_delivery(delivery.pk).posts_count == 50
    assert Case.objects.count() > 10
    waits = AssignmentWait._meta.db_table
    routing = [q for q in queries if waits in q["sql"]]
    assert len(routing) == 1, [q["sql"][:100] for q in routing]  # was one per case
