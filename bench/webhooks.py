"""Webhook accept under concurrent load: gunicorn + PostgreSQL, signed X and Meta deliveries.

The demo project runs under gunicorn on loopback (settings: ``bench._webhook_site``, the demo's
with PostgreSQL, persistent connections and django-q2 on Redis when ``redis-server`` is
installed). A separate process (``bench._load``) sends pre-signed, real-format deliveries made by
``socialcare.simulator`` with the secrets stored on three benchmark channels (X, Facebook Page,
Instagram) at a fixed open-loop rate and measures every request from its scheduled start to the
end of its response. The same load against a trivial view on the same server (``/bench/floor/``:
same middleware, body read, static JSON) is the reference. Every delivery sent is a new one
(replay protection answers a body sent twice "duplicate" without storing it) until the
``DISTINCT`` prepared ones are used up. Afterwards the stored ``WebhookDelivery`` rows are
counted against the deliveries the 200 answers name.

Figures: p99 and p50 latency and the rate achieved at 300 deliveries/s offered, the highest rate
still answered with p99 < 50 ms (a ladder of short open-loop steps), and deliveries lost.

Standalone: ``python -m bench.webhooks [--quick] [--worker-class gthread --workers 4 --threads 8]``
with the PostgreSQL server in the ``PG*`` environment variables. Inside the server's settings the
module also answers ``python -m bench.webhooks prepare|count`` (used by ``run``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.figures import Figure

HTTP_PORT = 18470
REDIS_PORT = 18479
SETTINGS = "bench._webhook_site"
CHANNEL_PREFIX = "bench-webhooks"
TARGET_RATE = 300.0
TARGET_P99_MS = 50.0
#: Distinct signed deliveries generated (~1.3 s for 20,000). Each run starts where the last one
#: stopped, so every delivery is new until they are used up (the warm-up, the 300/s slices and
#: the ladder up to ~1,000/s on 2 cores); after that a body is sent again and answered 200
#: "duplicate" (replay protection), which the lost count allows for.
DISTINCT = 20_000
#: The max-rate ladder: each step offers this much more than the last.
LADDER_STEP = 1.25
LADDER_MAX = 4000.0


@dataclass
class ServerConfig:
    """How gunicorn runs: ``gthread`` (threads share a worker) or ``sync`` (one request each)."""

    worker_class: str = "gthread"
    workers: int = field(default_factory=lambda: 2 * (os.cpu_count() or 1))
    threads: int = 8

    def args(self) -> list[str]:
        args = ["--worker-class", self.worker_class, "--workers", str(self.workers)]
        if self.worker_class == "gthread":
            args += ["--threads", str(self.threads)]
        return args

    def describe(self) -> str:
        if self.worker_class == "gthread":
            return f"gunicorn gthread, {self.workers} workers x {self.threads} threads"
        return f"gunicorn {self.worker_class}, {self.workers} workers"


# Inside Django (subprocesses with the benchmark server's settings) -----------------------------
def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    import django

    django.setup()


def prepare(out_dir: Path, distinct: int) -> dict[str, Any]:
    """Migrate, make the benchmark channels (a fresh secret each run) and write the requests."""
    import secrets

    from django.core.management import call_command

    from bench._load import build_request, write_requests
    from socialcare.models import Channel, WebhookDelivery
    from socialcare.simulator import Simulator, Target, webhook_path

    call_command("migrate", verbosity=0, interactive=False)
    accounts = {
        "x": "990000000000000001",
        "facebook": "990000000000002",
        "instagram": "990000000003",
    }
    targets = []
    for platform, account in accounts.items():
        channel, _ = Channel.objects.get_or_create(
            platform=platform,
            account_id=account,
            defaults={"name": f"{CHANNEL_PREFIX} {platform}", "handle": "AcmeBench"},
        )
        channel.is_active = True
        channel.set_secret("webhook_secret", secrets.token_urlsafe(32))
        if platform != "x":
            channel.set_secret("verify_token", secrets.token_urlsafe(16))
        channel.save()
        channel = Channel.objects.get(pk=channel.pk)  # the secret as stored (decrypted)
        targets.append(
            Target(
                channel_id=channel.pk,
                name=channel.name,
                platform=platform,
                account_id=channel.account_id,
                handle=channel.handle,
                secret=channel.get_secret("webhook_secret"),
                verify_token=channel.get_secret("verify_token"),
            )
        )
    simulator = Simulator(targets, seed=8)
    posts = [simulator.next_post() for _ in range(distinct)]
    paths = {t.channel_id: webhook_path(t.platform, t.channel_id) for t in targets}
    webhook = [build_request(paths[p.target.channel_id], p.body, dict(p.headers)) for p in posts]
    floor = [
        build_request(f"/bench/floor/{p.target.platform}/{p.target.channel_id}/", p.body,
                      dict(p.headers))
        for p in posts
    ]  # fmt: skip
    write_requests(out_dir / "webhook.bin", webhook)
    write_requests(out_dir / "floor.bin", floor)
    sizes = sorted(len(p.body) for p in posts)
    channel_ids = [t.channel_id for t in targets]
    return {
        "channels": channel_ids,
        "rows": WebhookDelivery.objects.filter(channel_id__in=channel_ids).count(),
        "platforms": {p: sum(1 for x in posts if x.target.platform == p) for p in accounts},
        "body_median": sizes[len(sizes) // 2],
        "body_max": sizes[-1],
    }


def count(channel_ids: Sequence[int], ids: Sequence[int]) -> dict[str, int]:
    """Rows stored for the benchmark channels, and how many of the answered ids exist."""
    from socialcare.models import WebhookDelivery

    rows = WebhookDelivery.objects.filter(channel_id__in=channel_ids)
    found = 0
    for start in range(0, len(ids), 5000):
        found += rows.filter(pk__in=ids[start : start + 5000]).count()
    return {"rows": rows.count(), "found": found}


# Orchestration ---------------------------------------------------------------------------------
def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f} s")


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class _Bench:
    def __init__(self, ctx: Any, config: ServerConfig, *, redis: bool | None = None) -> None:
        self.ctx = ctx
        self.config = config
        self.dir = Path(ctx.work_dir) / "webhooks"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.use_redis = shutil.which("redis-server") is not None if redis is None else redis
        extra = {"DJANGO_SETTINGS_MODULE": SETTINGS, "PYTHONPATH": str(ctx.repo)}
        if self.use_redis:
            extra["BENCH_REDIS_URL"] = f"redis://127.0.0.1:{REDIS_PORT}/0"
        self.env = ctx.env(**extra)
        self.ok_total = 0
        self.ids: list[int] = []
        self.offset: dict[str, int] = {}

    def python(self, *args: str, capture: bool = True) -> str:
        done = subprocess.run(
            [self.ctx.python, *args],
            env=self.env,
            cwd=self.ctx.repo,
            check=True,
            capture_output=capture,
            text=True,
        )
        return done.stdout

    def load(self, which: str, rate: float, duration: float, *, raw: bool = False) -> dict:
        out = self.dir / f"result-{which}.json"
        args = ["-m", "bench._load", "--requests", str(self.dir / f"{which}.bin")]
        args += ["--port", str(HTTP_PORT), "--rate", str(rate), "--duration", str(duration)]
        args += ["--out", str(out), "--offset", str(self.offset.get(which, 0))]
        if which == "webhook":
            args.append("--collect-ids")
        if raw:
            args.append("--latencies")
        self.python(*args)
        result = json.loads(out.read_text())
        self.offset[which] = self.offset.get(which, 0) + result["sent"]
        if which == "webhook":
            self.ok_total += result["ok"]
            self.ids += result.pop("delivery_ids")
        return result

    def sliced(self, rate: float, duration: float, slices: int) -> tuple[dict, dict]:
        """The reference and the webhook in alternating slices (a noisy neighbour then hits both
        alike), each merged into one result."""
        parts: dict[str, list[dict]] = {"floor": [], "webhook": []}
        for _ in range(slices):
            for which in parts:
                parts[which].append(self.load(which, rate, duration / slices, raw=True))
        return _merge(parts["floor"]), _merge(parts["webhook"])

    def ladder(self, which: str, step_seconds: float) -> tuple[float, list[dict]]:
        """Offer rising rates until p99 >= target or the server falls behind (twice in a row at
        one rate: one noisy step is retried); the best rate."""
        best, steps, rate, retried = 0.0, [], TARGET_RATE, False
        while rate <= LADDER_MAX:
            result = self.load(which, rate, step_seconds)
            steps.append(result)
            healthy = (
                result["p99_ms"] < TARGET_P99_MS
                and result["achieved"] >= 0.97 * rate
                and not result["errors"]
                and result["ok"] == result["sent"]
            )
            self.ctx.log(
                f"webhooks: {which} {rate:.0f}/s -> {result['achieved']:.0f}/s, "
                f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms"
            )
            if not healthy:
                if not retried:
                    retried = True
                    time.sleep(1.0)
                    continue
                break
            retried = False
            best = rate
            rate = round(rate * LADDER_STEP)
            time.sleep(0.5)
        return best, steps


def _merge(results: list[dict]) -> dict:
    """One result from slices of the same rate: counts summed, percentiles over all latencies."""
    from bench._load import percentile

    merged = dict(results[0])
    for key in ("sent", "ok", "errors", "connections_opened", "elapsed"):
        merged[key] = sum(r[key] for r in results)
    merged["duration"] = sum(r["duration"] for r in results)
    statuses: dict[str, int] = {}
    for r in results:
        for code, n in r["statuses"].items():
            statuses[code] = statuses.get(code, 0) + n
    merged["statuses"] = statuses
    ordered = sorted(v for r in results for v in r.pop("latencies_ms"))
    merged.pop("latencies_ms", None)
    merged["achieved"] = len(ordered) / merged["elapsed"] if merged["elapsed"] else 0.0
    for name, fraction in (("p50_ms", 0.5), ("p90_ms", 0.9), ("p99_ms", 0.99)):
        merged[name] = percentile(ordered, fraction)
    merged["max_ms"] = ordered[-1] if ordered else float("nan")
    merged["service_p99_ms"] = max(r["service_p99_ms"] for r in results)
    return merged


def _fmt(result: dict) -> str:
    return (
        f"{result['achieved']:.0f}/s achieved of {result['rate']:.0f}/s, p50 "
        f"{result['p50_ms']:.1f} ms, p90 {result['p90_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
        f"max {result['max_ms']:.0f} ms, {result['connections_opened']} connections"
    )


def run(ctx: Any, config: ServerConfig | None = None, redis: bool | None = None) -> list[Figure]:
    """The figures; ``redis=None`` uses Redis as django-q2's broker when it is installed."""
    config = config or ServerConfig()
    bench = _Bench(ctx, config, redis=redis)
    duration = 5.0 if ctx.quick else 20.0
    step_seconds = 1.5 if ctx.quick else 3.0
    slices = 2 if ctx.quick else 4
    redis_proc = server = None
    redis_dir = tempfile.mkdtemp(prefix="bench-redis-", dir=bench.dir)
    try:
        if bench.use_redis:
            redis_proc = subprocess.Popen(
                ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", redis_dir],
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
            _wait_port(REDIS_PORT, redis_proc)
        ctx.log("webhooks: migrating, making channels and signed deliveries")
        info = json.loads(
            bench.python("-m", "bench.webhooks", "prepare", "--out", str(bench.dir),
                         "--distinct", str(DISTINCT))
        )  # fmt: skip
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", HTTP_PORT)) == 0:
                raise RuntimeError(f"port {HTTP_PORT} is taken: another server still runs there")
        log = (bench.dir / "gunicorn.log").open("w")
        server = subprocess.Popen(
            [ctx.python, "-m", "gunicorn", "project.wsgi:application",
             "--bind", f"127.0.0.1:{HTTP_PORT}", *config.args(),
             "--backlog", "2048", "--log-level", "warning", "--error-logfile", "-"],
            env=bench.env, cwd=ctx.repo, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        _wait_port(HTTP_PORT, server)
        ctx.log(f"webhooks: {config.describe()} up; warming up")
        for which in ("floor", "webhook"):
            bench.load(which, 100, 2.0)

        ctx.log(
            f"webhooks: {TARGET_RATE:.0f}/s for {duration:.0f} s each, reference and webhook "
            f"alternating in {slices} slices"
        )
        floor, hook = bench.sliced(TARGET_RATE, duration, slices)
        ctx.log(f"webhooks: floor   {_fmt(floor)}")
        ctx.log(f"webhooks: webhook {_fmt(hook)}")
        floor_max, _ = bench.ladder("floor", step_seconds)
        hook_max, hook_steps = bench.ladder("webhook", step_seconds)
        counted = json.loads(
            bench.python("-m", "bench.webhooks", "count", "--channels",
                         ",".join(map(str, info["channels"])), "--ids-file",
                         str(_write_ids(bench.dir, sorted(set(bench.ids)))))
        )  # fmt: skip
    finally:
        _stop(server)
        _stop(redis_proc)
        shutil.rmtree(redis_dir, ignore_errors=True)

    added = counted["rows"] - info["rows"]
    # Every 200 names its delivery (new, or the stored one a body sent again is a duplicate of):
    # lost = answers that named none + named deliveries that are not stored.
    named = len(set(bench.ids))
    lost = (bench.ok_total - len(bench.ids)) + (named - counted["found"])
    unanswered = hook["sent"] - hook["ok"]
    broker = "Redis" if bench.use_redis else "the ORM (PostgreSQL)"
    how = (
        f"{config.describe()}, PostgreSQL, django-q2 on {broker}; open loop, latency from each "
        f"request's scheduled start (coordinated omission included); {info['platforms']} "
        f"distinct deliveries of median {info['body_median']} B, each run continuing where the "
        "last stopped"
    )
    main_ok = hook["achieved"] >= 0.97 * TARGET_RATE and not unanswered and not hook["errors"]
    statuses = ", ".join(f"HTTP {k} x{v}" for k, v in sorted(hook["statuses"].items()))
    return [
        Figure(
            name="Webhook accept p99 @300/s",
            value=hook["p99_ms"],
            unit="ms",
            target="< 50 ms",
            passed=hook["p99_ms"] < TARGET_P99_MS and main_ok,
            reference_name="trivial view p99",
            reference_value=floor["p99_ms"],
            ratio=_ratio(hook["p99_ms"], floor["p99_ms"]),
            notes=f"{how}; {duration:.0f} s; {statuses}; max {hook['max_ms']:.0f} ms",
        ),
        Figure(
            name="Webhook accept p50 @300/s",
            value=hook["p50_ms"],
            unit="ms",
            target="",
            passed=None,
            reference_name="trivial view p50",
            reference_value=floor["p50_ms"],
            ratio=_ratio(hook["p50_ms"], floor["p50_ms"]),
        ),
        Figure(
            name="Webhook deliveries/s @300/s offered",
            value=hook["achieved"],
            unit="/s",
            target=">= 97% of 300/s, all 200",
            passed=main_ok,
            reference_name="trivial view",
            reference_value=floor["achieved"],
            ratio=_ratio(hook["achieved"], floor["achieved"]),
            notes=f"{hook['sent']} sent, {hook['ok']} answered 200, {hook['errors']} errors",
        ),
        Figure(
            name="Webhook max rate with p99 < 50 ms",
            value=hook_max,
            unit="/s",
            target=">= 300/s",
            passed=hook_max >= TARGET_RATE,
            reference_name="trivial view",
            reference_value=floor_max,
            ratio=_ratio(hook_max, floor_max),
            notes=(
                f"open-loop steps of {step_seconds:.1f} s from 300/s, x{LADDER_STEP} each; first "
                f"failing step: {_fmt(hook_steps[-1])}"
            ),
        ),
        Figure(
            name="Webhook deliveries lost",
            value=float(lost),
            unit="",
            target="0",
            passed=lost == 0 and added == named,
            reference_name="answered 200",
            reference_value=float(bench.ok_total),
            notes=(
                f"{added} WebhookDelivery rows added for {bench.ok_total} answers 200 naming "
                f"{named} distinct deliveries ({bench.ok_total - named} answers were bodies sent "
                f"again once the {DISTINCT:,} prepared ones were used: 200 duplicate)"
            ),
        ),
    ]


def _ratio(value: float, reference: float) -> float | None:
    return value / reference if reference and reference == reference else None


def _write_ids(directory: Path, ids: Sequence[int]) -> Path:
    path = directory / "ids.json"
    path.write_text(json.dumps(list(ids)))
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Webhook accept benchmark")
    sub = parser.add_subparsers(dest="command")
    prep = sub.add_parser("prepare")
    prep.add_argument("--out", type=Path, required=True)
    prep.add_argument("--distinct", type=int, default=DISTINCT)
    cnt = sub.add_parser("count")
    cnt.add_argument("--channels", required=True)
    cnt.add_argument("--ids-file", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker-class", default="gthread", choices=["gthread", "sync"])
    parser.add_argument("--workers", type=int, default=ServerConfig().workers)
    parser.add_argument("--threads", type=int, default=ServerConfig().threads)
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args(argv)

    if args.command == "prepare":
        _setup_django()
        print(json.dumps(prepare(args.out, args.distinct)))
        return
    if args.command == "count":
        _setup_django()
        channels = [int(c) for c in args.channels.split(",")]
        print(json.dumps(count(channels, json.loads(args.ids_file.read_text()))))
        return

    from bench.context import Context
    from bench.figures import render_table

    pg = {k: os.environ[k] for k in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE") if k in os.environ}
    ctx = Context(pg=pg, scale={}, python=sys.executable, quick=args.quick)
    config = ServerConfig(args.worker_class, args.workers, args.threads)
    print(render_table(run(ctx, config, redis=False if args.no_redis else None)))


if __name__ == "__main__":
    main()
