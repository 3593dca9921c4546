"""What the command prints: the plan, the progress line, the summary, ``--dry-run`` samples."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from socialcare.simulator.generator import Simulator
from socialcare.simulator.run import Options, Stats, webhook_path
from socialcare.simulator.targets import Target


# Output -----------------------------------------------------------------------------------------
class ProgressLine:
    """A one-line progress bar on a terminal (redrawn with ``\\r``), a line every few seconds
    elsewhere (logs, CI). ``write`` gets the text to print as it is (no newline added)."""

    def __init__(
        self, write: Callable[[str], None], *, tty: bool, width: int = 24, every: float = 5.0
    ) -> None:
        self.write = write
        self.tty = tty
        self.width = width
        self.every = every
        self._last = 0.0
        self._drawn = False

    def __call__(self, stats: Stats, options: Options) -> None:
        now = time.monotonic()
        if now - self._last < (0.1 if self.tty else self.every):
            return
        self._last = now
        line = self.render(stats, options)
        if self.tty:
            self.write("\r" + line + "\x1b[K")
            self._drawn = True
        else:
            self.write(line + "\n")

    def render(self, stats: Stats, options: Options) -> str:
        with stats.lock:
            if options.count is not None:
                total = options.count + options.spike
                fraction = stats.generated / total if total else 1.0
                done = f"{stats.generated}/{total}"
            else:
                fraction = stats.elapsed / options.duration if options.duration else 0.0
                done = f"{stats.generated}"
            filled = int(min(1.0, max(0.0, fraction)) * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            parts = [f"[{bar}] {done} posts", f"sent {stats.sent}", f"ok {stats.accepted}"]
            if stats.refused:
                parts.append(f"refused {stats.refused}")
            if stats.errors:
                parts.append(f"errors {stats.errors}")
            if stats.queued_for_polling:
                parts.append(f"polled {stats.polled_fetched}/{stats.queued_for_polling}")
            parts.append(f"{stats.elapsed:.1f} s")
        return " · ".join(parts)

    def finish(self) -> None:
        if self.tty and self._drawn:
            self.write("\n")


def summary(stats: Stats, options: Options, targets: Sequence[Target]) -> list[str]:
    """The closing report, one string per line."""
    elapsed = max(stats.elapsed, 1e-6)
    how = "interrupted after" if stats.interrupted else "in"
    lines = [
        f"Simulated {stats.generated} posts {how} {elapsed:.1f} s on {len(targets)} channel(s) "
        f"(seed {options.seed})."
    ]
    if stats.sent or any(not t.polled for t in targets):
        statuses = ", ".join(f"HTTP {code} ×{n}" for code, n in sorted(stats.refusals.items()))
        lines.append(
            f"  webhooks: {stats.sent} sent · {stats.accepted} accepted (2xx) · "
            f"{stats.refused} refused{f' ({statuses})' if statuses else ''} · "
            f"{stats.errors} connection errors"
        )
        if stats.latencies:
            ordered = sorted(stats.latencies)
            p50 = statistics.median(ordered)
            p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
            lines.append(
                f"            {stats.sent / elapsed:.1f} deliveries/s · latency p50 {p50 * 1000:.0f} ms"
                f" · p95 {p95 * 1000:.0f} ms · max {ordered[-1] * 1000:.0f} ms"
            )
        if stats.webhook_posts_stored is not None:
            lines.append(_on_cases(stats.webhook_posts_stored, stats.accepted, "accepted"))
    if stats.queued_for_polling or any(t.polled for t in targets):
        per = ", ".join(f"{p} {len(ids)}" for p, ids in sorted(stats.polled_ids.items()))
        lines.append(
            f"  polled:   {stats.queued_for_polling} notifications{f' ({per})' if per else ''} · "
            f"{stats.polled_fetched} fetched by {stats.polls} polls · "
            f"{stats.polled_deliveries} deliveries queued · {stats.poll_errors} poll errors"
        )
        if stats.polled_posts_stored is not None:
            lines.append(_on_cases(stats.polled_posts_stored, stats.polled_fetched, "polled"))
    mix = " · ".join(f"{p} {n}" for p, n in sorted(stats.by_platform.items()))
    regular = stats.generated - stats.spike  # the spike is public only
    share = f"{100 * stats.private / regular:.0f} %" if regular else "0 %"
    lines.append(f"  posts:    {mix or 'none'}")
    lines.append(
        f"            {stats.private} private ({share}) · {stats.threads} in threads"
        + (
            f" · spike: {stats.spike} negative posts about {options.spike_topic!r}"
            if options.spike
            else ""
        )
    )
    if stats.first_refusal:
        lines.append(f"  first refusal: {stats.first_refusal}")
    if stats.first_error:
        lines.append(f"  first connection error: {stats.first_error}")
    if stats.first_poll_error:
        lines.append(f"  first poll error: {stats.first_poll_error}")
    if stats.stopped_early:
        lines.append(f"  {stats.stopped_early}")
    return lines


def _on_cases(stored: int, expected: int, what: str) -> str:
    """How many of the posts the server took are on cases: its worker makes them."""
    waiting = ""
    if expected and not stored:
        waiting = (
            " (none processed yet: is the worker, `manage.py qcluster`, running on this database?)"
        )
    elif stored < expected:
        waiting = " (the worker is still processing the rest)"
    return f"            {stored} of {expected} {what} posts are on cases now{waiting}"


def dry_run(targets: Sequence[Target], *, seed: int, url: str) -> Iterator[str]:
    """One sample payload per platform, as it would be sent (or served, for polled platforms)."""
    by_platform: dict[str, Target] = {}
    for target in targets:
        by_platform.setdefault(target.platform, target)
    simulator = Simulator(list(by_platform.values()), seed=seed)
    for platform, target in by_platform.items():
        post = simulator.sample(target)
        yield f"# {platform}: {post.describe()} for {target}"
        if target.polled:
            if platform == "mastodon":
                yield "# served to the adapter's GET /api/v1/notifications?types[]=mention&min_id=…"
                document: Any = [post.item]
            else:
                yield "# served by app.bsky.notification.listNotifications (profile by getProfiles)"
                document = {"notifications": [post.item], "profiles": [post.profile]}
            yield json.dumps(document, ensure_ascii=False, indent=2)
        else:
            path = webhook_path(platform, target.channel_id or 0).replace("/0/", "/<channel id>/")
            yield f"POST {url.rstrip('/')}{path}"
            for name, value in post.headers.items():
                yield f"{name}: {value}"
            yield ""
            yield json.dumps(json.loads(post.body), ensure_ascii=False, indent=2)
        yield ""


def plan(targets: Sequence[Target]) -> list[str]:
    """What the run will do, per channel."""
    lines = []
    for target in targets:
        how = "polled from the fake API" if target.polled else "webhook deliveries"
        lines.append(f"  {target}: {how}")
    return lines
