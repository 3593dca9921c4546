"""Outbound webhooks: events recorded for subscribed CRMs and delivered to them, signed, in order.

``emit()`` stores one ``OutboundEvent`` and one ``OutboundDelivery`` per subscription that wants it,
numbered per subscription. ``deliver_subscription()`` sends a subscription's deliveries strictly in
that order: it stops at the first failure and retries it with exponential backoff, so a later event
never overtakes an earlier one. After ``OUTBOUND_MAX_FAILURES`` failures in a row the delivery is
given up and the subscription disabled until an admin re-enables it. What each event carries is
built in ``outbound_payloads``; the wire format is documented in docs/outbound-webhooks.md: keep
them together.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from django.core.mail import mail_admins
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Max, OuterRef, QuerySet, Subquery
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

import socialcare
from socialcare.conf import app_settings
from socialcare.exceptions import SocialCareError
from socialcare.models import EVENT_TYPES, OutboundDelivery, OutboundEvent, WebhookSubscription
from socialcare.services import url_safety
from socialcare.services.outbound_payloads import iso

logger = logging.getLogger("socialcare.outbound")

Status = OutboundDelivery.Status
#: Deliveries still to be made (the others are final).
OPEN = (Status.PENDING, Status.FAILED)
#: Backoff before retry n is BACKOFF_BASE · 2^(n-1), at most BACKOFF_MAX.
BACKOFF_BASE = dt.timedelta(seconds=30)
BACKOFF_MAX = dt.timedelta(hours=6)
#: How long a worker owns the delivery it is sending; if it dies, another sends it after this.
CLAIM_FOR = dt.timedelta(minutes=5)
#: Deliveries one task sends before it hands the rest to a fresh task.
BATCH = 100


def usable_subscriptions() -> QuerySet[WebhookSubscription]:
    """Subscriptions that receive events: switched on and not disabled for failing."""
    return WebhookSubscription.objects.filter(is_active=True, disabled_at__isnull=True)


# Emitting ----------------------------------------------------------------------------------------

#: Seconds the list of subscriptions is trusted before it is read again. A subscription saved or
#: deleted in this process drops it at once (signals); one created in another process is seen
#: within this time. A stale entry for a subscription that is gone, off or no longer interested
#: costs nothing: ``emit`` checks each one again, locked, before recording anything.
SUBSCRIPTIONS_TTL = 5.0
_subscriptions: tuple[float, int, list[tuple[int, list[str]]]] | None = None
_subscriptions_generation = 0


def _subscription_types() -> list[tuple[int, list[str]]]:
    """(pk, event types) of every subscription, in any state, cached per process."""
    global _subscriptions
    cached = _subscriptions
    if (
        cached is not None
        and cached[1] == _subscriptions_generation
        and time.monotonic() - cached[0] <= SUBSCRIPTIONS_TTL
    ):
        return cached[2]
    generation = _subscriptions_generation
    rows = [
        (pk, list(types or []))
        for pk, types in WebhookSubscription.objects.values_list("pk", "event_types")
    ]
    _subscriptions = (time.monotonic(), generation, rows)
    return rows


def _subscriptions_changed(**kwargs: Any) -> None:
    global _subscriptions, _subscriptions_generation
    _subscriptions_generation += 1
    _subscriptions = None


post_save.connect(
    _subscriptions_changed, sender=WebhookSubscription, dispatch_uid="socialcare.outbound.saved"
)
post_delete.connect(
    _subscriptions_changed, sender=WebhookSubscription, dispatch_uid="socialcare.outbound.deleted"
)


def emit(
    event_type: str, data: Mapping[str, Any] | Callable[[], Mapping[str, Any]]
) -> OutboundEvent | None:
    """Record an event for every usable subscription that wants ``event_type`` and queue their
    delivery once committed. ``data`` (or the function building it, called only when someone
    listens) becomes the body's ``data``. Returns the event, or None when nobody listens."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"Unknown outbound event type {event_type!r}.")
    # Which subscriptions might want it comes from a per-process cache (no query per post when
    # nobody listens); whether they are usable and still want it is read under the lock below.
    wanted = [pk for pk, types in _subscription_types() if not types or event_type in types]
    if not wanted:
        return None
    listening = usable_subscriptions().only("pk", "event_types")
    with transaction.atomic():
        # Locking the subscription rows (in pk order, so emitters never deadlock) makes the
        # per-subscription sequence gap-free and ordered like the commits that emitted them.
        subscriptions = list(listening.select_for_update().filter(pk__in=wanted).order_by("pk"))
        subscriptions = [s for s in subscriptions if s.wants(event_type)]
        if not subscriptions:
            return None
        payload = data() if callable(data) else data
        event = OutboundEvent.objects.create(
            type=event_type, payload=json.loads(DjangoJSONEncoder().encode(payload))
        )
        for subscription in subscriptions:
            last = subscription.deliveries.aggregate(last=Max("sequence"))["last"] or 0
            OutboundDelivery.objects.create(
                subscription=subscription, event=event, sequence=last + 1
            )
        ids = [s.pk for s in subscriptions]
        transaction.on_commit(lambda: _queue(*ids))
    return event


def _queue(*subscription_ids: int) -> None:
    from socialcare import tasks

    for pk in subscription_ids:
        tasks.enqueue_outbound(pk)


# The wire format ---------------------------------------------------------------------------------


def event_body(event: OutboundEvent) -> bytes:
    """The exact bytes POSTed (and signed) for ``event``; the same on every attempt."""
    envelope = {
        "id": str(event.id),
        "type": event.type,
        "created_at": iso(event.created_at),
        "data": event.payload,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of ``"<timestamp>." + body`` keyed with the secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def request_headers(event: OutboundEvent, secret: str, body: bytes) -> dict[str, str]:
    timestamp = int(timezone.now().timestamp())
    return {
        "Content-Type": "application/json",
        "User-Agent": f"socialcare-webhooks/{socialcare.__version__}",
        "X-Socialcare-Event-Id": str(event.id),
        "X-Socialcare-Event-Type": event.type,
        "X-Socialcare-Timestamp": str(timestamp),
        "X-Socialcare-Signature": sign(secret, timestamp, body),
    }


def generate_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def backoff(attempts: int) -> dt.timedelta:
    """Wait after the ``attempts``-th failed attempt: 30 s, 1 min, 2 min, … at most 6 h."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_MAX)


# Delivering --------------------------------------------------------------------------------------


def deliver_subscription(subscription_id: int) -> int:
    """Send the subscription's due deliveries in sequence order, stopping at the first failure
    (retried later with backoff) or at a delivery not yet due. Returns how many were delivered."""
    delivered = 0
    with httpx.Client(timeout=app_settings.HTTP_TIMEOUT) as client:
        while delivered < BATCH:
            subscription = usable_subscriptions().filter(pk=subscription_id).first()
            delivery = _claim_next(subscription) if subscription else None
            if delivery is None or not _attempt(client, subscription, delivery):
                return delivered
            delivered += 1
    _queue(subscription_id)  # more may be waiting: continue in a fresh task
    return delivered


def _claim_next(subscription: WebhookSubscription) -> OutboundDelivery | None:
    """Take the subscription's oldest open delivery if it is due. Only that one may be sent: a
    later delivery waits behind it, whatever its own due time."""
    head = (
        subscription.deliveries.filter(status__in=OPEN)
        .select_related("event")
        .order_by("sequence")
        .first()
    )
    now = timezone.now()
    if head is None or head.next_attempt_at > now:
        return None
    # Pushing next_attempt_at ahead claims it: a second worker finds it not due (and stops).
    claimed = OutboundDelivery.objects.filter(
        pk=head.pk, status__in=OPEN, next_attempt_at__lte=now
    ).update(attempts=F("attempts") + 1, last_attempt_at=now, next_attempt_at=now + CLAIM_FOR)
    if not claimed:
        return None
    head.attempts += 1
    return head


def _attempt(
    client: httpx.Client, subscription: WebhookSubscription, delivery: OutboundDelivery
) -> bool:
    if not subscription.secret:  # never send unsigned; an undecryptable secret reads as none
        error = "No signing secret (set one, or check ENCRYPTION_KEYS if it was set)."
        _record_failure(subscription.pk, delivery, None, error)
        return False
    body = event_body(delivery.event)
    headers = request_headers(delivery.event, subscription.secret, body)
    status_code: int | None = None
    try:
        # SSRF: resolved and checked now, and sent to the address checked (url_safety).
        target = url_safety.pinned_target(subscription.url)
        with client.stream(
            "POST",
            target.url,
            content=body,
            headers={**headers, **target.headers},
            extensions=target.extensions,
        ) as response:
            status_code = response.status_code
            excerpt = "" if response.is_success else _excerpt(response)
    except url_safety.UnsafeUrl as exc:
        error = f"Refused: {exc}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a bad URL or a bug must not leave the delivery claimed
        logger.exception("Outbound delivery %s failed", delivery.pk)
        error = f"{type(exc).__name__}: {exc}"
    else:
        if 200 <= status_code < 300:
            _record_success(subscription, delivery, status_code)
            return True
        error = f"HTTP {status_code}: {excerpt}" if excerpt else f"HTTP {status_code}"
    _record_failure(subscription.pk, delivery, status_code, error)
    return False


def _excerpt(response: httpx.Response, limit: int = 500) -> str:
    """The start of the receiver's answer (read no further: it may be huge)."""
    chunk = b""
    for part in response.iter_bytes():
        chunk += part
        if len(chunk) >= limit:
            break
    return chunk[:limit].decode("utf-8", "replace").strip()


@transaction.atomic
def _record_success(
    subscription: WebhookSubscription, delivery: OutboundDelivery, status_code: int
) -> None:
    now = timezone.now()
    # Subscription row first, then the delivery: the order every writer uses (no deadlocks).
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        consecutive_failures=0, last_success_at=now
    )
    OutboundDelivery.objects.filter(pk=delivery.pk).update(
        status=Status.DELIVERED,
        delivered_at=now,
        next_attempt_at=now,
        response_status=status_code,
        last_error="",
    )


@transaction.atomic
def _record_failure(
    subscription_id: int, delivery: OutboundDelivery, status_code: int | None, error: str
) -> None:
    subscription = (
        WebhookSubscription.objects.select_for_update().filter(pk=subscription_id).first()
    )
    if subscription is None:  # deleted meanwhile, with its deliveries
        return
    failures = subscription.consecutive_failures + 1
    now = timezone.now()
    give_up = failures >= app_settings.OUTBOUND_MAX_FAILURES and not subscription.disabled_at
    reason = f"{failures} failed deliveries in a row; the last: {error[:500]}"
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        consecutive_failures=failures,
        **({"disabled_at": now, "disabled_reason": reason} if give_up else {}),
    )
    OutboundDelivery.objects.filter(pk=delivery.pk, status__in=OPEN).update(
        status=Status.GAVE_UP if give_up else Status.FAILED,
        next_attempt_at=now if give_up else now + backoff(delivery.attempts),
        response_status=status_code,
        last_error=error[:2000],
    )
    if give_up:
        transaction.on_commit(lambda: _announce_disabled(subscription, reason))


def _announce_disabled(subscription: WebhookSubscription, reason: str) -> None:
    logger.warning(
        "Outbound webhook subscription %s (%s) disabled: %s",
        subscription.pk,
        subscription.url,
        reason,
    )
    # A mail outage must not undo the disabling (it is logged above either way). Caught here
    # rather than with fail_silently=True, which Django 6.1 deprecates.
    try:
        mail_admins(
            f"Webhook subscription {subscription.name!r} disabled",
            f"socialcare stopped sending events to {subscription.url} after {reason}\n\n"
            "Fix the receiver, then re-enable the subscription in the admin (Webhook "
            "subscriptions → Re-enable). Events that were waiting are sent then; the delivery "
            "that gave up can be sent again with Outbound deliveries → Redeliver.",
        )
    except Exception:
        logger.exception(
            "Could not email the admins that subscription %s is disabled", subscription.pk
        )


def deliver_due() -> int:
    """Queue delivery for each usable subscription whose next delivery is due (the sweeper that
    makes retries happen and picks up lost tasks). Returns how many were queued."""
    head = (
        OutboundDelivery.objects.filter(subscription=OuterRef("pk"), status__in=OPEN)
        .order_by("sequence")
        .values("next_attempt_at")[:1]
    )
    due = list(
        usable_subscriptions()
        .annotate(head_due_at=Subquery(head))
        .filter(head_due_at__lte=timezone.now())
        .values_list("pk", flat=True)
    )
    _queue(*due)
    return len(due)


# Admin operations --------------------------------------------------------------------------------


@transaction.atomic
def redeliver(delivery: OutboundDelivery) -> OutboundDelivery:
    """Send ``delivery`` again (any status). Being older than anything still waiting, it goes
    next. A subscription that is off or disabled sends it once re-enabled."""
    updated = OutboundDelivery.objects.filter(pk=delivery.pk).update(
        status=Status.PENDING, attempts=0, next_attempt_at=timezone.now(), delivered_at=None
    )
    if not updated:
        raise SocialCareError(f"Delivery #{delivery.pk} no longer exists.")
    delivery.refresh_from_db()
    if usable_subscriptions().filter(pk=delivery.subscription_id).exists():
        subscription_id = delivery.subscription_id
        transaction.on_commit(lambda: _queue(subscription_id))
    return delivery


@transaction.atomic
def reenable(subscription: WebhookSubscription) -> WebhookSubscription:
    """Switch a subscription back on, clearing its failures; waiting deliveries go out now."""
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        is_active=True, disabled_at=None, disabled_reason="", consecutive_failures=0
    )
    subscription.deliveries.filter(status=Status.FAILED).update(next_attempt_at=timezone.now())
    subscription.refresh_from_db()
    transaction.on_commit(lambda: _queue(subscription.pk))
    return subscription
