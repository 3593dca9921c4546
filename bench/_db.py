"""Fresh PostgreSQL databases for the ingest-side benchmarks: one migrated template per schema
version, copied (``CREATE DATABASE ... TEMPLATE``) for each measurement so none sees another's
rows."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import psycopg

SETTINGS = "bench._settings"


def _admin(pg: dict[str, str]) -> psycopg.Connection:
    return psycopg.connect(
        host=pg.get("PGHOST", "127.0.0.1"),
        port=pg.get("PGPORT", "5432"),
        user=pg.get("PGUSER", "postgres"),
        password=pg.get("PGPASSWORD", ""),
        dbname="postgres",
        autocommit=True,
    )


def _schema_version(repo: Path) -> str:
    names = sorted(p.name for p in (repo / "socialcare" / "migrations").glob("*.py"))
    return hashlib.sha1("\n".join(names).encode()).hexdigest()[:10]


def _exists(conn: psycopg.Connection, name: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None
    )


def template(ctx) -> str:
    """The migrated template database's name (created on first use)."""
    name = f"scg_tpl_{_schema_version(ctx.repo)}"
    with _admin(ctx.pg) as conn:
        if _exists(conn, name):
            return name
        conn.execute(f'CREATE DATABASE "{name}_tmp"')
    env = ctx.env(PGDATABASE=f"{name}_tmp", DJANGO_SETTINGS_MODULE=SETTINGS)
    ctx.log(f"migrating the template database {name}")
    subprocess.run(
        [ctx.python, "-m", "django", "migrate", "--noinput", "-v0"],
        cwd=ctx.repo,
        env=env,
        check=True,
    )
    with _admin(ctx.pg) as conn:
        conn.execute(f'ALTER DATABASE "{name}_tmp" RENAME TO "{name}"')
    return name


def fresh(ctx, name: str) -> str:
    """Drop and re-create database ``name`` as a copy of the template; returns the name."""
    tpl = template(ctx)
    with _admin(ctx.pg) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{tpl}"')
    return name


def drop(ctx, name: str) -> None:
    with _admin(ctx.pg) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def env_for(ctx, name: str, **extra: str) -> dict[str, str]:
    """Environment for a Django subprocess on database ``name``."""
    return ctx.env(PGDATABASE=name, DJANGO_SETTINGS_MODULE=SETTINGS, **extra)
