"""The demo runs with DEBUG on, on purpose, and says so: a red banner on every admin page of the
demo project (not of a host's), and scripts/demo.sh serves on loopback only unless told
otherwise (docs/demo.md, "DEBUG and who can reach the demo")."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from django.test import Client, override_settings

from project import settings as demo_settings

ROOT = Path(__file__).resolve().parents[1]
BANNER = 'id="demo-debug-banner"'
WARNING = "DEBUG is on: error pages show code and settings. Do not expose this server."


@pytest.fixture
def demo_templates():
    """The demo project's templates (its admin/base_site.html, its context processors)."""
    with override_settings(TEMPLATES=demo_settings.TEMPLATES):
        yield


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [True, False])
def test_every_admin_page_of_the_demo_says_when_debug_is_on(
    demo_templates: None, admin_client: Client, debug: bool
) -> None:
    with override_settings(DEBUG=debug):
        pages = [
            Client().get("/admin/login/"),  # before signing in too
            admin_client.get("/admin/"),
            admin_client.get("/admin/socialcare/case/"),
            admin_client.get("/admin/socialcare/case/add/"),
        ]
    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert "Acme CRM · socialcare" in html  # the demo's own base_site.html
        assert (BANNER in html) is debug
        assert (WARNING in html) is debug


@pytest.mark.django_db
def test_a_host_gets_no_demo_banner(admin_client: Client) -> None:
    """socialcare ships no admin/base_site.html: the banner is the demo project's alone."""
    with override_settings(DEBUG=True):
        html = admin_client.get("/admin/").content.decode()
    assert BANNER not in html and "Acme CRM" not in html


def demo_sh(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """scripts/demo.sh up to its address check (SOCIALCARE_DEMO_DRY_RUN: no .venv, no server)."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_DEBUG", "DJANGO_SETTINGS_MODULE")
    }
    return subprocess.run(
        ["bash", str(ROOT / "scripts/demo.sh"), *args],
        env={**environ, "SOCIALCARE_DEMO_DRY_RUN": "1", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--addrport", "0.0.0.0:8000"],
        ["--addrport=0.0.0.0:8000"],
        ["--addr", "0.0.0.0:8000"],  # argparse takes abbreviations
        ["--addrport", "[::]:8000"],
        ["--addrport", "192.168.1.20:8000"],
        ["--addrport", "demo.example.com:8000"],
        ["--addrport", "127.evil.example:8000"],
        ["--addrport", "127.0.0.1:8000", "--addrport", "0.0.0.0:8000"],  # the last one counts
    ],
)
def test_demo_sh_refuses_an_address_others_can_reach_while_debug_is_on(args: list[str]) -> None:
    result = demo_sh(*args)
    assert result.returncode == 2, result
    assert "not serving the demo on" in result.stderr
    assert "DEBUG is on" in result.stderr and "--public" in result.stderr
    assert "DJANGO_DEBUG=0" in result.stderr
    assert "would run" not in result.stdout


@pytest.mark.parametrize(
    ("args", "where"),
    [
        ([], "127.0.0.1:8000"),
        (["--addrport", "8001"], "127.0.0.1:8001"),
        (["--addrport", "127.0.0.1:8002"], "127.0.0.1:8002"),
        (["--addrport=localhost:8003"], "localhost:8003"),
        (["--addrport", "[::1]:8004"], "[::1]:8004"),
    ],
)
def test_demo_sh_serves_on_loopback_and_warns_that_debug_is_on(args: list[str], where: str) -> None:
    result = demo_sh(*args, "--no-worker")
    assert result.returncode == 0, result
    assert (
        result.stdout
        == f"would run: manage.py socialcare_demo {' '.join([*args, '--no-worker'])}\n"
    )
    assert result.stderr.startswith("WARNING: DEBUG is on")
    assert f"listens on {where} only" in result.stderr


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--addrport", "0.0.0.0:8000"], {"DJANGO_DEBUG": "0"}),
        (["--addrport", "0.0.0.0:8000"], {"DJANGO_SETTINGS_MODULE": "project.settings_production"}),
        (["--addrport", "0.0.0.0:8000", "--no-serve"], {}),  # nothing is served
    ],
)
def test_demo_sh_serves_others_when_debug_is_off(args: list[str], env: dict[str, str]) -> None:
    result = demo_sh(*args, **env)
    assert result.returncode == 0, result
    assert result.stdout == f"would run: manage.py socialcare_demo {' '.join(args)}\n"
    assert result.stderr == ""


def test_demo_sh_serves_others_with_debug_on_when_told_to_and_warns() -> None:
    result = demo_sh("--public", "--addrport", "0.0.0.0:8000")
    assert result.returncode == 0, result
    # --public is the script's own option: the command never sees it.
    assert result.stdout == "would run: manage.py socialcare_demo --addrport 0.0.0.0:8000\n"
    assert "WARNING: DEBUG is on and --public serves the demo on 0.0.0.0:8000" in result.stderr
