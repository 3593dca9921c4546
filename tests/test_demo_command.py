"""`socialcare_demo --no-serve` on an empty database: the admin, its password, the demo's data."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from socialcare.demo import DEMO_LOGINS, MARKER_CHANNEL
from socialcare.models import Case, Channel

pytestmark = pytest.mark.django_db


def _password(output: str) -> str:
    match = re.search(r"^\s*password\s+(\S+)", output, re.MULTILINE)
    assert match, output
    return match[1]


def test_command_creates_the_admin_and_prints_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SOCIALCARE_DEMO_PASSWORD", raising=False)
    out = StringIO()
    call_command("socialcare_demo", "--no-serve", stdout=out)
    password = _password(out.getvalue())
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.check_password(password)
    assert re.search(r"^\s+maya\s+Support agent, Social Care$", out.getvalue(), re.MULTILINE)
    assert re.search(r"^\s+hannah\s+Support supervisor, Escalations$", out.getvalue(), re.MULTILINE)
    for username in DEMO_LOGINS:
        assert get_user_model().objects.get(username=username).check_password(password)
    assert "created group Support agent" in out.getvalue()
    assert Channel.objects.filter(name=MARKER_CHANNEL).exists()
    assert "Loaded the Acme demo" in out.getvalue()


def test_command_again_resets_the_password_and_keeps_the_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    call_command("socialcare_demo", "--no-serve", stdout=StringIO())
    cases = Case.objects.count()
    monkeypatch.setenv("SOCIALCARE_DEMO_PASSWORD", "let-me-in-demo")
    out = StringIO()
    call_command("socialcare_demo", "--no-serve", stdout=out)
    assert _password(out.getvalue()) == "let-me-in-demo"
    assert "(the same for all of them; from $SOCIALCARE_DEMO_PASSWORD)" in out.getvalue()
    for username in ("admin", *DEMO_LOGINS):
        assert get_user_model().objects.get(username=username).check_password("let-me-in-demo")
    assert "group Support agent is up to date" in out.getvalue()
    assert "already loaded" in out.getvalue()
    assert Case.objects.count() == cases


def test_command_refuses_a_bad_address_before_doing_anything() -> None:
    with pytest.raises(CommandError, match="not a port"):
        call_command("socialcare_demo", "--addrport", "localhost:http", stdout=StringIO())
    assert not Channel.objects.exists()
