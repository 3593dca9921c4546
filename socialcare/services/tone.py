"""A tone check for replies: reminders an agent sees before a reply goes out.

The rules are deliberately simple, readable heuristics (word and phrase lists, no model), so an
agent can predict them and a team can adjust them. They are reminders, never a gate: the case page
lets the agent send anyway. Each rule has a stable ``code``:

``no_thanks``      a public reply that does not thank the customer.
``no_apology``     a public reply without an apology while the customer's latest post is negative
                   (sentiment at or below ``NEGATIVE_SENTIMENT``, VADER's usual cut-off).
``no_next_step``   a public reply that does not say what happens next or how to follow up
                   (we'll / let us know / DM / email / a link / "could you send ..." ...).
``defensive``      blaming or lecturing phrases: "as I said", "policy", "you should have",
                   "not our fault", "your fault", "calm down" ...
``shouting``       ALL CAPS: three capitalised words in a row, or a mostly upper-case text.

Private replies (a direct message or email) only get ``defensive`` and ``shouting``.

Languages: the phrase lists are English, with thanks and apology words of common European
languages so that "Danke" or "Lo sentimos" count. A text mostly in a non-Latin script (Arabic,
Cyrillic, CJK, ...) gets no warnings at all, and a Latin-script text that does not look English
(few English function words) gets only ``shouting``: a rule that cannot read the language would
only produce false alarms.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass

#: Sentiment (-1..+1) at or below which the customer counts as upset (VADER's negative cut-off).
NEGATIVE_SENTIMENT = -0.05


@dataclass(frozen=True)
class ToneWarning:
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _words(*alternatives: str) -> re.Pattern[str]:
    """One case-insensitive pattern matching any alternative at word boundaries."""
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


THANKS = _words(
    r"thanks?(?: you)?",
    r"thank[- ]?you",
    r"thx",
    r"ty",
    r"appreciate[sd]?",
    r"grateful",
    r"cheers",
    # de, fr, es, it, pt, nl, sv/da/no, fi, pl, cs
    r"danke",
    r"vielen dank",
    r"merci",
    r"gracias",
    r"grazie",
    r"obrigad[oa]",
    r"bedankt",
    r"dank je(?: wel)?",
    r"tack",
    r"takk",
    r"tak",
    r"kiitos",
    r"dzi[eę]kuj[eę]my",
    r"dzi[eę]kuj[eę]",
    r"d[eě]kujeme",
)

APOLOGY = _words(
    r"sorry",
    r"apologi[sz]e[sd]?",
    r"apolog(?:y|ies)",
    r"regret",
    r"our bad",
    r"my bad",
    r"that'?s on us",
    # de, fr, es, it, pt, nl
    r"entschuldig\w*",
    r"tut (?:uns|mir) leid",
    r"d[ée]sol[ée]e?s?",
    r"excuses?",
    r"lo sentimos",
    r"lo siento",
    r"disculp\w*",
    r"scus\w*",
    r"ci dispiace",
    r"desculp\w*",
    r"lamentamos",
)

NEXT_STEP = _words(
    r"we'?ll",
    r"we will",
    r"i'?ll",
    r"i will",
    r"we'?re (?:looking|checking|working|on it|escalating|sending|fixing)",
    r"we are (?:looking|checking|working|escalating|sending|fixing)",
    r"let (?:us|me) know",
    r"(?:please )?(?:dm|pm) us",
    r"dm",
    r"direct message",
    r"message us",
    r"send (?:us|me)",
    r"e-?mail",
    r"contact",
    r"call us",
    r"reach out",
    r"follow[- ]up",
    r"get back to you",
    r"next steps?",
    r"within \d+",
    r"(?:by|until|on) (?:today|tonight|tomorrow|monday|tuesday|wednesday|thursday|friday|"
    r"saturday|sunday)",
    r"track(?:ing)?",
    r"https?://\S+",
    r"(?:could|can|would) you",
    r"please (?:send|share|check|try|click|visit|follow|provide|confirm|reply|restart|update)",
    r"here'?s how",
    r"you can",
    r"check your",
)

DEFENSIVE = _words(
    r"as (?:i|we) (?:already )?(?:said|mentioned|stated|explained|told you)",
    r"like (?:i|we) (?:already )?(?:said|told you)",
    r"we (?:already )?told you",
    r"polic(?:y|ies)",
    r"you should(?: have|'ve)",
    r"you shouldn'?t have",
    r"not our (?:fault|problem|responsibility)",
    r"(?:it'?s|it is|that'?s|that is) your (?:fault|problem|responsibility)",
    r"your (?:own )?fault",
    r"you failed to",
    r"you (?:didn'?t|did not) (?:read|follow|check)",
    r"(?:read|check) the (?:terms|instructions|faq|manual)",
    r"calm down",
    r"obviously",
    r"clearly you",
    r"nothing (?:we|i) can do",
    r"(?:we|i) can'?t help you",
)

#: Words frequent in English and rare as words elsewhere: the "does this look English?" test.
ENGLISH_MARKERS = frozenset(
    {
        "the",
        "and",
        "you",
        "your",
        "we",
        "our",
        "with",
        "please",
        "will",
        "this",
        "that",
        "for",
        "are",
        "is",
        "it",
        "be",
        "have",
        "has",
        "not",
        "can",
        "hi",
        "hello",
        "thanks",
        "thank",
        "sorry",
        "us",
        "of",
        "to",
        "what",
        "when",
        "how",
        "just",
        "know",
        "i'm",
        "we're",
        "we'll",
        "you're",
        "i'll",
        "it's",
        "don't",
        "can't",
        "here",
        "there",
        "i",
        "my",
        "me",
        "said",
        "told",
        "should",
        "would",
        "could",
        "was",
        "were",
        "did",
        "but",
        "if",
        "they",
        "from",
        "about",
    }
)

#: Short all-caps words that are names, not shouting.
ACRONYMS = frozenset(
    [
        "dm",
        "dms",
        "pm",
        "faq",
        "url",
        "id",
        "ok",
        "tv",
        "usa",
        "uk",
        "eu",
        "us",
        "ups",
        "dhl",
        "sms",
        "pin",
        "api",
        "app",
        "ios",
        "asap",
        "fyi",
        "eta",
        "pdf",
        "vip",
        "cs",
        "am",
    ]
)

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


def _latin_share(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 1.0
    latin = sum(1 for ch in letters if unicodedata.name(ch, "").startswith("LATIN"))
    return latin / len(letters)


def _looks_english(words: list[str]) -> bool:
    if not words:
        return False
    hits = sum(1 for w in words if w.lower() in ENGLISH_MARKERS)
    return hits >= 3 or hits / len(words) >= 0.2


def _shouting(words: list[str], text: str) -> bool:
    run = 0
    for word in words:
        if len(word) >= 2 and word.isupper() and word.lower() not in ACRONYMS:
            run += 1
            if run >= 3:
                return True
        else:
            run = 0
    letters = [ch for ch in text if ch.isalpha()]
    upper = sum(1 for ch in letters if ch.isupper())
    return len(letters) >= 12 and upper / len(letters) > 0.6


def _quote(matches: list[str]) -> str:
    seen: list[str] = []
    for m in matches:
        if m.lower() not in (s.lower() for s in seen):
            seen.append(m)
    return ", ".join(f"“{m}”" for m in seen[:3])


def tone_warnings(
    text: str, *, sentiment: float | None = None, visibility: str = "public"
) -> list[ToneWarning]:
    """Warnings about the tone of a reply (empty when it reads fine or cannot be judged).

    ``sentiment`` is the customer's latest sentiment (-1..+1, None when unknown); ``visibility``
    is ``"public"`` or ``"private"``. See the module docstring for the rules."""
    text = (text or "").strip()
    if not text or _latin_share(text) < 0.5:
        return []
    words = _WORD.findall(text)
    english = _looks_english(words)
    warnings: list[ToneWarning] = []
    if visibility == "public" and english:
        if not THANKS.search(text):
            warnings.append(
                ToneWarning(
                    "no_thanks",
                    "Thank the customer (for writing, their patience or the details).",
                )
            )
        if sentiment is not None and sentiment <= NEGATIVE_SENTIMENT and not APOLOGY.search(text):
            warnings.append(
                ToneWarning(
                    "no_apology",
                    "The customer is upset: say sorry for the trouble before anything else.",
                )
            )
        if not NEXT_STEP.search(text):
            warnings.append(
                ToneWarning(
                    "no_next_step",
                    "Say what happens next or how to follow up (e.g. “We'll DM you within the "
                    "hour”, “Let us know your order number”).",
                )
            )
    if english:
        found = [m.group(0) for m in DEFENSIVE.finditer(text)]
        if found:
            warnings.append(
                ToneWarning(
                    "defensive",
                    f"Sounds defensive: {_quote(found)}. Say what you will do instead of what "
                    "the customer did wrong.",
                )
            )
    if _shouting(words, text):
        warnings.append(
            ToneWarning("shouting", "Avoid ALL CAPS: it reads as shouting. Use normal case.")
        )
    return warnings
