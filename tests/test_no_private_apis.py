"""The package reads no private attribute of a dependency.

A private attribute can change in any release without notice: cryptography 51 moved MultiFernet to
Rust and ``MultiFernet._fernets`` vanished, which broke key rotation for everyone who installed that
day. This test walks the package's syntax trees and fails on ``something._name`` unless
``something`` is ``self``/``cls`` (our own objects' internals) or ``_name`` is one of the
underscore names Django documents as public API for reusable apps; and on importing a private
name or module of a dependency (``from dep import _name``, ``from dep._module import name``,
``import dep._module``): socialcare's own modules may import each other's underscore names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import socialcare

PACKAGE = Path(socialcare.__file__).resolve().parent

# Underscore names that are documented, supported API (not private):
DOCUMENTED = {
    # Django: Model._meta (the Model _meta API), Model._default_manager / _base_manager
    # (docs/topics/db/managers), Model._state (docs/ref/models/instances, "Model._state").
    "_meta",
    "_default_manager",
    "_base_manager",
    "_state",
    # collections.namedtuple's documented methods.
    "_replace",
    "_asdict",
    "_fields",
}


def private_accesses(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or name.startswith("__") or name in DOCUMENTED:
            continue
        if isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}:
            continue
        found.append((node.lineno, f"{ast.unparse(node.value)}.{name}"))
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in DOCUMENTED


def _foreign(module: str | None, level: int) -> bool:
    """A module of another package (not socialcare's own, not a relative import)."""
    return level == 0 and bool(module) and module.split(".")[0] != "socialcare"


def private_imports(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and _foreign(node.module, node.level):
            if any(_private(part) for part in node.module.split(".")):
                found.append((node.lineno, f"from {node.module} import …"))
            found += [
                (node.lineno, f"from {node.module} import {alias.name}")
                for alias in node.names
                if _private(alias.name)
            ]
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, f"import {alias.name}")
                for alias in node.names
                if _foreign(alias.name, 0) and any(_private(p) for p in alias.name.split("."))
            ]
    return found


def test_the_checker_finds_a_private_attribute_read():
    source = "from cryptography.fernet import MultiFernet\nkey = fernet._fernets[0]\n"
    assert private_accesses(source) == [(2, "fernet._fernets")]
    assert private_accesses("model._meta.label\nself._cache\ncls._registry\n") == []


def test_the_checker_finds_a_private_import():
    source = (
        "from __future__ import annotations\n"
        "from drf_spectacular.views import SpectacularAPIView, _get_sidecar_url\n"
        "from rest_framework._compat import thing\n"
        "import django.utils._os\n"
        "from socialcare.simulator.crowd import _fill\n"
        "from ._helpers import _own\n"
    )
    assert private_imports(source) == [
        (2, "from drf_spectacular.views import _get_sidecar_url"),
        (3, "from rest_framework._compat import …"),
        (4, "import django.utils._os"),
    ]


def test_the_package_reads_no_private_attribute_of_a_dependency():
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {text}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if "migrations" not in path.parts
        for check in (private_accesses, private_imports)
        for line, text in check(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
