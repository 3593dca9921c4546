"""The database unreachable when a webhook arrives: the platform gets 503 with Retry-After (so it
redelivers), nothing is half-written, and the redelivery is stored and processed once."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection

from socialcare import channel_cache
from socialcare.models import Case, Post, WebhookDelivery
from tests.faults.payloads import signed, tweets, x_channel

pytestmark = pytest.mark.django_db(transaction=True)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # free again once closed: nothing listens there


@contextmanager
def database_unreachable() -> Iterator[None]:
    """Point this process's connection at a port where no database listens."""
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port()))
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def terminate_this_connection() -> None:
    """Kill this process's database session from another one (as a restart or failover
    does): its next query fails."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    db = connection.settings_dict
    with psycopg.connect(
        dbname=db["NAME"], host=db["HOST"], port=db["PORT"], user=db["USER"],
        password=db["PASSWORD"] or None, autocommit=True,
    ) as admin:  # fmt: skip
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def post_delivery(client, channel, body: bytes):
    return client.post(
        f"/socialcare/webhooks/x/{channel.pk}/",
        data=body,
        content_type="application/json",
        **signed(body),
    )


def assert_unavailable(response) -> None:
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json()["code"] == "unavailable"


def test_webhook_while_the_database_is_down_gets_503_and_the_redelivery_is_stored_once(
    client, robustness
):
    channel = x_channel()
    first, second = tweets(1, 2), tweets(3)
    channel_cache.clear()

    # 1. Unreachable before anything is cached: the channel cannot even be looked up.
    with database_unreachable():
        robustness.fault()
        assert_unavailable(post_delivery(client, channel, first))

    # 2. The channel is cached (one delivery got through), then the session is killed: the
    #    delivery cannot be stored.
    assert post_delivery(client, channel, second).status_code == 200
    terminate_this_connection()
    robustness.fault()
    assert_unavailable(post_delivery(client, channel, first))

    # 3. Unreachable again with the channel cached.
    with database_unreachable():
        robustness.fault()
        assert_unavailable(post_delivery(client, channel, first))

    # Nothing half-written by the refused attempts.
    assert WebhookDelivery.objects.count() == 1
    assert list(Post.objects.values_list("external_id", flat=True)) == ["90003"]

    # The platform redelivers once the database is back: stored and processed once.
    response = post_delivery(client, channel, first)
    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    assert delivery.status == WebhookDelivery.Status.PROCESSED, delivery.last_error
    assert delivery.body == first
    assert WebhookDelivery.objects.count() == 2
    found = sorted(Post.objects.values_list("external_id", flat=True))
    robustness.lost(3 - len(set(found)))
    assert found == ["90001", "90002", "90003"]
    assert Case.objects.count() == 3
