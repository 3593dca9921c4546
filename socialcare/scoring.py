"""Sentiment, reach and the priority score of an inbound post.

Sentiment is VADER's compound score (-1 … +1), built for social media text (emoji, caps, "!!!").
It reads English; other languages score near 0 (neutral), so they are never falsely urgent.

The priority score (0 … 100) is::

    score = 100 × (w_neg × negativity + w_reach × reach + w_verified × verified)

where negativity = max(0, -sentiment), reach = log10(followers + 1) / log10(FULL_REACH_FOLLOWERS + 1)
capped at 1, verified = 1 for the platform's badge. Weights come from
``SOCIALCARE["PRIORITY_WEIGHTS"]`` (default 0.6 / 0.3 / 0.1). The score maps to a priority through
``SOCIALCARE["PRIORITY_THRESHOLDS"]`` (default urgent ≥ 70, high ≥ 40); below that normal, and low
for clearly happy posts (sentiment ≥ 0.5) from small accounts (score < 15).
"""

from __future__ import annotations

import math
from functools import cache

from socialcare.conf import app_settings
from socialcare.models import Priority


@cache
def _analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment(text: str) -> float:
    """VADER compound score of ``text``, rounded to 3 places; 0.0 for empty text."""
    if not text or not text.strip():
        return 0.0
    return round(_analyzer().polarity_scores(text[:5000])["compound"], 3)


def reach_factor(followers: int) -> float:
    full = max(2, int(app_settings.FULL_REACH_FOLLOWERS))
    return min(1.0, math.log10(max(0, followers) + 1) / math.log10(full + 1))


def priority_score(*, sentiment: float, followers: int, verified: bool) -> float:
    weights = app_settings.PRIORITY_WEIGHTS
    negativity = max(0.0, -sentiment)
    score = 100 * (
        weights.get("negativity", 0) * negativity
        + weights.get("reach", 0) * reach_factor(followers)
        + weights.get("verified", 0) * (1.0 if verified else 0.0)
    )
    return round(min(100.0, max(0.0, score)), 1)


def priority_for(score: float, sentiment: float = 0.0) -> str:
    thresholds = app_settings.PRIORITY_THRESHOLDS
    if score >= thresholds.get("urgent", 70):
        return Priority.URGENT
    if score >= thresholds.get("high", 40):
        return Priority.HIGH
    if sentiment >= 0.5 and score < 15:
        return Priority.LOW
    return Priority.NORMAL
