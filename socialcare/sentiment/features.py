"""The features the bundled multilingual model reads from a post: the same at training time
(bench/sentiment_train.py) and at scoring time.

Language-neutral on purpose: lower-cased words, word pairs (so "not good" differs from "good"),
character 3–5-grams inside each word (stems and inflections in any alphabetic script, and the
runs of Arabic, Devanagari, CJK or Hangul that have no spaces), and each emoji or punctuation
mark on its own. Links and @mentions become one placeholder each.
"""

from __future__ import annotations

import re

_URL = re.compile(r"https?://\S+|www\.\S+|\bhttps?\b", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
_TOKEN = re.compile(r"\w+|[^\w\s]")
#: Characters of a long word contribute n-grams only from its first this many characters.
_WORD_CAP = 24


def features(text: str) -> set[str]:
    """The set of features of ``text`` (binary: a feature counts once however often it occurs)."""
    text = _MENTION.sub(" @user ", _URL.sub(" http ", text.lower()))
    tokens = _TOKEN.findall(text)
    found: set[str] = set()
    previous = ""
    for token in tokens:
        found.add(token)
        if previous:
            found.add(f"{previous} {token}")
        previous = token
        if len(token) > 2 and token[0].isalnum() and token != "http":
            padded = f"<{token[:_WORD_CAP]}>"
            for size in (3, 4, 5):
                for start in range(len(padded) - size + 1):
                    found.add("#" + padded[start : start + size])
    return found
