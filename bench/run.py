"""Run every benchmark and print one table (figure, value, target, reference, ratio, result).

    python -m bench.run [--quick] [--only NAME,...] [--json PATH] [--reuse-data]

Normally started by ``scripts/bench.sh``, which provides the PostgreSQL server (PG* variables).
Each module in MODULES exposes ``run(ctx) -> list[Figure]``; a module that fails (or is missing)
becomes a failed row and the run goes on.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench.context import REPO, Context, scale_for
from bench.figures import Figure, render_table, write_json

#: In run order: the read-side figures first, on the data as built, before the write benchmarks
#: add to it.
MODULES = [
    "queries",
    "ingest",
    "memory",
    "crisis",
    "webhooks",
    "peer_helpdesk",
    "sentiment",
]
DEFAULT_JSON = REPO / "bench" / "results" / "latest.json"


def machine() -> dict[str, Any]:
    """The machine the figures were measured on."""
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["ram_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    with contextlib.suppress(OSError, subprocess.CalledProcessError, ValueError):
        info["nproc"] = int(subprocess.check_output(["nproc"], text=True).strip())
    return info


def failed_row(module: str, error: str) -> Figure:
    return Figure(
        name=f"{module} (module failed)",
        value=float("nan"),
        unit="",
        target="runs",
        passed=False,
        notes=error,
    )


def run_modules(ctx: Context, names: list[str]) -> list[Figure]:
    """Import and run each module; a failure becomes a failed row, never the end of the run."""
    figures: list[Figure] = []
    for name in names:
        ctx.log(f"--- {name}")
        started = time.monotonic()
        try:
            module = importlib.import_module(f"bench.{name}")
            result = module.run(ctx)
            if not isinstance(result, list) or not all(isinstance(f, Figure) for f in result):
                raise TypeError(f"bench.{name}.run() must return a list of Figure")
            figures += result
        except Exception as exc:
            ctx.log("".join(traceback.format_exception(exc)).rstrip())
            last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
            where = f" ({Path(last[0].filename).name}:{last[0].lineno})" if last else ""
            figures.append(failed_row(name, f"{type(exc).__name__}: {exc}{where}"))
        ctx.log(f"--- {name} done in {time.monotonic() - started:.1f} s")
    return figures


def prepare_database(ctx: Context, reuse: bool) -> dict[str, Any]:
    """Migrate and build the data set (unless one of the same scale is there and ``reuse``)."""
    from django.core.management import call_command
    from django.db import connection

    from bench import data

    ctx.log("migrate")
    call_command("migrate", verbosity=0, interactive=False)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_meta (scale text, summary text)")
        cursor.execute("SELECT scale, summary FROM bench_meta")
        row = cursor.fetchone()
    import json

    wanted = json.dumps(ctx.scale, sort_keys=True)
    if row and row[0] == wanted and reuse:
        ctx.log(f"data: reusing the data set already built at {ctx.scale}")
        return json.loads(row[1])
    if row:
        raise RuntimeError(
            "the database already holds a data set (another scale, or --reuse-data not given): "
            "use a fresh database (scripts/bench.sh starts one)"
        )
    ctx.log(f"data: building {ctx.scale}")
    summary = data.build(ctx.scale, log=ctx.log)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_meta VALUES (%s, %s)", [wanted, json.dumps(summary)])
    ctx.log(f"data: built in {summary['seconds']} s: {summary}")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1/20th of the data, short runs")
    parser.add_argument("--only", default="", help=f"comma-separated modules of {MODULES}")
    parser.add_argument("--json", default=str(DEFAULT_JSON), help="where to write the results")
    parser.add_argument("--reuse-data", action="store_true", help="keep a data set already built")
    args = parser.parse_args(argv)

    names = MODULES
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [
            n for n in names if n not in MODULES and not (REPO / "bench" / f"{n}.py").exists()
        ]
        if unknown:
            parser.error(f"unknown modules {unknown}; known: {MODULES}")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()

    pg = {k: os.environ[k] for k in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE") if k in os.environ}
    pg["DJANGO_SETTINGS_MODULE"] = os.environ["DJANGO_SETTINGS_MODULE"]
    work_dir = REPO / "var" / "bench"
    work_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(
        pg=pg,
        scale=scale_for(args.quick),
        python=sys.executable,
        work_dir=work_dir,
        quick=args.quick,
    )
    started = dt.datetime.now(dt.UTC)
    figures: list[Figure] = []
    summary: dict[str, Any] = {}
    try:
        summary = prepare_database(ctx, args.reuse_data)
        figures.append(
            Figure(
                name="data build (posts + cases + identities + events)",
                value=summary["seconds"],
                unit="s",
                target="< 180 s at full scale",
                passed=summary["seconds"] < 180 if not args.quick else None,
                notes=", ".join(f"{k}={v}" for k, v in summary.items() if k != "steps"),
            )
        )
    except Exception as exc:
        ctx.log("".join(traceback.format_exception(exc)))
        figures.append(failed_row("data", f"{type(exc).__name__}: {exc}"))
    else:
        figures += run_modules(ctx, names)

    from django.db import connection

    meta = {
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - ctx.started, 1),
        "quick": args.quick,
        "scale": ctx.scale,
        "modules": names,
        "machine": machine(),
        "data": summary,
    }
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            meta["machine"]["postgresql"] = cursor.fetchone()[0]
    except Exception:
        pass
    print()
    print(render_table(figures))
    write_json(Path(args.json), figures, meta)
    print(f"\nJSON: {args.json}")
    failed = [f for f in figures if f.passed is False]
    print(f"{len(figures)} figures, {len(failed)} failed" + (" (see above)" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
