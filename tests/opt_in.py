"""Test directories a plain ``pytest`` leaves out (the browser tests, the embedded-default fault
test): they run when their directory is named on the command line or their environment
variable is ``1`` (scripts/test.sh's own stages)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def asked_for(config: pytest.Config, directory: Path, env: str) -> bool:
    """Whether this run named ``directory`` (or a path inside it), or set ``env=1``."""
    if os.environ.get(env) == "1":
        return True
    base = config.invocation_params.dir
    for arg in config.invocation_params.args:
        if arg.startswith("-"):
            continue
        path = (base / arg.split("::", 1)[0]).resolve()
        if path == directory or directory in path.parents:
            return True
    return False


def mark_or_leave_out(
    config: pytest.Config, items: list[pytest.Item], directory: Path, env: str, marker: str
) -> None:
    """Give the tests under ``directory`` the marker ``marker``; deselect them unless the run
    asked for them (``asked_for``)."""
    mine = [item for item in items if directory in Path(str(item.path)).resolve().parents]
    for item in mine:
        item.add_marker(getattr(pytest.mark, marker))
    if mine and not asked_for(config, directory, env):
        config.hook.pytest_deselected(items=mine)
        items[:] = [item for item in items if item not in mine]
