"""``Run``: one simulation against a running server (webhook deliveries over HTTP, polled channels
pointed at the fake API and polled, their pages queued for the server's worker), with its
``Options`` and ``Stats``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from socialcare.simulator.fake_api import FakePlatformAPI
from socialcare.simulator.generator import Simulator
from socialcare.simulator.polled_payloads import _iso_ms
from socialcare.simulator.targets import SimPost, Target
from socialcare.simulator.webhook_payloads import USER_AGENT

#: At the end, stop waiting for the worker when it made no progress for this long.
STALL_SECONDS = 3.0


class SimulatorError(Exception):
    """Something that stops a simulation before it starts (the command turns it into an error)."""


# Running against a server ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Options:
    url: str = "http://127.0.0.1:8000"
    rate: float = 2.0  # deliveries per second; 0: as fast as the senders go
    count: int | None = 60  # posts of the normal stream; None: until ``duration``
    duration: float | None = None  # seconds; None: until ``count``
    concurrency: int = 2
    spike: int = 0
    spike_topic: str = "checkout"
    poll_interval: float = 2.0
    timeout: float = 10.0
    seed: int = 0
    #: Seconds to wait at the end for the server's worker to turn accepted and polled deliveries
    #: into posts.
    settle: float = 15.0


@dataclass
class Stats:
    """What happened, updated by the sender threads and the main thread (under ``lock``)."""

    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    generated: int = 0
    by_platform: Counter = field(default_factory=Counter)
    private: int = 0
    threads: int = 0
    spike: int = 0
    sent: int = 0
    accepted: int = 0
    refused: int = 0
    errors: int = 0
    errors_in_a_row: int = 0
    first_refusal: str = ""
    first_error: str = ""
    refusals: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    queued_for_polling: int = 0  # notifications published on the fake API
    polls: int = 0
    poll_errors: int = 0
    first_poll_error: str = ""
    polled_fetched: int = 0  # of those, fetched by the polls
    polled_deliveries: int = 0  # pages the polls stored and queued for the worker
    webhook_posts_stored: int | None = None
    polled_posts_stored: int | None = None
    interrupted: bool = False
    stopped_early: str = ""
    accepted_ids: dict[str, list[str]] = field(default_factory=dict)
    polled_ids: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def failed(self) -> bool:
        return bool(self.refused or self.errors or self.poll_errors)


class Run:
    """One simulation: probe the server, point polled channels at the fake API, send, poll, count.

    ``progress(stats)`` is called from the main thread a few times a second; ``event(post, outcome)``
    from the sender threads after each delivery (and from the main thread for polled posts).
    """

    def __init__(
        self,
        targets: Sequence[Target],
        options: Options,
        *,
        progress: Callable[[Stats], None] | None = None,
        event: Callable[[SimPost, str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.targets = list(targets)
        self.options = options
        self.progress = progress or (lambda stats: None)
        self.event = event or (lambda post, outcome: None)
        self.simulator = Simulator(self.targets, seed=options.seed, clock=clock)
        self.stats = Stats()
        self.webhook_targets = [t for t in self.targets if not t.polled]
        self.polled_targets = [t for t in self.targets if t.polled]
        self.base = options.url.rstrip("/")
        local = urlsplit(self.base).hostname in ("127.0.0.1", "localhost", "::1")
        self.client = httpx.Client(
            timeout=options.timeout,
            limits=httpx.Limits(max_connections=max(1, options.concurrency)),
            headers={"User-Agent": USER_AGENT},
            trust_env=not local,  # never send local traffic through a proxy from the environment
        )
        self.clock = clock
        self.api: FakePlatformAPI | None = None
        self.urls = {t.channel_id: self.webhook_url(t) for t in self.webhook_targets}
        self._slots = threading.BoundedSemaphore(max(1, options.concurrency) * 2)
        self._flight = threading.Lock()
        self._in_flight = 0

    # Probing -------------------------------------------------------------------------------------
    def webhook_url(self, target: Target) -> str:
        return self.base + webhook_path(target.platform, target.channel_id)

    def probe(self) -> list[str]:
        """Check that the server answers and knows every webhook channel (with the platforms'
        verification GET). Raises ``SimulatorError`` when it cannot be reached at all or does not
        know a channel; returns warnings (a CRC answer that does not match our secret)."""
        warnings = []
        for target in self.webhook_targets:
            url = self.urls[target.channel_id]
            if target.platform == "x":
                params = {"crc_token": "socialcare-simulator"}
            else:
                params = {"hub.mode": "subscribe", "hub.verify_token": target.verify_token,
                          "hub.challenge": "socialcare-simulator"}  # fmt: skip
            try:
                response = self.client.get(url, params=params)
            except httpx.HTTPError as exc:
                raise SimulatorError(
                    f"Cannot reach the server at {self.base} ({_error_text(exc)}). Start it first "
                    "(python manage.py socialcare_demo, or runserver + qcluster), or pass --url."
                ) from None
            if response.status_code == 404:
                raise SimulatorError(
                    f"The server at {self.base} answered 404 for {target} at {url}: "
                    f"{response.text[:300]}. Is it running on this database and with socialcare's "
                    "URLs under /socialcare/?"
                )
            if target.platform == "x" and response.status_code == 200:
                token = (response.json() or {}).get("response_token", "")
                digest = hmac.new(
                    target.secret.encode(), b"socialcare-simulator", hashlib.sha256
                ).digest()
                if token != "sha256=" + base64.b64encode(digest).decode():
                    warnings.append(
                        f"{target}: the server's CRC answer does not match this channel's secret."
                    )
        return warnings

    # Running -------------------------------------------------------------------------------------
    def execute(self) -> Stats:
        """Run until the count or duration is reached (or Ctrl-C), then report."""
        stats = self.stats
        try:
            fake = FakePlatformAPI(self.clock) if self.polled_targets else nullcontext()
            with fake as api:
                self.api = api
                with self._pointed_at_fake_api():
                    executor = ThreadPoolExecutor(
                        max_workers=max(1, self.options.concurrency),
                        thread_name_prefix="socialcare-simulate",
                    )
                    self._executor = executor
                    try:
                        self._loop()
                        self._drain()
                    except KeyboardInterrupt:
                        stats.interrupted = True
                    finally:
                        # Deliveries in flight end within --timeout; queued ones are dropped.
                        executor.shutdown(wait=True, cancel_futures=True)
        finally:
            stats.ended = time.monotonic()
            self.client.close()
        try:
            self._count_stored(wait=0 if stats.interrupted else self.options.settle)
        except KeyboardInterrupt:
            stats.interrupted = True
        return stats

    def _loop(self) -> None:
        options, stats = self.options, self.stats
        interval = 1.0 / options.rate if options.rate > 0 else 0.0
        deadline = stats.started + options.duration if options.duration else None
        spike_after = None
        if options.spike:
            spike_after = (options.count // 3) if options.count is not None else None
        spike_at = (
            stats.started + options.duration / 3 if options.spike and options.duration else None
        )
        self._next_poll = time.monotonic()
        self._next_progress = 0.0
        index, due, spiked = 0, time.monotonic(), not options.spike
        while True:
            now = time.monotonic()
            if not spiked and (
                (spike_after is not None and index >= spike_after)
                or (spike_at is not None and now >= spike_at)
            ):
                spiked = True
                for post in self.simulator.spike(options.spike, options.spike_topic):
                    self._dispatch(post)
            if (options.count is not None and index >= options.count) or (
                deadline and now >= deadline
            ):
                break
            if self._server_gone():
                break
            while (now := time.monotonic()) < due:
                self._tick(now)
                time.sleep(min(due - now, 0.05))
                if deadline and time.monotonic() >= deadline:
                    break
            if deadline and time.monotonic() >= deadline:
                break
            self._dispatch(self.simulator.next_post())
            index += 1
            # On schedule; a slow server is not answered with a burst that catches up.
            due = max(due + interval, time.monotonic() - 1.0) if interval else 0.0
            self._tick(time.monotonic())

    def _server_gone(self) -> bool:
        limit = max(10, 3 * self.options.concurrency)
        with self.stats.lock:
            if self.stats.errors_in_a_row >= limit:
                self.stats.stopped_early = (
                    f"stopped after {self.stats.errors_in_a_row} connection errors in a row: "
                    "the server stopped answering"
                )
                return True
        return False

    def _tick(self, now: float) -> None:
        if self.polled_targets and (now >= self._next_poll or self.api.pending() >= 200):
            self._poll()
            self._next_poll = time.monotonic() + self.options.poll_interval
        if now >= self._next_progress:
            self.progress(self.stats)
            self._next_progress = now + 0.2

    def _dispatch(self, post: SimPost) -> None:
        stats = self.stats
        with stats.lock:
            stats.generated += 1
            stats.by_platform[post.target.platform] += 1
            stats.private += post.visibility == "private"
            stats.threads += post.thread
            stats.spike += post.spike
        if post.target.polled:
            assert self.api is not None
            self.api.publish(post)
            with stats.lock:
                stats.queued_for_polling += 1
                stats.polled_ids.setdefault(post.target.platform, []).append(post.external_id)
            self.event(post, "queued for the next poll")
            return
        while not self._slots.acquire(timeout=0.05):  # keep polling while the senders are busy
            self._tick(time.monotonic())
        with self._flight:
            self._in_flight += 1
        future = self._executor.submit(self._send, post)
        future.add_done_callback(self._landed)

    def _landed(self, future: Future) -> None:
        with self._flight:
            self._in_flight -= 1
        self._slots.release()

    def _send(self, post: SimPost) -> None:
        stats = self.stats
        url = self.urls[post.target.channel_id]
        with stats.lock:
            stats.sent += 1
        start = time.perf_counter()
        try:
            response = self.client.post(url, content=post.body, headers=dict(post.headers))
        except httpx.HTTPError as exc:
            with stats.lock:
                stats.errors += 1
                stats.errors_in_a_row += 1
                stats.first_error = stats.first_error or f"{post.target}: {_error_text(exc)}"
            self.event(post, f"connection error: {_error_text(exc)}")
            return
        latency = time.perf_counter() - start
        with stats.lock:
            stats.errors_in_a_row = 0
            stats.latencies.append(latency)
            if 200 <= response.status_code < 300:
                stats.accepted += 1
                stats.accepted_ids.setdefault(post.target.platform, []).append(post.external_id)
            else:
                stats.refused += 1
                stats.refusals[response.status_code] += 1
                stats.first_refusal = stats.first_refusal or (
                    f"HTTP {response.status_code} from {post.target}: {response.text[:300]}"
                )
        self.event(post, f"HTTP {response.status_code}")

    def _poll(self) -> None:
        from socialcare.models import Channel
        from socialcare.services.polling import poll_channel

        for target in self.polled_targets:
            channel = Channel.objects.filter(pk=target.channel_id).first()
            if channel is None:
                continue
            # Stored and queued for the server's worker, as a webhook delivery is: ingesting here
            # would run detectors and playbooks (and send their mail) in the simulator's process.
            outcome = poll_channel(channel, client=self.poll_client, process=False)
            with self.stats.lock:
                self.stats.polls += 1
                self.stats.polled_deliveries += len(outcome.deliveries)
                self.stats.polled_fetched = self.api.fetched()
                if outcome.error:
                    self.stats.poll_errors += 1
                    self.stats.first_poll_error = (
                        self.stats.first_poll_error or f"{target}: {outcome.error}"
                    )

    def _drain(self) -> None:
        """Wait for the deliveries in flight, then poll until the fake API has served everything."""
        while True:
            with self._flight:
                if not self._in_flight:
                    break
            self._tick(time.monotonic())
            time.sleep(0.02)
        if self.polled_targets:
            for _ in range(5):
                self._poll()
                if not self.api.pending():
                    break
        self.progress(self.stats)

    @contextmanager
    def _pointed_at_fake_api(self) -> Iterator[None]:
        """Polled channels poll the fake API during the run; their base URL and cursor are put
        back afterwards, whatever happens (also on Ctrl-C)."""
        if not self.polled_targets:
            yield
            return
        from socialcare.models import Channel

        self.poll_client = httpx.Client(timeout=self.options.timeout, trust_env=False)
        saved: dict[int, tuple[str, str]] = {}
        start = _iso_ms(int(self.clock() * 1000) - 1)
        try:
            for target in self.polled_targets:
                channel = Channel.objects.get(pk=target.channel_id)
                saved[target.channel_id] = (channel.base_url, channel.poll_cursor)
                # A cursor before any simulated notification: everything the fake serves is new
                # (Mastodon: any id is newer than "0"; Bluesky: the newest indexedAt seen).
                cursor = "0" if target.platform == "mastodon" else start
                Channel.objects.filter(pk=target.channel_id).update(
                    base_url=self.api.add(target), poll_cursor=cursor
                )
            yield
        finally:
            for channel_id, (base_url, cursor) in saved.items():
                Channel.objects.filter(pk=channel_id).update(base_url=base_url, poll_cursor=cursor)
            self.poll_client.close()

    def _count_stored(self, *, wait: float) -> None:
        """How many simulated posts are on cases now. Accepted webhook deliveries and polled pages
        are once the server's worker has processed them, so wait up to ``wait`` seconds for it
        while it makes progress."""
        from socialcare.models import Post

        def stored(ids: dict[str, list[str]]) -> int:
            total = 0
            for platform, external_ids in ids.items():
                for start in range(0, len(external_ids), 500):
                    chunk = external_ids[start : start + 500]
                    total += Post.objects.filter(platform=platform, external_id__in=chunk).count()
            return total

        stats = self.stats
        if not stats.accepted_ids and not stats.polled_ids:
            return
        expected = stats.accepted + stats.polled_fetched
        deadline = time.monotonic() + wait
        last, changed_at = -1, time.monotonic()
        while True:
            webhook, polled = stored(stats.accepted_ids), stored(stats.polled_ids)
            count, now = webhook + polled, time.monotonic()
            if count != last:
                last, changed_at = count, now
            if count >= expected or now >= deadline or now - changed_at >= STALL_SECONDS:
                break
            time.sleep(0.25)
        if stats.accepted_ids:
            stats.webhook_posts_stored = webhook
        if stats.polled_ids:
            stats.polled_posts_stored = polled


def webhook_path(platform: str, channel_id: int | str) -> str:
    """The webhook endpoint's path in this project's URLconf (the usual one if not mounted)."""
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse(
            "socialcare:webhook", kwargs={"platform": platform, "channel_id": channel_id}
        )
    except NoReverseMatch:
        return f"/socialcare/webhooks/{platform}/{channel_id}/"


def _error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
