"""The Django side of the ingest, memory and crisis benchmarks, run in a subprocess on a fresh
database (``DJANGO_SETTINGS_MODULE=bench._settings``, ``PGDATABASE`` set by bench/_db.py).

    python -m bench._ingest_run ingest --posts 5000 [--batch 100] [--playbooks] [--workers 2]
    python -m bench._ingest_run produce --posts 1000000 --batch 20   (accept only, streamed)
    python -m bench._ingest_run drain [--max-seconds 600]           (the worker loop)
    python -m bench._ingest_run idle                                 (django.setup() and wait)

Each prints one JSON line on stdout with what it measured.

Deliveries are real-format and signed, made by ``socialcare.simulator.Simulator`` for an X
account, a Facebook Page and an Instagram account (mentions, replies, DMs, comments, Messenger,
threads and follow-ups, five languages, spike crowds of distinct people), accepted through
``services.deliveries.accept_delivery`` (as the webhook view does), then processed by
``services.ingest.process_delivery`` (what the django-q2 task calls) in this process, without the
queue's overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Iterator

import django


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench._settings")
    django.setup()


# Workload ---------------------------------------------------------------------------------------
def make_targets() -> list:
    from socialcare.models import Channel
    from socialcare.simulator import Target

    specs = [
        ("Acme on X", "x", "1114259648326987776", "AcmeHelp"),
        ("Acme Page", "facebook", "103149398319188", "acme"),
        ("Acme Instagram", "instagram", "17841405309211844", "acme"),
    ]
    targets = []
    for name, platform, account, handle in specs:
        channel = Channel.objects.filter(platform=platform, account_id=account).first()
        if channel is None:
            channel = Channel(name=name, platform=platform, account_id=account, handle=handle)
            channel.set_secret("webhook_secret", f"bench-{platform}-secret")
            channel.set_secret("verify_token", "bench-verify")
            channel.set_secret("access_token", "bench-token")
            channel.save()
        targets.append(
            Target(channel.pk, name, platform, account, handle, f"bench-{platform}-secret")
        )
    return targets


def merge_payloads(payloads: list[dict]) -> dict:
    """One delivery carrying the events of several (what X and Meta send under load: many
    ``tweet_create_events`` / ``direct_message_events``, many ``entry`` items)."""
    merged: dict = {}
    for payload in payloads:
        for key, value in payload.items():
            if isinstance(value, list):
                merged.setdefault(key, []).extend(value)
            elif isinstance(value, dict):
                merged.setdefault(key, {}).update(value)
            else:
                merged.setdefault(key, value)
    return merged


class PastClock:
    """A clock that starts ``span`` seconds ago and moves ``step`` seconds per post."""

    def __init__(self, span: float, step: float) -> None:
        self.now = time.time() - span
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def deliveries(
    targets: list,
    posts: int,
    *,
    batch: int = 1,
    dup_share: float = 0.03,
    seed: int = 8,
    spacing: float = 5.0,
) -> Iterator[tuple[object, bytes, dict, int]]:
    """(target, body, headers, posts in it) for ``posts`` generated posts, streamed. One in
    ``1/dup_share`` deliveries is sent twice (a platform retry); one post in ten comes from a
    spike crowd (a distinct new person). Posts are dated ``spacing`` seconds apart, ending now:
    a busy brand's normal traffic, which the detectors count without a crisis (crisis.py
    measures that path)."""
    from socialcare.simulator import Simulator, meta_signature, x_signature

    sim = Simulator(targets, seed=seed, clock=PastClock(posts * spacing, spacing))
    rng = random.Random(seed)
    made = 0
    pending: dict[int, list] = {}
    while made < posts:
        post = sim.spike(1, "checkout")[0] if rng.random() < 0.1 else sim.next_post()
        made += 1
        if batch <= 1:
            yield post.target, post.body, dict(post.headers), 1
            if rng.random() < dup_share:
                yield post.target, post.body, dict(post.headers), 0
            continue
        group = pending.setdefault(post.target.channel_id, [])
        group.append(post)
        if len(group) >= batch or made >= posts:
            for key in list(pending) if made >= posts else [post.target.channel_id]:
                group = pending.pop(key)
                if not group:
                    continue
                target = group[0].target
                body = json.dumps(
                    merge_payloads([json.loads(p.body) for p in group]),
                    ensure_ascii=target.platform != "x",
                    separators=(",", ":"),
                ).encode()
                if target.platform == "x":
                    headers = {"X-Twitter-Webhooks-Signature": x_signature(body, target.secret)}
                else:
                    headers = {"X-Hub-Signature-256": meta_signature(body, target.secret)}
                headers["Content-Type"] = "application/json"
                yield target, body, headers, len(group)


def produce(args: argparse.Namespace, targets: list) -> dict:
    from socialcare.models import Channel, WebhookDelivery
    from socialcare.services.deliveries import accept_delivery

    channels = {c.pk: c for c in Channel.objects.all()}
    count = posts = 0
    started = time.perf_counter()
    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING)
    for target, body, headers, n in deliveries(
        targets, args.posts, batch=args.batch, dup_share=args.dup
    ):
        # Back-pressure (streaming): stay at most --max-pending deliveries ahead of the worker.
        while args.max_pending and count % 10 == 0 and pending.count() > args.max_pending:
            time.sleep(0.2)
        accept_delivery(channels[target.channel_id], body, headers, queue=False)
        count += 1
        posts += n
    return {"deliveries": count, "posts": posts, "accept_seconds": time.perf_counter() - started}


def pending_ids(chunk: int = 500, *, shard: tuple[int, int] = (0, 1)) -> Iterator[int]:
    """Pending deliveries in arrival order, read a chunk at a time (never all ids at once);
    ``shard`` (k, n): only those whose id is k modulo n (one worker's share of the queue)."""
    from socialcare.models import WebhookDelivery

    k, n = shard
    last = 0
    while True:
        ids = list(
            WebhookDelivery.objects.filter(pk__gt=last, status=WebhookDelivery.Status.PENDING)
            .order_by("pk")
            .values_list("pk", flat=True)[:chunk]
        )
        if not ids:
            return
        yield from (pk for pk in ids if pk % n == k)
        last = ids[-1]


def process_all(claim: int | None = None, *, shard: tuple[int, int] = (0, 1)) -> tuple[int, float]:
    """Every pending delivery (of ``shard``) through ``process_delivery`` in arrival order;
    ``claim``: how many pending deliveries of a channel one call may take (None:
    ``INGEST_BATCH_DELIVERIES``)."""
    from socialcare.services.ingest import process_delivery

    count = 0
    started = time.perf_counter()
    for pk in pending_ids(shard=shard):
        process_delivery(pk, batch=claim)
        count += 1
    return count, time.perf_counter() - started


def process_in_workers(workers: int, claim: int | None) -> tuple[int, float, int]:
    """(deliveries, seconds, queries) of ``workers`` forked processes draining the queue
    together, each taking every ``workers``-th delivery (as a qcluster's workers take tasks);
    they meet on the channel locks and the micro-batch claims (``SKIP LOCKED``) as workers do."""
    import multiprocessing

    from django.db import connection

    connection.close()  # each child opens its own
    context = multiprocessing.get_context("fork")
    results = context.Queue()

    def work(k: int) -> None:
        queries = [0]

        def count(execute, sql, params, many, ctx):
            queries[0] += 1
            return execute(sql, params, many, ctx)

        with connection.execute_wrapper(count):
            done, _ = process_all(claim, shard=(k, workers))
        connection.close()
        results.put((done, queries[0]))

    started = time.perf_counter()
    children = [context.Process(target=work, args=(k,)) for k in range(workers)]
    for child in children:
        child.start()
    outcomes = [results.get() for _ in children]
    for child in children:
        child.join()
    seconds = time.perf_counter() - started
    if any(child.exitcode for child in children):
        raise SystemExit(f"a worker failed: exit codes {[c.exitcode for c in children]}")
    return sum(o[0] for o in outcomes), seconds, sum(o[1] for o in outcomes)


def reference_inserts() -> dict:
    """The floor cost of durability: every stored post written again as one single-row INSERT
    transaction (autocommit) into a table shaped like socialcare_post, same connection."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_post_reference")
        cur.execute(
            "CREATE TABLE bench_post_reference "
            "(LIKE socialcare_post INCLUDING DEFAULTS INCLUDING INDEXES INCLUDING IDENTITY)"
        )
        cur.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'socialcare_post' AND column_name <> 'id' ORDER BY ordinal_position"
        )
        columns = [r[0] for r in cur.fetchall()]
    cols = ", ".join(f'"{c}"' for c in columns)
    insert = (
        f"INSERT INTO bench_post_reference ({cols}) VALUES ({', '.join(['%s'] * len(columns))})"
    )
    rows = []
    with connection.cursor() as cur:
        cur.execute(f"SELECT {cols} FROM socialcare_post ORDER BY id")
        rows = cur.fetchall()
    from psycopg.types.json import Jsonb

    rows = [tuple(Jsonb(v) if isinstance(v, dict | list) else v for v in row) for row in rows]
    started = time.perf_counter()
    with connection.cursor() as cur:  # Django runs in autocommit: each INSERT is its own COMMIT
        for row in rows:
            cur.execute(insert, row)
    seconds = time.perf_counter() - started
    return {"reference_posts": len(rows), "reference_seconds": seconds}


def warm_and_live() -> None:
    """The playbooks as a brand runs them after its first day: detectors past their warm-up and
    the holding replies switched on (a fresh install ships them off), so the crisis work is
    measured as before."""
    import datetime as dt

    from django.utils import timezone

    from socialcare.models import Detector, PlaybookStep

    Detector.objects.update(counting_since=timezone.now() - dt.timedelta(days=2))
    PlaybookStep.objects.filter(kind="holding_reply").update(automatic=True)


# Commands ---------------------------------------------------------------------------------------
def cmd_ingest(args: argparse.Namespace) -> dict:
    from django.db import connection

    from socialcare.models import CaseEvent, Incident, Post, WebhookDelivery

    if args.playbooks:
        from socialcare.crisis_playbooks import install_playbooks

        install_playbooks()
        warm_and_live()
    targets = make_targets()
    accepted = produce(args, targets)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        profiler.start()
    queries = [0]
    by_sql: dict[str, list] = {}

    def count(execute, sql, params, many, context):
        queries[0] += 1
        if not args.profile:
            return execute(sql, params, many, context)
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            entry = by_sql.setdefault(sql[:160], [0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - started

    if args.workers > 1:
        processed, seconds, queries[0] = process_in_workers(args.workers, args.claim)
    else:
        with connection.execute_wrapper(count):
            processed, seconds = process_all(args.claim)
    if args.profile:
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False), file=sys.stderr)
        for sql, (n, secs) in sorted(by_sql.items(), key=lambda kv: -kv[1][1])[:25]:
            print(f"{secs:8.3f}s {n:6d}  {sql}", file=sys.stderr)
    posts = Post.objects.count()
    result = {
        **accepted,
        "processed": processed,
        "stored_posts": posts,
        "seconds": seconds,
        "posts_per_s": posts / seconds if seconds else 0.0,
        "queries": queries[0],
        "failed": WebhookDelivery.objects.exclude(status="processed").count(),
        "events": CaseEvent.objects.count(),
        "incidents": Incident.objects.count(),
    }
    if args.reference:
        result.update(reference_inserts())
    return result


def cmd_produce(args: argparse.Namespace) -> dict:
    return produce(args, make_targets())


def cmd_drain(args: argparse.Namespace) -> dict:
    """The worker: process pending deliveries until none has come for ``--idle`` seconds or
    ``--max-seconds`` have passed."""
    from socialcare.models import Post
    from socialcare.services.ingest import process_delivery

    deliveries_done = 0
    idle_since = time.monotonic()
    started = time.perf_counter()
    deadline = time.monotonic() + args.max_seconds
    while time.monotonic() < deadline:
        worked = False
        for pk in pending_ids():
            process_delivery(pk)
            deliveries_done += 1
            worked = True
            if time.monotonic() >= deadline:
                break
        if worked:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > args.idle:
            break
        else:
            time.sleep(0.2)
    return {
        "deliveries": deliveries_done,
        "stored_posts": Post.objects.count(),
        "seconds": time.perf_counter() - started,
    }


def cmd_idle(args: argparse.Namespace) -> dict:
    from socialcare.models import Post
    from socialcare.services import ingest  # noqa: F401  (the worker's imports)

    Post.objects.exists()
    time.sleep(args.seconds)
    return {"idle": True}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench._ingest_run")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("ingest", "produce"):
        p = sub.add_parser(name)
        p.add_argument("--posts", type=int, default=2000)
        p.add_argument("--batch", type=int, default=1)
        p.add_argument("--dup", type=float, default=0.03)
        p.add_argument("--playbooks", action="store_true")
        p.add_argument("--reference", action="store_true")
        p.add_argument("--profile", action="store_true")
        p.add_argument("--max-pending", type=int, default=0)
        p.add_argument("--claim", type=int, default=None, help="deliveries per claim (1: off)")
        p.add_argument("--workers", type=int, default=1, help="worker processes (ingest)")
    p = sub.add_parser("drain")
    p.add_argument("--idle", type=float, default=5.0)
    p.add_argument("--max-seconds", type=float, default=3600.0)
    p = sub.add_parser("idle")
    p.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    _setup()
    result = {"ingest": cmd_ingest, "produce": cmd_produce, "drain": cmd_drain, "idle": cmd_idle}[
        args.command
    ](args)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
