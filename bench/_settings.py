"""Django settings for the ingest/memory/crisis benchmark subprocesses: the test settings on the
PostgreSQL database named by the PG* environment (``PGDATABASE``), django-q2 on the ORM broker,
no debug (so no query log grows)."""

import os

from bench.pg import pg_database
from project.mail import mail_settings
from tests.settings import *  # noqa: F403

DEBUG = False
DATABASES = {"default": pg_database(CONN_MAX_AGE=None)}
Q_CLUSTER = {
    "name": "socialcare-bench",
    "orm": "default",
    "workers": int(os.environ.get("SOCIALCARE_BENCH_Q_WORKERS", "1")),
    "timeout": 120,
    "retry": 300,
    "poll": 0.05,
    "catch_up": False,
    "save_limit": 100,
    "ack_failures": True,
}
# bench/sentiment.py measures ingest with each sentiment scorer.
if os.environ.get("SOCIALCARE_BENCH_SENTIMENT"):
    SOCIALCARE = {**SOCIALCARE, "SENTIMENT_BACKEND": os.environ["SOCIALCARE_BENCH_SENTIMENT"]}  # noqa: F405
# Mail goes nowhere (MAILERS on Django 6.1, EMAIL_BACKEND before: project/mail.py).
globals().update(mail_settings("django.core.mail.backends.dummy.EmailBackend"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "root": {"handlers": ["null"], "level": "ERROR"},
}
