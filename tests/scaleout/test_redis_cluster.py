"""Scale-out: two web processes and two qcluster processes on PostgreSQL and django-q2's Redis
broker take 5,000 signed deliveries (with duplicates), lose a worker machine and a worker process
to SIGKILL halfway, take concurrent agent replies, and every post, case and reply comes out
exactly once.

The processes run the production profile (tests/settings_scaleout.py) on the pytest run's test
database, each web server as if on its own machine (gunicorn, one gthread worker; ``runserver
--noreload`` when gunicorn is not installed), each qcluster with two worker processes. Deliveries
come from the simulator's builders (tests/scaleout/workload.py) and are spread over both web
servers by 16 concurrent senders.

Faults, while the deliveries are being processed: the first qcluster is killed with SIGKILL (its
whole process group: a machine lost) at a moment one of its workers is inside a delivery's
database work, and one worker process of the second qcluster likewise (django-q2 starts a new
one); then a new qcluster is started in the lost one's place. django-q2's Redis broker has no
delivery receipts, so the tasks the killed processes held are gone. The deliveries a killed
worker held in ``processing`` are taken over at once by the worker processes that replace it
(their claims name a dead process of this host); those whose task was lost stay ``pending``
(or ``processing``, if no replacement saw them). Once the queue is empty the test runs the
stuck-delivery sweeper
(``socialcare.tasks.sweep_deliveries``, what the five-minute schedule runs) with
``STALE_DELIVERY_AFTER`` shortened, and they are processed, once. Agents reply through the API
from then on, three at once on the same case (replies are not part of the kill: a reply whose
worker dies mid-send may be out, and is failed for a person to check, never re-sent).

Two schedules are due when the clusters start: the clusters' schedulers see them, one runs them.

``SOCIALCARE_SCALEOUT_DELIVERIES`` changes the count for a quick local run (default 5000).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from django_q.models import Schedule

from socialcare.models import Case, Channel, Post, Team, WebhookDelivery
from socialcare.services.apikeys import create_api_key
from socialcare.simulator import load_targets
from socialcare.tasks import install_schedules
from tests.robustness import Robustness
from tests.scaleout import workload
from tests.scaleout.conftest import ROOT, Cluster

pytestmark = [pytest.mark.postgres, pytest.mark.scaleout]

DELIVERIES = int(os.environ.get("SOCIALCARE_SCALEOUT_DELIVERIES", "5000"))
WEB_SERVERS = 2
WEB_THREADS = 8
CLUSTERS = 2
WORKERS_PER_CLUSTER = 2
SENDERS = 16
REPLY_CASES = 120
REPLIES_PER_CASE = 3
#: The kills happen once this share of the deliveries is processed.
KILL_AT = 0.15
#: ... or this many seconds after the clusters started, if sooner (before the schedulers' first
#: pass).
KILL_BY = 12
#: Give up when nothing moved for this long (a stuck queue), or after this long in all.
STALL_SECONDS = 60
DRAIN_TIMEOUT = 300
#: The queue is empty and nothing changed for this long: what is left was lost by the kills.
QUIET_SECONDS = 3
#: STALE_DELIVERY_AFTER of the sweeper run (the default is 10 minutes).
SWEEP_STALE_SECONDS = 5
#: django-q2's guard runs the scheduler every 30 s from the cluster's start.
SCHEDULER_PASS = 30
#: The pusher stops after this many refused or failed requests (a broken server fails fast).
MAX_REFUSALS = 20

UNFINISHED = (WebhookDelivery.Status.PENDING, WebhookDelivery.Status.PROCESSING)

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
#: Tries per delivery when no HTTP answer comes back (X and Meta retry failed deliveries too).
SEND_ATTEMPTS = 3


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


def listing(items: list, limit: int = 10) -> str:
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


class Pusher:
    """Sends the deliveries over both web servers from concurrent threads; stops early when the
    servers refuse or fail too many."""

    def __init__(self, cluster: Cluster, client: httpx.Client) -> None:
        self.cluster = cluster
        self.client = client
        self.urls = list(cluster.web_urls.values())
        self.statuses: Counter[int] = Counter()
        self.refusals: list[str] = []
        self.latencies: list[float] = []
        self.lock = threading.Lock()
        self.aborted = threading.Event()
        self.seconds = 0.0
        self.crashed = ""
        #: Deliveries sent again after a transport error (no HTTP answer), as platforms do.
        self.resent = 0

    def send(self, index: int, delivery: workload.Delivery) -> None:
        if self.aborted.is_set():
            return
        base = self.urls[index % len(self.urls)]
        url = f"{base}/socialcare/webhooks/{delivery.target.platform}/{delivery.target.channel_id}/"
        start = time.perf_counter()
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                response = self.client.post(
                    url, content=delivery.body, headers={**delivery.headers, **FORWARDED}
                )
                status, text = response.status_code, response.text
                break
            except httpx.TransportError as exc:
                # No answer came back (a kept-alive connection the server had just closed, a
                # reset): the platforms send such a delivery again, and so do we. If the first
                # try did reach the server, the second is a duplicate at the door.
                status, text = 0, f"{type(exc).__name__}: {exc}"
                if attempt < SEND_ATTEMPTS:
                    with self.lock:
                        self.resent += 1
                    time.sleep(0.2 * attempt)
            except httpx.HTTPError as exc:
                status, text = 0, f"{type(exc).__name__}: {exc}"
                break
        elapsed = time.perf_counter() - start
        with self.lock:
            self.statuses[status] += 1
            self.latencies.append(elapsed)
            if status != 200:
                self.refusals.append(f"{status} from {url}: {' '.join(text.split())[:200]}")
                if len(self.refusals) >= MAX_REFUSALS:
                    self.aborted.set()

    def run(self, deliveries: list[workload.Delivery]) -> None:
        start = time.perf_counter()
        try:
            with ThreadPoolExecutor(SENDERS, thread_name_prefix="scaleout-send") as pool:
                list(pool.map(self.send, range(len(deliveries)), deliveries))
        except Exception as exc:  # reported by the test thread
            self.crashed = f"{type(exc).__name__}: {exc}"
        finally:
            self.seconds = time.perf_counter() - start
            connection.close()


class Agents:
    """Agents replying through the API once told to go, as soon as a thread's first post is on a
    case: three replies at once on each case, spread over both web servers."""

    def __init__(self, cluster: Cluster, client: httpx.Client, api_key: str) -> None:
        self.cluster = cluster
        self.client = client
        self.urls = list(cluster.web_urls.values())
        self.headers = {"Authorization": f"Api-Key {api_key}", **FORWARDED}
        self.sent: dict[str, int] = {}  # reply text -> case id
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.go = threading.Event()  # the kills are over
        self.settled = threading.Event()  # every delivery is processed (the test saw it)
        self.stop = threading.Event()  # the test gave up

    def reply(self, case_id: int, text: str, index: int) -> None:
        base = self.urls[index % len(self.urls)]
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
            while not self.go.wait(0.2):
                if self.stop.is_set() or time.monotonic() > deadline:
                    return
            with ThreadPoolExecutor(
                REPLIES_PER_CASE * 2, thread_name_prefix="scaleout-agent"
            ) as pool:
                while waiting and time.monotonic() < deadline and not self.stop.is_set():
                    # Once every delivery is processed, a thread that still has no case never
                    # will: stop waiting (the test's checks say which posts are missing).
                    settled = self.settled.is_set()
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
                self.failures.append(
                    f"{len(waiting)} threads never got a case to reply on: "
                    + listing(sorted(e for _, e in waiting))
                )
        finally:
            connection.close()  # this thread's own connection


class Progress:
    """What the test waits on: counts in the database and the Redis list, with bounded waits
    whose failure says what was missing."""

    def __init__(self, cluster: Cluster, expected: int) -> None:
        self.cluster = cluster
        self.expected = expected
        self.queue = redis.Redis.from_url(cluster.redis_url)

    def close(self) -> None:
        self.queue.close()

    def queued(self) -> int:
        return self.queue.llen(self.cluster.queue_key)

    def processed(self) -> int:
        return WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PROCESSED).count()

    def check_failed(self) -> None:
        """A failed delivery fails the test at once, with its error and the servers' errors."""
        failed = list(
            WebhookDelivery.objects.filter(status=WebhookDelivery.Status.FAILED).values_list(
                "pk", "last_error"
            )[:3]
        )
        if failed:
            raise AssertionError(
                "deliveries failed:\n"
                + "\n".join(f"delivery {pk}: {' '.join(e.split())[:400]}" for pk, e in failed)
                + "\nserver errors:\n"
                + "\n".join(self.cluster.errors())
            )

    def unfinished(self, limit: int = 10) -> str:
        rows = WebhookDelivery.objects.filter(status__in=UNFINISHED).order_by("pk")
        shown = [
            f"#{pk} {status} (attempts {attempts})"
            for pk, status, attempts in rows.values_list("pk", "status", "attempts")[:limit]
        ]
        return f"{rows.count()}: {', '.join(shown)}{' ...' if len(shown) == limit else ''}"

    def fail(self, what: str) -> None:
        raise AssertionError(
            f"{what}\n"
            f"deliveries: {WebhookDelivery.objects.count()}/{self.expected} stored, "
            f"{self.processed()} processed; unfinished: {self.unfinished()}; "
            f"{self.queued()} tasks in Redis\n"
            f"server errors: {self.cluster.errors()}\n{self.cluster.tails()}"
        )

    def wait_processed(self, count: int) -> None:
        last, moved_at = -1, time.monotonic()
        while (done := self.processed()) < count:
            self.cluster.check_alive()
            self.check_failed()
            if done != last:
                last, moved_at = done, time.monotonic()
            if time.monotonic() - moved_at > STALL_SECONDS:
                self.fail(f"no delivery processed for {STALL_SECONDS} s (waiting for {count})")
            time.sleep(0.1)

    def wait_kill_moment(self, total: int, clusters_ready: float) -> None:
        """Until ``KILL_AT`` of the deliveries are processed, or ``KILL_BY`` seconds after the
        clusters started, whichever comes first: deliveries are flowing, and the schedulers'
        first pass (30 s after start) is still to come, so the task of a schedule due at start
        cannot be in the cluster that dies (it waits behind the backlog in Redis, and the
        survivors run it)."""
        while True:
            self.cluster.check_alive()
            self.check_failed()
            done, now = self.processed(), time.monotonic()
            if done >= total * KILL_AT or (done and now >= clusters_ready + KILL_BY):
                return
            if now > clusters_ready + SCHEDULER_PASS - 5:
                self.fail(
                    f"no delivery processed {SCHEDULER_PASS - 5} s after the clusters started"
                )
            time.sleep(0.1)

    def wait_quiet(self) -> list[int]:
        """Until every delivery is stored, the Redis list is empty and the unfinished deliveries
        stayed the same for ``QUIET_SECONDS``: those were lost with the killed processes."""
        deadline = time.monotonic() + DRAIN_TIMEOUT
        last, moved_at = None, time.monotonic()
        while True:
            self.cluster.check_alive()
            self.check_failed()
            state = (
                WebhookDelivery.objects.count(),
                self.queued(),
                tuple(
                    WebhookDelivery.objects.filter(status__in=UNFINISHED)
                    .order_by("pk")
                    .values_list("pk", flat=True)
                ),
            )
            now = time.monotonic()
            if state != last:
                last, moved_at = state, now
            stored, queued, unfinished = state
            if stored == self.expected and queued == 0 and now - moved_at >= QUIET_SECONDS:
                return list(unfinished)
            if now - moved_at > STALL_SECONDS or now > deadline:
                self.fail("the queue did not drain before the sweep")
            time.sleep(0.25)

    def wait_drained(self, replies: int) -> float:
        """Until every delivery is processed and every reply sent; returns when that happened."""
        deadline = time.monotonic() + DRAIN_TIMEOUT
        last, moved_at = None, time.monotonic()
        unsent_states = [Post.SendStatus.QUEUED, Post.SendStatus.SENDING]
        while True:
            self.cluster.check_alive()
            self.check_failed()
            state = (
                WebhookDelivery.objects.count(),
                WebhookDelivery.objects.filter(status__in=UNFINISHED).count(),
                Post.objects.filter(direction=Post.Direction.OUTBOUND).count(),
                Post.objects.filter(send_status__in=unsent_states).count(),
                self.queued(),
            )
            stored, unfinished, outbound, unsent, _ = state
            if (stored, unfinished, outbound, unsent) == (self.expected, 0, replies, 0):
                return time.perf_counter()
            now = time.monotonic()
            if state != last:
                last, moved_at = state, now
            if now - moved_at > STALL_SECONDS or now > deadline:
                unsent_ids = list(
                    Post.objects.filter(send_status__in=unsent_states).values_list("pk", flat=True)
                )
                self.fail(
                    f"the queue did not drain: {outbound}/{replies} replies stored, unsent "
                    f"replies: {listing(unsent_ids)}"
                )
            time.sleep(0.5)


def kill_faults(cluster: Cluster, robustness: Robustness) -> dict[str, object]:
    """SIGKILL the first qcluster's process group while one of its workers is inside a delivery,
    and one busy worker process of the second; start a new qcluster in the first one's place."""
    first, second = cluster.process("qcluster1"), cluster.process("qcluster2")
    pid, first_busy = cluster.busy_worker(first, timeout=4)
    killed_at = timezone.now()
    cluster.kill_group(first)
    robustness.fault()
    pid, second_busy = cluster.busy_worker(second)
    assert pid is not None, (
        f"qcluster2 has no worker process with a database connection:\n{second.tail()}"
    )
    os.kill(pid, signal.SIGKILL)
    robustness.fault()
    # The killed cluster's status key expires (3 s); then the replacement starts, as a process
    # manager would restart the service.
    deadline = time.monotonic() + 15
    while cluster.running_clusters() > len(cluster.live("qcluster")):
        if time.monotonic() > deadline:
            raise AssertionError("the killed cluster's status key did not expire in Redis")
        time.sleep(0.2)
    cluster.start_worker("qcluster3")
    cluster.wait_ready(["qcluster3"])
    return {
        "killed_at": killed_at,
        "caught_busy": (first_busy, second_busy),
        "restarted": time.monotonic(),
    }


def run_sweeper(cluster: Cluster) -> None:
    """The stuck-delivery sweeper, in its own process with the profile's settings (what the
    five-minute schedule runs), with ``STALE_DELIVERY_AFTER`` shortened to seconds."""
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "from socialcare.tasks import sweep_deliveries; sweep_deliveries()"],
        cwd=ROOT,
        env={**cluster.env, "SOCIALCARE_SCALEOUT_STALE_SECONDS": str(SWEEP_STALE_SECONDS)},
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, f"the sweeper failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"


def console_sends(cluster: Cluster) -> Counter[str]:
    """How many times the console transport sent each reply text (qcluster logs, JSON lines)."""
    sent: Counter[str] = Counter()
    for entry in cluster.records("qcluster"):
        if entry.get("logger") == "socialcare.transports.console":
            match = re.search(r"\(agent reply R\d+\)", entry.get("message", ""))
            if match:
                sent["Sorry about this, we are on it " + match.group(0)] += 1
    return sent


@pytest.mark.django_db(transaction=True)
def test_two_web_and_two_worker_processes_on_redis_process_everything_exactly_once(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture, robustness: Robustness
) -> None:
    set_up_channels()
    targets, _ = load_targets(("x", "facebook", "instagram"), polled=False)
    work = workload.build(targets, deliveries=DELIVERIES)
    # A resend is the same signed body again: replay protection answers it 200 "duplicate"
    # without storing it twice (socialcare.services.replay), so fewer rows than requests.
    distinct = len({(repr(d.target), d.body) for d in work.deliveries})
    kinds = Counter(d.kind for d in work.deliveries)
    # The same post in several deliveries, racing in different workers.
    robustness.fault(kinds["resend"] + kinds["combined"])
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
    for n in range(CLUSTERS):
        cluster.start_worker(f"qcluster{n + 1}")
    cluster.wait_ready()
    clusters_ready = time.monotonic()
    progress = Progress(cluster, distinct)

    # Idle connections are dropped before gunicorn's keep-alive (5 s) closes them from its side.
    limits = httpx.Limits(max_connections=SENDERS + REPLIES_PER_CASE * 2, keepalive_expiry=2)
    with httpx.Client(timeout=30, limits=limits, trust_env=False) as client:
        pusher = Pusher(cluster, client)
        agents = Agents(cluster, client, api_key)
        roots = work.roots[:: max(1, len(work.roots) // REPLY_CASES)][:REPLY_CASES]
        pushing = threading.Thread(target=pusher.run, args=(work.deliveries,), daemon=True)
        replying = threading.Thread(
            target=agents.run, args=(roots, time.monotonic() + DRAIN_TIMEOUT), daemon=True
        )
        started = time.perf_counter()
        pushing.start()
        replying.start()
        try:
            progress.wait_kill_moment(distinct, clusters_ready)
            kills = kill_faults(cluster, robustness)
            agents.go.set()

            pushing.join(DRAIN_TIMEOUT)
            assert not pushing.is_alive(), "the senders never finished"
            assert not pusher.crashed, pusher.crashed
            assert pusher.statuses == {200: len(work.deliveries)}, "\n".join(
                [str(pusher.statuses), *pusher.refusals[:5], "server errors:", *cluster.errors()]
            )

            # What the kills left behind, once everything else is done; then the sweeper.
            stranded = progress.wait_quiet()
            swept = time.perf_counter()
            run_sweeper(cluster)
            progress.wait_processed(distinct)
            agents.settled.set()
            replying.join(DRAIN_TIMEOUT)
            assert not replying.is_alive(), "the agents never finished replying"
            assert not agents.failures, "\n".join(
                [*agents.failures[:5], "server errors:", *cluster.errors()]
            )
            drained = progress.wait_drained(len(agents.sent))
        except BaseException:
            agents.stop.set()
            pusher.aborted.set()
            raise
        health = [client.get(url + "/socialcare/health/").json() for url in pusher.urls]
    progress.close()

    # The schedules: the clusters' schedulers passed, one ran each due schedule.
    last_start = max(clusters_ready, kills["restarted"])
    while not marks.exists() and time.monotonic() < clusters_ready + SCHEDULER_PASS + 30:
        time.sleep(0.5)
    time.sleep(max(0.0, last_start + SCHEDULER_PASS + 5 - time.monotonic()))
    schedule_runs = marks.read_text().splitlines() if marks.exists() else []

    # The faults hit deliveries in flight; those, and only those, were recovered: the claims of
    # the killed workers at once, by their replacements (issue #25, "claims that die with their
    # worker"), the tasks Redis lost by the sweeper.
    retried = set(WebhookDelivery.objects.filter(attempts__gt=1).values_list("pk", flat=True))
    assert stranded or retried, (
        "the kills left no delivery unfinished: the fault hit nothing "
        f"(workers caught busy: {kills['caught_busy']})"
    )
    late = list(
        WebhookDelivery.objects.filter(
            pk__in=set(stranded) | retried, received_at__gt=kills["killed_at"]
        ).values_list("pk", flat=True)
    )
    assert not late, f"deliveries received after the kills were stuck or retried: {listing(late)}"
    reincarnated = [
        e for e in cluster.records("qcluster2") if "reincarnated worker" in e.get("message", "")
    ]
    assert reincarnated, "qcluster2 did not replace its killed worker process"

    # Deliveries: all stored and processed, none failed.
    deliveries = WebhookDelivery.objects.all()
    states = dict(deliveries.values_list("status").annotate(n=Count("id")))
    robustness.lost(distinct - states.get(WebhookDelivery.Status.PROCESSED, 0))
    assert deliveries.count() == distinct
    assert states == {WebhookDelivery.Status.PROCESSED: distinct}, states

    # Posts: each platform post exactly once.
    inbound = Post.objects.filter(direction=Post.Direction.INBOUND)
    found = set(inbound.values_list("external_id", flat=True))
    missing = sorted(set(work.posts) - found)
    robustness.lost(len(missing))
    assert not missing, f"{len(missing)} posts never stored: {listing(missing)}"
    doubled = list(
        inbound.values("platform", "external_id").annotate(n=Count("id")).filter(n__gt=1)[:5]
    )
    assert not doubled, f"posts stored more than once: {doubled}"
    assert found == set(work.posts), f"unexpected posts: {listing(sorted(found - set(work.posts)))}"
    assert inbound.count() == len(work.posts)

    # Cases: one live case per customer, holding all their posts; no duplicates.
    post_case = dict(inbound.values_list("external_id", "case_id"))
    merged_into = dict(Case.objects.values_list("pk", "merged_into_id"))

    def live(case_id: int) -> int:
        while merged_into[case_id]:
            case_id = merged_into[case_id]
        return case_id

    per_customer = {key: {live(post_case[i]) for i in ids} for key, ids in work.customers.items()}
    live_cases = Case.objects.filter(merged_into__isnull=True).count()
    robustness.lost(work.expected_cases - len({min(c) for c in per_customer.values()}))
    split = {key: cases for key, cases in per_customer.items() if len(cases) > 1}
    assert not split, (
        f"{len(split)} customers' posts are on several cases: {list(split.items())[:3]}"
    )
    assert len({next(iter(c)) for c in per_customer.values()}) == len(work.customers)
    assert live_cases == work.expected_cases, (
        f"{live_cases} live cases for {work.expected_cases} customers"
    )
    merged = Case.objects.filter(merged_into__isnull=False).count()

    # Replies: every one stored once, sent once, on the case it was written on.
    robustness.fault(len(agents.sent) // REPLIES_PER_CASE)  # three agents racing on one case
    outbound = Post.objects.filter(direction=Post.Direction.OUTBOUND)
    robustness.lost(len(agents.sent) - outbound.filter(send_status=Post.SendStatus.SENT).count())
    assert not agents.failures, "\n".join(
        [*agents.failures[:5], "server errors:", *cluster.errors()]
    )
    assert len(agents.sent) == len(roots) * REPLIES_PER_CASE
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
        f"{pusher.seconds:.1f} s = {len(work.deliveries) / pusher.seconds:.0f} deliveries/s, "
        f"latency p50 {statistics.median(latencies_ms):.0f} ms, "
        f"p99 {percentile(latencies_ms, 0.99):.0f} ms; {pusher.resent} sent again after no answer",
        f"  {len(work.posts)} posts on {live_cases} cases ({merged} merged after out-of-order "
        f"arrival) and {len(agents.sent)} replies ({REPLIES_PER_CASE} at once per case) done "
        f"{ingest_seconds:.1f} s after the first delivery = "
        f"{len(work.posts) / ingest_seconds:.0f} posts/s, "
        f"{len(work.deliveries) / ingest_seconds:.0f} deliveries/s end to end",
        f"  SIGKILL of qcluster1 and of a qcluster2 worker (caught inside a delivery: "
        f"{kills['caught_busy']}): {len(retried)} deliveries taken over from killed workers, "
        f"{len(stranded)} stranded and re-queued by the sweeper {swept - started:.1f} s in, all "
        "processed once",
        f"  schedules due at start: run once ({len(schedule_runs)} run of the counted one)",
    ]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
