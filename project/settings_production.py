"""The production profile: PostgreSQL, django-q2 on Redis, several web and worker processes.

``DJANGO_SETTINGS_MODULE=project.settings_production``. It starts from the demo settings
(``project.settings``: apps, middleware, templates, OAuth) and takes everything that differs
between installations from the environment. A required variable that is missing stops the
process at start-up with ``ImproperlyConfigured`` naming it. docs/deploy.md lists every variable
and shows the whole deployment (gunicorn, qcluster processes, static files, health checks).

Names: Django's own settings are ``DJANGO_<SETTING>``; the database is ``DATABASE_URL`` or the
libpq variables (``PGHOST``, ``PGDATABASE``, ...); socialcare and its infrastructure are
``SOCIALCARE_*``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from importlib.util import find_spec
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import redis
from django.core.exceptions import ImproperlyConfigured

from project.mail import SMTP_BACKEND, mail_settings
from project.settings import *  # noqa: F403 -- the demo settings are the base
from project.settings import MIDDLEWARE, SOCIALCARE, VAR_DIR
from socialcare.conf import DEFAULTS as SOCIALCARE_DEFAULTS

DOCS = "see docs/deploy.md"


# Reading the environment -------------------------------------------------------------------------
def env(name: str, default: str | None = None) -> str:
    """``name`` from the environment, stripped; without a default, a missing or empty value stops
    start-up with a message naming the variable."""
    value = os.environ.get(name, "").strip()
    if value:
        return value
    if default is None:
        raise ImproperlyConfigured(f"Set the environment variable {name} ({DOCS}).")
    return default


def env_list(name: str, default: str | None = None) -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def env_bool(name: str, default: bool) -> bool:
    value = env(name, "1" if default else "0").lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be 1 or 0 (true/false), not {value!r}.")


def env_int(name: str, default: int) -> int:
    value = env(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None


# Core ---------------------------------------------------------------------------------------------
DEBUG = False  # never from the environment: a debug page shows settings and stack locals
SECRET_KEY = env("DJANGO_SECRET_KEY")
# Rotating SECRET_KEY: the old key goes here for a while (sessions and signed links stay valid).
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS", "")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS")


def _origins(hosts: list[str]) -> list[str]:
    origins = []
    for host in hosts:
        if host == "*":
            continue
        origins.append("https://*" + host if host.startswith(".") else "https://" + host)
    return origins


CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", ",".join(_origins(ALLOWED_HOSTS)))


# Database: PostgreSQL -------------------------------------------------------------------------------
def database_from_url(url: str) -> dict[str, Any]:
    """``postgres://user:password@host:port/name?sslmode=require`` as a Django database dict."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql") or not parts.path.strip("/"):
        raise ImproperlyConfigured(
            "DATABASE_URL must look like postgres://user:password@host:5432/name "
            f"(scheme {parts.scheme or '(none)'!r}, database "
            f"{parts.path.strip('/') or '(none)'!r}; {DOCS})."
        )
    return {
        "NAME": unquote(parts.path.strip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": unquote(parts.hostname or ""),
        "PORT": str(parts.port or ""),
        "OPTIONS": dict(parse_qsl(parts.query)),
    }


def database_from_libpq() -> dict[str, Any]:
    """The libpq variables: ``PGHOST``, ``PGDATABASE`` (required), ``PGPORT``, ``PGUSER``,
    ``PGPASSWORD``, ``PGSSLMODE``."""
    if not os.environ.get("PGHOST", "").strip():
        raise ImproperlyConfigured(
            f"Set DATABASE_URL, or PGHOST and PGDATABASE, for the PostgreSQL database ({DOCS})."
        )
    options = {}
    if os.environ.get("PGSSLMODE"):
        options["sslmode"] = env("PGSSLMODE")
    return {
        "NAME": env("PGDATABASE"),
        "USER": env("PGUSER", ""),
        "PASSWORD": os.environ.get("PGPASSWORD", ""),
        "HOST": env("PGHOST"),
        "PORT": env("PGPORT", "5432"),
        "OPTIONS": options,
    }


_database = (
    database_from_url(env("DATABASE_URL"))
    if os.environ.get("DATABASE_URL", "").strip()
    else database_from_libpq()
)
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        **_database,
        # Persistent connections (one per gunicorn thread and per worker process), checked
        # before reuse so a restarted server or a dropped connection costs one retry, not a 500.
        # Behind PgBouncer in transaction mode set SOCIALCARE_DB_CONN_MAX_AGE=0 and
        # SOCIALCARE_DB_PGBOUNCER=1.
        "CONN_MAX_AGE": env_int("SOCIALCARE_DB_CONN_MAX_AGE", 60),
        "CONN_HEALTH_CHECKS": True,
        "DISABLE_SERVER_SIDE_CURSORS": env_bool("SOCIALCARE_DB_PGBOUNCER", False),
    }
}
DATABASES["default"]["OPTIONS"].setdefault(
    "connect_timeout", env_int("SOCIALCARE_DB_CONNECT_TIMEOUT", 5)
)
DATABASES["default"]["OPTIONS"].setdefault("application_name", "socialcare")


# Redis: the task queue (django-q2) and the shared cache ---------------------------------------------
def redis_url(url: str, name: str) -> str:
    """``url`` with socket timeouts added unless it sets them: a Redis that stops answering must
    fail a request (and the health check) in seconds, not hang it."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ImproperlyConfigured(
            f"{name} must be a redis://, rediss:// or unix:// URL, not {parts.scheme or url!r} "
            f"({DOCS})."
        )
    query = dict(parse_qsl(parts.query))
    query.setdefault("socket_connect_timeout", "5")
    # Above the 1-second blocking pop of django-q2's Redis broker.
    query.setdefault("socket_timeout", "10")
    query.setdefault("health_check_interval", "30")
    return parts._replace(query=urlencode(query)).geturl()


REDIS_URL = redis_url(env("SOCIALCARE_REDIS_URL"), "SOCIALCARE_REDIS_URL")
CACHES = {
    # Shared by every process: API throttling counts a key's requests across all web machines.
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": redis_url(env("SOCIALCARE_CACHE_URL", REDIS_URL), "SOCIALCARE_CACHE_URL"),
        "KEY_PREFIX": env("SOCIALCARE_CACHE_PREFIX", "socialcare"),
    }
}
# Staff sessions read from the shared cache, written through to the database (a signed-in
# request skips the session query; a cache flush or restart loses no session).
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

_q_timeout = env_int("SOCIALCARE_Q_TIMEOUT", 120)
_q_retry = env_int("SOCIALCARE_Q_RETRY", _q_timeout + 60)
if _q_retry <= _q_timeout:
    raise ImproperlyConfigured(
        f"SOCIALCARE_Q_RETRY ({_q_retry}) must be larger than SOCIALCARE_Q_TIMEOUT ({_q_timeout}): "
        "a task still running would be handed to a second worker."
    )
# socialcare's sweepers queue again the work a dead worker left ("processing" deliveries, "sending"
# replies) once it is older than these: longer than any task may run, or they would take work
# from a worker that is still on it.
for _name in ("STALE_DELIVERY_AFTER", "STALE_REPLY_AFTER"):
    _stale = SOCIALCARE.get(_name, SOCIALCARE_DEFAULTS.get(_name))
    if _stale is not None and _stale.total_seconds() <= _q_timeout:
        raise ImproperlyConfigured(
            f"SOCIALCARE_Q_TIMEOUT ({_q_timeout}) must be shorter than SOCIALCARE['{_name}'] "
            f"({int(_stale.total_seconds())} s): the sweeper would queue again work a worker is "
            "still doing."
        )
Q_CLUSTER = {
    # Every web and qcluster process of one installation uses the same name: it is the Redis list
    # they share (django_q:<name>:q) and the salt tasks are signed with (with SECRET_KEY).
    "name": env("SOCIALCARE_Q_NAME", "socialcare"),
    # One connection pool per process (a URL alone makes django-q2 connect for every task).
    "redis": {"connection_pool": redis.ConnectionPool.from_url(REDIS_URL)},
    "log_level": "WARNING",  # not a line per queued task
    # Worker processes of this qcluster; run one qcluster per machine (or more), see deploy.md.
    "workers": env_int("SOCIALCARE_Q_WORKERS", os.cpu_count() or 2),
    # A task running longer than this is killed (its worker process replaced); what it was doing
    # is left to socialcare's sweepers, like the work of a worker that died.
    "timeout": _q_timeout,
    # retry, ack_failures and max_attempts act only on brokers with delivery receipts (SQS,
    # IronMQ, the ORM broker...), which hand a task out again when it is not acknowledged within
    # ``retry`` seconds. django-q2's Redis broker has none: a cluster pops a task (BLPOP) and
    # holds it in memory, with up to workers² others it fetched ahead; if that cluster is killed
    # (SIGKILL, out of memory, a machine lost) those tasks are gone and nothing re-delivers them.
    # socialcare's sweepers re-queue the deliveries and replies they leave behind (deploy.md,
    # "What is safe"). The values stay right for a broker with receipts: retry above timeout (so
    # a running task is not handed to a second worker), failed tasks acknowledged (socialcare
    # retries its own work, and every task is idempotent), at most max_attempts deliveries.
    "retry": _q_retry,
    "ack_failures": True,
    "max_attempts": env_int("SOCIALCARE_Q_MAX_ATTEMPTS", 3),
    # Successful task results kept for the admin (failures are always kept).
    "save_limit": env_int("SOCIALCARE_Q_SAVE_LIMIT", 250),
    # Recycle a worker process after this many tasks or above this resident size (KB).
    "recycle": env_int("SOCIALCARE_Q_RECYCLE", 500),
    "max_rss": env_int("SOCIALCARE_Q_MAX_RSS_KB", 300_000),
    # Every cluster checks the schedules (each due one runs once: see deploy.md); 0 leaves that
    # to the other machines.
    "scheduler": env_bool("SOCIALCARE_Q_SCHEDULER", True),
    # Schedules that were missed while no cluster ran are run once, not once per missed slot.
    "catch_up": False,
}


# Static files --------------------------------------------------------------------------------------
# ``manage.py collectstatic --noinput`` on every deploy; nginx (or a CDN) serves STATIC_ROOT at
# STATIC_URL. Hashed names let them be cached forever.
STATIC_URL = env("DJANGO_STATIC_URL", "/static/")
STATIC_ROOT = env("DJANGO_STATIC_ROOT", str(VAR_DIR / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}
if find_spec("whitenoise") is not None:
    # WhiteNoise, when the project installs it, serves the collected files from gunicorn itself.
    MIDDLEWARE = [
        *MIDDLEWARE[:1],
        "whitenoise.middleware.WhiteNoiseMiddleware",
        *MIDDLEWARE[1:],
    ]
    STORAGES["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}


# HTTPS ---------------------------------------------------------------------------------------------
# TLS ends at the proxy (nginx, the load balancer), which must set this header on every request
# and drop it from clients. Set DJANGO_SECURE_PROXY_SSL_HEADER="" when gunicorn terminates TLS.
_proxy_header = env("DJANGO_SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto")
if _proxy_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_header.upper().replace("-", "_"), "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
# Load balancers probe the health endpoint over plain HTTP, inside the network.
SECURE_REDIRECT_EXEMPT = [r"^socialcare/health/$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_AGE = env_int("DJANGO_SESSION_COOKIE_AGE", 12 * 3600)

# Turning one of these off is a decision, not an oversight: ``check --deploy`` stays quiet about
# exactly that one (and reports everything else).
SILENCED_SYSTEM_CHECKS = [
    check
    for check, enabled in (
        ("security.W004", SECURE_HSTS_SECONDS > 0),
        ("security.W005", SECURE_HSTS_INCLUDE_SUBDOMAINS or SECURE_HSTS_SECONDS == 0),
        ("security.W021", SECURE_HSTS_PRELOAD or SECURE_HSTS_SECONDS == 0),
        ("security.W008", SECURE_SSL_REDIRECT),
    )
    if not enabled
]


# socialcare ----------------------------------------------------------------------------------------
def _transport(value: str) -> str:
    return {
        "live": "socialcare.transports.live.LiveTransport",
        "console": "socialcare.transports.console.ConsoleTransport",
    }.get(value, value)


SOCIALCARE = {
    **SOCIALCARE,
    # Fernet keys, comma-separated, newest first: the first encrypts, all decrypt (rotation).
    "ENCRYPTION_KEYS": env_list("SOCIALCARE_ENCRYPTION_KEYS"),
    "REPLY_TRANSPORT": _transport(env("SOCIALCARE_REPLY_TRANSPORT", "live")),
}


# E-mail (SLA and incident notifications) -----------------------------------------------------------
#: The SMTP server (Django's SMTP backend; another backend is configured its own way).
_smtp = {
    "host": env("DJANGO_EMAIL_HOST", "localhost"),
    "port": env_int("DJANGO_EMAIL_PORT", 25),
    "username": env("DJANGO_EMAIL_HOST_USER", ""),
    "password": os.environ.get("DJANGO_EMAIL_HOST_PASSWORD", ""),
    "use_tls": env_bool("DJANGO_EMAIL_USE_TLS", False),
    "use_ssl": env_bool("DJANGO_EMAIL_USE_SSL", False),
    "timeout": env_int("DJANGO_EMAIL_TIMEOUT", 10),
}
if _smtp["use_tls"] and _smtp["use_ssl"]:
    raise ImproperlyConfigured("Set DJANGO_EMAIL_USE_TLS or DJANGO_EMAIL_USE_SSL, not both.")
# MAILERS on Django 6.1, the EMAIL_* settings before (project/mail.py).
globals().update(mail_settings(env("DJANGO_EMAIL_BACKEND", SMTP_BACKEND), _smtp))
_mail_domain = next((h.lstrip(".") for h in ALLOWED_HOSTS if h != "*"), "localhost")
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", f"socialcare@{_mail_domain}")
SERVER_EMAIL = env("DJANGO_SERVER_EMAIL", DEFAULT_FROM_EMAIL)


# Logging: one line per record on stdout ------------------------------------------------------------
class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, process, message (and the traceback).
    Only the record's own fields: request objects and other ``extra`` values are not dumped."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "message": record.getMessage(),
        }
        status = getattr(record, "status_code", None)
        if isinstance(status, int):
            entry["status"] = status
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def log_levels(default: str) -> dict[str, str]:
    """The level of each logger: socialcare's at ``default``; Django's and django-q2's at WARNING
    (django-q2 logs three INFO lines per task: ``django-q=INFO`` to see them), then
    ``SOCIALCARE_LOG_LEVELS="socialcare.ingest=DEBUG,django.request=ERROR"``."""
    levels = {"socialcare": default, "project": default, "django": "WARNING", "django-q": "WARNING"}
    for item in env_list("SOCIALCARE_LOG_LEVELS", ""):
        name, sep, level = item.partition("=")
        level = level.strip().upper()
        if not sep or level not in logging.getLevelNamesMapping():
            raise ImproperlyConfigured(
                f"SOCIALCARE_LOG_LEVELS takes logger=LEVEL pairs separated by commas, not {item!r}."
            )
        levels[name.strip()] = level
    return levels


_log_format = env("SOCIALCARE_LOG_FORMAT", "json")
if _log_format not in ("json", "plain"):
    raise ImproperlyConfigured(f"SOCIALCARE_LOG_FORMAT is json or plain, not {_log_format!r}.")
_log_level = env("SOCIALCARE_LOG_LEVEL", "INFO").upper()
if _log_level not in logging.getLevelNamesMapping():
    raise ImproperlyConfigured(f"SOCIALCARE_LOG_LEVEL is not a logging level: {_log_level!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": JsonLogFormatter},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": _log_format,
        }
    },
    "root": {"handlers": ["stdout"], "level": _log_level},
    "loggers": {
        name: {"level": level, "handlers": [], "propagate": True}
        for name, level in log_levels(_log_level).items()
    },
}
