"""Settings (``socialcare.conf``) and the start-up system checks socialcare.E001–E005, W001."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core import checks
from django.test import override_settings

from socialcare.checks import check_settings
from socialcare.conf import app_settings, platform_choices
from socialcare.services.cases import format_reference

GOOD_KEY = Fernet.generate_key().decode()


def ids(messages) -> list[str]:
    return [m.id for m in messages]


#: For the tests that run every check as ``manage.py check`` does: from Django 6.1 on it gives the
#: checks every database, and the model checks read the database's features (SQLite's JSON support).
runs_all_checks = pytest.mark.django_db


def socialcare_ids() -> list[str]:
    """What ``manage.py check`` reports from socialcare (proves the checks are registered)."""
    return [m.id for m in checks.run_checks() if m.id and m.id.startswith("socialcare.")]


# Settings ------------------------------------------------------------------------------------


def test_defaults_apply_where_the_project_sets_nothing():
    with override_settings(SOCIALCARE={}):
        assert app_settings.CASE_REFERENCE_PREFIX == "SC-"
        assert "mastodon" in app_settings.PLATFORMS
        reopen, first_response = app_settings.REOPEN_WINDOW, app_settings.DEFAULT_FIRST_RESPONSE
        assert (reopen, first_response) == (dt.timedelta(days=7), dt.timedelta(minutes=60))
    with override_settings(SOCIALCARE=None):
        assert app_settings.CUSTOMER_NAME_FIELD == "name"


def test_project_values_override_defaults_and_revert_after_override(socialcare_settings):
    assert format_reference(42) == "SC-000042"
    with socialcare_settings(CASE_REFERENCE_PREFIX="CARE-"):
        assert format_reference(42) == "CARE-000042"
    assert format_reference(42) == "SC-000042"


def test_unknown_setting_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="Invalid socialcare setting: 'NOPE'"):
        app_settings.NOPE  # noqa: B018


def test_extra_platforms_join_the_builtin_ones(socialcare_settings):
    assert ("x", "X (Twitter)") in platform_choices()
    assert "threads" not in dict(platform_choices())
    with socialcare_settings(EXTRA_PLATFORMS={"threads": "Threads"}):
        assert dict(platform_choices())["threads"] == "Threads"
        assert app_settings.platform_labels()["mastodon"] == "Mastodon"
    assert "threads" not in dict(platform_choices())


# Checks --------------------------------------------------------------------------------------


@runs_all_checks
def test_test_configuration_passes_all_checks():
    assert check_settings() == []
    assert socialcare_ids() == []


@runs_all_checks
def test_e001_unknown_platform(socialcare_settings):
    with socialcare_settings(PLATFORMS=["x", "myspace"]):
        messages = check_settings()
        assert ids(messages) == ["socialcare.E001"]
        assert "'myspace'" in messages[0].msg
        assert "EXTRA_PLATFORMS" in messages[0].hint
        assert socialcare_ids() == ["socialcare.E001"]
    with socialcare_settings(PLATFORMS=["x", "myspace"], EXTRA_PLATFORMS={"myspace": "MySpace"}):
        assert check_settings() == []


@runs_all_checks
def test_e002_no_key_at_all(socialcare_settings):
    with socialcare_settings(ENCRYPTION_KEYS=[]), override_settings(SECRET_KEY=""):
        messages = check_settings()
        assert ids(messages) == ["socialcare.E002"]
        assert "Fernet.generate_key()" in messages[0].hint
        assert socialcare_ids() == ["socialcare.E002"]


def test_w001_key_derived_from_secret_key(socialcare_settings):
    with socialcare_settings(ENCRYPTION_KEYS=[]):
        messages = check_settings()
        assert ids(messages) == ["socialcare.W001"]
        assert messages[0].level == checks.WARNING
    # Own keys silence the warning, also without a SECRET_KEY.
    with socialcare_settings(ENCRYPTION_KEYS=[GOOD_KEY]), override_settings(SECRET_KEY=""):
        assert check_settings() == []


def test_e003_invalid_encryption_key(socialcare_settings):
    with socialcare_settings(ENCRYPTION_KEYS=[GOOD_KEY, "not-a-key", b"short"]):
        messages = check_settings()
        assert ids(messages) == ["socialcare.E003", "socialcare.E003"]
        assert "['ENCRYPTION_KEYS'][1]" in messages[0].msg
        assert "['ENCRYPTION_KEYS'][2]" in messages[1].msg
    with socialcare_settings(ENCRYPTION_KEYS=[GOOD_KEY, Fernet.generate_key()]):
        assert check_settings() == []


@pytest.mark.parametrize("model", ["nope.Missing", "not-dotted", "testapp.Nothing"])
def test_e004_customer_model_not_installed(model):
    with override_settings(SOCIALCARE_CUSTOMER_MODEL=model):
        messages = check_settings()
        assert ids(messages) == ["socialcare.E004"]
        assert "SOCIALCARE_CUSTOMER_MODEL" in messages[0].msg


@pytest.mark.parametrize("setting", ["CUSTOMER_NAME_FIELD", "CUSTOMER_EMAIL_FIELD"])
def test_e004_customer_field_missing(socialcare_settings, setting):
    with socialcare_settings(**{setting: "nickname"}):
        messages = check_settings()
        assert ids(messages) == ["socialcare.E004"]
        assert "'nickname'" in messages[0].msg
        assert setting in messages[0].msg


def test_e004_swapping_in_a_model_needs_its_field_names():
    name_field = settings.SOCIALCARE.get("CUSTOMER_NAME_FIELD", "name")
    other = "socialcare.Customer" if name_field != "name" else "testapp.Contact"
    with override_settings(SOCIALCARE_CUSTOMER_MODEL=other):
        assert ids(check_settings()) == ["socialcare.E004", "socialcare.E004"]


def test_e005_unknown_setting_name(socialcare_settings):
    with socialcare_settings(CASE_REFERENCE_PREFX="T-", ENCRYPTON_KEYS=[]):
        messages = check_settings()
        assert ids(messages) == ["socialcare.E005"]
        assert "CASE_REFERENCE_PREFX, ENCRYPTON_KEYS" in messages[0].msg
