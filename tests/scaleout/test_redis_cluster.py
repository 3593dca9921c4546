"""Scale-out: two web processes and two qcluster processes on PostgreSQL and django-q2's Redis
broker take 5,000 signed deliveries (with duplicates) and concurrent agent replies, and every post,
case and reply comes out exactly once.

The processes run the production profile (tests/settings_scaleout.py) on the pytest run's test
database, each web server as if on its own machine (gunicorn, one gthread worker; ``runserver
--noreload`` when gunicorn is not installed), each qcluster with two worker processes. Deliveries
come from the simulator's builders (tests/scaleout/workload.py) and are spread over both web
servers by 16 concurrent senders; meanwhile agents reply through the API, three at once on the
same case. Two schedules are due when the clusters start: both clusters' schedulers see them, one
runs them.

``SOCIALCARE_SCALEOUT_DELIVERIES`` changes the count for a quick local run (default 5000).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from django_q.models import Schedule

from socialcare.models import Case, Channel, Post, Team, WebhookDelivery
from socialcare.services.apikeys import create_api_key
from socialcare.simulator import load_targets
from socialcare.tasks import install_schedules
from tests.scaleout import workload
from tests.scaleout.conftest import Cluster

pytestmark = [pytest.mark.postgres, pytest.mark.scaleout]

DELIVERIES = int(os.environ.get("SOCIALCARE_SCALEOUT_DELIVERIES", "5000"))
WEB_SERVERS = 2
WEB_THREADS = 8
CLUSTERS = 2
WORKERS_PER_CLUSTER = 2
SENDERS = 16
REPLY_CASES = 120
REPLIES_PER_CASE = 3
#: Give up when nothing moved for this long (a stuck queue), or after this long in all.
STALL_SECONDS = 60
DRAIN_TIMEOUT = 300
#: django-q2's guard runs the scheduler every 30 s from the cluster's start.
SCHEDULER_PASS = 30

#: Two brand accounts per platform: ingest serializes on a channel's row, so channels are what
#: several workers process side by side.
CHANNELS = (
    ("x", "Acme on X", "1114259648326987776", "AcmeHelp", "x-consumer-secret-scaleout"),
    ("x", "Acme Support on X", "1114259648326987777", "AcmeSupport", "x-secret-support"),
    ("facebook", "Acme Page", "103149398319188", "acme", "meta-app-secret-scaleout"),
    ("facebook", "Acme Outlet Page", "103149398319189", "acmeoutlet", "meta-app-secret-scaleout"),
    ("instagram", "Acme Instagram", "17841405309211844", "acme", "meta-app-secret-scaleout"),
    ("instagram", "Acme Outlet", "17841405309211845", "acmeoutlet", "meta-app-secret-scaleout"),
)
FORWARDED = {"X-Forwarded-Proto": "https"}  # as the TLS-terminating proxy says


def set_up_channels() -> None:
    team = Team.objects.create(name="Care", email="care@example.com")
    for platform, name, account, handle, secret in CHANNELS:
        channel = Channel(
            name=name, platform=platform, account_id=account, handle=handle, default_team=team
        )
        channel.set_secret("webhook_secret", secret)
        channel.save()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * share), len(ordered) - 1)]


class Pusher:
    """Sends the deliveries over both web servers from concurrent threads."""

    def __init__(self, cluster: Cluster, client: httpx.Client) -> None:
        self.cluster = cluster
        self.client = client
        self.statuses: Counter[int] = Counter()
        self.refusals: list[str] = []
        self.latencies: list[float] = []
        self.lock = threading.Lock()

    def send(self, index: int, delivery: workload.Delivery) -> None:
        base = self.cluster.web_urls[index % len(self.cluster.web_urls)]
        url = f"{base}/socialcare/webhooks/{delivery.target.platform}/{delivery.target.channel_id}/"
        start = time.perf_counter()
        try:
            response = self.client.post(
                url, content=delivery.body, headers={**delivery.headers, **FORWARDED}
            )
            status, text = response.status_code, response.text
        except httpx.HTTPError as exc:
            status, text = 0, f"{type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - start
        with self.lock:
            self.statuses[status] += 1
            self.latencies.append(elapsed)
            if status != 200 and len(self.refusals) < 5:
                self.refusals.append(f"{status} from {url}: {' '.join(text.split())[:200]}")

    def run(self, deliveries: list[workload.Delivery]) -> float:
        start = time.perf_counter()
        with ThreadPoolExecutor(SENDERS, thread_name_prefix="scaleout-send") as pool:
            list(pool.map(self.send, range(len(deliveries)), deliveries))
        return time.perf_counter() - start


class Agents:
    """Agents replying through the API as soon as a thread's first post is on a case: three
    replies at once on each case, spread over both web servers."""

    def __init__(self, cluster: Cluster, client: httpx.Client, api_key: str) -> None:
        self.cluster = cluster
        self.client = client
        self.headers = {"Authorization": f"Api-Key {api_key}", **FORWARDED}
        self.sent: dict[str, int] = {}  # reply text -> case id
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.finished_at = 0.0
        self.pushed = threading.Event()  # every delivery is stored

    def reply(self, case_id: int, text: str, index: int) -> None:
        base = self.cluster.web_urls[index % len(self.cluster.web_urls)]
        try:
            response = self.client.post(
                f"{base}/socialcare/api/v1/cases/{case_id}/replies/",
                json={"text": text, "visibility": "public"},
                headers=self.headers,
            )
            ok, detail = (
                response.status_code == 201,
                f"{response.status_code} {' '.join(response.text.split())[:200]}",
            )
        except httpx.HTTPError as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        with self.lock:
            if ok:
                self.sent[text] = case_id
            else:
                self.failures.append(f"case {case_id}: {detail}")

    def run(self, roots: list, deadline: float) -> None:
        waiting = {(p.target.platform, p.external_id) for p in roots}
        number = 0
        try:
            with ThreadPoolExecutor(
                REPLIES_PER_CASE * 2, thread_name_prefix="scaleout-agent"
            ) as pool:
                while waiting and time.monotonic() < deadline:
                    # Once every delivery is stored and none is left to process, a thread that
                    # still has no case never will (its delivery failed): stop waiting.
                    settled = (
                        self.pushed.is_set()
                        and not WebhookDelivery.objects.filter(
                            status__in=[
                                WebhookDelivery.Status.PENDING,
                                WebhookDelivery.Status.PROCESSING,
                            ]
                        ).exists()
                    )
                    found = Post.objects.filter(
                        external_id__in=[e for _, e in waiting], case__isnull=False
                    ).values_list("platform", "external_id", "case_id")
                    for platform, external_id, case_id in found:
                        if (platform, external_id) not in waiting:
                            continue
                        waiting.discard((platform, external_id))
                        live = Case.objects.get(pk=case_id)
                        while live.merged_into_id:
                            live = live.merged_into
                        for _ in range(REPLIES_PER_CASE):
                            number += 1
                            text = f"Sorry about this, we are on it (agent reply R{number})"
                            pool.submit(self.reply, live.pk, text, number)
                    if settled:
                        break
                    time.sleep(0.2)
            if waiting:
                self.failures.append(f"{len(waiting)} threads never got a case to reply on")
        finally:
            self.finished_at = time.perf_counter()
            connection.close()  # this thread's own connection


def wait_until_drained(cluster: Cluster, expected_deliveries: int, replies: int) -> float:
    """Until every delivery is processed and every reply sent; returns when that happened."""
    import redis

    queue = redis.Redis.from_url(cluster.redis_url)
    deadline = time.monotonic() + DRAIN_TIMEOUT
    last, moved_at = None, time.monotonic()
    unfinished_states = [WebhookDelivery.Status.PENDING, WebhookDelivery.Status.PROCESSING]
    unsent_states = [Post.SendStatus.QUEUED, Post.SendStatus.SENDING]
    while True:
        cluster.check_alive()
        state = (
            WebhookDelivery.objects.count(),
            WebhookDelivery.objects.filter(status__in=unfinished_states).count(),
            Post.objects.filter(direction=Post.Direction.OUTBOUND).count(),
            Post.objects.filter(send_status__in=unsent_states).count(),
            queue.llen(cluster.queue_key),
        )
        stored, unfinished, outbound, unsent, queued = state
        if (stored, unfinished, outbound, unsent) == (expected_deliveries, 0, replies, 0):
            queue.close()
            return time.perf_counter()
        now = time.monotonic()
        if state != last:
            last, moved_at = state, now
        if now - moved_at > STALL_SECONDS or now > deadline:
            workers = "\n".join(cluster.logs("qcluster")[-40:])
            raise AssertionError(
                f"the queue did not drain: {stored}/{expected_deliveries} deliveries stored, "
                f"{unfinished} unfinished, {outbound}/{replies} replies, {unsent} unsent, "
                f"{queued} tasks in Redis\n{workers}\n{cluster.errors()}"
            )
        time.sleep(0.5)


def failed_deliveries() -> list[str]:
    failed = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.FAILED)
    return [f"delivery {d.pk} failed: {' '.join(d.last_error.split())[:300]}" for d in failed[:3]]


def console_sends(cluster: Cluster) -> Counter[str]:
    """How many times the console transport sent each reply text (qcluster logs, JSON lines)."""
    sent: Counter[str] = Counter()
    for line in cluster.logs("qcluster"):
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("logger") == "socialcare.transports.console":
            match = re.search(r"\(agent reply R\d+\)", entry["message"])
            if match:
                sent["Sorry about this, we are on it " + match.group(0)] += 1
    return sent


@pytest.mark.django_db(transaction=True)
def test_two_web_and_two_worker_processes_on_redis_process_everything_exactly_once(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    set_up_channels()
    targets, _ = load_targets(("x", "facebook", "instagram"), polled=False)
    work = workload.build(targets, deliveries=DELIVERIES)
    kinds = Counter(d.kind for d in work.deliveries)
    admin = get_user_model().objects.create_superuser("lead", "lead@example.com", "pw")
    _, api_key = create_api_key(admin, "scale-out agents")
    # Due at once when the clusters start: socialcare's own schedules, and one that counts its runs.
    install_schedules()
    marks = tmp_path / "schedule-runs.txt"
    Schedule.objects.create(
        name="scale-out: run once",
        func="tests.scaleout.marks.mark",
        kwargs=repr({"path": str(marks)}),
        schedule_type=Schedule.ONCE,
        repeats=1,
        next_run=timezone.now() - dt.timedelta(seconds=1),
    )

    cluster.env["SOCIALCARE_Q_WORKERS"] = str(WORKERS_PER_CLUSTER)
    cluster.start_web(WEB_SERVERS, WEB_THREADS)
    cluster.start_workers(CLUSTERS)
    cluster.wait_ready()
    clusters_ready = time.monotonic()

    # Idle connections are dropped before gunicorn's keep-alive (5 s) closes them from its side.
    limits = httpx.Limits(max_connections=SENDERS + REPLIES_PER_CASE * 2, keepalive_expiry=2)
    with httpx.Client(timeout=30, limits=limits, trust_env=False) as client:
        pusher = Pusher(cluster, client)
        agents = Agents(cluster, client, api_key)
        roots = work.roots[:: max(1, len(work.roots) // REPLY_CASES)][:REPLY_CASES]
        replying = threading.Thread(
            target=agents.run, args=(roots, time.monotonic() + DRAIN_TIMEOUT), daemon=True
        )
        started = time.perf_counter()
        replying.start()
        push_seconds = pusher.run(work.deliveries)
        agents.pushed.set()
        replying.join(DRAIN_TIMEOUT)
        assert not replying.is_alive(), "the agents never finished replying"
        assert pusher.statuses == {200: len(work.deliveries)}, "\n".join(
            [str(pusher.statuses), *pusher.refusals, "server errors:", *cluster.errors()]
        )
        assert not agents.failures, "\n".join(
            [*agents.failures[:5], "server errors:", *cluster.errors(), *failed_deliveries()]
        )
        assert len(agents.sent) == len(roots) * REPLIES_PER_CASE
        drained = wait_until_drained(cluster, len(work.deliveries), len(agents.sent))

        health = [client.get(url + "/socialcare/health/").json() for url in cluster.web_urls]

    # The schedules: both clusters' schedulers passed, one ran each due schedule.
    while not marks.exists() and time.monotonic() < clusters_ready + SCHEDULER_PASS + 30:
        time.sleep(0.5)
    time.sleep(max(0.0, clusters_ready + SCHEDULER_PASS + 5 - time.monotonic()))
    schedule_runs = marks.read_text().splitlines() if marks.exists() else []

    # Deliveries: all stored and processed, none failed.
    deliveries = WebhookDelivery.objects.all()
    assert deliveries.count() == len(work.deliveries)
    states = dict(deliveries.values_list("status").annotate(n=Count("id")))
    assert states == {WebhookDelivery.Status.PROCESSED: len(work.deliveries)}, "\n".join(
        [str(states), *failed_deliveries()]
    )

    # Posts: each platform post exactly once.
    inbound = Post.objects.filter(direction=Post.Direction.INBOUND)
    doubled = list(
        inbound.values("platform", "external_id").annotate(n=Count("id")).filter(n__gt=1)[:5]
    )
    assert not doubled
    assert set(inbound.values_list("external_id", flat=True)) == set(work.posts)
    assert inbound.count() == len(work.posts)

    # Cases: one live case per customer, holding all their posts; no duplicates.
    post_case = dict(inbound.values_list("external_id", "case_id"))
    merged_into = dict(Case.objects.values_list("pk", "merged_into_id"))

    def live(case_id: int) -> int:
        while merged_into[case_id]:
            case_id = merged_into[case_id]
        return case_id

    per_customer = {key: {live(post_case[i]) for i in ids} for key, ids in work.customers.items()}
    split = {key: cases for key, cases in per_customer.items() if len(cases) > 1}
    assert not split, f"{len(split)} customers' posts are on several cases: {list(split)[:3]}"
    assert len({next(iter(c)) for c in per_customer.values()}) == len(work.customers)
    live_cases = Case.objects.filter(merged_into__isnull=True).count()
    assert live_cases == work.expected_cases
    merged = Case.objects.filter(merged_into__isnull=False).count()

    # Replies: every one stored once, sent once, on the case it was written on.
    outbound = Post.objects.filter(direction=Post.Direction.OUTBOUND)
    assert outbound.count() == len(agents.sent)
    assert dict(outbound.values_list("send_status").annotate(n=Count("id"))) == {
        Post.SendStatus.SENT: len(agents.sent)
    }
    assert set(outbound.values_list("send_attempts", flat=True)) == {1}
    assert dict(outbound.values_list("text", "case_id")) == agents.sent
    sends = console_sends(cluster)
    assert sends == Counter(dict.fromkeys(agents.sent, 1)), [
        (t, n) for t, n in sends.items() if n != 1
    ][:5]

    assert len(schedule_runs) == 1, schedule_runs
    for report in health:
        assert report["status"] == "ok" and report["broker"] == "ok", report
        assert report["queued_tasks"] == 0 and report["oldest_pending_delivery_seconds"] == 0

    latencies_ms = [x * 1000 for x in pusher.latencies]
    ingest_seconds = drained - started
    lines = [
        f"scale-out ({cluster.web_server} x{WEB_SERVERS}, {WEB_THREADS} threads each; qcluster "
        f"x{CLUSTERS}, {WORKERS_PER_CLUSTER} workers each; Redis broker; PostgreSQL):",
        f"  {len(work.deliveries)} deliveries ({kinds['single']} single, {kinds['resend']} "
        f"re-sent, {kinds['combined']} combined) from {SENDERS} senders: accepted in "
        f"{push_seconds:.1f} s = {len(work.deliveries) / push_seconds:.0f} deliveries/s, "
        f"latency p50 {statistics.median(latencies_ms):.0f} ms, "
        f"p99 {percentile(latencies_ms, 0.99):.0f} ms",
        f"  {len(work.posts)} posts on {live_cases} cases ({merged} merged after out-of-order "
        f"arrival) and {len(agents.sent)} replies ({REPLIES_PER_CASE} at once per case) done "
        f"{ingest_seconds:.1f} s after the first delivery = "
        f"{len(work.posts) / ingest_seconds:.0f} posts/s, "
        f"{len(work.deliveries) / ingest_seconds:.0f} deliveries/s end to end",
        f"  schedules due at start: run once ({len(schedule_runs)} run of the counted one)",
    ]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
