"""Totals of every pytest run whose JUnit XML is in a folder: the closing lines of a test run.

    python scripts/lib/junit_totals.py DIR

Prints ``robustness: N faults injected, N bad inputs tried, N items lost`` (the counters that
tests/robustness.py records as JUnit properties) and ``tests: N passed, N failed, N skipped``.
Standard library only: scripts/test.sh, scripts/test_versions.sh and .ci/run call it with any
Python.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

COUNTS = ("tests", "failures", "errors", "skipped")
ROBUSTNESS = ("robustness_faults", "robustness_bad_inputs", "robustness_lost")


def totals(folder: Path) -> tuple[dict[str, int], dict[str, int]]:
    counts = dict.fromkeys(COUNTS, 0)
    robust = dict.fromkeys(ROBUSTNESS, 0)
    for path in sorted(folder.glob("junit-*.xml")):
        root = ET.parse(path).getroot()
        for suite in root.iter("testsuite"):
            for key in counts:
                counts[key] += int(suite.get(key, 0))
        for prop in root.iter("property"):
            if prop.get("name") in robust:
                robust[prop.get("name")] += int(prop.get("value", 0))
    return counts, robust


def main(folder: str) -> None:
    counts, robust = totals(Path(folder))
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    failed = counts["failures"] + counts["errors"]
    print(
        f"robustness: {robust['robustness_faults']} faults injected, "
        f"{robust['robustness_bad_inputs']} bad inputs tried, {robust['robustness_lost']} items lost"
    )
    print(f"tests: {passed} passed, {failed} failed, {counts['skipped']} skipped")


if __name__ == "__main__":
    main(sys.argv[1])
