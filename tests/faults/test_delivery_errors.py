"""A delivery that raises in processing is marked failed with the error while the others go on;
it is retried from admin, and deliveries whose task was lost or whose worker died are re-queued
by the sweeper ("re-queue stuck deliveries" schedule)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from socialcare import tasks
from socialcare.models import Post, WebhookDelivery
from socialcare.platforms.x import XAdapter
from socialcare.services.deliveries import accept_delivery
from tests.faults.payloads import tweets, x_channel

pytestmark = pytest.mark.django_db(transaction=True)

Status = WebhookDelivery.Status


@pytest.fixture
def parser_bug(monkeypatch):
    """The X parser crashes (not a clean ParseError) on one delivery."""
    real = XAdapter.parse

    def parse(self, body, channel):
        if b"order 2 " in body:
            raise RuntimeError("parser bug on order 2")
        return real(self, body, channel)

    monkeypatch.setattr(XAdapter, "parse", parse)
    return monkeypatch


def posts() -> list[str]:
    return sorted(Post.objects.values_list("external_id", flat=True))


def test_a_crashing_delivery_is_failed_others_continue_and_admin_retries_it(
    parser_bug, client, django_user_model, robustness
):
    channel = x_channel()
    deliveries = []
    for n in (1, 2, 3):  # arriving one after the other, each processed by the worker's task
        deliveries.append(accept_delivery(channel, tweets(n), {}, queue=False))
        tasks.process_delivery(deliveries[-1].pk)
    first, bad, last = deliveries
    robustness.fault()
    for delivery in (first, bad, last):
        delivery.refresh_from_db()
    assert bad.status == Status.FAILED  # not stuck "processing" in silence
    assert bad.last_error == "RuntimeError: parser bug on order 2"
    assert first.status == last.status == Status.PROCESSED
    assert posts() == ["90001", "90003"]

    # The bug is fixed; an admin retries the failed delivery from its list.
    parser_bug.undo()
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    response = client.post(
        "/admin/socialcare/webhookdelivery/",
        {"action": "retry_selected", "_selected_action": [bad.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "1 delivery(ies) queued again." in response.content.decode()
    bad.refresh_from_db()
    assert bad.status == Status.PROCESSED, bad.last_error
    assert bad.attempts == 2
    found = posts()
    robustness.lost(3 - len(set(found)))
    assert found == ["90001", "90002", "90003"]


def test_the_sweeper_requeues_lost_and_abandoned_deliveries_once(socialcare_settings, robustness):
    channel = x_channel()
    long_ago = timezone.now() - timedelta(minutes=30)
    done = accept_delivery(channel, tweets(1), {}, queue=False)
    tasks.process_delivery(done.pk)
    # Its task was lost by the broker: stored, pending, never processed.
    lost = accept_delivery(channel, tweets(2, 3), {}, queue=False)
    # Its worker died after claiming it.
    abandoned = accept_delivery(channel, tweets(4), {}, queue=False)
    WebhookDelivery.objects.filter(pk=lost.pk).update(received_at=long_ago)
    WebhookDelivery.objects.filter(pk=abandoned.pk).update(
        received_at=long_ago, status=Status.PROCESSING, claimed_at=long_ago, attempts=1
    )
    # A fresh pending one (another channel) may just be waiting in the queue: left alone.
    fresh = accept_delivery(x_channel(account_id="brand-2"), tweets(5), {}, queue=False)
    robustness.fault(2)

    tasks.sweep_deliveries()
    tasks.sweep_deliveries()  # twice: nothing is processed twice
    for delivery in (done, lost, abandoned, fresh):
        delivery.refresh_from_db()
    assert lost.status == abandoned.status == Status.PROCESSED
    assert (lost.attempts, abandoned.attempts, done.attempts) == (1, 2, 1)
    assert fresh.status == Status.PENDING
    found = posts()
    robustness.lost(4 - len(set(found)))
    assert found == ["90001", "90002", "90003", "90004"]
    assert tasks.SCHEDULES["socialcare: re-queue stuck deliveries"] == (
        "socialcare.tasks.sweep_deliveries",
        5,
    )
