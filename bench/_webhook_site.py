"""Django settings for the webhook benchmark's server: the demo project on PostgreSQL.

The demo's settings with what a production deployment changes on the accept path: PostgreSQL from
the ``PG*`` environment variables with persistent connections, DEBUG off, django-q2 on Redis when
``BENCH_REDIS_URL`` is set (else its ORM broker in the same database), and the benchmark's URLs
(the project's plus the trivial reference view).
"""

from __future__ import annotations

import os

from bench.pg import pg_database
from project.settings import *  # noqa: F403
from project.settings import Q_CLUSTER as DEMO_Q_CLUSTER

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "bench._webhook_urls"

# Without it every request opens (and forks) a PostgreSQL backend: several milliseconds.
DATABASES = {
    "default": pg_database(
        CONN_MAX_AGE=int(os.environ.get("BENCH_CONN_MAX_AGE", "600")), CONN_HEALTH_CHECKS=True
    )
}

Q_CLUSTER = {**DEMO_Q_CLUSTER, "name": "socialcare-bench", "log_level": "WARNING"}
if os.environ.get("BENCH_REDIS_URL"):
    import redis

    Q_CLUSTER.pop("orm", None)
    # django-q2 makes a Redis client per async_task; sharing one pool per process keeps that from
    # opening a new connection for every queued delivery (redis-py resets the pool after fork).
    Q_CLUSTER["redis"] = {
        "connection_pool": redis.ConnectionPool.from_url(os.environ["BENCH_REDIS_URL"])
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"socialcare": {"handlers": ["console"], "level": "WARNING"}},
}
