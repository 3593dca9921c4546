"""Sentiment, reach and the priority score of an inbound post.

Sentiment (-1 … +1) comes from the configured scorer, ``SOCIALCARE["SENTIMENT_BACKEND"]``
(``socialcare.sentiment``; docs/scoring.md). The default reads English with VADER and AFINN-165
and Arabic, French, German, romanised Hindi, Italian, Portuguese, Spanish (and emoji in any
language) with a bundled naive Bayes model; ``socialcare.sentiment.vader.VaderSentiment`` is the
English-only scorer of before. Ingest passes the post's language. Empty text is 0.0; a scorer
that fails, or returns something not finite, gives 0.0 (logged) rather than losing the post.

The priority score (0 … 100) is::

    score = 100 × (w_neg × negativity + w_reach × reach + w_verified × verified)

where negativity = max(0, -sentiment), reach = log10(followers + 1) / log10(FULL_REACH_FOLLOWERS + 1)
capped at 1, verified = 1 for the platform's badge. Weights come from
``SOCIALCARE["PRIORITY_WEIGHTS"]`` (default 0.6 / 0.3 / 0.1). The score maps to a priority through
``SOCIALCARE["PRIORITY_THRESHOLDS"]`` (default urgent ≥ 70, high ≥ 40); below that normal, and low
for clearly happy posts (sentiment ≥ 0.5) from small accounts (score < 15).
"""

from __future__ import annotations

import logging
import math

from socialcare.conf import app_settings
from socialcare.models import Priority

logger = logging.getLogger(__name__)


#: Longest text handed to a scorer.
MAX_TEXT = 5000


def sentiment(text: str, language: str = "") -> float:
    """The configured scorer's sentiment of ``text`` (in ``language``, "" when unknown), clamped
    to -1 … +1 and rounded to 3 places; 0.0 for empty text or when the scorer fails."""
    if not text or not text.strip():
        return 0.0
    from socialcare.sentiment import get_backend

    try:
        value = float(get_backend().score(text[:MAX_TEXT], language or ""))
    except Exception:
        logger.exception("sentiment scorer failed; the post is scored 0.0")
        return 0.0
    if not math.isfinite(value):
        logger.warning("sentiment scorer returned %r; the post is scored 0.0", value)
        return 0.0
    return round(min(1.0, max(-1.0, value)), 3)


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
