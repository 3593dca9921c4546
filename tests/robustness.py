"""Counting what the robustness tests do: faults injected, bad inputs tried, items lost.

A test takes the ``robustness`` fixture and records as it goes::

    def test_worker_killed(robustness):
        robustness.fault()                    # one fault injected (a SIGKILL, a dropped database…)
        robustness.bad_inputs(len(payloads))  # hostile or malformed inputs sent
        robustness.lost(sent - stored)        # items that should exist and do not (must be 0)
        assert stored == sent

The counts travel as the test's ``user_properties`` (so they cross pytest-xdist workers and land
in the JUnit XML); pytest prints ``robustness: N faults injected, N bad inputs tried, N items
lost`` at the end of the run and scripts/test.sh prints the sum over all its runs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

FAULTS = "robustness_faults"
BAD_INPUTS = "robustness_bad_inputs"
LOST = "robustness_lost"
KEYS = (FAULTS, BAD_INPUTS, LOST)


class Robustness:
    def __init__(self) -> None:
        self.counts = dict.fromkeys(KEYS, 0)

    def fault(self, count: int = 1) -> None:
        self.counts[FAULTS] += count

    def bad_inputs(self, count: int = 1) -> None:
        self.counts[BAD_INPUTS] += count

    def lost(self, count: int) -> None:
        """Record how many items went missing (``expected - found``); recorded even when 0, so
        the test's own assertion is what fails, and the summary shows the count."""
        self.counts[LOST] += max(count, 0)


@pytest.fixture
def robustness(request: pytest.FixtureRequest) -> Iterator[Robustness]:
    counter = Robustness()
    yield counter
    for key in KEYS:
        request.node.user_properties.append((key, counter.counts[key]))


def line(counts: dict[str, int]) -> str:
    return (
        f"robustness: {counts[FAULTS]} faults injected, {counts[BAD_INPUTS]} bad inputs tried, "
        f"{counts[LOST]} items lost"
    )


class _Totals:
    def __init__(self) -> None:
        self.counts = dict.fromkeys(KEYS, 0)

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # The properties are complete on the teardown report (the fixture adds them there).
        if report.when != "teardown":
            return
        for key, value in report.user_properties:
            if key in self.counts:
                self.counts[key] += int(value)

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if any(self.counts.values()):
            terminalreporter.write_line(line(self.counts))


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist) sums
        config.pluginmanager.register(_Totals(), "socialcare-robustness-totals")
