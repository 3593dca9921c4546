"""Small server-side SVG charts for the admin dashboard: lines, stacked bars and bars.

Each function returns a ``Chart``: an inline ``<svg role="img">`` (with ``aria-label`` and a
``<title>``) and a data table in ``<details>`` for screen readers and for copying numbers. Every
piece of text is escaped; the SVG is well-formed XML. No JavaScript, no external files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import count

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

#: Colours told apart by colour-blind readers (Okabe–Ito, without yellow; its orange and sky
#: blue darkened, black made grey) with a contrast of at least 3:1 on the admin's white and on
#: its dark theme's background (#121212). Text and axes are drawn in ``currentColor``, so they
#: follow the page's text colour (dashboard.css) in either theme.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#B47B00", "#3399CC", "#7A7A7A"]
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 24, 16, 36
LEGEND_ROW = 18
_ids = count(1)


@dataclass
class Series:
    name: str
    values: Sequence[float | None]
    colour: str = ""
    dashed: bool = False


@dataclass
class Chart:
    title: str
    svg: SafeString
    table: SafeString
    empty: bool = False
    notes: list[str] = field(default_factory=list)

    def __html__(self) -> str:
        return self.svg + self.table


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return f"{text}{unit}"


def _axis_top(value: float, integer: bool = False) -> float:
    """The top of a 4-step axis at or above ``value`` with round steps (1, 1.5, 2, 2.5, 3, 4, 5,
    6, 8 × 10ⁿ); whole-number steps for counts."""
    if value <= 0:
        return 4.0 if integer else 1.0
    raw = value / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(c * magnitude for c in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if raw <= c * magnitude)
    if integer:
        step = max(1, math.ceil(step))
    return step * 4


def _integral(series: Sequence[Series]) -> bool:
    return all(float(v).is_integer() for s in series for v in s.values if v is not None)


def _colour(series: Series, index: int) -> str:
    return series.colour or PALETTE[index % len(PALETTE)]


def _table(title: str, labels: Sequence[str], series: Sequence[Series], unit: str) -> SafeString:
    head = "".join(f'<th scope="col">{escape(s.name)}</th>' for s in series)
    rows = "".join(
        f'<tr><th scope="row">{escape(label)}</th>'
        + "".join(f"<td>{escape(_fmt(s.values[i], unit))}</td>" for s in series)
        + "</tr>"
        for i, label in enumerate(labels)
    )
    return mark_safe(
        f'<details class="sc-chart__data"><summary>Data table: {escape(title)}</summary>'
        f'<table><thead><tr><th scope="col"></th>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></details>"
    )


def _open_svg(title: str, description: str, height: int) -> str:
    uid = f"sc-chart-{next(_ids)}"
    label = f"{title}. {description}" if description else title
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="sc-chart__svg" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMidYMid meet" '
        f'aria-label="{escape(label)}" aria-labelledby="{uid}-title">'
        f'<title id="{uid}-title">{escape(label)}</title>'
    )


def _empty(title: str, labels: Sequence[str], series: Sequence[Series], unit: str) -> Chart:
    svg = _open_svg(title, "No data", 120)
    svg += (
        f'<text x="{WIDTH / 2:.0f}" y="64" text-anchor="middle" class="sc-chart__empty" '
        f'font-size="16" fill="currentColor">No data</text></svg>'
    )
    return Chart(title, mark_safe(svg), _table(title, labels, series, unit), empty=True)


def _is_empty(series: Sequence[Series]) -> bool:
    return not any(v for s in series for v in s.values if v is not None)


def _frame(
    labels: Sequence[str], top: float, unit: str, y_label: str, height: int, band: bool
) -> str:
    """Axes, horizontal grid lines with values, x labels (thinned so they never overlap)."""
    plot_h = height - TOP - BOTTOM - LEGEND_ROW
    plot_w = WIDTH - LEFT - RIGHT
    out = []
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#ddd" stroke-width="1" class="sc-chart__grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="currentColor">{escape(_fmt(value, unit))}</text>'
        )
    if y_label:
        out.append(
            f'<text x="12" y="{TOP + plot_h / 2:.1f}" font-size="11" fill="currentColor" '
            f'text-anchor="middle" transform="rotate(-90 12 {TOP + plot_h / 2:.1f})">'
            f"{escape(y_label)}</text>"
        )
    n = max(len(labels), 1)
    every = max(1, math.ceil(n / 10))
    for i, label in enumerate(labels):
        if (n - 1 - i) % every:
            continue  # counted back from the last day, so today always has its label
        x = _x(i, n, plot_w, band)
        out.append(
            f'<text x="{x:.1f}" y="{TOP + plot_h + 16:.1f}" text-anchor="middle" '
            f'font-size="11" fill="currentColor">{escape(label)}</text>'
        )
    out.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" '
        f'stroke="currentColor" stroke-width="1"/>'
    )
    return "".join(out)


def _x(i: int, n: int, plot_w: float, band: bool) -> float:
    if band or n == 1:
        return LEFT + plot_w * (i + 0.5) / n
    return LEFT + plot_w * i / (n - 1)


def _legend(
    series: Sequence[Series], height: int, extra: Sequence[tuple[str, str, bool]] = ()
) -> str:
    items = [(s.name, _colour(s, i), s.dashed) for i, s in enumerate(series)] + list(extra)
    out, x = [], LEFT
    y = height - 8
    for name, colour, dashed in items:
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        out.append(
            f'<line x1="{x}" x2="{x + 18}" y1="{y - 4}" y2="{y - 4}" stroke="{colour}" '
            f'stroke-width="3"{dash}/>'
            f'<text x="{x + 24}" y="{y}" font-size="12" fill="currentColor">{escape(name)}</text>'
        )
        x += 24 + 7 * len(name) + 20
    return f'<g class="sc-chart__legend">{"".join(out)}</g>'


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    unit: str = "",
    y_label: str = "",
    y_max: float | None = None,
    reference: tuple[str, float] | None = None,
    description: str = "",
) -> Chart:
    """One line per series over ``labels`` (gaps where a value is None); ``reference`` draws a
    dashed horizontal line (a target) with its name in the legend."""
    if _is_empty(series):
        return _empty(title, labels, series, unit)
    height = HEIGHT
    values = [v for s in series for v in s.values if v is not None]
    top = y_max or _axis_top(max([*values, reference[1] if reference else 0]), _integral(series))
    plot_h = height - TOP - BOTTOM - LEGEND_ROW
    plot_w = WIDTH - LEFT - RIGHT
    n = len(labels)
    svg = _open_svg(title, description, height)
    parts = [svg, _frame(labels, top, unit, y_label, height, band=False)]

    def y_of(v: float) -> float:
        return TOP + plot_h - plot_h * min(v, top) / top

    extra = []
    if reference is not None:
        name, value = reference
        y = y_of(value)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="currentColor" '
            f'stroke-width="2" stroke-dasharray="6 4" class="sc-chart__reference">'
            f"<title>{escape(name)}: {escape(_fmt(value, unit))}</title></line>"
        )
        extra.append((name, "currentColor", True))
    for index, s in enumerate(series):
        colour = _colour(s, index)
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        segment: list[str] = []
        segments = []
        for i, v in enumerate(s.values):
            if v is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            segment.append(f"{_x(i, n, plot_w, False):.1f},{y_of(v):.1f}")
        if segment:
            segments.append(segment)
        for points in segments:
            if len(points) > 1:
                parts.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="2.5"{dash} '
                    f'points="{" ".join(points)}"/>'
                )
        for i, v in enumerate(s.values):
            if v is None:
                continue
            parts.append(
                f'<circle cx="{_x(i, n, plot_w, False):.1f}" cy="{y_of(v):.1f}" r="3" '
                f'fill="{colour}"><title>{escape(s.name)}, {escape(labels[i])}: '
                f"{escape(_fmt(v, unit))}</title></circle>"
            )
    parts.append(_legend(series, height, extra))
    parts.append("</svg>")
    return Chart(title, mark_safe("".join(parts)), _table(title, labels, series, unit))


def stacked_bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    unit: str = "",
    y_label: str = "",
    description: str = "",
) -> Chart:
    """Vertical bars, one per label, each stacked from the series (in order, bottom up)."""
    if _is_empty(series):
        return _empty(title, labels, series, unit)
    height = HEIGHT
    n = max(len(labels), 1)
    totals = [sum((s.values[i] or 0) for s in series) for i in range(len(labels))]
    top = _axis_top(max(totals), _integral(series))
    plot_h = height - TOP - BOTTOM - LEGEND_ROW
    plot_w = WIDTH - LEFT - RIGHT
    band = plot_w / n
    bar_w = max(2.0, band * 0.7)
    svg = _open_svg(title, description, height)
    parts = [svg, _frame(labels, top, unit, y_label, height, band=True)]
    for i, label in enumerate(labels):
        base = 0.0
        x = LEFT + band * i + (band - bar_w) / 2
        for index, s in enumerate(series):
            v = s.values[i] or 0
            if v <= 0:
                continue
            h = plot_h * v / top
            y = TOP + plot_h - plot_h * (base + v) / top
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{_colour(s, index)}"><title>{escape(s.name)}, {escape(label)}: '
                f"{escape(_fmt(v, unit))}</title></rect>"
            )
            base += v
    parts.append(_legend(series if len(series) > 1 else [], height))
    parts.append("</svg>")
    return Chart(title, mark_safe("".join(parts)), _table(title, labels, series, unit))


def bar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    unit: str = "",
    value_name: str = "Value",
    colour: str = PALETTE[0],
    description: str = "",
) -> Chart:
    """Horizontal bars, one per label, with the value written at the end of each bar."""
    series = [Series(value_name, list(values), colour)]
    if _is_empty(series):
        return _empty(title, labels, series, unit)
    row, gap, label_w = 22, 6, 150
    height = TOP + len(labels) * (row + gap) + 8
    top = _axis_top(max(values), _integral(series))
    plot_w = WIDTH - label_w - RIGHT - 48
    svg = _open_svg(title, description, height)
    parts = [svg]
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        y = TOP + i * (row + gap)
        w = plot_w * (v or 0) / top
        short = label if len(label) <= 22 else label[:21] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + row / 2 + 4:.1f}" text-anchor="end" font-size="12" '
            f'fill="currentColor">{escape(short)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{row}" fill="{colour}">'
            f"<title>{escape(label)}: {escape(_fmt(v, unit))}</title></rect>"
            f'<text x="{label_w + w + 6:.1f}" y="{y + row / 2 + 4:.1f}" font-size="12" '
            f'fill="currentColor">{escape(_fmt(v, unit))}</text>'
        )
    parts.append("</svg>")
    return Chart(title, mark_safe("".join(parts)), _table(title, labels, series, unit))
