"""The default scorer: English lexicons where they apply, the bundled multilingual model
elsewhere.

- An English post (``language`` "en", "en-GB", …) is read by VADER and AFINN-165 (whichever
  says more, i.e. has the larger magnitude: AFINN fills VADER's gaps, e.g. "breach"); the model
  decides only when neither lexicon knows a word of it.
- A post in another language the model was trained on (``MODEL_LANGUAGES``), or of unknown
  language, takes the strongest (largest magnitude) of the model (``naive_bayes``:
  P(positive) - P(negative)) and the two lexicons, so emoji, emoticons and English words count
  too. On held-out data this beat the model alone (55.5% vs 53.8% of UMSAB's validation split).
- A post in a language the model was not trained on (Japanese, Korean, …) is read by the
  lexicons alone, i.e. by its emoji, emoticons and English words: the model's guesses from
  punctuation and unknown character runs are noise there (Korean: 31% vs 33% for VADER).

Accuracy per language and time per post: docs/scoring.md (``python -m bench.sentiment``).
"""

from __future__ import annotations

from socialcare.sentiment.base import BaseSentimentBackend, base_language
from socialcare.sentiment.lexicons import afinn_score
from socialcare.sentiment.naive_bayes import NaiveBayesSentiment
from socialcare.sentiment.vader import VaderSentiment

#: The languages of the model's training data (UMSAB); "hi" is Hindi in Latin script.
MODEL_LANGUAGES = frozenset({"ar", "de", "en", "es", "fr", "hi", "it", "pt"})


def _strongest(*scores: float) -> float:
    return max(scores, key=abs)


class MultilingualSentiment(BaseSentimentBackend):
    label = "default (VADER + AFINN for English, naive Bayes otherwise)"

    def __init__(self) -> None:
        self.vader = VaderSentiment()
        self.model = NaiveBayesSentiment()

    def english(self, text: str) -> float:
        return _strongest(self.vader.score(text), afinn_score(text))

    def score(self, text: str, language: str = "") -> float:
        language = base_language(language)
        if language == "en":
            return self.english(text) or self.model.score(text)
        if language and language not in MODEL_LANGUAGES:
            return self.english(text)
        return _strongest(self.english(text), self.model.score(text))
