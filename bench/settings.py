"""Django settings for the benchmarks: the demo project's, on the bench's PostgreSQL server.

The server comes from the libpq environment (PGHOST, PGPORT, PGUSER, PGDATABASE) that
``scripts/bench.sh`` exports; DEBUG is off (no query log kept in memory, as in production).
"""

from __future__ import annotations

from bench.pg import pg_database
from project.settings import *  # noqa: F403

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
# Persistent connections, as a production server runs.
DATABASES = {"default": pg_database(CONN_MAX_AGE=60)}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# As the production profile (project/settings_production.py): sessions read from the cache.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"socialcare": {"level": "ERROR"}},
}
