"""Fault tests: each injects a real fault (a killed process, an unreachable database, a platform
that times out) and checks nothing is lost or done twice. They run on PostgreSQL (the faults are
about real connections, locks and processes); on SQLite they are skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("fault tests run on PostgreSQL (SOCIALCARE_TEST_DB=postgres)")


def worker_env() -> dict[str, str]:
    """Environment for a worker process on this run's test database."""
    db = connection.settings_dict
    return {
        **os.environ,
        # The run's own settings (tests.settings_swapped has another customer table).
        "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,
        "SOCIALCARE_TEST_DB": "postgres",
        "PGDATABASE": db["NAME"],
        "PGHOST": str(db["HOST"] or "127.0.0.1"),
        "PGPORT": str(db["PORT"] or "5432"),
        "PGUSER": str(db["USER"] or "postgres"),
        "PGPASSWORD": str(db["PASSWORD"] or ""),
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def spawn() -> Iterator:
    """Start ``python -m <module> args…`` as a worker process on the test database; every
    process started is killed at the end, even when the test fails."""
    started: list[subprocess.Popen] = []

    def start(module: str, *args: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            env=worker_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()
