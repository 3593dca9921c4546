"""An outbound webhook receiver that is down (nothing listening) or answering 500: deliveries
are retried with backoff, in order, then the subscription is disabled with a notice; once the
receiver is back and an admin re-enables it, every event arrives, once each."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from socialcare import tasks
from socialcare.models import WebhookSubscription
from socialcare.services import outbound
from tests.platform_server import Answer
from tests.platform_server import platform_server as platform_server

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 5, 6, 9, 0, tzinfo=dt.UTC)
SECRET = "whsec_test-0123456789abcdef"


class Receiver:
    """A CRM's endpoint on a fixed port, which can be down (nothing listening) or up."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/crm"
        self.events: list[dict] = []
        self.httpd: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.events.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}).start()

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.stop()


def test_receiver_down_or_failing_is_retried_then_disabled_with_a_notice_and_nothing_lost(
    receiver,
    platform_server,
    ops_admin,
    socialcare_settings,
    django_capture_on_commit_callbacks,
    caplog,
    robustness,
):
    platform_server.route("POST", "/hooks", Answer(500, {"error": "database is down"}))
    down = WebhookSubscription.objects.create(
        name="CRM down", url=receiver.url, secrets={"secret": SECRET}
    )
    failing = WebhookSubscription.objects.create(
        name="CRM failing", url=f"{platform_server.url}/hooks", secrets={"secret": SECRET}
    )
    committed = lambda: django_capture_on_commit_callbacks(execute=True)  # noqa: E731

    with socialcare_settings(OUTBOUND_MAX_FAILURES=4), time_machine.travel(T0, tick=False) as clock:
        with committed():
            emitted = [outbound.emit("case.created", {"n": n}) for n in range(3)]
        robustness.fault(2)
        heads = {s.pk: s.deliveries.order_by("sequence").first() for s in (down, failing)}
        assert heads[down.pk].status == "failed"
        assert "ConnectError" in heads[down.pk].last_error
        assert heads[failing.pk].response_status == 500
        # Backoff: not retried before it is due, retried by the sweeper once it is.
        waits = []
        for _ in range(3):
            head = down.deliveries.order_by("sequence").first()
            waits.append(head.next_attempt_at - timezone.now())
            clock.move_to(head.next_attempt_at - dt.timedelta(seconds=1))
            assert outbound.deliver_due() == 0
            clock.move_to(head.next_attempt_at)
            with committed():
                tasks.deliver_outbound_due()
        assert [w.total_seconds() for w in waits] == [30.0, 60.0, 120.0]

    for subscription in (down, failing):
        subscription.refresh_from_db()
        assert subscription.disabled_at is not None, subscription.name
        assert "4 failed deliveries in a row" in subscription.disabled_reason
        first, *rest = subscription.deliveries.order_by("sequence")
        assert (first.status, first.attempts) == ("gave_up", 4)
        assert [d.status for d in rest] == ["pending", "pending"]  # later events wait, in order
    assert sorted(m.subject for m in mail.outbox) == [
        "[Django] Webhook subscription 'CRM down' disabled",
        "[Django] Webhook subscription 'CRM failing' disabled",
    ]
    assert "disabled" in caplog.text
    assert len(platform_server.requests_to("POST", "/hooks")) == 4
    assert outbound.deliver_due() == 0  # disabled: nothing more is tried

    # The receiver comes back; an admin re-enables and sends the given-up event again.
    receiver.start()
    with committed():
        outbound.reenable(down)
    with committed():
        outbound.redeliver(down.deliveries.get(status="gave_up"))
    expected = [str(event.pk) for event in emitted]
    received = [event["id"] for event in receiver.events]
    robustness.lost(len(set(expected) - set(received)))
    assert sorted(received) == sorted(expected)  # every event, once each
    assert receiver.events[0]["data"] == {"n": 1}  # the waiting ones went out first, in order
    assert [e["data"]["n"] for e in receiver.events] == [1, 2, 0]
    down.refresh_from_db()
    assert (down.disabled_at, down.consecutive_failures) == (None, 0)
    assert set(down.deliveries.values_list("status", flat=True)) == {"delivered"}
