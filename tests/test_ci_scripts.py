"""The helpers behind CI's version stages and closing line (scripts/lib/), and the ranges they test."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> str:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def test_requirements_for_a_django_series_pin_that_series():
    lines = run(
        "scripts/lib/requirements.py",
        "--extras",
        "dev,demo",
        "--django",
        "6.1",
    ).splitlines()
    names = [Requirement(line).name.lower() for line in lines]
    assert "Django>=6.1,<6.2" in lines
    assert names.count("django") == 1
    # The dev and demo extras are there (the suite needs them), without duplicates.
    assert {"pytest", "django-axes", "social-auth-core"} <= set(names)
    assert len(names) == len(set(names))


def test_junit_totals_add_up_every_run(tmp_path):
    (tmp_path / "junit-main-1.xml").write_text(
        '<testsuites><testsuite tests="10" failures="1" errors="1" skipped="2">'
        '<properties><property name="robustness_faults" value="3"/></properties>'
        "</testsuite></testsuites>"
    )
    (tmp_path / "junit-lowest-1.xml").write_text(
        '<testsuites><testsuite tests="5" failures="0" errors="0" skipped="1"/></testsuites>'
    )
    (tmp_path / "other.xml").write_text('<testsuite tests="99"/>')  # not a run's file
    out = run("scripts/lib/junit_totals.py", str(tmp_path)).splitlines()
    assert out == [
        "robustness: 3 faults injected, 0 bad inputs tried, 0 items lost",
        "tests: 10 passed, 2 failed, 3 skipped",
    ]


def test_the_declared_ranges_admit_every_supported_django_and_the_auth_core_it_imports():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = {Requirement(r).name.lower(): Requirement(r) for r in project["dependencies"]}
    django = requirements["django"].specifier
    assert all(django.contains(v) for v in ("5.2", "5.2.20", "6.0.3", "6.1.3"))
    assert not django.contains("5.1.9") and not django.contains("6.2")
    # socialcare imports social_core names (AuthConfigurationError …) that need social-auth-core 6.
    core = requirements["social-auth-core"].specifier
    assert not core.contains("4.8") and not core.contains("5.9")
    # The package needs none of the demo's extras.
    assert "django-axes" not in requirements
    assert [Requirement(r).name for r in project["optional-dependencies"]["demo"]] == [
        "django-axes"
    ]
