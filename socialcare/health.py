"""``GET /socialcare/health/``: a health check for load balancers and monitoring.

No authentication and nothing sensitive: states and counts only, never host names, error texts
or configuration. The answer::

    {"status": "ok", "database": "ok", "broker": "ok", "queued_tasks": 0,
     "oldest_pending_delivery_seconds": 0, "version": "0.1.0"}

* ``status`` ``ok`` (HTTP 200); ``degraded`` (HTTP 200: this process still accepts and stores
  deliveries) when the task broker cannot be reached or a delivery has waited longer than
  ``STALE_DELIVERY_AFTER`` for a worker; ``down`` (HTTP 503) when the database cannot be reached,
  so a load balancer takes the process out of rotation.
* ``database`` / ``broker``: ``ok`` or ``unavailable``.
* ``queued_tasks``: tasks waiting in the django-q2 broker (``null`` when it cannot be asked).
* ``oldest_pending_delivery_seconds``: age of the oldest delivery not yet processed (pending or
  being processed), 0 when there is none, ``null`` without a database.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from django.db import connections, router
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from socialcare import __version__
from socialcare.conf import app_settings
from socialcare.models import WebhookDelivery

logger = logging.getLogger("socialcare.health")

OK = "ok"
UNAVAILABLE = "unavailable"


@functools.cache
def _broker() -> Any:
    """django-q2's broker, created once per process (a Redis broker keeps its connection pool)."""
    from django_q.brokers import get_broker

    return get_broker()


def check_database() -> str:
    connection = connections[router.db_for_read(WebhookDelivery)]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.warning("Health check: the database cannot be reached", exc_info=True)
        return UNAVAILABLE
    return OK


def check_broker() -> tuple[str, int | None]:
    """The broker's state and the number of tasks waiting in it."""
    try:
        broker = _broker()
        if broker.ping() is False:
            return UNAVAILABLE, None
        return OK, int(broker.queue_size() or 0)
    except Exception:
        logger.warning("Health check: the task broker cannot be reached", exc_info=True)
        return UNAVAILABLE, None


def oldest_pending_delivery_seconds() -> int:
    """Age of the oldest delivery a worker has not finished; one index scan per status."""
    now = timezone.now()
    oldest = [
        received
        for status in (WebhookDelivery.Status.PENDING, WebhookDelivery.Status.PROCESSING)
        if (
            received := WebhookDelivery.objects.filter(status=status)
            .order_by("received_at")
            .values_list("received_at", flat=True)
            .first()
        )
        is not None
    ]
    if not oldest:
        return 0
    return max(int((now - min(oldest)).total_seconds()), 0)


def report() -> tuple[dict[str, Any], int]:
    """The health report and its HTTP status."""
    database = check_database()
    broker, queued = check_broker()
    waiting = None
    if database == OK:
        try:
            waiting = oldest_pending_delivery_seconds()
        except Exception:
            logger.warning("Health check: deliveries could not be read", exc_info=True)
            database = UNAVAILABLE
    if database != OK:
        status = "down"
    elif broker != OK or (
        waiting is not None and waiting > app_settings.STALE_DELIVERY_AFTER.total_seconds()
    ):
        status = "degraded"
    else:
        status = OK
    body = {
        "status": status,
        "database": database,
        "broker": broker,
        "queued_tasks": queued,
        "oldest_pending_delivery_seconds": waiting,
        "version": __version__,
    }
    return body, 503 if status == "down" else 200


@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    body, status = report()
    return JsonResponse(body, status=status)
