"""``manage.py socialcare_simulate``: customers posting live, for the demo and for benchmarks.

The work is done by ``socialcare.simulator``; this command reads the options and prints.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from socialcare import simulator
from socialcare.simulator import Options, ProgressLine, Run, SimulatorError


def _positive(kind: type) -> Any:
    """An argparse type: a number of ``kind``, 0 or more."""

    def parse(value: str) -> Any:
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
        if number < 0:
            raise argparse.ArgumentTypeError(f"{value} is negative")
        return number

    return parse


class Command(BaseCommand):
    help = (
        "Simulate customers posting: signed, real-format webhook deliveries (X, Facebook, "
        "Instagram) sent to a running server for every active channel, and Mastodon/Bluesky "
        "notifications served by a local fake API and polled. See docs/simulator.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000",
            help="The running server to send webhook deliveries to (default %(default)s).",
        )
        parser.add_argument(
            "--rate",
            type=_positive(float),
            default=2.0,
            help="Posts per second (default %(default)s; 0: as fast as the senders go).",
        )
        stop = parser.add_argument_group("when to stop (default: after 60 posts)")
        stop.add_argument(
            "--count",
            type=_positive(int),
            help="Stop after this many posts (the spike not counted).",
        )
        stop.add_argument(
            "--duration",
            type=_positive(float),
            help="Stop after this many seconds (with --count: whichever comes first).",
        )
        parser.add_argument(
            "--platforms",
            default="",
            help="Only these platforms, comma-separated: "
            + ",".join(simulator.SIMULATED_PLATFORMS),
        )
        parser.add_argument(
            "--concurrency",
            type=_positive(int),
            default=2,
            help="Parallel senders (default %(default)s); raise it to load the endpoint.",
        )
        parser.add_argument(
            "--spike",
            type=_positive(int),
            default=0,
            metavar="N",
            help="Also send a fast burst of N negative posts about one topic from N different "
            "customers, a third into the run.",
        )
        parser.add_argument(
            "--spike-topic", default="checkout", help="The spike's topic (default %(default)s)."
        )
        parser.add_argument(
            "--seed",
            type=int,
            help="Seed of who writes what (default: random, printed in the summary).",
        )
        parser.add_argument(
            "--no-polled",
            action="store_true",
            help="Leave Mastodon and Bluesky channels alone (no fake API, no polling).",
        )
        parser.add_argument(
            "--poll-interval",
            type=_positive(float),
            default=2.0,
            help="Seconds between polls of Mastodon and Bluesky channels (default %(default)s).",
        )
        parser.add_argument(
            "--timeout",
            type=_positive(float),
            default=10.0,
            help="Seconds to wait for the server's answer to one delivery (default %(default)s).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Print one sample payload per platform and exit; nothing is sent or changed.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        platforms = [p.strip().lower() for p in options["platforms"].split(",") if p.strip()]
        unknown = sorted(set(platforms) - set(simulator.SIMULATED_PLATFORMS))
        if unknown:
            raise CommandError(
                f"--platforms: unknown {', '.join(unknown)}; "
                f"choose from {', '.join(simulator.SIMULATED_PLATFORMS)}."
            )
        url = options["url"].rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise CommandError(f"--url {url!r} must start with http:// or https://.")
        if options["concurrency"] < 1:
            raise CommandError("--concurrency must be at least 1.")
        if options["duration"] == 0:
            raise CommandError("--duration must be more than 0 seconds.")
        if options["poll_interval"] == 0 or options["timeout"] == 0:
            raise CommandError("--poll-interval and --timeout must be more than 0 seconds.")
        count = options["count"]
        if count is None and options["duration"] is None:
            count = 60
        seed = options["seed"] if options["seed"] is not None else secrets.randbelow(1_000_000)
        run_options = Options(
            url=url,
            rate=options["rate"],
            count=count,
            duration=options["duration"],
            concurrency=options["concurrency"],
            spike=options["spike"],
            spike_topic=options["spike_topic"].strip() or "checkout",
            poll_interval=options["poll_interval"],
            timeout=options["timeout"],
            seed=seed,
        )
        verbosity = options["verbosity"]

        try:
            targets, notes = simulator.load_targets(platforms, polled=not options["no_polled"])
        except DatabaseError as exc:
            if not options["dry_run"]:
                raise CommandError(
                    f"Cannot read the channels ({exc}). Is the database migrated? Run "
                    "`python manage.py socialcare_demo --no-serve` first."
                ) from None
            targets, notes = [], []
        for note in notes:
            self.stderr.write(f"Note: {note}", style_func=self.style.WARNING)
        if options["dry_run"]:
            self._dry_run(targets, platforms, run_options)
            return
        if not targets:
            where = f" on {', '.join(platforms)}" if platforms else ""
            raise CommandError(
                f"No active channel to simulate for{where}. Run `python manage.py "
                "socialcare_demo --no-serve` first to create the demo channels, or add channels "
                "in the admin."
            )

        def write_progress(text: str) -> None:
            self.stderr.write(text, ending="", style_func=lambda plain: plain)
            self.stderr.flush()

        progress = ProgressLine(write_progress, tty=self.stderr.isatty())
        write_lock = threading.Lock()

        def event(post: simulator.SimPost, outcome: str) -> None:
            if verbosity >= 2:
                with write_lock:
                    self.stdout.write(f"{post.describe()}: {outcome}")

        try:
            run = Run(
                targets,
                run_options,
                progress=(lambda stats: progress(stats, run_options)) if verbosity >= 1 else None,
                event=event,
            )
            for warning in run.probe():
                self.stderr.write(f"Warning: {warning}", style_func=self.style.WARNING)
        except SimulatorError as exc:
            raise CommandError(str(exc)) from None
        except KeyboardInterrupt:
            raise CommandError("Interrupted before anything was sent.") from None
        if verbosity >= 1:
            self.stdout.write(f"Simulating for {len(targets)} channel(s) against {url}:")
            for line in simulator.plan(targets):
                self.stdout.write(line)
        with _interrupt_on_sigterm(), _quiet_logger("django-q", unless=verbosity >= 2):
            try:
                stats = run.execute()
            finally:
                progress.finish()
        for line in simulator.summary(stats, run_options, targets):
            self.stdout.write(line)
        if stats.failed:
            problems = []
            if stats.refused:
                problems.append(f"{stats.refused} deliveries refused")
            if stats.errors:
                problems.append(f"{stats.errors} connection errors")
            if stats.poll_errors:
                problems.append(f"{stats.poll_errors} failed polls")
            raise CommandError("Simulation finished with " + ", ".join(problems) + " (see above).")

    def _dry_run(self, targets: list, platforms: list[str], run_options: Options) -> None:
        if not targets:
            targets = [
                t for t in simulator.EXAMPLE_TARGETS if not platforms or t.platform in platforms
            ]
            self.stdout.write(
                "# No matching channels in the database: examples with the fixture accounts "
                "(signed with 'example-secret')."
            )
        for line in simulator.dry_run(targets, seed=run_options.seed, url=run_options.url):
            self.stdout.write(line)


@contextmanager
def _interrupt_on_sigterm() -> Iterator[None]:
    """SIGTERM stops the run like Ctrl-C does (channels restored, summary printed)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _quiet_logger(name: str, *, unless: bool) -> Iterator[None]:
    """Only warnings from ``name`` during the run (django-q logs each task it queues, which the
    polling service does once per polled page), so they do not break the progress line."""
    logger = logging.getLogger(name)
    previous = logger.level
    if not unless:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(previous)
