"""Outbound webhooks against a real local receiver: signature, filtering, order, retries with
backoff, auto-disable, redelivery, the admin, and sequence allocation under concurrency."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading
import time
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from socialcare import tasks
from socialcare.models import OutboundDelivery, OutboundEvent, Post, WebhookSubscription
from socialcare.platforms.base import InboundIdentity, InboundPost
from socialcare.services import cases as case_services
from socialcare.services import customers as customer_services
from socialcare.services import incidents as incident_services
from socialcare.services import outbound
from socialcare.services.ingest import ingest_post
from socialcare.services.replies import deliver_post
from tests.platform_server import Answer, Recorded
from tests.platform_server import platform_server as platform_server

pytestmark = pytest.mark.django_db

SECRET = "whsec_test-0123456789abcdef"
T0 = dt.datetime(2024, 5, 6, 9, 0, tzinfo=dt.UTC)


def verify(secret: str, request: Recorded, tolerance: int = 300) -> bool:
    """The receiver's check, exactly as docs/outbound-webhooks.md tells integrators to write it."""
    timestamp = request.headers["x-socialcare-timestamp"]
    signature = request.headers["x-socialcare-signature"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256)
    return hmac.compare_digest(f"sha256={mac.hexdigest()}", signature)


@pytest.fixture
def subscribe(platform_server):
    def make(path: str = "/hooks", **fields: Any) -> WebhookSubscription:
        fields.setdefault("name", f"CRM {path}")
        return WebhookSubscription.objects.create(
            url=f"{platform_server.url}{path}", secrets={"secret": SECRET}, **fields
        )

    return make


@pytest.fixture
def subscription(subscribe, platform_server) -> WebhookSubscription:
    platform_server.route("POST", "/hooks", 200, {"ok": True})
    return subscribe()


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run on-commit work (signals, emission, delivery) as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def sent(server, path: str = "/hooks") -> list[dict]:
    return [r.json() for r in server.requests_to("POST", path)]


def deliveries(subscription: WebhookSubscription) -> list[OutboundDelivery]:
    return list(subscription.deliveries.select_related("event").order_by("sequence"))


def inbound_post(external_id: str = "9001", **fields: Any) -> InboundPost:
    fields.setdefault("raw", {})
    return InboundPost(
        platform="x",
        external_id=external_id,
        author=InboundIdentity(platform="x", external_id="2002", handle="grace"),
        kind="mention",
        visibility="public",
        text="@acme my order never arrived",
        posted_at=timezone.now(),
        **fields,
    )


# What is sent ------------------------------------------------------------------------------------


def test_opening_a_case_sends_case_created(
    subscription, platform_server, committed, channel, identity, agent
):
    with committed():
        case = case_services.open_case(
            channel=channel, identity=identity, subject="Refund please", actor=agent
        )

    [request] = platform_server.requests_to("POST", "/hooks")
    body = request.json()
    assert set(body) == {"id", "type", "created_at", "data"}
    assert body["type"] == "case.created"
    assert body["created_at"].endswith("Z")
    assert body["data"]["case"]["reference"] == case.reference
    assert body["data"]["case"]["subject"] == "Refund please"
    assert body["data"]["case"]["customer"]["name"] == "Ada Lovelace"
    assert body["data"]["case"]["identity"]["handle"] == "ada"
    assert body["data"]["case"]["channel"] == {
        "id": channel.pk,
        "name": "Acme on X",
        "platform": "x",
        "handle": "acme",
    }
    assert body["data"]["actor"]["username"] == agent.get_username()
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-socialcare-event-id"] == body["id"]
    assert request.headers["x-socialcare-event-type"] == "case.created"
    assert request.headers["user-agent"].startswith("socialcare-webhooks/")
    [delivery] = deliveries(subscription)
    assert str(delivery.event_id) == body["id"]
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 1, 200)
    subscription.refresh_from_db()
    assert subscription.last_success_at is not None


def test_signature_verifies_with_the_documented_recipe(subscription, platform_server, committed):
    with committed():
        case_services.open_case(subject="Signed")
    [request] = platform_server.requests
    assert verify(SECRET, request)
    assert not verify("whsec_wrong", request)
    tampered = Recorded(**{**request.__dict__, "body": request.body.replace(b"Signed", b"Forged")})
    assert not verify(SECRET, tampered)
    assert abs(int(request.headers["x-socialcare-timestamp"]) - time.time()) < 60


def test_subscriptions_get_only_the_event_types_they_ask_for(platform_server, subscribe, committed):
    for path in ("/all", "/status", "/posts"):
        platform_server.route("POST", path, 200)
    subscribe("/all")
    subscribe("/status", event_types=["case.status_changed"])
    subscribe("/posts", event_types=["post.created"])

    with committed():
        case = case_services.open_case(subject="Filter")
    with committed():
        case_services.change_status(case, "open")

    assert [b["type"] for b in sent(platform_server, "/all")] == [
        "case.created",
        "case.status_changed",
    ]
    [status] = sent(platform_server, "/status")
    assert status["type"] == "case.status_changed"
    assert (status["data"]["from"], status["data"]["to"]) == ("new", "open")
    assert sent(platform_server, "/posts") == []


def test_posts_replies_updates_and_merges_are_sent(
    subscription, platform_server, committed, channel, socialcare_settings, make_customer, agent
):
    with committed():
        result = ingest_post(channel, inbound_post())
    with committed():
        case_services.set_tags(result.case, ["Shipping"], actor=agent)
    # A queued reply (as send_reply leaves it), sent by the worker's real path.
    reply = Post.objects.create(
        platform="x",
        channel=channel,
        direction="outbound",
        kind="reply",
        visibility="public",
        text="Sorry! Sending a new one.",
        parent=result.post,
        case=result.case,
        sent_by=agent,
        send_status="queued",
    )
    with (
        socialcare_settings(REPLY_TRANSPORT="socialcare.transports.console.ConsoleTransport"),
        committed(),
    ):
        deliver_post(reply.pk)
    source, target = make_customer("Grace H."), make_customer("Grace Hopper")
    with committed():
        customer_services.merge_customers(source, target, actor=agent)

    bodies = sent(platform_server)
    assert [b["type"] for b in bodies] == [
        "case.created",
        "post.created",
        "case.updated",
        "reply.sent",
        "identity.merged",
    ]
    post = bodies[1]["data"]
    assert post["case_created"] is True
    assert post["post"]["text"] == "@acme my order never arrived"
    assert post["post"]["author"]["handle"] == "grace"
    assert post["case"]["reference"] == result.case.reference
    updated = bodies[2]["data"]
    assert (updated["field"], updated["old"], updated["new"]) == ("tags", [], ["Shipping"])
    assert updated["case"]["tags"] == ["Shipping"]
    reply = bodies[3]["data"]
    assert reply["post"]["direction"] == "outbound"
    assert reply["post"]["sent_by"]["username"] == agent.get_username()
    merged = bodies[4]["data"]
    assert merged["source"] == {"id": str(source.pk), "name": "Grace H."}
    assert merged["target"] == {"id": str(target.pk), "name": "Grace Hopper"}
    assert [d.sequence for d in deliveries(subscription)] == [1, 2, 3, 4, 5]


def test_incidents_are_sent(subscription, platform_server, committed, case, agent):
    with committed():
        incident, _ = incident_services.open_incident(
            title="Outage wave", scope="x", cases=[case], actor=agent
        )
    with committed():
        incident_services.change_incident_status(incident, "contained", actor=agent)

    bodies = sent(platform_server)
    [opened] = [b for b in bodies if b["type"] == "incident.opened"]
    assert opened["data"]["incident"]["title"] == "Outage wave"
    assert opened["data"]["incident"]["cases"] == [case.reference]
    assert opened["data"]["actor"]["username"] == agent.get_username()
    updated = [b["data"] for b in bodies if b["type"] == "incident.updated"]
    assert updated[-1]["change"] == "status_changed"
    assert updated[-1]["incident"]["status"] == "contained"


def test_payload_carries_no_secrets(subscription, platform_server, committed, channel):
    channel.set_secret("access_token", "chan-access-token-42")
    channel.save()
    with committed():
        ingest_post(channel, inbound_post(raw={"oauth_token": "raw-token-from-platform"}))

    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM socialcare_webhooksubscription")
        [(stored,)] = cursor.fetchall()
    for request in platform_server.requests:
        for leak in (
            SECRET,
            "whsec-0123456789",
            "chan-access-token-42",
            "raw-token-from-platform",
            stored,
        ):
            assert leak.encode() not in request.body
        assert b'"secrets"' not in request.body
        assert b'"raw"' not in request.body


def test_inactive_and_disabled_subscriptions_get_nothing(platform_server, subscribe, committed):
    platform_server.route("POST", "/hooks", 200)
    subscribe(is_active=False)
    subscribe(disabled_at=timezone.now(), disabled_reason="failing")

    with committed():
        case_services.open_case(subject="Nobody listens")

    assert platform_server.requests == []
    assert not OutboundEvent.objects.exists()
    assert not OutboundDelivery.objects.exists()
    assert outbound.deliver_due() == 0


# Order, retries, backoff, giving up --------------------------------------------------------------


def test_retry_after_500_and_a_later_event_waits_for_the_earlier(
    platform_server, subscribe, committed
):
    platform_server.route("POST", "/hooks", [Answer(500, {"error": "db down"}), Answer(200)])
    subscription = subscribe()

    with time_machine.travel(T0, tick=False) as clock:
        with committed():
            case = case_services.open_case(subject="Ordered")
        first = deliveries(subscription)[0]
        assert (first.status, first.attempts, first.response_status) == ("failed", 1, 500)
        assert first.next_attempt_at == T0 + dt.timedelta(seconds=30)
        assert "db down" in first.last_error

        with committed():
            case_services.change_status(case, "open")
        second = deliveries(subscription)[1]
        assert (second.status, second.attempts) == ("pending", 0)
        assert len(platform_server.requests) == 1  # the second waits behind the first

        clock.move_to(T0 + dt.timedelta(seconds=29))
        assert outbound.deliver_due() == 0
        assert len(platform_server.requests) == 1

        clock.move_to(T0 + dt.timedelta(seconds=30))
        assert outbound.deliver_due() == 1

    bodies = sent(platform_server)
    first, second = deliveries(subscription)
    assert [b["id"] for b in bodies] == [str(first.event_id)] * 2 + [str(second.event_id)]
    assert [b["type"] for b in bodies] == ["case.created", "case.created", "case.status_changed"]
    stamps = [int(r.headers["x-socialcare-timestamp"]) for r in platform_server.requests]
    assert stamps == [int(T0.timestamp()), int(T0.timestamp()) + 30, int(T0.timestamp()) + 30]
    assert (first.status, first.attempts, second.status) == ("delivered", 2, "delivered")
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 0


def test_backoff_doubles_and_is_capped():
    assert [outbound.backoff(n).total_seconds() for n in range(1, 6)] == [30, 60, 120, 240, 480]
    assert outbound.backoff(10) == dt.timedelta(seconds=30 * 2**9)
    assert outbound.backoff(11) == dt.timedelta(hours=6)
    assert outbound.backoff(40) == dt.timedelta(hours=6)


def test_retries_follow_the_backoff(platform_server, subscribe, committed, socialcare_settings):
    platform_server.route("POST", "/hooks", 503)
    subscription = subscribe()
    with (
        socialcare_settings(OUTBOUND_MAX_FAILURES=50),
        time_machine.travel(T0, tick=False) as clock,
    ):
        with committed():
            outbound.emit("case.created", {"case": None})
        now = T0
        for attempt, wait in enumerate([30, 60, 120, 240, 480], start=1):
            [delivery] = deliveries(subscription)
            assert delivery.attempts == attempt
            assert delivery.next_attempt_at == now + dt.timedelta(seconds=wait)
            clock.move_to(now + dt.timedelta(seconds=wait - 1))
            assert outbound.deliver_due() == 0
            now += dt.timedelta(seconds=wait)
            clock.move_to(now)
            assert outbound.deliver_due() == 1
            assert len(platform_server.requests) == attempt + 1
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 6
    assert subscription.disabled_at is None


def test_gives_up_and_disables_after_repeated_failures(
    platform_server, subscribe, committed, socialcare_settings, ops_admin, caplog
):
    platform_server.route("POST", "/hooks", [Answer(500)] * 3 + [Answer(200)])
    subscription = subscribe(name="Flaky CRM")

    with socialcare_settings(OUTBOUND_MAX_FAILURES=3), time_machine.travel(T0, tick=False) as clock:
        with committed():
            outbound.emit("case.created", {"n": 1})
            outbound.emit("case.created", {"n": 2})
        for hours in (1, 2):
            clock.move_to(T0 + dt.timedelta(hours=hours))
            with committed():
                outbound.deliver_due()

        first, second = deliveries(subscription)
        assert (first.status, first.attempts) == ("gave_up", 3)
        assert (second.status, second.attempts) == ("pending", 0)
        subscription.refresh_from_db()
        assert subscription.disabled_at == T0 + dt.timedelta(hours=2)
        assert "3 failed deliveries in a row" in subscription.disabled_reason
        assert "HTTP 500" in subscription.disabled_reason
        [notice] = mail.outbox
        assert "Flaky CRM" in notice.subject
        assert notice.to == [ops_admin]
        assert "disabled" in caplog.text

        clock.move_to(T0 + dt.timedelta(hours=9))
        assert outbound.deliver_due() == 0
        with committed():
            assert outbound.emit("case.created", {"n": 3}) is None
        assert len(platform_server.requests) == 3

        with committed():
            outbound.reenable(subscription)
        assert subscription.consecutive_failures == 0
        assert subscription.disabled_at is None
        first, second = deliveries(subscription)
        assert (first.status, second.status) == ("gave_up", "delivered")
        assert [b["data"] for b in sent(platform_server)] == [{"n": 1}] * 3 + [{"n": 2}]


def test_a_mail_outage_does_not_undo_the_disabling(
    platform_server, subscribe, committed, socialcare_settings, ops_admin, caplog, monkeypatch
):
    def mail_server_down(*args: Any, **kwargs: Any) -> int:
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(outbound, "mail_admins", mail_server_down)
    platform_server.route("POST", "/hooks", Answer(500))
    subscription = subscribe(name="Flaky CRM")

    with (
        socialcare_settings(OUTBOUND_MAX_FAILURES=1),
        time_machine.travel(T0, tick=False),
        committed(),
    ):
        outbound.emit("case.created", {"n": 1})

    subscription.refresh_from_db()
    assert subscription.disabled_at == T0
    [gave_up] = deliveries(subscription)
    assert gave_up.status == "gave_up"
    assert "Could not email the admins" in caplog.text
    assert "mail server down" in caplog.text
    assert mail.outbox == []


def test_redeliver_sends_the_same_event_again(subscription, platform_server, committed):
    with committed():
        outbound.emit("case.created", {"n": 1})
    [delivery] = deliveries(subscription)
    assert delivery.status == "delivered"

    with committed():
        outbound.redeliver(delivery)

    first, again = platform_server.requests
    assert first.body == again.body
    assert verify(SECRET, again)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)


def test_a_delivery_in_flight_is_not_sent_by_a_second_worker(subscribe, platform_server):
    platform_server.route("POST", "/hooks", 200)
    subscription = subscribe()
    outbound.emit("case.created", {"n": 1})  # not committed: nothing queued
    assert outbound._claim_next(subscription) is not None  # worker one is sending it

    assert outbound.deliver_subscription(subscription.pk) == 0
    assert platform_server.requests == []


def test_nothing_is_sent_unsigned(platform_server, committed):
    platform_server.route("POST", "/hooks", 200)
    subscription = WebhookSubscription.objects.create(
        name="No secret", url=f"{platform_server.url}/hooks", secrets={}
    )
    with committed():
        outbound.emit("case.created", {})
    assert platform_server.requests == []
    [delivery] = deliveries(subscription)
    assert delivery.status == "failed"
    assert "No signing secret" in delivery.last_error


def test_unknown_event_type_is_refused():
    with pytest.raises(ValueError, match="Unknown outbound event type"):
        outbound.emit("case.exploded", {})


def test_the_sweeper_is_scheduled():
    assert tasks.SCHEDULES["socialcare: send outbound webhooks"] == (
        "socialcare.tasks.deliver_outbound_due",
        1,
    )


# Admin -------------------------------------------------------------------------------------------


@pytest.fixture
def admin_client_in(client):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    return client


def test_admin_generates_the_secret_and_shows_it_once(admin_client_in):
    url = reverse("admin:socialcare_webhooksubscription_add")
    page = admin_client_in.get(url).content.decode()
    assert 'type="checkbox" name="event_types" value="case.created"' in page

    response = admin_client_in.post(
        url,
        {
            "name": "Our CRM",
            "url": "https://crm.example.com/hooks",
            "event_types": ["case.created", "reply.sent"],
            "is_active": "on",
            "secret": "",
        },
        follow=True,
    )
    subscription = WebhookSubscription.objects.get()
    assert subscription.event_types == ["case.created", "reply.sent"]
    assert subscription.secret.startswith("whsec_")
    assert subscription.secret in response.content.decode()

    change = reverse("admin:socialcare_webhooksubscription_change", args=[subscription.pk])
    page = admin_client_in.get(change).content.decode()
    assert subscription.secret not in page
    assert subscription.secret[-4:] in page  # redacted: the last four characters

    admin_client_in.post(
        change,
        {
            "name": "Our CRM",
            "url": "https://crm.example.com/hooks",
            "event_types": [],
            "is_active": "on",
            "secret": "",
            "deliveries-TOTAL_FORMS": "0",
            "deliveries-INITIAL_FORMS": "0",
        },
    )
    kept = WebhookSubscription.objects.get()
    assert kept.secret == subscription.secret  # blank keeps it
    assert kept.event_types == []

    # Rotation, with the delivery log (a read-only inline) on the page.
    outbound.emit("case.created", {})
    [delivery] = deliveries(kept)
    response = admin_client_in.post(
        change,
        {
            "name": "Our CRM",
            "url": "https://crm.example.com/hooks",
            "is_active": "on",
            "secret": "",
            "generate_secret": "on",
            "deliveries-TOTAL_FORMS": "1",
            "deliveries-INITIAL_FORMS": "1",
            "deliveries-0-id": str(delivery.pk),
            "deliveries-0-subscription": str(kept.pk),
        },
        follow=True,
    )
    rotated = WebhookSubscription.objects.get()
    assert rotated.secret not in (subscription.secret, "")
    assert rotated.secret in response.content.decode()


def test_admin_reenables_and_redelivers(admin_client_in, subscription, platform_server, committed):
    outbound.emit("case.created", {"n": 1})
    subscription.disabled_at = timezone.now()
    subscription.consecutive_failures = 10
    subscription.save()
    [delivery] = deliveries(subscription)
    OutboundDelivery.objects.filter(pk=delivery.pk).update(status="gave_up", attempts=10)

    page = admin_client_in.get(
        reverse("admin:socialcare_webhooksubscription_change", args=[subscription.pk])
    ).content.decode()
    assert "delivery log" in page.lower()
    assert "disabled after failures" in page
    listing = admin_client_in.get(
        reverse("admin:socialcare_outbounddelivery_changelist"), {"status__exact": "gave_up"}
    )
    assert listing.status_code == 200
    assert "case.created" in listing.content.decode()
    detail = admin_client_in.get(
        reverse("admin:socialcare_outbounddelivery_change", args=[delivery.pk])
    )
    assert str(delivery.event_id) in detail.content.decode()

    with committed():
        admin_client_in.post(
            reverse("admin:socialcare_webhooksubscription_changelist"),
            {"action": "reenable_selected", "_selected_action": [subscription.pk]},
        )
    subscription.refresh_from_db()
    assert (subscription.disabled_at, subscription.consecutive_failures) == (None, 0)
    assert platform_server.requests == []  # the given-up delivery stays given up

    with committed():
        admin_client_in.post(
            reverse("admin:socialcare_outbounddelivery_changelist"),
            {"action": "redeliver_selected", "_selected_action": [delivery.pk]},
        )
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert len(platform_server.requests) == 1


# Concurrency -------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_emits_number_each_subscription_without_gaps(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serializes writers")
    monkeypatch.setattr(tasks, "enqueue_outbound", lambda pk: None)
    subscriptions = [
        WebhookSubscription.objects.create(
            name=name, url="https://crm.example.com/", secrets={"secret": SECRET}
        )
        for name in ("one", "two")
    ]
    threads, per_thread = 8, 5
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                outbound.emit("case.created", {"thread": n, "i": i})
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()

    assert errors == []
    orders = []
    for subscription in subscriptions:
        rows = list(subscription.deliveries.order_by("sequence").values_list("sequence", "event"))
        assert [seq for seq, _ in rows] == list(range(1, threads * per_thread + 1))
        orders.append([event for _, event in rows])
    assert orders[0] == orders[1]  # both subscriptions see the events in the same order


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_workers_send_each_event_once_and_in_order(monkeypatch, platform_server):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serializes writers")
    monkeypatch.setattr(tasks, "enqueue_outbound", lambda pk: None)
    platform_server.route("POST", "/hooks", Answer(200, delay=0.01))
    subscription = WebhookSubscription.objects.create(
        name="CRM", url=f"{platform_server.url}/hooks", secrets={"secret": SECRET}
    )
    events = [str(outbound.emit("case.created", {"n": n}).id) for n in range(20)]
    workers = 4
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            while subscription.deliveries.exclude(status="delivered").exists():
                outbound.deliver_subscription(subscription.pk)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=work) for _ in range(workers)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()

    assert errors == []
    assert [b["id"] for b in sent(platform_server)] == events


def test_sla_breach_and_incident_events_reach_subscribers_in_order(
    django_capture_on_commit_callbacks,
):
    import datetime as dt

    from django.utils import timezone

    from socialcare.models import OutboundEvent, WebhookSubscription
    from socialcare.services.cases import open_case
    from socialcare.services.incidents import open_incident_from_case
    from socialcare.services.sla_scan import scan

    WebhookSubscription.objects.create(
        name="CRM", url="https://crm.example/hooks", secrets={"secret": "s"}
    )
    with django_capture_on_commit_callbacks(execute=True):
        case = open_case(subject="Late", opened_at=timezone.now() - dt.timedelta(hours=3))
    with django_capture_on_commit_callbacks(execute=True):
        scan()
    assert OutboundEvent.objects.filter(type="case.sla_breached").count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        open_incident_from_case(case, actor=None, title="Escalated")
    types = list(OutboundEvent.objects.order_by("created_at").values_list("type", flat=True))
    assert types.index("incident.opened") < types.index("incident.updated")
