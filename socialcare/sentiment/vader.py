"""VADER (vaderSentiment): English social media text, emoji and emoticons. socialcare's first
scorer; kept as a backend (``socialcare.sentiment.vader.VaderSentiment``) and as
half of the default's English reading. Other languages score by their emoji alone."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from socialcare.sentiment.base import BaseSentimentBackend


class VaderSentiment(BaseSentimentBackend):
    """VADER's compound score; ``language`` is ignored."""

    label = "VADER"

    @cached_property
    def analyzer(self) -> Any:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        return SentimentIntensityAnalyzer()

    def score(self, text: str, language: str = "") -> float:
        return self.analyzer.polarity_scores(text)["compound"]
