"""The durable inbox: accepting deliveries, retrying failed ones, re-queueing stuck ones."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from django.db import DatabaseError, transaction
from django.utils import timezone

from socialcare.conf import app_settings
from socialcare.exceptions import SocialCareError
from socialcare.models import Channel, WebhookDelivery

logger = logging.getLogger("socialcare.deliveries")

#: Request headers kept with a delivery (for support and audits; never secrets).
KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "x-twitter-webhooks-signature",
    "x-hub-signature-256",
    "x-request-id",
)


def _queue(delivery: WebhookDelivery) -> None:
    from socialcare import tasks

    transaction.on_commit(lambda: tasks.enqueue_delivery(delivery.pk))


def accept_delivery(
    channel: Channel,
    body: bytes,
    headers: Mapping[str, str],
    *,
    source: str = WebhookDelivery.Source.WEBHOOK,
    queue: bool = True,
) -> WebhookDelivery:
    """Store a delivery durably and (unless ``queue=False``: the caller processes it) queue its
    processing once the row is committed. One INSERT is atomic on its own (no transaction block:
    two round trips fewer on the webhook's hot path); inside a caller's transaction the task is
    still queued only when that commits."""
    kept = {k.lower(): v for k, v in headers.items() if k.lower() in KEPT_HEADERS}
    delivery = WebhookDelivery.objects.create(
        channel=channel, platform=channel.platform, body=body, headers=kept, source=source
    )
    if queue:
        _queue(delivery)
    return delivery


def process(delivery_id: int) -> WebhookDelivery | None:
    """Process a stored delivery (the worker's entry point). Whatever goes wrong beyond the
    per-event errors ingestion already records (a bug in a parser, a signal receiver, the
    database), the delivery does not stay "processing" in silence: it is marked failed with the
    error, retryable from admin. A worker that dies outright is the sweeper's case
    (``requeue_stale``)."""
    from socialcare.services.ingest import process_delivery

    try:
        return process_delivery(delivery_id)
    except Exception as exc:
        logger.exception("Processing delivery %s failed", delivery_id)
        _mark_failed(delivery_id, f"{type(exc).__name__}: {exc}")
        return WebhookDelivery.objects.filter(pk=delivery_id).first()


def _mark_failed(delivery_id: int, error: str) -> None:
    try:
        WebhookDelivery.objects.filter(
            pk=delivery_id, status=WebhookDelivery.Status.PROCESSING
        ).update(
            status=WebhookDelivery.Status.FAILED,
            last_error=error[:10000],
            processed_at=timezone.now(),
        )
    except DatabaseError:  # the database itself is gone: the sweeper re-queues it later
        logger.exception("Could not mark delivery %s failed", delivery_id)


@transaction.atomic
def retry_delivery(delivery: WebhookDelivery) -> WebhookDelivery:
    """Queue a failed delivery again (from admin)."""
    if delivery.status != WebhookDelivery.Status.FAILED:
        raise SocialCareError(
            f"Delivery #{delivery.pk} is {delivery.get_status_display().lower()}, not failed."
        )
    _queue(delivery)
    return delivery


def requeue_stale() -> int:
    """Put deliveries back in the queue that a worker claimed but never finished (it died), and
    pending ones whose task was lost. Returns how many were re-queued."""
    cutoff = timezone.now() - app_settings.STALE_DELIVERY_AFTER
    stale = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PROCESSING, claimed_at__lt=cutoff
        ).values_list("pk", flat=True)
    )
    WebhookDelivery.objects.filter(pk__in=stale, status=WebhookDelivery.Status.PROCESSING).update(
        status=WebhookDelivery.Status.PENDING
    )
    lost = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, received_at__lt=cutoff
        ).values_list("pk", flat=True)
    )
    from socialcare import tasks

    for pk in lost:
        tasks.enqueue_delivery(pk)
    return len(lost)
