"""A worker SIGKILLed in the middle of a delivery: the delivery is taken over by the re-run of its
task at once (its holder is dead) and processed exactly once, with nothing half-written in
between."""

from __future__ import annotations

import os
import select
import signal
import time

import pytest
from django.utils import timezone

from socialcare import tasks
from socialcare.models import Case, Post, SocialIdentity, WebhookDelivery
from socialcare.services.deliveries import accept_delivery
from tests.faults.payloads import tweets, x_channel

pytestmark = pytest.mark.django_db(transaction=True)

EXPECTED = ["90001", "90002", "90003"]


def wait_for_line(proc, wanted: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            seen.append(line)
            if line.strip() == wanted:
                return
        elif proc.poll() is not None:
            break
    pytest.fail(f"the worker never printed {wanted!r}:\n{''.join(seen)[-3000:]}")


def test_worker_killed_mid_delivery_is_retried_and_processed_once(
    spawn, socialcare_settings, robustness
):
    channel = x_channel()
    delivery = accept_delivery(channel, tweets(1, 2, 3), {}, queue=False)

    worker = spawn("tests.faults.paused_worker", str(delivery.pk))
    wait_for_line(worker, "PAUSED")
    # Mid-delivery: claimed, one event ingested inside the open transaction, nothing visible.
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PROCESSING
    assert not Post.objects.exists()
    os.kill(worker.pid, signal.SIGKILL)
    robustness.fault()
    worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL

    # Nothing half-written: the killed transaction is gone, the delivery still says processing.
    assert not Post.objects.exists()
    assert not Case.objects.exists()
    assert not SocialIdentity.objects.exists()
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PROCESSING

    # Its lease is still live, but its holder is a process of this host that no longer exists:
    # the broker's re-run of its task takes the delivery over at once (issue #25).
    assert delivery.lease_until > timezone.now()
    tasks.process_delivery(delivery.pk)
    tasks.sweep_deliveries()  # a sweep finds nothing left to do
    tasks.process_delivery(delivery.pk)  # and a duplicate task from the broker does nothing

    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PROCESSED, delivery.last_error
    assert delivery.attempts == 2
    assert delivery.posts_count == 3
    found = list(Post.objects.order_by("external_id").values_list("external_id", flat=True))
    robustness.lost(len(EXPECTED) - len(set(found) & set(EXPECTED)))
    assert found == EXPECTED  # each exactly once
    assert Case.objects.count() == 3
    assert SocialIdentity.objects.count() == 3
