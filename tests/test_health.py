"""The health endpoint: states and counts for load balancers, 503 without a database."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connections
from django.db.utils import load_backend
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ

from socialcare import __version__, health
from socialcare.models import WebhookDelivery

pytestmark = pytest.mark.django_db

URL = "/socialcare/health/"
KEYS = {
    "status",
    "database",
    "broker",
    "queued_tasks",
    "oldest_pending_delivery_seconds",
    "version",
}


def delivery(channel, status: str, age: dt.timedelta) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        channel=channel,
        platform=channel.platform,
        body=b"{}",
        status=status,
        received_at=timezone.now() - age,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_healthy_without_signing_in(client):
    response = client.get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "broker": "ok",
        "queued_tasks": 0,
        "oldest_pending_delivery_seconds": 0,
        "version": __version__,
    }


def test_only_reads(client):
    assert client.head(URL).status_code == 200
    assert client.post(URL).status_code == 405


def test_counts_tasks_waiting_in_the_orm_broker(client):
    now = timezone.now()
    for n in range(3):
        OrmQ.objects.create(key=Conf.CLUSTER_NAME, payload=f"task-{n}", lock=now)
    # Taken by a worker (locked until its retry time): not waiting any more.
    OrmQ.objects.create(key=Conf.CLUSTER_NAME, payload="taken", lock=now + dt.timedelta(minutes=5))
    # Another installation's queue on the same database.
    OrmQ.objects.create(key="someone-else", payload="theirs", lock=now)
    body = client.get(URL).json()
    assert body["broker"] == "ok"
    assert body["queued_tasks"] == 3
    assert body["status"] == "ok"


def test_age_of_the_oldest_unfinished_delivery(client, channel):
    delivery(channel, WebhookDelivery.Status.PROCESSED, dt.timedelta(hours=3))
    delivery(channel, WebhookDelivery.Status.FAILED, dt.timedelta(hours=2))
    delivery(channel, WebhookDelivery.Status.PENDING, dt.timedelta(seconds=30))
    delivery(channel, WebhookDelivery.Status.PROCESSING, dt.timedelta(seconds=95))
    body = client.get(URL).json()
    assert 95 <= body["oldest_pending_delivery_seconds"] < 110
    assert body["status"] == "ok"


def test_degraded_when_deliveries_wait_longer_than_the_sweeper_allows(
    client, channel, socialcare_settings
):
    delivery(channel, WebhookDelivery.Status.PENDING, dt.timedelta(minutes=3))
    with socialcare_settings(STALE_DELIVERY_AFTER=dt.timedelta(minutes=2)):
        response = client.get(URL)
    assert response.status_code == 200  # this process still stores deliveries
    assert response.json()["status"] == "degraded"
    assert response.json()["database"] == "ok"


class DeadBroker:
    def ping(self) -> bool:
        raise ConnectionError("Error 111 connecting to redis.internal:6379. Connection refused.")

    def queue_size(self) -> int:
        raise AssertionError("not asked when ping fails")


def test_degraded_when_the_broker_cannot_be_reached(client, monkeypatch):
    monkeypatch.setattr(health, "_broker", DeadBroker)
    response = client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["broker"] == "unavailable"
    assert body["queued_tasks"] is None
    assert body["database"] == "ok"
    assert "redis.internal" not in response.content.decode()


@contextmanager
def broken_database(tmp_path: Path) -> Iterator[None]:
    """The default connection replaced by one with a broken setting: a SQLite file in a missing
    directory, or a PostgreSQL port nothing listens on."""
    original = connections["default"]
    settings = dict(original.settings_dict)
    if original.vendor == "sqlite":
        settings["NAME"] = str(tmp_path / "missing" / "socialcare.sqlite3")
    else:
        settings.update(HOST="127.0.0.1", PORT=str(free_port()))
        settings["OPTIONS"] = {**settings.get("OPTIONS", {}), "connect_timeout": 2}
    broken = load_backend(settings["ENGINE"]).DatabaseWrapper(settings, "default")
    connections["default"] = broken
    try:
        yield
    finally:
        connections["default"] = original
        broken.close()


def test_down_with_503_when_the_database_cannot_be_reached(client, tmp_path):
    with broken_database(tmp_path):
        response = client.get(URL)
    assert response.status_code == 503
    body = response.json()
    assert set(body) == KEYS
    assert body["status"] == "down"
    assert body["database"] == "unavailable"
    assert body["oldest_pending_delivery_seconds"] is None
    # The ORM broker lives in the same database.
    assert body["broker"] == "unavailable"
    assert body["version"] == __version__
    text = response.content.decode()
    assert "missing" not in text and "127.0.0.1" not in text  # nothing about the setup
    # The database is back: the same process answers ok on the next request.
    assert client.get(URL).json()["status"] == "ok"
