"""Claims that die with their worker, and 200 once a delivery is stored (issue #25).

A worker's claim of a delivery names the worker (host:pid) and carries a lease
(``DELIVERY_LEASE``): once it lapses — or at once when the holder is a dead process of this
host — a re-run task, the next worker's micro-batch or the sweeper takes the delivery over; a
worker that lost its claim cannot finish it. A committed delivery whose task cannot be queued is
still answered 200 and processed later. A dead claim is simulated as a killed worker leaves it:
the claim committed, nothing else (the batch's transaction died with the worker).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError
from django.utils import timezone
from django_q.models import Schedule

from socialcare import tasks
from socialcare.models import Post, WebhookDelivery
from socialcare.services import account_routing, deliveries, ingest
from socialcare.services.deliveries import Claim, accept_delivery, worker_identity
from tests.faults.payloads import signed, tweets, x_channel
from tests.ingest_helpers import X_SECRET, x_signature

pytestmark = pytest.mark.django_db
Status = WebhookDelivery.Status


@pytest.fixture(autouse=True)
def nothing_unqueued() -> Any:
    deliveries._unqueued.clear()
    account_routing.clear_cache()
    yield
    deliveries._unqueued.clear()
    account_routing.clear_cache()


def posts() -> list[str]:
    return list(Post.objects.order_by("external_id").values_list("external_id", flat=True))


def abandoned(delivery: WebhookDelivery, *, lapsed: bool, holder: str = "") -> Claim:
    """Claim ``delivery`` the way a worker does, then leave it, as a SIGKILLed worker leaves it;
    ``lapsed``: its lease has passed since."""
    claim = Claim()
    if holder:
        claim.holder = holder
    taken, claimed = ingest._claim(delivery.pk, claim)
    assert claimed and taken.status == Status.PROCESSING
    if lapsed:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            lease_until=timezone.now() - dt.timedelta(seconds=1)
        )
    return claim


def dead_pid() -> int:
    """The pid of a process of this host that has exited (and been reaped)."""
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


# A dead worker's claim ---------------------------------------------------------------------------
def test_a_rerun_task_takes_a_lapsed_claim_over_at_once() -> None:
    delivery = accept_delivery(x_channel(), tweets(1, 2, 3), {}, queue=False)
    dead = abandoned(delivery, lapsed=True, holder="worker-host:4242")

    tasks.process_delivery(delivery.pk)  # the broker runs the killed worker's task again

    delivery.refresh_from_db()
    assert delivery.status == Status.PROCESSED, delivery.last_error
    assert delivery.attempts == 2
    assert delivery.posts_count == 3
    assert delivery.claimed_by == worker_identity()
    assert delivery.claim_token not in ("", dead.token)
    assert posts() == ["90001", "90002", "90003"]


def test_a_live_lease_is_not_stolen_by_a_rerun_task_or_the_sweeper(monkeypatch) -> None:
    delivery = accept_delivery(x_channel(), tweets(1, 2), {}, queue=False)
    live = abandoned(delivery, lapsed=False, holder="another-host:77")
    queued: list[int] = []
    monkeypatch.setattr(tasks, "enqueue_delivery", queued.append)

    again = tasks.process_delivery(delivery.pk)
    assert deliveries.requeue_stale() == 0

    delivery.refresh_from_db()
    assert again is None  # the task wrapper returns nothing; the row tells
    assert (delivery.status, delivery.attempts) == (Status.PROCESSING, 1)
    assert (delivery.claim_token, delivery.claimed_by) == (live.token, "another-host:77")
    assert delivery.lease_until > timezone.now()
    assert queued == [] and posts() == []


def test_a_dead_local_holder_is_taken_over_before_its_lease_lapses(monkeypatch) -> None:
    """A killed worker's replacement starts (django-q2 ``post_spawn``): the deliveries its dead
    predecessor on this host held are queued again at once, not a lease later."""
    channel = x_channel()
    first = accept_delivery(channel, tweets(1), {}, queue=False)
    second = accept_delivery(channel, tweets(2, 3), {}, queue=False)
    host = worker_identity().rpartition(":")[0]
    abandoned(first, lapsed=False, holder=f"{host}:{dead_pid()}")
    abandoned(second, lapsed=False, holder=f"{host}:{dead_pid()}")
    alive = accept_delivery(x_channel(account_id="brand-2"), tweets(4), {}, queue=False)
    abandoned(alive, lapsed=False, holder=f"{host}:1")  # pid 1 runs: left to it

    # What a starting worker runs (``tasks.recover_on_spawn``); the test broker processes them.
    assert deliveries.recover_dead_claims() == 2

    for delivery in (first, second, alive):
        delivery.refresh_from_db()
    assert (first.status, first.attempts) == (Status.PROCESSED, 2)
    assert (second.status, second.attempts) == (Status.PROCESSED, 2)
    assert alive.status == Status.PROCESSING
    assert posts() == ["90001", "90002", "90003"]
    # A live holder's lease may still lapse (its host may be gone): a sweep is due just after.
    sweep = Schedule.objects.get(func="socialcare.tasks.sweep_claims")
    assert sweep.schedule_type == Schedule.ONCE
    assert alive.lease_until < sweep.next_run <= alive.lease_until + dt.timedelta(seconds=1)


def test_micro_batching_takes_over_lapsed_claims_of_its_channel_only(socialcare_settings) -> None:
    channel = x_channel()
    new = accept_delivery(channel, tweets(1), {}, queue=False)
    dead = accept_delivery(channel, tweets(2), {}, queue=False)
    busy = accept_delivery(channel, tweets(3), {}, queue=False)
    elsewhere = accept_delivery(x_channel(account_id="brand-2"), tweets(4), {}, queue=False)
    abandoned(dead, lapsed=True, holder="gone:1")
    abandoned(busy, lapsed=False, holder="busy:2")
    abandoned(elsewhere, lapsed=True, holder="gone:1")

    with socialcare_settings(INGEST_BATCH_DELIVERIES=20):
        ingest.process_delivery(new.pk)

    for delivery in (new, dead, busy, elsewhere):
        delivery.refresh_from_db()
    assert (new.status, new.attempts) == (Status.PROCESSED, 1)
    assert (dead.status, dead.attempts, dead.claim_token) == (Status.PROCESSED, 2, new.claim_token)
    assert (busy.status, busy.claimed_by) == (Status.PROCESSING, "busy:2")
    assert elsewhere.status == Status.PROCESSING  # another channel's: its own task or the sweeper
    assert posts() == ["90001", "90002"]


# A worker that lost its claim --------------------------------------------------------------------
def test_a_slow_worker_finishing_late_does_not_overwrite_its_successor() -> None:
    """Event by event: the slow worker committed its post, then its lease lapsed and another
    worker took the delivery over and finished it; the slow one's finish changes nothing but
    the count of posts it stored."""
    delivery = accept_delivery(x_channel(), tweets(1), {}, queue=False)
    slow = Claim()
    taken, _ = ingest._claim(delivery.pk, slow)
    work = ingest._parse(taken)
    real = ingest.ingest

    def ingest_then_stall(channel: Any, event: Any) -> Any:
        result = real(channel, event)
        # Stalled past its lease: the broker's re-run takes the delivery over and finishes it.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            lease_until=timezone.now() - dt.timedelta(seconds=1)
        )
        ingest.ingest = real
        ingest.process_delivery(delivery.pk)
        return result

    ingest.ingest = ingest_then_stall
    try:
        finished = ingest._ingest_and_finish(work, slow)
    finally:
        ingest.ingest = real
    work.errors.append("late: this worker's verdict")
    assert not ingest._finish(taken, work.errors, 0, slow)  # and once more, later still

    delivery.refresh_from_db()
    assert finished is False
    assert delivery.status == Status.PROCESSED
    assert delivery.last_error == ""
    assert delivery.attempts == 2 and delivery.claim_token != slow.token
    assert delivery.posts_count == 1  # stored by the slow worker, counted once
    assert posts() == ["90001"]


def test_a_batch_that_lost_a_claim_is_rolled_back_and_the_rest_kept(monkeypatch) -> None:
    """In one transaction: another worker took one of the batch's deliveries over (the batch
    outlived its lease). Nothing of the batch is kept for it; the others are ingested."""
    channel = x_channel()
    mine = accept_delivery(channel, tweets(1, 2), {}, queue=False)
    lost = accept_delivery(channel, tweets(3), {}, queue=False)
    real_renew = Claim.renew
    taken_over: list[int] = []

    def renew_then_lose(self: Claim, *, force: bool = False) -> set[int]:
        held = real_renew(self, force=force)
        if not taken_over:  # right after this renewal, another worker takes ``lost`` over
            taken_over.append(lost.pk)
            WebhookDelivery.objects.filter(pk=lost.pk).update(
                claim_token="b" * 32, claimed_by="successor:9", attempts=2
            )
        return held

    monkeypatch.setattr(Claim, "renew", renew_then_lose)
    ingest.process_delivery(mine.pk, batch=20)

    mine.refresh_from_db()
    lost.refresh_from_db()
    assert (mine.status, mine.posts_count) == (Status.PROCESSED, 2)
    assert (lost.status, lost.claimed_by, lost.posts_count) == (Status.PROCESSING, "successor:9", 0)
    assert posts() == ["90001", "90002"]  # 90003 rolled back: the successor's to ingest

    WebhookDelivery.objects.filter(pk=lost.pk).update(
        lease_until=timezone.now() - dt.timedelta(seconds=1)  # ... which died too
    )
    tasks.process_delivery(lost.pk)
    lost.refresh_from_db()
    assert (lost.status, lost.attempts, lost.posts_count) == (Status.PROCESSED, 3, 1)
    assert posts() == ["90001", "90002", "90003"]


# The sweeper -------------------------------------------------------------------------------------
def test_the_sweeper_requeues_only_lapsed_claims_and_lost_tasks(monkeypatch) -> None:
    channel = x_channel()
    lapsed = accept_delivery(channel, tweets(1), {}, queue=False)
    live = accept_delivery(channel, tweets(2), {}, queue=False)
    accept_delivery(channel, tweets(3), {}, queue=False)  # fresh: its task may be in the queue
    lost = accept_delivery(channel, tweets(4), {}, queue=False)
    legacy = accept_delivery(channel, tweets(5), {}, queue=False)
    long_ago = timezone.now() - dt.timedelta(minutes=30)
    abandoned(lapsed, lapsed=True, holder="gone:1")
    abandoned(live, lapsed=False, holder="busy:2")
    WebhookDelivery.objects.filter(pk=lost.pk).update(received_at=long_ago)
    # Claimed by a release without leases, long ago.
    WebhookDelivery.objects.filter(pk=legacy.pk).update(
        status=Status.PROCESSING, claimed_at=long_ago, attempts=1
    )
    queued: list[int] = []
    monkeypatch.setattr(tasks, "enqueue_delivery", queued.append)

    tasks.sweep_claims()  # every minute: the lapsed claims only
    assert sorted(queued) == sorted([lapsed.pk, legacy.pk])
    assert tasks.SCHEDULES["socialcare: take over lapsed delivery claims"] == (
        "socialcare.tasks.sweep_claims",
        1,
    )
    queued.clear()
    assert deliveries.requeue_stale() == 3  # every 5 minutes: the lost tasks too
    assert sorted(queued) == sorted([lapsed.pk, lost.pk, legacy.pk])


def test_the_delay_from_a_lapsed_lease_to_processed_is_the_lease(socialcare_settings) -> None:
    """Measured: a worker claims and dies; the task runs again every 50 ms (as a busy queue
    would); the delivery is processed once its (short) lease has lapsed, not before."""
    lease = 0.4
    delivery = accept_delivery(x_channel(), tweets(1, 2), {}, queue=False)
    with socialcare_settings(DELIVERY_LEASE=dt.timedelta(seconds=lease)):
        abandoned(delivery, lapsed=False, holder="killed-host:5")
        started = time.monotonic()
        while time.monotonic() - started < 10:
            tasks.process_delivery(delivery.pk)
            delivery.refresh_from_db()
            if delivery.status == Status.PROCESSED:
                break
            time.sleep(0.05)
    waited = time.monotonic() - started
    assert delivery.status == Status.PROCESSED
    assert lease <= waited + 0.01 < lease + 2.0, waited
    assert posts() == ["90001", "90002"]


# 200 once stored ---------------------------------------------------------------------------------
def refusing_broker(delivery_id: int) -> None:
    raise OperationalError("attempt to write a readonly database")


def test_a_stored_delivery_is_answered_200_when_its_task_cannot_be_queued(
    client, monkeypatch, caplog, django_capture_on_commit_callbacks
) -> None:
    channel = x_channel()
    other = x_channel(account_id="brand-2")
    body = tweets(1, 2)
    monkeypatch.setattr(tasks, "enqueue_delivery", refusing_broker)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/socialcare/webhooks/x/{channel.pk}/", body, "application/json", **signed(body)
        )

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "accepted"
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    assert delivery.status == Status.PENDING and bytes(delivery.body) == body
    assert "Could not queue delivery" in caplog.text
    assert deliveries.unqueued() == [delivery.pk]

    # The broker is back: the next delivery this process stores (another channel's) queues it.
    monkeypatch.undo()
    later = json.dumps({**json.loads(tweets(3)), "for_user_id": "brand-2"}).encode()
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(
            f"/socialcare/webhooks/x/{other.pk}/", later, "application/json", **signed(later)
        )
    assert again.status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == Status.PROCESSED, delivery.last_error
    assert deliveries.unqueued() == []
    later_one = WebhookDelivery.objects.get(pk=again.json()["delivery"])
    assert later_one.status == Status.PROCESSED, later_one.last_error
    assert posts() == ["90001", "90002", "90003"]


def test_an_app_delivery_is_answered_200_when_queueing_fails_and_the_sweeper_queues_it(
    client, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    from socialcare.models import Channel, PlatformApp

    app = PlatformApp(name="Acme on X", platform="x", key="acme-x")
    app.set_secret("webhook_secret", X_SECRET)
    app.save()
    brand = Channel(name="x brand", platform="x", account_id="1111111111111111111", app=app)
    brand.set_secret("access_token", "test-token")
    brand.save()
    raw = (Path(__file__).parent / "fixtures_app" / "x_aaa_mention_brand_a.json").read_bytes()
    monkeypatch.setattr(tasks, "enqueue_delivery", refusing_broker)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.generic(
            "POST",
            f"/socialcare/webhooks/x/app/{app.key}/",
            raw,
            content_type="application/json",
            HTTP_X_TWITTER_WEBHOOKS_SIGNATURE=x_signature(raw),
        )
    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    assert delivery.status == Status.PENDING

    monkeypatch.undo()
    deliveries._unqueued.clear()  # this process forgot it (restarted): the sweeper's turn
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        received_at=timezone.now() - dt.timedelta(minutes=11)
    )
    assert deliveries.requeue_stale() == 1
    delivery.refresh_from_db()
    assert delivery.status == Status.PROCESSED, delivery.last_error
    assert delivery.channel == brand
    assert Post.objects.filter(channel=brand).count() == 1
