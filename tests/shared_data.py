"""Test data shared across test modules, importable without Django models."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: The real-format platform payloads: ``../shared/fixtures`` beside the repository (as in CI),
#: or wherever SOCIALCARE_FIXTURES points.
FIXTURES = Path(
    os.environ.get(
        "SOCIALCARE_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures"
    )
)


def json_paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and indexes) into a parsed JSON document, the root included: where a
    fuzz test may replace a value."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += json_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += json_paths(value, (*prefix, index))
    return found
