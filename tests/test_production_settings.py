"""The production profile (project/settings_production.py): everything from the environment, a
clear error for what is missing, and ``manage.py check --deploy`` without a single warning."""

from __future__ import annotations

import json
import logging
import os
import runpy
import secrets
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import django
import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from socialcare.conf import DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
MODULE = "project.settings_production"
#: Variables of the caller's shell that would leak into the profile (the PostgreSQL test runs set
#: the PG* ones).
PREFIXES = ("DJANGO_", "SOCIALCARE_", "PG", "DATABASE_URL", "Q_CLUSTER")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def full_env() -> dict[str, str]:
    """Every variable a production deployment sets (and nothing the tests' shell had)."""
    return {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "care.example.com,.support.example.com",
        "DATABASE_URL": "postgres://care:p%40ss%2Fword@db.internal:6543/socialcare?sslmode=require",
        "SOCIALCARE_REDIS_URL": "redis://redis.internal:6379/2",
        "SOCIALCARE_ENCRYPTION_KEYS": f"{Fernet.generate_key().decode()},"
        f"{Fernet.generate_key().decode()}",
    }


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch):
    """``load(**changes)`` runs the profile with the full environment changed by ``changes``
    (``None`` removes a variable) and returns its settings."""

    def run(**changes: str | None) -> dict[str, Any]:
        for name in list(os.environ):
            if name.startswith(PREFIXES):
                monkeypatch.delenv(name)
        for name, value in {**full_env(), **changes}.items():
            if value is not None:
                monkeypatch.setenv(name, value)
        return runpy.run_module(MODULE, run_name="production_settings_under_test")

    return run


def mail_settings(settings: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The profile's mail backend and its SMTP options: ``MAILERS["default"]`` on Django 6.1,
    which replaced the ``EMAIL_*`` settings with it (and warns about them), those before."""
    if django.VERSION >= (6, 1):
        assert not [name for name in settings if name.startswith("EMAIL_")]
        mailer = settings["MAILERS"]["default"]
        return mailer["BACKEND"], mailer["OPTIONS"]
    assert "MAILERS" not in settings
    names = {"host": "HOST", "port": "PORT", "username": "HOST_USER", "use_tls": "USE_TLS"}
    options = {option: settings[f"EMAIL_{name}"] for option, name in names.items()}
    return settings["EMAIL_BACKEND"], options


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean_environ(), "DJANGO_SETTINGS_MODULE": MODULE, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


# The real command --------------------------------------------------------------------------------
def test_check_deploy_reports_no_issue_at_all():
    done = manage("check", "--deploy", "--fail-level", "WARNING", env=full_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout


def test_a_missing_variable_stops_manage_py_and_is_named():
    env = full_env()
    del env["SOCIALCARE_REDIS_URL"]
    done = manage("check", env=env)
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert "Set the environment variable SOCIALCARE_REDIS_URL (see docs/deploy.md)." in done.stderr


HTTP_PROBE = """
import json
from django.test import Client
client = Client(HTTP_HOST="care.example.com")
health = client.get("/socialcare/health/")
admin = client.get("/admin/")
proxied = client.get("/admin/", headers={"x-forwarded-proto": "https"})
print(json.dumps({
    "health": [health.status_code, health.json()],
    "admin": [admin.status_code, admin.get("Location", "")],
    "proxied": [proxied.status_code, proxied.get("Location", ""),
                proxied.get("Strict-Transport-Security", "")],
}))
"""


def test_over_plain_http_only_the_health_check_is_not_redirected():
    """Load balancers probe over HTTP inside the network; everything else goes to HTTPS, and a
    request the proxy marks https is served with HSTS. (Nothing listens on the database and Redis
    ports here: the health check answers 503 at once instead of hanging.)"""
    env = full_env() | {
        "DATABASE_URL": f"postgres://care@127.0.0.1:{free_port()}/socialcare",
        "SOCIALCARE_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "SOCIALCARE_LOG_LEVEL": "CRITICAL",
    }
    done = manage("shell", "-c", HTTP_PROBE, env=env)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    status, body = seen["health"]
    assert status == 503
    assert body["status"] == "down"
    assert body["broker"] == "unavailable"
    assert seen["admin"] == [301, "https://care.example.com/admin/"]
    status, location, hsts = seen["proxied"]
    assert status == 302 and location.startswith("/admin/login/")
    assert hsts == "max-age=31536000; includeSubDomains; preload"


# The settings themselves -------------------------------------------------------------------------
def test_values_come_from_the_environment(load):
    settings = load(
        DJANGO_CSRF_TRUSTED_ORIGINS="https://care.example.com",
        SOCIALCARE_Q_WORKERS="6",
        SOCIALCARE_REPLY_TRANSPORT="console",
        DJANGO_EMAIL_HOST="smtp.internal",
        DJANGO_EMAIL_USE_TLS="1",
    )
    assert settings["DEBUG"] is False
    assert settings["ALLOWED_HOSTS"] == ["care.example.com", ".support.example.com"]
    assert settings["CSRF_TRUSTED_ORIGINS"] == ["https://care.example.com"]
    db = settings["DATABASES"]["default"]
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "socialcare",
        "care",
        "p@ss/word",
        "db.internal",
        "6543",
    )
    assert db["OPTIONS"]["sslmode"] == "require"
    assert db["CONN_MAX_AGE"] == 60 and db["CONN_HEALTH_CHECKS"] is True
    q = settings["Q_CLUSTER"]
    # One Redis connection pool per process, with socket timeouts from the URL.
    pool = q["redis"]["connection_pool"]
    assert pool.connection_kwargs["host"] == "redis.internal"
    assert pool.connection_kwargs["port"] == 6379 and pool.connection_kwargs["db"] == 2
    assert pool.connection_kwargs["socket_connect_timeout"] == 5
    assert pool.connection_kwargs["socket_timeout"] == 10
    assert q["log_level"] == "WARNING"
    assert "orm" not in q
    assert q["workers"] == 6
    assert q["timeout"] < q["retry"]
    # A task is killed before the sweepers take its work for a dead worker's (docs/deploy.md).
    stale = settings["SOCIALCARE"].get("STALE_DELIVERY_AFTER", DEFAULTS["STALE_DELIVERY_AFTER"])
    assert q["timeout"] < stale.total_seconds()
    assert q["ack_failures"] is True and q["max_attempts"] >= 1 and q["save_limit"] >= 0
    assert settings["CACHES"]["default"]["BACKEND"].endswith("RedisCache")
    assert settings["SOCIALCARE"]["ENCRYPTION_KEYS"] == os.environ[
        "SOCIALCARE_ENCRYPTION_KEYS"
    ].split(",")
    assert settings["SOCIALCARE"]["REPLY_TRANSPORT"].endswith("ConsoleTransport")
    backend, options = mail_settings(settings)
    assert backend == "django.core.mail.backends.smtp.EmailBackend"
    assert (options["host"], options["use_tls"], options["port"]) == ("smtp.internal", True, 25)
    assert settings["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert settings["SESSION_COOKIE_SECURE"] and settings["CSRF_COOKIE_SECURE"]
    assert settings["STATIC_ROOT"]
    assert settings["SILENCED_SYSTEM_CHECKS"] == []


def test_another_mail_backend_gets_no_smtp_options(load):
    settings = load(DJANGO_EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend")
    backend, options = mail_settings(settings)
    assert backend == "django.core.mail.backends.console.EmailBackend"
    if django.VERSION >= (6, 1):  # the EMAIL_* settings before were ignored by such a backend
        assert options == {}


def test_defaults_for_what_is_optional(load):
    settings = load()
    assert settings["CSRF_TRUSTED_ORIGINS"] == [
        "https://care.example.com",
        "https://*.support.example.com",
    ]
    assert settings["SOCIALCARE"]["REPLY_TRANSPORT"] == "socialcare.transports.live.LiveTransport"
    assert settings["DEFAULT_FROM_EMAIL"] == "socialcare@care.example.com"
    assert settings["LOGGING"]["handlers"]["stdout"]["formatter"] == "json"


def test_database_from_the_libpq_variables(load):
    settings = load(
        DATABASE_URL=None, PGHOST="10.0.0.5", PGDATABASE="care", PGUSER="app", PGPASSWORD="pw"
    )
    db = settings["DATABASES"]["default"]
    assert (db["HOST"], db["PORT"], db["NAME"], db["USER"], db["PASSWORD"]) == (
        "10.0.0.5",
        "5432",
        "care",
        "app",
        "pw",
    )


@pytest.mark.parametrize(
    "name",
    [
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "SOCIALCARE_REDIS_URL",
        "SOCIALCARE_ENCRYPTION_KEYS",
    ],
)
def test_each_required_variable_is_named_when_missing(load, name):
    with pytest.raises(ImproperlyConfigured, match=f"Set the environment variable {name} "):
        load(**{name: None})


def test_an_empty_value_counts_as_missing(load):
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY"):
        load(DJANGO_SECRET_KEY="  ")


def test_no_database_configured_names_both_ways(load):
    with pytest.raises(ImproperlyConfigured, match="Set DATABASE_URL, or PGHOST and PGDATABASE"):
        load(DATABASE_URL=None)
    with pytest.raises(ImproperlyConfigured, match="PGDATABASE"):
        load(DATABASE_URL=None, PGHOST="db.internal")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"DATABASE_URL": "mysql://db/care"}, "DATABASE_URL must look like postgres://"),
        ({"SOCIALCARE_REDIS_URL": "db.internal:6379"}, "SOCIALCARE_REDIS_URL must be a redis://"),
        ({"SOCIALCARE_Q_TIMEOUT": "300", "SOCIALCARE_Q_RETRY": "300"}, "must be larger than"),
        (
            {"SOCIALCARE_Q_TIMEOUT": "600", "SOCIALCARE_Q_RETRY": "900"},
            r"SOCIALCARE_Q_TIMEOUT \(600\) must be shorter than SOCIALCARE\['STALE_DELIVERY_AFTER'\]",
        ),
        ({"SOCIALCARE_Q_WORKERS": "four"}, "SOCIALCARE_Q_WORKERS must be a whole number"),
        ({"DJANGO_SECURE_SSL_REDIRECT": "maybe"}, "DJANGO_SECURE_SSL_REDIRECT must be 1 or 0"),
        ({"SOCIALCARE_LOG_LEVELS": "socialcare.ingest"}, "logger=LEVEL pairs"),
        ({"SOCIALCARE_LOG_FORMAT": "xml"}, "json or plain"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(load, changes, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        load(**changes)


def test_turning_hsts_preload_off_silences_only_that_check(load):
    settings = load(DJANGO_SECURE_HSTS_PRELOAD="0")
    assert settings["SECURE_HSTS_PRELOAD"] is False
    assert settings["SILENCED_SYSTEM_CHECKS"] == ["security.W021"]


def test_log_levels_per_logger(load):
    settings = load(
        SOCIALCARE_LOG_LEVEL="warning",
        SOCIALCARE_LOG_LEVELS="socialcare.ingest=DEBUG, django.request=error",
    )
    loggers = settings["LOGGING"]["loggers"]
    assert settings["LOGGING"]["root"]["level"] == "WARNING"
    assert loggers["socialcare"]["level"] == "WARNING"
    assert loggers["socialcare.ingest"]["level"] == "DEBUG"
    assert loggers["django.request"]["level"] == "ERROR"


def test_json_log_lines_hold_the_record_and_never_its_extras(load):
    formatter = load()["JsonLogFormatter"]()
    try:
        raise ValueError("bad payload")
    except ValueError:
        record = logging.LogRecord(
            "socialcare.ingest", logging.ERROR, __file__, 1, "delivery %s failed", (7,), None
        )
        record.exc_info = sys.exc_info()
    record.request = "<WSGIRequest: Authorization: Api-Key sc_secret>"
    record.status_code = 500
    line = formatter.format(record)
    assert "\n" not in line.replace("\\n", "")
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "socialcare.ingest"
    assert entry["message"] == "delivery 7 failed"
    assert entry["status"] == 500
    assert "ValueError: bad payload" in entry["exc"]
    assert "sc_secret" not in line
