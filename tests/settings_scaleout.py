"""Settings of the web and worker processes the scale-out test starts (tests/scaleout).

They are the production profile (project/settings_production.py), configured from the
environment the test sets (``DATABASE_URL`` naming the pytest run's test database,
``SOCIALCARE_REDIS_URL`` its private Redis server, the test settings' encryption key), with the
pytest run's apps, URLs and customer model so they read and write the same tables. The pytest
settings module is ``SOCIALCARE_SCALEOUT_BASE`` (``tests.settings`` or ``tests.settings_swapped``).

``SOCIALCARE_SCALEOUT_STALE_SECONDS`` shortens ``STALE_DELIVERY_AFTER`` (10 minutes) for the
test's one sweeper run, so the deliveries its SIGKILLs stranded are re-queued seconds later; the
web and qcluster processes keep the default (their scheduled sweep must not re-queue the backlog
of deliveries still waiting in Redis).
"""

import datetime as dt
import os
from importlib import import_module

from project.settings_production import *  # noqa: F403
from project.settings_production import SOCIALCARE as PRODUCTION_SOCIALCARE

_base = import_module(os.environ.get("SOCIALCARE_SCALEOUT_BASE", "tests.settings"))

INSTALLED_APPS = _base.INSTALLED_APPS
ROOT_URLCONF = _base.ROOT_URLCONF
AUTHENTICATION_BACKENDS = _base.AUTHENTICATION_BACKENDS
PASSWORD_HASHERS = _base.PASSWORD_HASHERS
if hasattr(_base, "SOCIALCARE_CUSTOMER_MODEL"):
    SOCIALCARE_CUSTOMER_MODEL = _base.SOCIALCARE_CUSTOMER_MODEL
SOCIALCARE = {
    **_base.SOCIALCARE,
    "ENCRYPTION_KEYS": PRODUCTION_SOCIALCARE["ENCRYPTION_KEYS"],
    "REPLY_TRANSPORT": PRODUCTION_SOCIALCARE["REPLY_TRANSPORT"],
}
if os.environ.get("SOCIALCARE_SCALEOUT_STALE_SECONDS"):
    SOCIALCARE["STALE_DELIVERY_AFTER"] = dt.timedelta(
        seconds=float(os.environ["SOCIALCARE_SCALEOUT_STALE_SECONDS"])
    )
