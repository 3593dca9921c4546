"""One measured figure, beside its reference and target, and its table/JSON rendering."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass
class Figure:
    """A benchmark result: ``value`` in ``unit``, judged against ``target``.

    ``reference_value`` is measured in the same run (same machine, same load), so ``ratio``
    (value / reference unless the module says otherwise) stays meaningful on a noisy machine.
    ``passed`` is None when the figure has no target (informational).
    """

    name: str
    value: float
    unit: str
    target: str
    passed: bool | None
    reference_name: str = ""
    reference_value: float | None = None
    ratio: float | None = None
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if value != value:  # NaN
        return "nan"
    if abs(value) >= 100 or value == int(value):
        text = f"{value:,.0f}"
    elif abs(value) >= 1:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".rstrip()


def _verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "-"}[passed]


def render_table(figures: list[Figure]) -> str:
    """A plain-text table: figure, value, target, reference, ratio, pass/fail."""
    header = ["figure", "value", "target", "reference", "ratio", "result"]
    rows = [header]
    for fig in figures:
        ref = ""
        if fig.reference_name or fig.reference_value is not None:
            ref = f"{fig.reference_name}: {_num(fig.reference_value, fig.unit)}".strip(": ")
        rows.append(
            [
                fig.name,
                _num(fig.value, fig.unit),
                fig.target or "-",
                ref or "-",
                "-" if fig.ratio is None else f"{fig.ratio:.2f}",
                _verdict(fig.passed),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"- {fig.name}: {fig.notes}" for fig in figures if fig.notes]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines)


def render_markdown(figures: list[Figure]) -> str:
    """The same table in Markdown (for docs/performance.md)."""
    lines = [
        "| figure | value | target | reference | ratio | result |",
        "|---|---|---|---|---|---|",
    ]
    for fig in figures:
        ref = f"{fig.reference_name}: {_num(fig.reference_value, fig.unit)}"
        if not fig.reference_name and fig.reference_value is None:
            ref = "-"
        ratio = "-" if fig.ratio is None else f"{fig.ratio:.2f}"
        cells = [fig.name, _num(fig.value, fig.unit), fig.target or "-", ref, ratio]
        cells.append(_verdict(fig.passed))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def to_json(figures: list[Figure], meta: dict[str, Any] | None = None) -> str:
    return json.dumps(
        {"meta": meta or {}, "figures": [f.to_dict() for f in figures]}, indent=2, default=str
    )


def write_json(path: Path, figures: list[Figure], meta: dict[str, Any] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json(figures, meta) + "\n")


def load_json(path: Path) -> tuple[dict[str, Any], list[Figure]]:
    data = json.loads(path.read_text())
    return data.get("meta", {}), [Figure(**f) for f in data["figures"]]
