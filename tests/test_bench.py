"""The benchmark harness (bench/): the figures' table and JSON, a run that goes on past a failing
module, and the data generator's promised distributions at a tiny size (PostgreSQL's set-based
build on PostgreSQL, the ORM build everywhere)."""

from __future__ import annotations

import json
import math
import sys
import types

import pytest
from django.conf import settings

from bench import data
from bench.context import Context, scale_for
from bench.figures import Figure, load_json, render_markdown, render_table, write_json
from bench.run import run_modules

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def figures() -> list[Figure]:
    return [
        Figure("API timeline p95", 12.5, "ms", "< 25 ms", True, "bare SELECT", 1.25, 10.0, "fine"),
        Figure("ingest", 1500, "posts/s", ">= 1,000 posts/s", False, "INSERTs", 4000, 0.375),
        Figure("informational", 0.5, "s", "", None),
    ]


def test_table_has_every_column_and_verdict():
    table = render_table(figures())
    header, rule, *rows = table.splitlines()
    assert header.split() == ["figure", "value", "target", "reference", "ratio", "result"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert "12.5 ms" in rows[0] and "bare SELECT: 1.2 ms" in rows[0] and "10.00" in rows[0]
    assert rows[0].rstrip().endswith("PASS")
    assert "1,500 posts/s" in rows[1] and rows[1].rstrip().endswith("FAIL")
    assert rows[2].rstrip().endswith("-")
    assert "- API timeline p95: fine" in table


def test_markdown_and_json_round_trip(tmp_path):
    markdown = render_markdown(figures())
    assert markdown.count("\n") == 4 and "| API timeline p95 | 12.5 ms | < 25 ms |" in markdown
    path = tmp_path / "out" / "latest.json"
    write_json(path, figures(), {"machine": {"nproc": 2}})
    meta, loaded = load_json(path)
    assert meta == {"machine": {"nproc": 2}}
    assert loaded == figures()
    assert json.loads(path.read_text())["figures"][1]["passed"] is False


def test_nan_renders_and_serialises(tmp_path):
    broken = [Figure("x (module failed)", math.nan, "", "runs", False, notes="boom")]
    assert "nan" in render_table(broken)
    write_json(tmp_path / "r.json", broken)  # NaN is valid for json.loads (Python's dialect)
    assert math.isnan(load_json(tmp_path / "r.json")[1][0].value)


def test_a_failing_module_is_a_failed_row_and_the_run_goes_on(monkeypatch, tmp_path):
    def boom(ctx):
        raise RuntimeError("no server")

    ok = types.ModuleType("bench.fake_ok")
    ok.run = lambda ctx: [Figure("ok figure", 1, "ms", "< 2 ms", True)]
    bad = types.ModuleType("bench.fake_bad")
    bad.run = boom
    wrong = types.ModuleType("bench.fake_wrong")
    wrong.run = lambda ctx: ["not a figure"]
    for module in (ok, bad, wrong):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    ctx = Context(pg={}, scale=scale_for(True), work_dir=tmp_path, quick=True)
    result = run_modules(ctx, ["fake_bad", "fake_missing", "fake_wrong", "fake_ok"])
    assert [f.name for f in result] == [
        "fake_bad (module failed)",
        "fake_missing (module failed)",
        "fake_wrong (module failed)",
        "ok figure",
    ]
    assert [f.passed for f in result] == [False, False, False, True]
    assert "RuntimeError: no server" in result[0].notes
    assert "ModuleNotFoundError" in result[1].notes
    assert "list of Figure" in result[2].notes


def test_quick_scale_is_a_twentieth():
    assert scale_for(False) == {"posts": 1_000_000, "cases": 100_000, "identities": 200_000}
    assert scale_for(True) == {"posts": 50_000, "cases": 5_000, "identities": 10_000}


def assert_distributions(summary: dict, dm_share: tuple[float, float] = (0.24, 0.36)) -> None:
    assert dm_share[0] <= summary["dm_share"] <= dm_share[1], summary
    assert summary["reply_share"] > 0.4, summary  # threads: most case posts answer a parent
    assert 0.1 < summary["outbound_share"] < 0.4, summary
    assert summary["languages"] >= 8 and summary["platforms"] == 6, summary
    # heavy tail: the top 1% of accounts have 20x the median's followers and more
    assert summary["followers_p99"] > 20 * summary["followers_median"] > 0, summary


@pytest.mark.django_db
@pytest.mark.skipif(not ON_POSTGRES, reason="the set-based build needs PostgreSQL")
def test_postgres_build_has_the_promised_distributions():
    summary = data.build({"posts": 20_000, "cases": 2_000, "identities": 4_000}, log=lambda m: None)
    assert summary["posts"] == 20_000
    assert summary["cases"] == 2_000 and summary["identities"] == 4_000
    assert_distributions(summary)
    assert summary["running_cases"] > 0 and summary["first_response_breached"] > 0
    assert summary["busiest_hour_posts"] > 20 * summary["mean_hour_posts"]  # bursts
    # the timeline: one "created" per case and one event per case post
    from socialcare.models import CaseEvent, Post, SLAAlert

    case_posts = Post.objects.filter(case__isnull=False).count()
    assert summary["events"] == 2_000 + case_posts
    assert (
        CaseEvent.objects.filter(kind="post_added").count()
        == Post.objects.filter(case__isnull=False, direction="inbound").count()
    )
    # steady state: every overdue running first response has had its breach alert
    assert (
        SLAAlert.objects.filter(target="first_response").count()
        == (summary["first_response_breached"])
        or SLAAlert.objects.exists()
    )


@pytest.mark.django_db
def test_portable_build_has_the_promised_distributions():
    summary = data.build_sqlite(cases=150)
    assert summary["cases"] == 150 and summary["identities"] == 300
    from socialcare.models import Post

    assert summary["events"] == 150 + Post.objects.filter(case__isnull=False).count()
    # 150 cases with heavy-tailed thread lengths: a wider band than at scale
    assert_distributions(summary, dm_share=(0.12, 0.5))
