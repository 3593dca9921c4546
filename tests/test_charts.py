"""Server-side SVG charts: well-formed, accessible, escaped, and "No data" when empty."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from socialcare import charts

SVG = "{http://www.w3.org/2000/svg}"
EVIL = '<script>alert(1)</script> & "quotes"'
DAYS = ["Nov 28", "Nov 29", "Nov 30"]


def parse(chart: charts.Chart) -> ET.Element:
    return ET.fromstring(str(chart.svg))


def all_text(root: ET.Element) -> str:
    return " ".join(t.strip() for t in root.itertext() if t.strip())


@pytest.mark.parametrize(
    "chart",
    [
        charts.line_chart(
            "Response times",
            DAYS,
            [charts.Series("p50", [10, None, 30]), charts.Series("p90", [20, 25, 60])],
            unit=" min",
            reference=("Target 60 min", 60),
        ),
        charts.stacked_bar_chart(
            "Volume", DAYS, [charts.Series("X", [1, 2, 3]), charts.Series("Mastodon", [0, 4, 1])]
        ),
        charts.bar_chart("Open by team", ["Care", "Billing"], [7, 2], value_name="Open cases"),
    ],
    ids=["line", "stacked", "bars"],
)
def test_charts_are_well_formed_accessible_svg(chart):
    root = parse(chart)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("aria-label").startswith(chart.title)
    title = root.find(f"{SVG}title")
    assert title is not None and title.text.startswith(chart.title)
    assert root.get("aria-labelledby") == title.get("id")
    assert not chart.empty
    table = ET.fromstring(str(chart.table))  # the data table is well-formed too
    assert table.tag == "details"
    assert table.find("summary").text == f"Data table: {chart.title}"


def test_line_chart_draws_series_points_legend_and_target():
    chart = charts.line_chart(
        "Response times",
        DAYS,
        [charts.Series("p50", [10, None, 30]), charts.Series("p90", [20, 25, 60])],
        unit=" min",
        reference=("Target 60 min", 60),
    )
    root = parse(chart)
    circles = root.findall(f".//{SVG}circle")
    assert len(circles) == 5  # the None is a gap, not a point
    assert circles[0].find(f"{SVG}title").text == "p50, Nov 28: 10 min"
    assert len(root.findall(f".//{SVG}polyline")) == 1  # p50 is broken into single points
    text = all_text(root)
    assert "Target 60 min" in text and "p90" in text and "Nov 29" in text
    rows = ET.fromstring(str(chart.table)).findall(".//tbody/tr")
    assert [c.text for c in rows[1]] == ["Nov 29", "–", "25 min"]


def test_stacked_bars_stack_and_skip_zero():
    chart = charts.stacked_bar_chart(
        "Volume", DAYS, [charts.Series("X", [1, 2, 3]), charts.Series("Mastodon", [0, 4, 1])]
    )
    rects = parse(chart).findall(f".//{SVG}rect")
    assert len(rects) == 5
    titles = sorted(r.find(f"{SVG}title").text for r in rects)
    assert "Mastodon, Nov 29: 4" in titles and "X, Nov 30: 3" in titles
    day2 = [r for r in rects if "Nov 29" in r.find(f"{SVG}title").text]
    x_bottom = sorted(day2, key=lambda r: float(r.get("y")))
    # Mastodon (4) is stacked on top of X (2): it starts higher and is twice as tall.
    top, bottom = x_bottom
    assert float(top.get("y")) + float(top.get("height")) == pytest.approx(float(bottom.get("y")))
    assert float(top.get("height")) == pytest.approx(2 * float(bottom.get("height")))


def test_all_text_is_escaped():
    chart = charts.line_chart(EVIL, [EVIL, "b"], [charts.Series(EVIL, [1, 2])], reference=(EVIL, 1))
    bars = charts.bar_chart(EVIL, [EVIL], [3])
    for c in (chart, bars):
        markup = str(c.svg) + str(c.table)
        assert "<script>" not in markup
        root = parse(c)
        assert EVIL in all_text(root) or EVIL[:21] in all_text(root)  # the text survives as text
        assert root.find(f".//{SVG}script") is None
        assert ET.fromstring(str(c.table)).find(".//script") is None


@pytest.mark.parametrize(
    "chart",
    [
        charts.line_chart("Empty lines", DAYS, [charts.Series("p50", [None, None, None])]),
        charts.stacked_bar_chart("Empty bars", DAYS, [charts.Series("X", [0, 0, 0])]),
        charts.bar_chart("No teams", [], []),
        charts.stacked_bar_chart("No series", DAYS, []),
    ],
)
def test_empty_data_renders_no_data(chart):
    root = parse(chart)
    assert chart.empty
    assert "No data" in all_text(root)
    assert root.get("role") == "img"
    assert "No data" in root.get("aria-label")


def test_axis_top_is_four_round_steps():
    assert charts._axis_top(7, integer=True) == 8
    assert charts._axis_top(3, integer=True) == 4  # never 0.75-post steps
    assert charts._axis_top(13, integer=True) == 16
    assert charts._axis_top(230, integer=True) == 240
    assert charts._axis_top(0.8) == 0.8
    assert charts._axis_top(111) == 120
    assert charts._axis_top(0, integer=True) == 4


def test_many_days_thin_the_axis_labels():
    labels = [f"D{i}" for i in range(30)]
    chart = charts.stacked_bar_chart("Month", labels, [charts.Series("X", list(range(30)))])
    texts = [t.text for t in parse(chart).findall(f"{SVG}text")]
    shown = [t for t in texts if t and t.startswith("D")]
    assert 5 <= len(shown) <= 16
    assert "D29" in shown  # the last day always has its label
    assert len({int(a[1:]) - int(b[1:]) for a, b in zip(shown[1:], shown, strict=False)}) == 1
