"""Admin login rate limiting (django-axes, as configured in the demo and production profile):
wrong passwords lock out one username from one address, with a clear page, until the cool-off
ends; a good password then works."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/?next=/admin/"


def attempt(username: str, password: str, ip: str) -> Any:
    return Client(REMOTE_ADDR=ip).post(LOGIN, {"username": username, "password": password})


@override_settings(AXES_ENABLED=True)
def test_bad_passwords_lock_out_user_and_address_until_cool_off(
    make_user: Any, robustness: Any
) -> None:
    make_user("maya", is_superuser=True)
    with time_machine.travel(dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC), tick=False) as clock:
        answers = [attempt("maya", "guess", "203.0.113.9").status_code for _ in range(6)]
        robustness.bad_inputs(len(answers))
        # The form again ("Please enter the correct…") four times; the fifth failure locks.
        assert answers == [200, 200, 200, 200, 429, 429]
        locked = attempt("maya", "pw", "203.0.113.9")  # even the right password
        assert locked.status_code == 429
        assert "too many" in locked.content.decode().lower()
        # Per username + address: the same user elsewhere, and others here, still sign in.
        assert attempt("maya", "pw", "198.51.100.7").status_code == 302
        make_user("omar", is_superuser=True)
        assert attempt("omar", "pw", "203.0.113.9").status_code == 302
        clock.shift(dt.timedelta(minutes=16))
        assert attempt("maya", "pw", "203.0.113.9").status_code == 302


def test_production_profile_limits_logins() -> None:
    from project import settings as demo

    assert "axes" in demo.INSTALLED_APPS
    assert demo.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert demo.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"
    assert demo.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


def test_deploy_check_warns_without_login_rate_limiting(socialcare_settings: Any) -> None:
    from django.apps import apps

    from socialcare.checks import check_deploy_access

    strict = {"OUTBOUND_WEBHOOK_ALLOW_HTTP": False, "OUTBOUND_WEBHOOK_ALLOW_PRIVATE": False}
    with socialcare_settings(**strict):
        assert check_deploy_access() == []
        others = [a.name for a in apps.get_app_configs() if a.name != "axes"]
        with override_settings(INSTALLED_APPS=others):
            assert [m.id for m in check_deploy_access()] == ["socialcare.W010"]
    with socialcare_settings(
        OUTBOUND_WEBHOOK_ALLOW_HTTP=False, OUTBOUND_WEBHOOK_ALLOW_PRIVATE=True
    ):
        assert [m.id for m in check_deploy_access()] == ["socialcare.W011"]
