"""Ingest: the worker path (``services.ingest.process_delivery``: parse, identity, dedupe,
threading, scoring, events, detectors) in posts/s on PostgreSQL, beside the floor cost of
durability (the same posts written again as single-row INSERT transactions, same connection,
same run). Four runs of the same workload: one post per delivery with one delivery per claim
(micro-batching off), one post per delivery as the worker runs by default (pending deliveries
of a channel micro-batched, ``INGEST_BATCH_DELIVERIES``) with one worker process and with two
(one per core, taking every other delivery of the queue as a qcluster's workers do), and
deliveries carrying 100 posts with two workers.

Deliveries are real-format and signed (``socialcare.simulator``), accepted first with
``accept_delivery(queue=False)``, then processed in arrival order by processes calling the
worker function directly: the django-q2 queue's own overhead is not included. The demo
playbooks and their detectors are installed, so every post is counted by four detectors; the
workload's pace (a post every 5 s, a crowd of new people now and then) fires the volume-spike,
negative-surge and influencer detectors on a fresh database, so the crisis work (linking cases,
holding replies, raised priorities) is part of the figure.
"""

from __future__ import annotations

from bench import _db
from bench._proc import BenchError, run_json, shared_results
from bench.figures import Figure

TARGET = 1000.0  # posts/s
WORKERS = 2  # worker processes: one per core of the 2-core target machine
SHARE = 0.25  # of the single-row INSERT reference


def measure(
    ctx,
    posts: int,
    batch: int,
    *,
    reference: bool = False,
    claim: int | None = None,
    workers: int = 1,
) -> dict:
    name = _db.fresh(ctx, f"scg_ingest_b{batch}")
    try:
        args = ["ingest", "--posts", str(posts), "--batch", str(batch), "--playbooks"]
        args += ["--workers", str(workers)]
        if reference:
            args.append("--reference")
        if claim is not None:
            args += ["--claim", str(claim)]
        return run_json(ctx, args, _db.env_for(ctx, name))
    finally:
        _db.drop(ctx, name)


def run(ctx) -> list[Figure]:
    posts = 600 if ctx.quick else 3000
    try:
        ctx.log(f"ingest: {posts} posts, one delivery per post, one delivery per claim")
        single = measure(ctx, posts, 1, reference=True, claim=1)
        ctx.log(f"ingest: {posts} posts, one delivery per post, micro-batched claims, 1 worker")
        micro1 = measure(ctx, posts, 1)
        ctx.log(f"ingest: {posts} posts, one delivery per post, micro-batched, {WORKERS} workers")
        micro = measure(ctx, posts, 1, workers=WORKERS)
        ctx.log(f"ingest: {posts} posts in 100-post deliveries, {WORKERS} workers")
        batched = measure(ctx, posts, 100, workers=WORKERS)
    except (BenchError, OSError) as exc:
        return [
            Figure("Ingest", float("nan"), "posts/s", f">= {TARGET:,.0f}", False, notes=str(exc))
        ]
    ref_rate = single["reference_posts"] / single["reference_seconds"]
    rate, batch_rate = micro["posts_per_s"], batched["posts_per_s"]
    shared_results(ctx)["ingest_posts_per_s"] = rate
    shared_results(ctx)["ingest_batched_posts_per_s"] = batch_rate

    def figure(name: str, run: dict, target: str, passed: bool | None, notes: str) -> Figure:
        """A figure of one run beside the INSERT reference, its queries per post noted."""
        value = run["posts_per_s"]
        queries = run["queries"] / max(1, run["stored_posts"])
        return Figure(
            name=name,
            value=value,
            unit="posts/s",
            target=target,
            passed=passed,
            reference_name="single-row INSERT txns",
            reference_value=ref_rate,
            ratio=value / ref_rate if ref_rate else None,
            notes=f"{notes}; {queries:.1f} queries/post",
        )

    ratio = rate / ref_rate if ref_rate else 0.0
    return [
        figure(
            "Ingest, one delivery per claim",
            single,
            "-",
            None,
            "the worker path with micro-batching off (INGEST_BATCH_DELIVERIES=1)",
        ),
        figure(
            "Ingest (worker path), one worker",
            micro1,
            "-",
            None,
            "one worker process, pending deliveries of a channel micro-batched",
        ),
        figure(
            f"Ingest (worker path), {WORKERS} workers",
            micro,
            f">= {TARGET:,.0f} and >= {SHARE:.0%} of reference",
            rate >= TARGET and ratio >= SHARE,
            f"{micro['stored_posts']} posts from {micro['deliveries']} signed X/Meta "
            f"deliveries ({micro['deliveries'] - micro['posts']} redelivered duplicates), "
            f"one post per delivery, {WORKERS} worker processes (one per core) sharing the "
            "queue, pending deliveries of a channel micro-batched (INGEST_BATCH_DELIVERIES), "
            f"{micro['incidents']} incidents; process_delivery called directly (no django-q2 "
            "queue overhead)",
        ),
        figure(
            f"Ingest batched (100-post deliveries), {WORKERS} workers",
            batched,
            f">= {TARGET:,.0f}",
            batch_rate >= TARGET,
            f"{batched['stored_posts']} posts in {batched['deliveries']} deliveries: one "
            "transaction per delivery (a savepoint per event only after one failed), bulk "
            "identity/dedupe look-ups",
        ),
    ]
