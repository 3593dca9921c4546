"""The bundled multilingual model: naive Bayes over language-neutral features
(``socialcare.sentiment.features``), trained on the train and validation splits of UMSAB
(cardiffnlp/xlm-t: labelled tweets in Arabic, English, French, German, romanised Hindi, Italian,
Portuguese and Spanish) by ``bench/sentiment_train.py``. Pure Python, no download: the weights
ship in ``data/umsab_nb.tsv.gz`` (0.7 MB, read once per process on first use, ~0.3 s).
"""

from __future__ import annotations

import gzip
import math
from functools import cache
from pathlib import Path

from socialcare.sentiment.base import BaseSentimentBackend
from socialcare.sentiment.features import features

MODEL = Path(__file__).with_name("data") / "umsab_nb.tsv.gz"


class Model:
    """Centred per-feature log-probabilities of (negative, neutral, positive), class log-priors
    and the temperature that damps the evidence so scores are not all ±1."""

    def __init__(self, path: Path = MODEL) -> None:
        self.weights: dict[str, tuple[float, float, float]] = {}
        self.priors = (0.0, 0.0, 0.0)
        self.temperature = 1.0
        with gzip.open(path, "rt", encoding="utf-8") as file:
            for line in file:
                name, *values = line.rstrip("\n").split("\t")
                if name == "@about":  # a feature never has this name: mentions become @user
                    continue
                if name == "@priors":
                    self.priors = tuple(float(v) for v in values)  # type: ignore[assignment]
                elif name == "@temperature":
                    self.temperature = float(values[0])
                else:
                    self.weights[name] = tuple(float(v) for v in values)  # type: ignore[assignment]

    def probabilities(self, text: str) -> tuple[float, float, float]:
        """P(negative), P(neutral), P(positive) of ``text``."""
        found = [w for w in map(self.weights.get, features(text)) if w is not None]
        neg, neu, pos = map(sum, zip(*found, strict=True)) if found else (0.0, 0.0, 0.0)
        t = self.temperature
        logits = (self.priors[0] + neg / t, self.priors[1] + neu / t, self.priors[2] + pos / t)
        top = max(logits)
        exps = [math.exp(v - top) for v in logits]
        total = sum(exps)
        return exps[0] / total, exps[1] / total, exps[2] / total


@cache
def model() -> Model:
    return Model()


class NaiveBayesSentiment(BaseSentimentBackend):
    """P(positive) - P(negative) of the bundled model; ``language`` is not needed."""

    label = "naive Bayes (UMSAB)"

    def score(self, text: str, language: str = "") -> float:
        neg, _, pos = model().probabilities(text)
        return pos - neg
