"""The interface of a sentiment scorer (``SOCIALCARE["SENTIMENT_BACKEND"]``).

A backend is a class socialcare instantiates once, with no arguments, and keeps for the life of
the process (it is rebuilt when settings change, e.g. under ``override_settings``)::

    class MyScorer(BaseSentimentBackend):
        def score(self, text: str, language: str = "") -> float:
            ...  # -1 (very negative) … 0 (neutral) … +1 (very positive)

``language`` is the post's language as the platform reported it (an ISO 639-1 code such as
"en", "pt", "ja"; often a region follows, "pt-BR"; "" when unknown). ``score`` receives
non-empty text of at most 5,000 characters; socialcare clamps the result to -1…+1, rounds it to
3 places, and stores 0.0 if the backend raises or returns something that is not a finite number.
``score_many`` scores several posts at once (a backend that batches, e.g. a model, overrides it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable


@runtime_checkable
class SentimentBackend(Protocol):
    """What socialcare calls. Subclassing ``BaseSentimentBackend`` is optional."""

    def score(self, text: str, language: str = "") -> float: ...

    def score_many(self, items: Iterable[tuple[str, str]]) -> list[float]: ...


class BaseSentimentBackend:
    """A backend needs only ``score``; ``score_many`` calls it once per (text, language)."""

    #: Shown by the bench and in logs.
    label = ""

    def score(self, text: str, language: str = "") -> float:
        raise NotImplementedError

    def score_many(self, items: Iterable[tuple[str, str]]) -> list[float]:
        return [self.score(text, language) for text, language in items]


def base_language(language: str) -> str:
    """The base of a language code: "pt-BR" -> "pt", "EN" -> "en", "" -> ""."""
    return language.replace("_", "-").split("-", 1)[0].strip().lower()
