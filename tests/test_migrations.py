"""Migrations ship with the models: nothing left for ``makemigrations`` to write."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db.migrations.loader import MigrationLoader


@pytest.mark.django_db
def test_no_missing_migrations():
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit:  # raised by --check when a migration would be written
        pytest.fail(f"makemigrations would write migrations:\n{out.getvalue()}")
    assert "No changes detected" in out.getvalue()


def test_initial_migration_depends_on_the_active_customer_model(settings):
    """swapper.dependency() in 0001: a swapped customer model's app is migrated first."""
    initial = MigrationLoader(None, ignore_no_migrations=True).get_migration(
        "socialcare", "0001_initial"
    )
    customer_app = getattr(settings, "SOCIALCARE_CUSTOMER_MODEL", "socialcare.Customer")
    assert (customer_app.split(".")[0], "__first__") in initial.dependencies
    assert (settings.AUTH_USER_MODEL.split(".")[0], "__first__") in initial.dependencies
