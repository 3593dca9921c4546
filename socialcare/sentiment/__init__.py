"""Pluggable sentiment scorers (``SOCIALCARE["SENTIMENT_BACKEND"]``, docs/scoring.md).

``get_backend()`` is the configured backend, built once per process and rebuilt when settings
change; ``socialcare.scoring.sentiment`` is what the rest of socialcare calls. Backends shipped:
``multilingual.MultilingualSentiment`` (the default), ``vader.VaderSentiment`` (English only, the
scorer before) and ``naive_bayes.NaiveBayesSentiment`` (the bundled model alone). The interface:
``base.SentimentBackend``.
"""

from __future__ import annotations

from functools import cache

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from socialcare.sentiment.base import BaseSentimentBackend, SentimentBackend

__all__ = ["BaseSentimentBackend", "SentimentBackend", "get_backend", "load_backend", "reset"]


def load_backend(path: str) -> SentimentBackend:
    """An instance of the backend class at dotted ``path``; ImproperlyConfigured (saying why)
    if it does not import, cannot be built with no arguments or has no ``score`` method."""
    if not isinstance(path, str) or not path:
        raise ImproperlyConfigured(f"SENTIMENT_BACKEND must be a dotted path, not {path!r}.")
    try:
        cls = import_string(path)
    except Exception as exc:  # ImportError, or the module itself fails while importing
        raise ImproperlyConfigured(f"SENTIMENT_BACKEND {path!r} does not import: {exc}") from exc
    try:
        backend = cls()
    except Exception as exc:
        raise ImproperlyConfigured(
            f"SENTIMENT_BACKEND {path!r} could not be built with no arguments: {exc}"
        ) from exc
    if not callable(getattr(backend, "score", None)):
        raise ImproperlyConfigured(
            f"SENTIMENT_BACKEND {path!r} has no score(text, language='') method."
        )
    return backend


@cache
def _backend(path: str) -> SentimentBackend:
    return load_backend(path)


def get_backend() -> SentimentBackend:
    """The configured backend (memoized per dotted path)."""
    from socialcare.conf import app_settings

    return _backend(app_settings.SENTIMENT_BACKEND)


def reset() -> None:
    _backend.cache_clear()
