"""Running a Django subprocess of the bench and reading the JSON line it prints last."""

from __future__ import annotations

import json
import subprocess


class BenchError(RuntimeError):
    pass


def run_json(ctx, args: list[str], env: dict[str, str], timeout: float = 3600) -> dict:
    """``python -m bench._ingest_run ARGS`` in the repo; its last stdout line as a dict."""
    proc = subprocess.run(
        [ctx.python, "-m", "bench._ingest_run", *args],
        cwd=ctx.repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(args)} failed: {proc.stderr.strip()[-2000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise BenchError(f"{' '.join(args)} printed no result: {proc.stdout[-500:]}")
    return json.loads(lines[-1])


def shared_results(ctx) -> dict:
    """A dict shared by the modules of one bench run (``ctx.results`` when the runner has one)."""
    results = getattr(ctx, "results", None)
    if isinstance(results, dict):
        return results
    return _RESULTS


_RESULTS: dict = {}
