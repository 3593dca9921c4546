"""The integration snippet of docs/integration.md: its marked blocks, applied to a new project.

    python scripts/lib/integration_snippet.py [--doc DOC] apply PROJECT_PACKAGE_DIR
    python scripts/lib/integration_snippet.py [--doc DOC] commands

A block is a fenced code block right after a marker line ``<!-- integration-snippet: TARGET -->``.
``apply`` appends the blocks marked ``settings.py`` and ``urls.py`` (in the page's order) to those
files of a project ``django-admin startproject`` made; ``commands`` prints the ``manage.py``
commands of the block marked ``commands``, one a line, without ``python manage.py`` and comments.
scripts/check_package.sh builds its new project this way, and tests/test_integration_snippet.py
reads the same blocks, so the page is the one copy. Standard library only.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "integration.md"
MARKER = re.compile(r"^<!--\s*integration-snippet:\s*(\S+)\s*-->\s*$")
#: The files of the project the blocks go to, and the block of commands.
FILE_TARGETS = ("settings.py", "urls.py")
COMMANDS = "commands"
HEADER = (
    "\n\n# --- appended from socialcare's docs/integration.md by scripts/check_package.sh ---\n"
)


class SnippetError(Exception):
    """The page's marked blocks are missing or malformed."""


def blocks(text: str) -> dict[str, list[str]]:
    """The marked blocks of ``text``: target -> the code of each block marked with it, in order."""
    lines = text.splitlines()
    found: dict[str, list[str]] = {}
    index = 0
    while index < len(lines):
        marker = MARKER.match(lines[index])
        index += 1
        if not marker:
            continue
        while index < len(lines) and not lines[index].strip():
            index += 1
        if index == len(lines) or not lines[index].startswith("```"):
            raise SnippetError(f"the marker {marker.group(0)!r} is not followed by a code block")
        start = index + 1
        end = next((i for i in range(start, len(lines)) if lines[i].rstrip() == "```"), None)
        if end is None:
            raise SnippetError(f"the code block after {marker.group(0)!r} is never closed")
        found.setdefault(marker.group(1), []).append("\n".join(lines[start:end]) + "\n")
        index = end + 1
    missing = [target for target in (*FILE_TARGETS, COMMANDS) if target not in found]
    if missing:
        raise SnippetError(
            f"no block marked {', '.join(missing)} (<!-- integration-snippet: … -->)"
        )
    return found


def manage_commands(text: str) -> list[list[str]]:
    """The ``python manage.py …`` lines of the ``commands`` block, as argument lists."""
    commands = []
    for block in blocks(text)[COMMANDS]:
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words[:2] == ["python", "manage.py"] and len(words) > 2:
                commands.append(words[2:])
    if not commands:
        raise SnippetError("the commands block has no `python manage.py …` line")
    return commands


def apply(text: str, package: Path) -> list[str]:
    """Append the settings.py and urls.py blocks to those files of ``package``; a line per file."""
    found = blocks(text)
    report = []
    for target in FILE_TARGETS:
        path = package / target
        if not path.is_file():
            raise SnippetError(f"{path} does not exist (not a startproject package?)")
        code = "\n".join(found[target])
        with path.open("a", encoding="utf-8") as file:
            file.write(HEADER + code)
        report.append(
            f"{target}: +{len(code.splitlines())} lines from {len(found[target])} block(s)"
        )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doc", type=Path, default=DOC)
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("apply").add_argument("package", type=Path)
    sub.add_parser("commands")
    args = parser.parse_args()
    try:
        text = args.doc.read_text(encoding="utf-8")
        if args.action == "apply":
            print("\n".join(apply(text, args.package)))
        else:
            print("\n".join(shlex.join(words) for words in manage_commands(text)))
    except (OSError, SnippetError) as exc:
        sys.exit(f"{args.doc}: {exc}")


if __name__ == "__main__":
    main()
