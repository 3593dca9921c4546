"""``manage.py socialcare_simulate``: signed real-format deliveries to a live server, and polled
platforms fed through the simulator's fake API and the real polling service, processed by the
server's worker (never in the simulator's own process)."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.mail.backends.locmem import EmailBackend
from django.core.management import CommandError, call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models.signals import post_save
from django.utils import timezone

from socialcare import tasks
from socialcare.crisis_playbooks import install_playbooks
from socialcare.models import Case, Channel, Detector, Incident, Post, Team, WebhookDelivery
from socialcare.platforms.base import ChannelConfig, InboundPost
from socialcare.platforms.meta.ids import platform_user_id
from socialcare.platforms.registry import get_adapter
from socialcare.services.polling import poll_channel
from socialcare.simulator import (
    EXAMPLE_TARGETS,
    Options,
    Simulator,
    Stats,
    crowd_member,
    meta_signature,
    summary,
    x_signature,
)
from tests.ingest_helpers import META_SECRET, X_SECRET, fixture_bytes, make_channels
from tests.platform_server import Answer
from tests.platform_server import platform_server as platform_server

X_BRAND = ("x", "1114259648326987776")
X_OTHER = ("x", "835740314006511618")
BLUESKY = ("bluesky", "did:plc:acmesupport000000000000")


def simulate(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("socialcare_simulate", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The generator, without a server -----------------------------------------------------------------
def test_signatures_match_the_documented_vectors():
    assert (
        x_signature(fixture_bytes("x/tweet_create_reply.json"), X_SECRET)
        == "sha256=nGkJPHLB/i6Gk7EZ5dU58u50dqfLZpSQXZhpjxyFf6k="
    )
    assert (
        meta_signature(fixture_bytes("meta/page_feed_comment.json"), META_SECRET)
        == "sha256=8753059e3199d35595a5f3f8291ae7d8de08cb70e70a390b5e320fb8df569ad7"
    )


def _config(target) -> ChannelConfig:
    return ChannelConfig(
        platform=target.platform,
        account_id=target.account_id,
        handle=target.handle,
        base_url="https://mastodon.social" if target.platform == "mastodon" else "",
        secrets={"webhook_secret": target.secret},
    )


def test_every_generated_post_verifies_and_parses_to_what_the_simulator_says():
    simulator = Simulator(EXAMPLE_TARGETS, seed=11)
    posts = [simulator.next_post() for _ in range(300)] + simulator.spike(40, "checkout")
    seen = {(p.target.platform, p.kind, p.thread) for p in posts}
    for platform in ("x", "facebook", "instagram"):
        assert (platform, "direct_message", False) in seen
        assert any(p == platform and thread for p, kind, thread in seen if kind != "direct_message")
    assert {("mastodon", "direct_message", False), ("mastodon", "reply", True)} <= seen
    assert 0.2 < sum(p.visibility == "private" for p in posts[:300]) / 300 < 0.4

    for post in posts:
        target, adapter = post.target, get_adapter(post.target.platform)
        if target.polled:
            document = (
                [post.item]
                if target.platform == "mastodon"
                else {"notifications": [post.item], "profiles": [post.profile]}
            )
            body = json.dumps(document).encode()
        else:
            body = post.body
            assert adapter.verify_signature(body, post.headers, _config(target))
            assert not adapter.verify_signature(body + b" ", post.headers, _config(target))
        (event,) = adapter.parse(body, _config(target))
        assert isinstance(event, InboundPost)
        assert (event.external_id, event.kind, event.visibility, event.direction) == (
            post.external_id,
            post.kind,
            post.visibility,
            "inbound",
        )
        assert event.text == post.text
        # Meta authors are stored scoped to the Page / Instagram account (meta.ids).
        author_id = platform_user_id(event.author.external_id)
        assert author_id == post.persona.user_id(target.platform) or (
            target.platform == "mastodon"
            and event.author.external_id.endswith("/@" + post.persona.handle_on("mastodon"))
        )
        if post.thread and post.visibility == "public":  # private ones join by conversation
            assert event.in_reply_to
    assert len({(p.target.platform, p.external_id) for p in posts}) == len(posts)
    spike = [p for p in posts if p.spike]
    assert len({p.persona.key for p in spike}) == 40
    assert all(p.visibility == "public" and "checkout" in p.text.lower() for p in spike)


def test_the_seed_decides_the_content_and_the_clock_the_ids():
    def run(seed: int, clock: float) -> list[tuple[str, str, str, str]]:
        simulator = Simulator(EXAMPLE_TARGETS, seed=seed, clock=lambda: clock)
        return [
            (p.target.platform, p.persona.key, p.text, p.external_id)
            for p in (simulator.next_post() for _ in range(40))
        ]

    first, again, later = run(7, 1.8e9), run(7, 1.8e9), run(7, 1.8e9 + 60)
    assert first == again
    assert [row[:3] for row in later] == [row[:3] for row in first]
    assert not {row[3] for row in later} & {row[3] for row in first}  # a re-run makes new posts
    assert [row[:3] for row in run(8, 1.8e9)] != [row[:3] for row in first]
    assert crowd_member(3) == crowd_member(3) != crowd_member(4)


# Against a live server ---------------------------------------------------------------------------
@pytest.fixture
def channels():
    return make_channels()


@pytest.fixture
def worker(monkeypatch) -> list[str]:
    """The server's worker (``qcluster``), standing in for another process: a delivery queued for
    it is processed in a thread of its own, at once (as the tests' synchronous django-q would)
    but never in the thread that queued it. Returns the names of the threads it ran in."""
    ran: list[str] = []
    process = tasks.process_delivery

    def enqueue(delivery_id: int) -> None:
        connection = connections[DEFAULT_DB_ALIAS]
        # An in-memory SQLite database is one connection, shared as Django's LiveServerThread does.
        shared = connection.vendor == "sqlite" and connection.is_in_memory_db()
        failed: list[BaseException] = []

        def work() -> None:
            if shared:
                connections[DEFAULT_DB_ALIAS] = connection
            try:
                process(delivery_id)
            except BaseException as exc:
                failed.append(exc)
            finally:
                if not shared:
                    connections.close_all()

        thread = threading.Thread(target=work, name=f"worker-{delivery_id}")
        if shared:
            connection.inc_thread_sharing()
        try:
            thread.start()
            thread.join()
        finally:
            if shared:
                connection.dec_thread_sharing()
        ran.append(thread.name)
        if failed:
            raise failed[0]

    monkeypatch.setattr(tasks, "enqueue_delivery", enqueue)
    return ran


@pytest.fixture
def ingest_threads(monkeypatch) -> Iterator[dict[str, set[str]]]:
    """The threads posts were stored in and e-mail was sent from."""
    seen: dict[str, set[str]] = {"posts": set(), "mail": set()}

    def stored(sender, instance, created, **kwargs):
        if created:
            seen["posts"].add(threading.current_thread().name)

    send_messages = EmailBackend.send_messages

    def sent(self, messages):
        seen["mail"].add(threading.current_thread().name)
        return send_messages(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", sent)
    post_save.connect(stored, sender=Post, weak=False, dispatch_uid="simulate-ingest-threads")
    yield seen
    post_save.disconnect(sender=Post, dispatch_uid="simulate-ingest-threads")


@pytest.mark.django_db(transaction=True)
def test_webhook_deliveries_are_accepted_and_become_posts_on_cases(live_server, channels):
    out, _ = simulate(
        "--url", live_server.url, "--count", "18", "--seed", "5", "--rate", "0",
        "--concurrency", "1", "--no-polled",
    )  # fmt: skip
    assert "18 sent · 18 accepted (2xx) · 0 refused · 0 connection errors" in out
    assert "18 of 18 accepted posts are on cases now" in out
    deliveries = WebhookDelivery.objects.all()
    assert deliveries.count() == 18
    assert set(deliveries.values_list("status", flat=True)) == {WebhookDelivery.Status.PROCESSED}
    posts = Post.objects.select_related("author", "case", "parent")
    assert posts.count() == 18
    assert {p.platform for p in posts} == {"x", "facebook", "instagram"}
    assert all(p.case_id and p.direction == Post.Direction.INBOUND for p in posts)
    assert {p.channel_id for p in posts if p.platform == "x"} == {
        channels[X_BRAND].pk,
        channels[X_OTHER].pk,
    }
    assert any(p.kind == Post.Kind.DIRECT_MESSAGE for p in posts)
    threaded = [p for p in posts if p.parent_id and p.parent.author_id == p.author_id]
    assert threaded and all(p.case_id == p.parent.case_id for p in threaded)
    x_authors = [p.author for p in posts if p.platform == "x"]
    assert all(a.handle and a.followers_count > 0 for a in x_authors)
    assert Case.objects.count() < 18  # follow-ups joined their cases


@pytest.mark.django_db(transaction=True)
def test_a_wrong_secret_is_reported_as_refused(live_server, channels, monkeypatch):
    wrong = channels[X_BRAND]
    get_secret = Channel.get_secret

    def simulator_secret(
        self, name
    ):  # what the simulator signs with; the server keeps the real one
        if self.pk == wrong.pk and name == "webhook_secret":
            return "not-the-consumer-secret"
        return get_secret(self, name)

    monkeypatch.setattr(Channel, "get_secret", simulator_secret)
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="refused"):
        call_command(
            "socialcare_simulate", "--url", live_server.url, "--platforms", "x", "--count", "8",
            "--seed", "2", "--rate", "0", "--concurrency", "1", stdout=out, stderr=err,
        )  # fmt: skip
    text = out.getvalue()
    assert "CRC answer does not match" in err.getvalue()
    assert f"first refusal: HTTP 403 from x 1114259648326987776 (x #{wrong.pk})" in text
    assert "bad_signature" in text
    assert not WebhookDelivery.objects.filter(channel=wrong).exists()  # refused: nothing stored
    accepted = WebhookDelivery.objects.filter(channel=channels[X_OTHER]).count()
    assert 0 < accepted < 8
    assert f"{accepted} accepted (2xx) · {8 - accepted} refused" in text


@pytest.mark.django_db(transaction=True)
def test_unreachable_server_fails_before_anything_changes(channels):
    mastodon = channels[("mastodon", "14715")]
    with pytest.raises(CommandError, match=r"Cannot reach the server at http://127\.0\.0\.1:"):
        simulate("--url", f"http://127.0.0.1:{free_port()}", "--count", "3")
    mastodon.refresh_from_db()
    assert mastodon.base_url == "https://mastodon.social"
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_no_channels_says_to_run_the_demo_first():
    with pytest.raises(CommandError, match="socialcare_demo"):
        simulate("--count", "1")


@pytest.mark.django_db(transaction=True)
def test_polled_channels_get_posts_through_the_polling_service(channels, worker):
    mastodon, bluesky = channels[("mastodon", "14715")], channels[BLUESKY]
    Channel.objects.filter(pk=mastodon.pk).update(poll_cursor="34975990")
    out, _ = simulate(
        "--platforms", "mastodon,bluesky", "--count", "16", "--seed", "3", "--rate", "0",
        "--url", f"http://127.0.0.1:{free_port()}",  # never called: nothing here is pushed
    )  # fmt: skip
    deliveries = WebhookDelivery.objects.all()
    assert "polled:   16 notifications (bluesky " in out
    assert "16 fetched by " in out
    assert f" · {deliveries.count()} deliveries queued · 0 poll errors" in out
    assert "16 of 16 polled posts are on cases now\n" in out
    posts = Post.objects.filter(platform__in=["mastodon", "bluesky"]).select_related("author")
    assert posts.count() == 16
    assert {p.platform for p in posts} == {"mastodon", "bluesky"}
    assert all(p.case_id for p in posts)
    assert set(deliveries.values_list("source", flat=True)) == {"poll"}
    assert set(deliveries.values_list("status", flat=True)) == {WebhookDelivery.Status.PROCESSED}
    assert len(worker) == deliveries.count()  # each page was queued for the worker
    assert all(p.author.followers_count > 0 for p in posts if p.platform == "bluesky")  # profiles
    assert any(p.visibility == "private" for p in posts if p.platform == "mastodon")
    # The channels point at their real servers again, with their own cursors.
    mastodon.refresh_from_db()
    bluesky.refresh_from_db()
    assert (mastodon.base_url, mastodon.poll_cursor) == ("https://mastodon.social", "34975990")
    assert (bluesky.base_url, bluesky.poll_cursor) == ("", "")


@pytest.mark.django_db(transaction=True)
def test_ctrl_c_restores_the_polled_channels(channels, monkeypatch):
    from socialcare.services import polling

    def interrupted(channel, **kwargs):
        assert "/socialcare-simulator/" in channel.base_url  # pointed at the fake API meanwhile
        raise KeyboardInterrupt

    monkeypatch.setattr(polling, "poll_channel", interrupted)
    out, _ = simulate("--platforms", "mastodon,bluesky", "--count", "5", "--rate", "0")
    assert "interrupted after" in out
    for key in (("mastodon", "14715"), BLUESKY):
        channel = Channel.objects.get(pk=channels[key].pk)
        assert "/socialcare-simulator/" not in channel.base_url
        assert channel.poll_cursor == ""


@pytest.mark.django_db(transaction=True)
def test_the_simulator_ingests_nothing_itself_the_worker_does(
    channels, worker, ingest_threads, socialcare_settings, mailoutbox
):
    """Polled posts go the way they go in production: the simulator stores each page and queues
    it; the worker ingests it, runs the detectors and playbooks and sends their e-mail. (Ingesting
    in the simulator's process printed the demo's console e-mail into its summary.)"""
    install_playbooks()
    Team.objects.filter(name="Escalations").update(email="escalations@example.com")
    # The detectors have watched a quiet stream for a day: past their warm-up (docs/crisis.md).
    Detector.objects.update(counting_since=timezone.now() - dt.timedelta(days=1))
    with socialcare_settings(REPLY_TRANSPORT="socialcare.transports.console.ConsoleTransport"):
        out, _ = simulate(
            "--platforms", "mastodon,bluesky", "--count", "0", "--spike", "30",
            "--spike-topic", "checkout", "--seed", "4", "--rate", "0",
            "--url", f"http://127.0.0.1:{free_port()}",
        )  # fmt: skip
    assert "30 of 30 polled posts are on cases now" in out
    assert Incident.objects.exists()  # the spike tripped a detector: its playbook mailed
    assert any("[Incident" in m.subject for m in mailoutbox)
    command = threading.current_thread().name
    assert ingest_threads["posts"] and ingest_threads["mail"]
    assert command not in ingest_threads["posts"], "the simulator stored posts itself"
    assert command not in ingest_threads["mail"], "the simulator sent e-mail itself"
    assert ingest_threads["posts"] | ingest_threads["mail"] <= set(worker)


@pytest.mark.django_db
def test_a_poll_without_processing_stores_the_page_and_queues_it_for_the_worker(
    platform_server, monkeypatch, django_capture_on_commit_callbacks
):
    """How the simulator polls (``process=False``): page stored and cursor advanced together,
    processing queued when that commits, nothing ingested by the poller."""
    mastodon = make_channels()[("mastodon", "14715")]
    Channel.objects.filter(pk=mastodon.pk).update(base_url=platform_server.url)
    mastodon.refresh_from_db()
    page = fixture_bytes("mastodon/notifications_mentions.json")
    platform_server.route("GET", "/api/v1/notifications", [Answer(200, page), Answer(200, b"[]")])
    queued: list[int] = []
    monkeypatch.setattr(tasks, "enqueue_delivery", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = poll_channel(mastodon, process=False)
    assert (outcome.error, outcome.pages, outcome.posts) == ("", 1, 0)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.source, delivery.status) == ("poll", WebhookDelivery.Status.PENDING)
    assert queued == outcome.deliveries == [delivery.pk]
    assert not Post.objects.exists()
    mastodon.refresh_from_db()
    assert mastodon.poll_cursor == "34975990"
    tasks.process_delivery(delivery.pk)  # the worker's turn
    assert Post.objects.filter(platform="mastodon").count() == 2


def test_the_summary_says_when_the_worker_has_not_processed_polled_posts():
    stats = Stats(queued_for_polling=5, polls=3, polled_fetched=4, polled_deliveries=2)
    stats.polled_ids = {"mastodon": ["1", "2", "3"], "bluesky": ["at://a", "at://b"]}
    stats.by_platform.update(mastodon=3, bluesky=2)
    stats.generated = 5
    stats.polled_posts_stored = 0
    targets = [t for t in EXAMPLE_TARGETS if t.polled]
    lines = summary(stats, Options(seed=9), targets)
    assert lines[1] == (
        "  polled:   5 notifications (bluesky 2, mastodon 3) · 4 fetched by 3 polls · "
        "2 deliveries queued · 0 poll errors"
    )
    assert lines[2].strip() == (
        "0 of 4 polled posts are on cases now (none processed yet: is the worker, "
        "`manage.py qcluster`, running on this database?)"
    )
    stats.polled_posts_stored = 3
    assert summary(stats, Options(seed=9), targets)[2].strip() == (
        "3 of 4 polled posts are on cases now (the worker is still processing the rest)"
    )
    assert not any("webhooks:" in line for line in lines)


def test_dry_run_prints_one_sample_per_platform_without_channels(db):
    out, _ = simulate("--dry-run", "--seed", "1")
    for platform in ("x", "facebook", "instagram", "mastodon", "bluesky"):
        assert f"# {platform}: " in out
    assert "x-twitter-webhooks-signature: sha256=" in out
    assert "X-Hub-Signature-256: sha256=" in out
    assert not WebhookDelivery.objects.exists()
