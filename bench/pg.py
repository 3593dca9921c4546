"""The benchmarks' PostgreSQL database from the libpq environment (PGHOST, PGPORT, PGUSER,
PGPASSWORD, PGDATABASE) that ``scripts/bench.sh`` exports: one definition for every bench
settings module."""

from __future__ import annotations

import os
from typing import Any


def pg_database(**options: Any) -> dict[str, Any]:
    """``DATABASES["default"]`` for the bench server, plus ``options`` (e.g. CONN_MAX_AGE)."""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("PGDATABASE", "socialcare"),
        "USER": os.environ.get("PGUSER", "postgres"),
        "PASSWORD": os.environ.get("PGPASSWORD", ""),
        "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5432"),
        **options,
    }
