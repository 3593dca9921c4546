"""The durable inbox: accepting deliveries, claiming them for a worker, retrying failed ones,
re-queueing stuck ones.

Claims (issue #25): a worker that takes a delivery ("processing") writes who it is
(``claimed_by``, host:pid), a random ``claim_token`` and a lease (``lease_until``,
``DELIVERY_LEASE`` ahead), which it renews while it works (``Claim.renew``, at most one UPDATE a
third of a lease). A delivery whose lease has passed, or whose holder is a dead process of this
host (``holder_dead``), is *takeable*: a worker process that starts (``recover_dead_claims``),
its re-run task, the next worker's micro-batch of its channel or the claims sweeper (every
minute, ``requeue_lapsed``) takes it over, with one more attempt. A worker that lost its claim
cannot finish it: its finish is conditional on the token, and a batch that finds a claim gone is
rolled back (``services.ingest``). Ingestion is idempotent, so a slow worker and its successor
end with the same posts.

Queueing a committed delivery's task never fails the request that stored it (``enqueue``): a
broker or database error is logged, the id is kept and queued again with this process's next
delivery; the sweeper is the last resort.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterable, Mapping

from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone

from socialcare.conf import app_settings
from socialcare.exceptions import SocialCareError
from socialcare.models import Channel, WebhookDelivery
from socialcare.models.delivery import WebhookDeliveryQuerySet

logger = logging.getLogger("socialcare.deliveries")

#: Request headers kept with a delivery (for support and audits; never secrets).
KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "x-twitter-webhooks-signature",
    "x-hub-signature-256",
    "x-request-id",
)


# Queueing ---------------------------------------------------------------------------------------
_unqueued: set[int] = set()
_unqueued_lock = threading.Lock()
#: Remembered at most (a broker down for long): the sweeper queues the others.
UNQUEUED_KEPT = 10_000


def enqueue(delivery_id: int) -> bool:
    """Queue a stored delivery's processing; never raises. When the broker (or, with the ORM
    broker, the database) refuses, the failure is logged and the id kept: this process queues it
    again with its next delivery, the channel's next micro-batch claims it, or the sweeper queues
    it after ``STALE_DELIVERY_AFTER``. Returns whether it was queued."""
    from socialcare import tasks

    with _unqueued_lock:
        waiting = sorted(_unqueued - {delivery_id})
    try:
        tasks.enqueue_delivery(delivery_id)
    except Exception:  # the delivery is stored: the request that stored it still succeeds
        logger.exception("Could not queue delivery %s; it stays pending", delivery_id)
        with _unqueued_lock:
            if len(_unqueued) < UNQUEUED_KEPT:
                _unqueued.add(delivery_id)
        return False
    with _unqueued_lock:
        _unqueued.discard(delivery_id)
    for other in waiting:  # the broker is back: those it refused before
        try:
            tasks.enqueue_delivery(other)
        except Exception:
            logger.exception("Could not queue delivery %s again", other)
            break
        with _unqueued_lock:
            _unqueued.discard(other)
    return True


def unqueued() -> list[int]:
    """Deliveries this process stored but could not queue yet."""
    with _unqueued_lock:
        return sorted(_unqueued)


def queue_on_commit(delivery_id: int) -> None:
    """``enqueue`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: enqueue(delivery_id))


def _queue(delivery: WebhookDelivery) -> None:
    queue_on_commit(delivery.pk)


# Claims -----------------------------------------------------------------------------------------
def _host() -> str:
    """This host, and its PID namespace where there is one: two containers sharing a host name
    (host networking) do not mistake each other's processes for their own."""
    try:
        return f"{socket.gethostname()}~{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return socket.gethostname()


_HOST = _host()


def worker_identity() -> str:
    """Who claims: this host and process (read per call: a forked worker has its own pid)."""
    return f"{_HOST}:{os.getpid()}"[:100]


def holder_dead(claimed_by: str) -> bool:
    """Whether a claim's holder is a process of this host that no longer exists (killed, its
    claim not lapsed yet): its claim can be taken over at once. A holder elsewhere, alive, or a
    new process that got its pid counts as alive: its lease decides."""
    host, _, pid = (claimed_by or "").rpartition(":")
    if host != _HOST or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # another user's process: alive
        return False
    try:  # killed but not yet reaped by its parent
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def dead_holders_q(now: dt.datetime) -> Q | None:
    """Deliveries in processing under a live lease whose holder on this host is dead (one
    query over the few in processing); None when there are none."""
    live = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PROCESSING, lease_until__gte=now
    ).exclude(claimed_by="")
    tokens = [
        token for token, by in live.values_list("claim_token", "claimed_by") if holder_dead(by)
    ]
    if not tokens:
        return None
    return Q(status=WebhookDelivery.Status.PROCESSING, claim_token__in=tokens)


def lease() -> dt.timedelta:
    return app_settings.DELIVERY_LEASE


def takeable(now: dt.datetime) -> Q:
    """A delivery in processing whose claim has lapsed: its lease passed, or it was claimed more
    than ``STALE_DELIVERY_AFTER`` ago (a claim lives one task at most, and a task is killed
    after the broker's timeout, which must be shorter: ``project/settings_production.py``; this
    also covers a claim by a release without leases)."""
    processing = Q(status=WebhookDelivery.Status.PROCESSING)
    lapsed = Q(lease_until__lt=now) | Q(claimed_at__lt=now - app_settings.STALE_DELIVERY_AFTER)
    return processing & lapsed


def lapsed(delivery: WebhookDelivery, now: dt.datetime) -> bool:
    """``takeable`` for a row in hand (the claiming UPDATE checks it again)."""
    if delivery.lease_until is not None and delivery.lease_until < now:
        return True
    stale = now - app_settings.STALE_DELIVERY_AFTER
    return delivery.claimed_at is not None and delivery.claimed_at < stale


class Claim:
    """This worker's claim of some deliveries: one token for all it took together."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(16)
        self.holder = worker_identity()
        self.held: set[int] = set()
        self._renewed = time.monotonic()

    def values(self, now: dt.datetime) -> dict:
        """The columns a claim writes."""
        self._renewed = time.monotonic()
        return {
            "status": WebhookDelivery.Status.PROCESSING,
            "claimed_at": now,
            "claimed_by": self.holder,
            "claim_token": self.token,
            "lease_until": now + lease(),
        }

    def took(self, deliveries: Iterable[WebhookDelivery]) -> None:
        self.held.update(d.pk for d in deliveries)

    def mine(self) -> WebhookDeliveryQuerySet:
        return WebhookDelivery.objects.filter(
            pk__in=self.held, claim_token=self.token, status=WebhookDelivery.Status.PROCESSING
        )

    def renew(self, *, force: bool = False) -> set[int]:
        """Extend the lease of what this claim still holds, if a third of a lease has gone by
        since it was taken or last renewed (``force``: now). Returns what it still holds; a
        delivery another worker took over is dropped from it. Run it outside a transaction
        block: a renewal inside one is invisible to the others until it commits."""
        if not self.held:
            return set()
        if not force and time.monotonic() - self._renewed < lease().total_seconds() / 3:
            return set(self.held)
        self._renewed = time.monotonic()
        renewed = self.mine().update(lease_until=timezone.now() + lease())
        if renewed < len(self.held):
            still = set(self.mine().values_list("pk", flat=True))
            self.lose(self.held - still)
        return set(self.held)

    def lose(self, ids: Iterable[int]) -> None:
        """Another worker took these over (this one was too slow): they are its to finish."""
        lost = set(ids) & self.held
        if lost:
            self.held -= lost
            logger.warning(
                "Deliveries %s were taken over from %s (lease passed)", sorted(lost), self.holder
            )

    def confirm_in_transaction(self) -> set[int]:
        """Inside the transaction that finishes the work: lock the rows this claim still holds
        (PostgreSQL: a takeover waits for this commit and then finds them finished; SQLite's
        IMMEDIATE transaction holds the write lock already). Returns them."""
        return set(self.mine().select_for_update().values_list("pk", flat=True))


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
    error, retryable from admin (the deliveries micro-batched with it are taken over once their
    lease lapses). A worker that dies outright loses its claims (``requeue_lapsed``)."""
    from socialcare.services.ingest import process_delivery

    try:
        return process_delivery(delivery_id)
    except Exception as exc:
        logger.exception("Processing delivery %s failed", delivery_id)
        _mark_failed(delivery_id, f"{type(exc).__name__}: {exc}")
        return WebhookDelivery.objects.filter(pk=delivery_id).first()


def _mark_failed(delivery_id: int, error: str) -> None:
    try:
        WebhookDelivery.objects.filter(  # still this process's claim: not a successor's
            pk=delivery_id, status=WebhookDelivery.Status.PROCESSING, claimed_by=worker_identity()
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


def requeue_lapsed() -> int:
    """Queue again (the task takes them over) the deliveries in processing whose claim has
    lapsed (``takeable``) or whose holder on this host is dead (``holder_dead``): the "take over
    lapsed delivery claims" schedule, every minute. A delivery whose live worker renews its
    lease is left to it. Returns how many were queued."""
    now = timezone.now()
    dead = dead_holders_q(now)
    wanted = takeable(now) if dead is None else takeable(now) | dead
    ids = list(WebhookDelivery.objects.filter(wanted).values_list("pk", flat=True))
    queued = sum(enqueue(pk) for pk in ids)
    if ids:
        logger.warning("Re-queued %s deliveries of dead or stalled workers: %s", queued, ids[:50])
    return queued


def requeue_stale() -> int:
    """The last resort (the "re-queue stuck deliveries" schedule, every 5 minutes): the lapsed
    claims as ``requeue_lapsed``, and the deliveries still pending ``STALE_DELIVERY_AFTER`` after
    they arrived (their task was lost). Returns how many were queued."""
    cutoff = timezone.now() - app_settings.STALE_DELIVERY_AFTER
    lost = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, received_at__lt=cutoff
    ).values_list("pk", flat=True)
    return requeue_lapsed() + sum(enqueue(pk) for pk in lost)


def recover_dead_claims() -> int:
    """Run as a worker process starts (django-q2's ``post_spawn``, ``socialcare.tasks``): queue
    again at once the deliveries a dead worker of this host held (``requeue_lapsed``), so a
    killed worker's replacement takes its batch over within seconds; and book one run of the
    claims sweeper for just after the last live lease, for claims held elsewhere (another
    host's worker, maybe gone with its host). Returns how many were queued."""
    queued = requeue_lapsed()
    now = timezone.now()
    last = (
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PROCESSING, lease_until__gt=now
        )
        .order_by("-lease_until")
        .values_list("lease_until", flat=True)
        .first()
    )
    if last is not None:
        from socialcare import tasks

        tasks.enqueue_sweep_claims(at=last + dt.timedelta(seconds=1))
    return queued
