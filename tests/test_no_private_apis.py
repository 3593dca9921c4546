"""The package reads no private attribute of a dependency.

A private attribute can change in any release without notice: cryptography 51 moved MultiFernet to
Rust and ``MultiFernet._fernets`` vanished, which broke key rotation for everyone who installed that
day. This test walks the package's syntax trees and fails on ``something._name`` unless
``something`` is ``self``/``cls`` (our own objects' internals) or ``_name`` is one of the
underscore names Django documents as public API for reusable apps.
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


def test_the_checker_finds_a_private_attribute_read():
    source = "from cryptography.fernet import MultiFernet\nkey = fernet._fernets[0]\n"
    assert private_accesses(source) == [(2, "fernet._fernets")]
    assert private_accesses("model._meta.label\nself._cache\ncls._registry\n") == []


def test_the_package_reads_no_private_attribute_of_a_dependency():
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {text}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if "migrations" not in path.parts
        for line, text in private_accesses(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
