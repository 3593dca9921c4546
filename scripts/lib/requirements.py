"""The requirement lines of pyproject.toml, for installing the dependencies without the package.

    python scripts/lib/requirements.py [--extras dev,demo] [--django 6.0]

``--django 6.0`` replaces the Django requirement by ``Django>=6.0,<6.1`` (the newest 6.0.x).
scripts/test_versions.sh uses it for the Django 6 stages. Standard library only (tomllib).
"""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def project_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def requirements(extras: list[str], django: str | None) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    out: list[str] = []
    for line in lines:
        name = project_name(line)
        if line in out:
            continue
        if name == "django" and django:
            major, minor = (int(part) for part in django.split("."))
            line = f"Django>={major}.{minor},<{major}.{minor + 1}"
        out.append(line)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", default="")
    parser.add_argument("--django", default=None, help="a series, e.g. 6.0")
    args = parser.parse_args()
    extras = [e for e in args.extras.split(",") if e]
    print("\n".join(requirements(extras, args.django)))


if __name__ == "__main__":
    main()
