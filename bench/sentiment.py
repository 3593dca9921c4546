"""Sentiment scorers: accuracy per language on the labelled evaluation set, time per post, and
ingest throughput with each scorer.

    python -m bench.sentiment            # accuracy + time per post only (no database needed)
    bash scripts/bench.sh --only sentiment   # also ingest throughput, VADER vs the default

The evaluation set is every ``bench/data/sentiment/*.tsv`` (language, label, text; see its
README). A score is read as 3 classes with socialcare's own cut-offs: negative at or below -0.3
(the detectors' ``negative_below`` and the dashboard's), positive at or above +0.3, neutral
between. Accuracy is the share of posts whose class matches the label (the sample is balanced,
so guessing one class scores 33%). Time per post: the best of 3 passes over the set, each post
scored once through ``socialcare.scoring.sentiment`` (rounding and clamping included), the
model already loaded. Ingest: the worker path of bench/ingest.py (one post per delivery,
micro-batched, two workers) with ``SENTIMENT_BACKEND`` set to VADER then the default, twice
each in turn, the best run of each kept; then, since two throughputs on a shared machine are
noisy, the default's extra time per post measured on that workload's own stored posts (their
languages as ingest saw them), as a share of a worker's time per post at the 1,000 posts/s
ingest target (pass: at most 10%, the issue's bound).
"""

from __future__ import annotations

import csv
import time
from collections import defaultdict
from pathlib import Path

from bench.context import REPO
from bench.figures import Figure

DATA = REPO / "bench" / "data" / "sentiment"
VADER = "socialcare.sentiment.vader.VaderSentiment"
DEFAULT = "socialcare.sentiment.multilingual.MultilingualSentiment"
BACKENDS = {"VADER": VADER, "default": DEFAULT}
CUT = 0.3
#: The issue's bound: ingest with the default within 10% of ingest with VADER.
INGEST_SHARE = 0.9


def load_set(folder: Path = DATA) -> list[tuple[str, str, str]]:
    """(language, label, text) of every labelled post of the evaluation set."""
    rows = []
    for path in sorted(folder.glob("*.tsv")):
        with path.open(encoding="utf-8", newline="") as file:
            for row in csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE):
                rows.append((row["language"], row["label"], row["text"]))
    return rows


def label_of(score: float, cut: float = CUT) -> str:
    if score <= -cut:
        return "negative"
    if score >= cut:
        return "positive"
    return "neutral"


def _score_all(backend: str, rows: list[tuple[str, str, str]]) -> tuple[list[float], float]:
    """Scores of ``rows`` through socialcare.scoring with ``backend``; seconds per post."""
    from django.test import override_settings

    from socialcare import scoring
    from socialcare.conf import app_settings

    with override_settings(SOCIALCARE={**app_settings.user_settings, "SENTIMENT_BACKEND": backend}):
        scores = [scoring.sentiment(text, language=lang) for lang, _, text in rows]  # warm up
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for lang, _, text in rows:
                scoring.sentiment(text, language=lang)
            best = min(best, time.perf_counter() - started)
    return scores, best / max(1, len(rows))


def evaluate(rows: list[tuple[str, str, str]] | None = None) -> dict[str, dict]:
    """Per backend name: accuracy per language and overall (at ±0.3 and at VADER's ±0.05),
    seconds per post."""
    rows = load_set() if rows is None else rows
    results = {}
    for name, path in BACKENDS.items():
        scores, per_post = _score_all(path, rows)
        hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        loose = 0
        for (lang, label, _), score in zip(rows, scores, strict=True):
            hits[lang][0] += label_of(score) == label
            hits[lang][1] += 1
            loose += label_of(score, 0.05) == label
        results[name] = {
            "languages": {lang: h / n for lang, (h, n) in sorted(hits.items())},
            "counts": {lang: n for lang, (_, n) in sorted(hits.items())},
            "overall": sum(h for h, _ in hits.values()) / max(1, len(rows)),
            "overall_005": loose / max(1, len(rows)),
            "seconds_per_post": per_post,
        }
    return results


def render(results: dict[str, dict]) -> str:
    """A Markdown table: language, posts, VADER, default (accuracy in %)."""
    vader, default = results["VADER"], results["default"]
    lines = ["| language | posts | VADER | default |", "|---|---|---|---|"]
    for lang, share in default["languages"].items():
        n = default["counts"][lang]
        lines.append(f"| {lang} | {n} | {vader['languages'][lang]:.0%} | {share:.0%} |")
    n = sum(default["counts"].values())
    lines.append(f"| **all** (±{CUT}) | {n} | {vader['overall']:.1%} | {default['overall']:.1%} |")
    lines.append(
        f"| all (±0.05) | {n} | {vader['overall_005']:.1%} | {default['overall_005']:.1%} |"
    )
    lines.append(
        f"| µs per post | | {vader['seconds_per_post'] * 1e6:.0f} | "
        f"{default['seconds_per_post'] * 1e6:.0f} |"
    )
    return "\n".join(lines)


def accuracy_figures(results: dict[str, dict]) -> list[Figure]:
    vader, default = results["VADER"], results["default"]
    figures = [
        Figure(
            name=f"Sentiment accuracy, all languages (3 classes at ±{CUT})",
            value=default["overall"] * 100,
            unit="%",
            target="> VADER",
            passed=default["overall"] > vader["overall"],
            reference_name="VADER",
            reference_value=vader["overall"] * 100,
            ratio=default["overall"] / vader["overall"] if vader["overall"] else None,
            notes=f"{sum(default['counts'].values())} labelled posts, bench/data/sentiment",
        )
    ]
    for lang, share in default["languages"].items():
        figures.append(
            Figure(
                name=f"Sentiment accuracy, {lang}",
                value=share * 100,
                unit="%",
                target="-",
                passed=None,
                reference_name="VADER",
                reference_value=vader["languages"][lang] * 100,
                ratio=share / vader["languages"][lang] if vader["languages"][lang] else None,
            )
        )
    figures.append(
        Figure(
            name="Sentiment time per post (default)",
            value=default["seconds_per_post"] * 1e6,
            unit="µs",
            target="-",
            passed=None,
            reference_name="VADER",
            reference_value=vader["seconds_per_post"] * 1e6,
            ratio=default["seconds_per_post"] / vader["seconds_per_post"],
        )
    )
    return figures


def ingest_rates(ctx, posts: int, rounds: int = 2) -> tuple[dict[str, float], list]:
    """Best posts/s of the ingest worker path with each backend (bench/ingest.py's workload),
    and the (text, language) of the inbound posts that workload stored."""
    from bench import _db
    from bench._proc import run_json

    best: dict[str, float] = {}
    stored: list = []
    for _ in range(rounds):
        for name, path in BACKENDS.items():
            db = _db.fresh(ctx, f"scg_sentiment_{name.lower()}")
            try:
                args = ["ingest", "--posts", str(posts), "--batch", "1", "--playbooks"]
                args += ["--workers", "2"]
                env = _db.env_for(ctx, db, SOCIALCARE_BENCH_SENTIMENT=path)
                rate = run_json(ctx, args, env)["posts_per_s"]
                if not stored:
                    stored = _inbound_posts(ctx, db)
            finally:
                _db.drop(ctx, db)
            ctx.log(f"sentiment: ingest with {name}: {rate:,.0f} posts/s")
            best[name] = max(best.get(name, 0.0), rate)
    return best, stored


def _inbound_posts(ctx, db: str) -> list[tuple[str, str, str]]:
    import psycopg

    with psycopg.connect(dbname=db, **_libpq(ctx.pg)) as conn:
        rows = conn.execute(
            "SELECT language, text FROM socialcare_post WHERE direction = 'inbound' ORDER BY id"
        ).fetchall()
    return [(language, "", text) for language, text in rows]


def _libpq(pg: dict[str, str]) -> dict[str, str]:
    keys = {"PGHOST": "host", "PGPORT": "port", "PGUSER": "user", "PGPASSWORD": "password"}
    return {arg: pg[env] for env, arg in keys.items() if env in pg}


def cost_figure(posts: list, vader_rate: float, workers: int = 2) -> Figure:
    """What the default scorer adds per ingested post, measured on the ingest workload's own
    posts (their languages as stored), as a share of a worker's time per post at the 1,000
    posts/s ingest target (bench/ingest.py) and at the rate just measured with VADER."""
    _, vader = _score_all(VADER, posts)
    _, default = _score_all(DEFAULT, posts)
    extra = default - vader
    at_target = extra / (workers / 1000.0)
    at_measured = extra / (workers / vader_rate) if vader_rate else 0.0
    languages = sorted({language or "?" for language, _, _ in posts})
    return Figure(
        name="Default scorer's extra time per ingested post",
        value=extra * 1e6,
        unit="µs",
        target="<= 10% of a worker's time per post at 1,000 posts/s",
        passed=at_target <= 1 - INGEST_SHARE,
        reference_name="VADER's time per post",
        reference_value=vader * 1e6,
        ratio=default / vader if vader else None,
        notes=f"{len(posts)} inbound posts of the ingest workload (languages "
        f"{', '.join(languages)}; ? = none reported); {at_target:.1%} of a worker's 2 ms per "
        f"post at 1,000 posts/s, {at_measured:.1%} at the {vader_rate:,.0f} posts/s measured "
        "with VADER",
    )


def run(ctx) -> list[Figure]:
    results = evaluate()
    ctx.log("sentiment accuracy:\n" + render(results))
    figures = accuracy_figures(results)
    posts = 600 if ctx.quick else 3000
    rates, stored = ingest_rates(ctx, posts)
    ratio = rates["default"] / rates["VADER"] if rates["VADER"] else 0.0
    figures.append(
        Figure(
            name="Ingest (worker path, 2 workers) with the default scorer",
            value=rates["default"],
            unit="posts/s",
            target=f">= {INGEST_SHARE:.0%} of VADER's",
            passed=ratio >= INGEST_SHARE,
            reference_name="with VADER",
            reference_value=rates["VADER"],
            ratio=ratio,
            notes=f"{posts} posts, one per delivery, best of 2 runs each, alternated; noisy "
            "on a shared machine: the next figure isolates the scorer's own cost",
        )
    )
    if stored:
        figures.append(cost_figure(stored, rates["VADER"]))
    return figures


def main() -> int:
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    results = evaluate()
    print(render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
