"""Memory: the worker's peak RSS while ingesting a stream of posts, beside the same process's RSS
after ``django.setup()`` with no work done.

Two processes on a fresh PostgreSQL database: a producer that generates signed real-format
deliveries (100 posts each; streamed, never all in memory, at most 20 deliveries ahead of the
worker) and stores them with ``accept_delivery``, and the worker: a plain Django process (``python -m bench._ingest_run
drain``) that calls ``services.ingest.process_delivery`` in a loop over pending deliveries read
500 ids at a time (the function a django-q2 qcluster worker runs, without the cluster). Its
VmHWM (/proc/<pid>/status) is sampled until it exits. The run is bounded in time: the figure
says how many posts were ingested, and RSS at the first and last sample shows whether it grows.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from bench import _db
from bench._proc import BenchError, run_json
from bench.figures import Figure

TARGET_MB = 300.0


def _status_kb(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _watch(proc: subprocess.Popen) -> tuple[int, list[int]]:
    """(peak VmHWM kB, VmRSS samples) of ``proc`` until it exits."""
    peak, samples = 0, []
    while proc.poll() is None:
        hwm = _status_kb(proc.pid, "VmHWM")
        rss = _status_kb(proc.pid, "VmRSS")
        if hwm:
            peak = max(peak, hwm)
        if rss:
            samples.append(rss)
        time.sleep(0.5)
    return peak, samples


def run(ctx) -> list[Figure]:
    posts = 20_000 if ctx.quick else ctx.scale.get("posts", 1_000_000)
    seconds = 120.0 if ctx.quick else 900.0
    name = _db.fresh(ctx, "scg_memory")
    env = _db.env_for(ctx, name)
    producer = worker = None
    try:
        # Reference: the same worker process with Django set up and nothing ingested.
        idle = subprocess.Popen(
            [ctx.python, "-m", "bench._ingest_run", "idle", "--seconds", "3"],
            cwd=ctx.repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        idle_peak, _ = _watch(idle)
        # Channels first, so producer and worker agree on them.
        run_json(ctx, ["produce", "--posts", "0"], env)
        ctx.log(f"memory: producing {posts:,} posts, worker bounded to {seconds:.0f} s")
        producer = subprocess.Popen(
            [ctx.python, "-m", "bench._ingest_run", "produce", "--posts", str(posts),
             "--batch", "100", "--max-pending", "20"],
            cwd=ctx.repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        time.sleep(2)
        worker = subprocess.Popen(
            [ctx.python, "-m", "bench._ingest_run", "drain", "--idle", "10",
             "--max-seconds", str(seconds)],
            cwd=ctx.repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        peak, samples = _watch(worker)
        out, err = worker.communicate()
        if worker.returncode != 0:
            raise BenchError(f"worker failed: {err.strip()[-1500:]}")
        import json

        result = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    except (BenchError, OSError) as exc:
        return [Figure("Memory (worker peak RSS)", float("nan"), "MB", f"< {TARGET_MB:.0f} MB",
                       False, notes=str(exc))]  # fmt: skip
    finally:
        for proc in (producer, worker):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
        _db.drop(ctx, name)
    peak_mb, idle_mb = peak / 1024, idle_peak / 1024
    quarter = samples[len(samples) // 4] / 1024 if samples else 0.0
    last = samples[-1] / 1024 if samples else 0.0
    stored = result["stored_posts"]
    return [
        Figure(
            name="Memory (worker peak RSS)",
            value=peak_mb,
            unit="MB",
            target=f"< {TARGET_MB:.0f} MB while ingesting {posts:,} posts",
            passed=(peak_mb < TARGET_MB) if stored >= posts or peak_mb >= TARGET_MB else None,
            reference_name="same process idle after django.setup()",
            reference_value=idle_mb,
            ratio=peak_mb / idle_mb if idle_mb else None,
            notes=(
                f"{stored:,} posts ingested in {result['seconds']:.0f} s (of {posts:,} "
                f"{'' if stored >= posts else '- the run is time-bounded, so the target is not judged; '}"
                f"RSS {quarter:.0f} MB at a quarter of the run, {last:.0f} MB at the end); plain "
                "Django process calling process_delivery over pending deliveries, 100-post "
                "deliveries streamed by a producer process"
            ),
        )
    ]
