"""Settings (``socialcare.conf``) and the start-up system checks: E001–E006, W001–W004, W012."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core import checks
from django.test import override_settings

from socialcare.checks import check_settings
from socialcare.conf import app_settings, platform_choices
from socialcare.oauth_settings import SOCIAL_AUTH_PIPELINE as PIPELINE
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


def test_e006_hint_points_at_the_section_that_lists_the_apps(settings):
    from socialcare.checks import APPS_DOC, REQUIRED_APPS

    settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if a != "drf_spectacular"]
    messages = [m for m in check_settings() if m.id == "socialcare.E006"]
    assert len(messages) == 1
    assert "'drf_spectacular'" in messages[0].msg
    assert 'docs/integration.md, "2. Settings"' in messages[0].hint
    # That section exists and its INSTALLED_APPS block names every app the check requires.
    doc, section = APPS_DOC.split(", ")
    text = (Path(__file__).resolve().parents[1] / doc).read_text(encoding="utf-8")
    heading = f"## {section.strip(chr(34))}\n"
    assert heading in text
    body = text.split(heading, 1)[1].split("\n## ", 1)[0]
    assert "INSTALLED_APPS +=" in body
    assert all(f'"{app}"' in body for app in (*REQUIRED_APPS, "socialcare"))


# Sign-in through OAuth (W002–W004): quiet until a project configures it --------------------------

#: The test settings give two default OAUTH_BACKENDS a client id; a project that never set up
#: OAuth has none, a plain AUTHENTICATION_BACKENDS and no SOCIAL_AUTH_PIPELINE.
CLIENT_IDS = ("SOCIAL_AUTH_TWITTER_OAUTH2_KEY", "SOCIAL_AUTH_MASTODON_KEY")


@pytest.fixture
def no_oauth(settings):
    for name in (*CLIENT_IDS, "SOCIAL_AUTH_PIPELINE"):
        delattr(settings, name)
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
    return settings


@runs_all_checks
def test_sign_in_checks_are_quiet_while_oauth_is_not_configured(no_oauth):
    # social_django is installed, the default OAUTH_BACKENDS name four backends that are not in
    # AUTHENTICATION_BACKENDS, and there is no pipeline: nothing is configured, nothing to say.
    assert check_settings() == []
    assert socialcare_ids() == []
    no_oauth.INSTALLED_APPS = [a for a in no_oauth.INSTALLED_APPS if a != "social_django"]
    assert check_settings() == []


def test_a_client_id_configures_sign_in_and_w003_names_the_entry(no_oauth):
    no_oauth.SOCIAL_AUTH_FACEBOOK_KEY = "facebook-app-id"
    messages = check_settings()
    assert ids(messages) == ["socialcare.W004", "socialcare.W003"]
    w003 = messages[1]
    # Only the backend in use: facebook, not the other defaults without a client id.
    assert w003.msg == (
        "SOCIALCARE['OAUTH_BACKENDS']['facebook'] names sign-in backend 'facebook', which is "
        "not in AUTHENTICATION_BACKENDS."
    )
    assert w003.hint == (
        "Add the social-auth backend class named 'facebook' to AUTHENTICATION_BACKENDS, or "
        "remove 'facebook' from SOCIALCARE['OAUTH_BACKENDS']['facebook']."
    )
    no_oauth.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "social_core.backends.facebook.FacebookOAuth2",
    ]
    no_oauth.SOCIAL_AUTH_PIPELINE = PIPELINE
    assert check_settings() == []
    no_oauth.INSTALLED_APPS = [a for a in no_oauth.INSTALLED_APPS if a != "social_django"]
    assert ids(check_settings()) == ["socialcare.W002"]


def test_oauth_backends_set_by_the_project_are_all_checked(no_oauth, socialcare_settings):
    with socialcare_settings(OAUTH_BACKENDS={"x": "twitter-oauth2", "mastodon": ""}):
        messages = check_settings()
    assert ids(messages) == ["socialcare.W004", "socialcare.W003"]
    assert messages[1].msg.startswith("SOCIALCARE['OAUTH_BACKENDS']['x'] names sign-in backend")
    with socialcare_settings(OAUTH_BACKENDS={}, STAFF_SIGNIN_BACKENDS=["okta"]):
        messages = check_settings()
    assert ids(messages) == ["socialcare.W004", "socialcare.W003"]
    assert "from SOCIALCARE['STAFF_SIGNIN_BACKENDS']." in messages[1].hint


# SQLite for a web server and a worker at once (W012) ----------------------------------------------

SQLITE_OK = {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": "/srv/crm/db.sqlite3",
    "OPTIONS": {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    },
}


def sqlite(**options):
    return {**SQLITE_OK, "OPTIONS": options}


def test_w012_names_what_a_sqlite_file_lacks():
    from socialcare.checks import sqlite_problems

    assert sqlite_problems(SQLITE_OK) == []
    assert sqlite_problems(sqlite()) == [
        "WAL journal mode",
        "IMMEDIATE transactions",
        "a lock timeout",
    ]
    assert sqlite_problems(sqlite(transaction_mode="immediate", timeout=5)) == ["WAL journal mode"]
    assert sqlite_problems(sqlite(init_command="PRAGMA journal_mode = 'wal'", timeout=20)) == [
        "IMMEDIATE transactions"
    ]
    # Django's default (DEFERRED) is what fails; EXCLUSIVE also takes the lock up front.
    assert "IMMEDIATE transactions" in sqlite_problems(sqlite(transaction_mode="DEFERRED"))
    assert "IMMEDIATE transactions" not in sqlite_problems(sqlite(transaction_mode="EXCLUSIVE"))


def test_w012_leaves_memory_databases_and_other_engines_alone():
    from socialcare.checks import sqlite_problems

    assert sqlite_problems({**sqlite(), "NAME": ":memory:"}) == []
    assert sqlite_problems({**sqlite(), "NAME": "file:memdb?mode=memory&cache=shared"}) == []
    assert sqlite_problems({"ENGINE": "django.db.backends.postgresql", "NAME": "crm"}) == []
    assert sqlite_problems({}) == []


def test_w012_accepts_a_file_already_in_wal_mode(tmp_path):
    from socialcare.checks import sqlite_problems

    path = tmp_path / "crm.sqlite3"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE t (x)")
    connection.commit()
    connection.close()
    database = {**sqlite(transaction_mode="IMMEDIATE", timeout=20), "NAME": str(path)}
    assert sqlite_problems(database) == ["WAL journal mode"]
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
    connection.close()
    # WAL is kept in the file: no init_command needed any more (read from the header, no connection).
    assert sqlite_problems(database) == []


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_w012_is_reported_for_the_default_database():
    databases = {"default": sqlite(timeout=20)}
    with override_settings(DATABASES=databases):
        messages = check_settings()
    assert ids(messages) == ["socialcare.W012"]
    assert "without WAL journal mode and IMMEDIATE transactions:" in messages[0].msg
    assert "database is locked" in messages[0].msg
    assert "'transaction_mode': 'IMMEDIATE'" in messages[0].hint
    assert 'docs/integration.md, "3. SQLite or PostgreSQL"' in messages[0].hint
    with override_settings(DATABASES={"default": SQLITE_OK}):
        assert check_settings() == []
