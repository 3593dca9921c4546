"""What every benchmark module's ``run(ctx)`` receives."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

FULL_SCALE = {"posts": 1_000_000, "cases": 100_000, "identities": 200_000}
QUICK_DIVISOR = 20


def scale_for(quick: bool) -> dict[str, int]:
    if not quick:
        return dict(FULL_SCALE)
    return {k: v // QUICK_DIVISOR for k, v in FULL_SCALE.items()}


@dataclass
class Context:
    """Shared state of one bench run.

    ``pg``: libpq environment (PGHOST, PGPORT, PGUSER, PGDATABASE) of the private PostgreSQL
    server the data was built in; pass it to subprocesses with ``{**os.environ, **ctx.pg}``.
    ``scale``: the sizes built (posts, cases, identities). ``python``: the venv's interpreter.
    ``work_dir``: scratch space for this run. ``quick``: small sizes for a smoke run.
    """

    pg: dict[str, str]
    scale: dict[str, int]
    python: str = sys.executable
    repo: Path = REPO
    work_dir: Path = field(default_factory=lambda: REPO / "var" / "bench")
    quick: bool = False
    started: float = field(default_factory=time.monotonic)

    def log(self, msg: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[bench {elapsed:7.1f}s] {msg}", file=sys.stderr, flush=True)

    def env(self, **extra: str) -> dict[str, str]:
        """os.environ plus the PostgreSQL connection and Django settings for subprocesses."""
        return {**os.environ, **self.pg, **extra}
