"""Peer: django-helpdesk creating tickets, each with a follow-up, through its own e-mail intake
code path, beside socialcare's ingest posts/s (same bench run).

The module makes its own venv under ``ctx.work_dir/helpdesk-venv`` (``python -m venv``, then
``pip install django-helpdesk[teams]``: its migrations need pinax-teams; Django 5.2 which it
requires, and psycopg), a tiny settings module on a separate database of the same PostgreSQL server, and
runs ``helpdesk.email.extract_email_metadata`` (what ``get_email`` calls for each message it
reads from a mailbox) on real RFC 822 messages: for each ticket a new message (creates the
ticket and its first follow-up, renders and "sends" the acknowledgement with the dummy mail
backend) and a reply whose subject carries ``[queue-id]`` (adds a follow-up to that ticket).
Socialcare's figure is the one bench/ingest.py measured in this run, else measured here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench import _db
from bench._proc import BenchError, shared_results
from bench.figures import Figure

SETTINGS = """
import os
SECRET_KEY = "peer-bench"
DEBUG = False
USE_TZ = True
SITE_ID = 1
INSTALLED_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
    "django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles",
    "django.contrib.sites", "django.contrib.humanize", "rest_framework", "account",
    "pinax.invitations", "pinax.teams", "reversion", "helpdesk",
]
MIDDLEWARE = []
ROOT_URLCONF = "hd_urls"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
              "OPTIONS": {"context_processors": ["django.template.context_processors.request"]}}]
DATABASES = {"default": {
    "ENGINE": "django.db.backends.postgresql", "NAME": os.environ["PGDATABASE"],
    "USER": os.environ.get("PGUSER", "postgres"), "PASSWORD": os.environ.get("PGPASSWORD", ""),
    "HOST": os.environ.get("PGHOST", "127.0.0.1"), "PORT": os.environ.get("PGPORT", "5432"),
}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
STATIC_URL = "static/"
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "root": {"handlers": [], "level": "ERROR"}}
"""

URLS = """
from django.urls import include, path

urlpatterns = [path("helpdesk/", include("helpdesk.urls", namespace="helpdesk"))]
"""

RUNNER = """
import json, logging, sys, time
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0, interactive=False)
from helpdesk.email import extract_email_metadata
from helpdesk.models import FollowUp, Queue, Ticket

n = int(sys.argv[1])
queue, _ = Queue.objects.get_or_create(
    slug="care", defaults={"title": "Customer care", "email_address": "care@acme.example",
                           "allow_email_submission": True, "email_box_type": "imap"})
logger = logging.getLogger("peer")
TEXTS = ["My order AC-%d never arrived and nobody answers. Very disappointed.",
         "Die Bestellung AC-%d ist kaputt angekommen, bitte um Hilfe.",
         "注文 AC-%d がまだ届きません。確認してください。",
         "Mi pedido AC-%d llegó tarde otra vez, ¿qué pasa?"]

def message(i, subject, body, reply_to=None):
    headers = [f"From: Customer {i} <customer{i}@example.com>", "To: care@acme.example",
               f"Subject: {subject}", f"Message-Id: <m{i}-{len(body)}-{time.time_ns()}@example.com>",
               "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
               "Content-Transfer-Encoding: 8bit"]
    if reply_to:
        headers.append(f"In-Reply-To: {reply_to}")
    return "\\n".join(headers) + "\\n\\n" + body + "\\n"

started = time.perf_counter()
for i in range(n):
    text = TEXTS[i % len(TEXTS)] % (10000 + i)
    ticket = extract_email_metadata(message(i, f"Order problem {i}", text), queue, logger)
    extract_email_metadata(
        message(i, f"Re: [care-{ticket.id}] Order problem {i}", "Any news? Still waiting."),
        queue, logger)
seconds = time.perf_counter() - started
print(json.dumps({"tickets": Ticket.objects.count(), "followups": FollowUp.objects.count(),
                  "seconds": seconds}))
"""


def _venv(ctx) -> Path:
    venv = (ctx.work_dir / "helpdesk-venv").resolve()
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if marker.exists():
        return python
    ctx.log("peer: creating the django-helpdesk venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "django-helpdesk[teams]", "Django>=5.2,<6",
         "psycopg[binary]"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if proc.returncode != 0:
        raise BenchError(f"pip install django-helpdesk failed: {proc.stderr.strip()[-1500:]}")
    marker.write_text("ok\n")
    return python


def _socialcare_rate(ctx) -> float:
    results = shared_results(ctx)
    if "ingest_posts_per_s" not in results:
        from bench import ingest

        ctx.log("peer: measuring socialcare's ingest for the ratio")
        results["ingest_posts_per_s"] = ingest.measure(ctx, 300 if ctx.quick else 1000, 1)[
            "posts_per_s"
        ]
    return results["ingest_posts_per_s"]


def run(ctx) -> list[Figure]:
    tickets = 200 if ctx.quick else 1000
    name = "scg_helpdesk"
    try:
        python = _venv(ctx)
        app = (ctx.work_dir / "helpdesk-app").resolve()
        app.mkdir(parents=True, exist_ok=True)
        (app / "hd_settings.py").write_text(SETTINGS)
        (app / "hd_urls.py").write_text(URLS)
        (app / "peer_run.py").write_text(RUNNER)
        with _db._admin(ctx.pg) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        env = {**ctx.env(PGDATABASE=name), "DJANGO_SETTINGS_MODULE": "hd_settings"}
        env.pop("PYTHONPATH", None)
        ctx.log(f"peer: {tickets} helpdesk tickets with a follow-up each")
        proc = subprocess.run(
            [str(python), "peer_run.py", str(tickets)], cwd=app, env=env, capture_output=True,
            text=True, timeout=3600,
        )  # fmt: skip
        if proc.returncode != 0:
            raise BenchError(f"helpdesk run failed: {proc.stderr.strip()[-1500:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        ours = _socialcare_rate(ctx)
    except (BenchError, OSError, subprocess.SubprocessError) as exc:
        return [Figure("Peer: django-helpdesk", float("nan"), "tickets/s", "-", None,
                       notes=str(exc))]  # fmt: skip
    finally:
        try:
            _db.drop(ctx, name)
        except Exception as exc:  # the figure is already decided; report, do not mask it
            ctx.log(f"peer: could not drop {name}: {exc}")
    rate = result["tickets"] / result["seconds"]
    return [
        Figure(
            name="Peer: django-helpdesk (ticket + follow-up)",
            value=rate,
            unit="tickets/s",
            target="-",
            passed=None,
            reference_name="socialcare ingest",
            reference_value=ours,
            ratio=rate / ours if ours else None,
            notes=(
                f"{result['tickets']} tickets, {result['followups']} follow-ups through "
                "helpdesk.email.extract_email_metadata (its mailbox intake) on PostgreSQL; "
                "socialcare reference in posts/s (one post = one delivery on the worker path)"
            ),
        )
    ]
