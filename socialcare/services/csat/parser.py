"""Read a 1–5 score out of a customer's reply to the CSAT question, in their language where
possible (docs/csat.md has the table).

Understood: a digit ("5", "4/5", "3 out of 5", "je donne 4"), keycap emoji ("4️⃣"), stars
("⭐⭐⭐⭐", "★★★☆☆": the filled ones count), a few face and thumb emoji, and words in English,
French, German, Spanish, Italian and Portuguese ("très bien", "schlecht", "muy bien",
"terrible"). The customer's own language is tried first, then every table.

It is deliberately strict: everything in the message besides the score must be filler ("thanks",
"merci", "I give", "out of"), otherwise it is not an answer (``None``), so "3 days and still
nothing" reopens the case as any customer message does instead of counting as a 3.
"""

from __future__ import annotations

import re
import unicodedata

#: phrase (lower case, accents kept) -> score, per language.
WORDS: dict[str, dict[str, int]] = {
    "en": {
        "excellent": 5, "perfect": 5, "great": 5, "amazing": 5, "awesome": 5, "fantastic": 5,
        "outstanding": 5, "very good": 4, "good": 4, "pretty good": 4, "ok": 3, "okay": 3,
        "fine": 3, "average": 3, "meh": 3, "so so": 3, "not good": 2, "not great": 2, "poor": 2,
        "bad": 2, "very bad": 1, "terrible": 1, "awful": 1, "horrible": 1, "the worst": 1,
        "worst": 1,
    },
    "fr": {
        "excellent": 5, "parfait": 5, "génial": 5, "super": 5, "top": 5, "très bien": 4,
        "bien": 4, "bon": 4, "très bon": 4, "moyen": 3, "correct": 3, "bof": 3, "pas mal": 4,
        "pas bien": 2, "mauvais": 2, "pas terrible": 2, "décevant": 2, "très mauvais": 1,
        "nul": 1, "horrible": 1, "catastrophique": 1, "lamentable": 1,
    },
    "de": {
        "ausgezeichnet": 5, "exzellent": 5, "perfekt": 5, "hervorragend": 5, "super": 5,
        "toll": 5, "sehr gut": 4, "gut": 4, "ok": 3, "okay": 3, "geht so": 3, "mittel": 3,
        "in ordnung": 3, "nicht gut": 2, "schlecht": 2, "mangelhaft": 2, "sehr schlecht": 1,
        "furchtbar": 1, "schrecklich": 1, "katastrophal": 1, "miserabel": 1,
    },
    "es": {
        "excelente": 5, "perfecto": 5, "genial": 5, "estupendo": 5, "increíble": 5,
        "muy bien": 4, "bien": 4, "bueno": 4, "muy bueno": 4, "regular": 3, "normal": 3,
        "más o menos": 3, "no muy bien": 2, "mal": 2, "malo": 2, "no bien": 2, "muy mal": 1,
        "muy malo": 1, "terrible": 1, "horrible": 1, "pésimo": 1, "fatal": 1,
    },
    "it": {
        "eccellente": 5, "ottimo": 5, "perfetto": 5, "fantastico": 5, "molto bene": 4,
        "bene": 4, "buono": 4, "molto buono": 4, "così così": 3, "normale": 3, "discreto": 3,
        "non bene": 2, "male": 2, "scarso": 2, "cattivo": 2, "molto male": 1, "terribile": 1,
        "orribile": 1, "pessimo": 1,
    },
    "pt": {
        "excelente": 5, "ótimo": 5, "perfeito": 5, "maravilhoso": 5, "muito bem": 4,
        "muito bom": 4, "bom": 4, "bem": 4, "razoável": 3, "normal": 3, "mais ou menos": 3,
        "não bom": 2, "mal": 2, "ruim": 2, "mau": 2, "muito mal": 1, "muito ruim": 1,
        "péssimo": 1, "horrível": 1, "terrível": 1,
    },
}  # fmt: skip

#: Words that may surround a score without changing it.
_FILLER_WORDS = """thanks thank you thx ty i i'd id give it a my rating score note is was would say overall
    star stars out of merci je donne dirais ma sur étoile étoiles c'est cest était danke ich
    gebe würde sagen sterne von insgesamt gracias doy le la de estrellas sobre grazie do
    stelle su obrigado obrigada dou estrelas nota en sur10 points punkte puntos punti pontos
    and et und y e very really"""
FILLER = frozenset(_FILLER_WORDS.split())

EMOJI = {"😍": 5, "🤩": 5, "🥰": 5, "👍": 4, "🙂": 4, "😊": 4, "😐": 3, "👎": 2, "🙁": 2,
         "😞": 2, "😡": 1, "😠": 1, "🤬": 1}  # fmt: skip
FILLED_STARS = "⭐🌟★"
EMPTY_STARS = "☆"
_KEYCAP = re.compile("([1-5])\ufe0f?\u20e3")
_OUT_OF = re.compile(r"^\s*([1-5])\s*(?:/|out of|sur|von|de|su|di|em)\s*5\s*$")
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
MAX_LENGTH = 120


def parse_score(text: str, language: str = "") -> int | None:
    """The score 1–5 that ``text`` gives, or None when it is not (only) a rating."""
    text = unicodedata.normalize("NFC", text or "").strip()
    if not text or len(text) > MAX_LENGTH:
        return None
    lowered = text.lower()
    for found in (_stars, _keycap, _emoji, _digits):
        score = found(lowered)
        if score is not None:
            return score
    return _words(lowered, (language or "").split("-")[0].lower())


def _rest_is_filler(rest: str) -> bool:
    return all(token in FILLER for token in _TOKEN.findall(rest))


def _stars(text: str) -> int | None:
    filled = sum(text.count(star) for star in FILLED_STARS)
    if not filled:
        return None
    rest = "".join(c for c in text if c not in FILLED_STARS + EMPTY_STARS + "\ufe0f")
    if not _rest_is_filler(rest) or re.search(r"\d", rest):
        return None
    return min(filled, 5)


def _keycap(text: str) -> int | None:
    found = _KEYCAP.findall(text)
    if len(found) != 1:
        return None
    rest = _KEYCAP.sub(" ", text)
    return int(found[0]) if _rest_is_filler(rest) and not re.search(r"\d", rest) else None


def _emoji(text: str) -> int | None:
    found = {EMOJI[c] for c in text if c in EMOJI}
    if len(found) != 1:
        return None
    rest = "".join(c for c in text if c not in EMOJI and c not in "\ufe0f\u200d")
    if re.search(r"\d", rest) or not _rest_is_filler(rest):
        return None
    return found.pop()


def _digits(text: str) -> int | None:
    numbers = re.findall(r"\d+(?:[.,]\d+)?", text)
    if not numbers:
        return None
    for candidate in (text, *_around(text)):
        match = _OUT_OF.match(candidate)
        if match:
            return int(match.group(1))
    if len(numbers) != 1 or numbers[0] not in {"1", "2", "3", "4", "5"}:
        return None
    rest = re.sub(r"\d", " ", text, count=1)
    return int(numbers[0]) if _rest_is_filler(rest) else None


def _around(text: str) -> list[str]:
    """``text`` without filler words, for "I'd say 4 out of 5, thanks"."""
    keep = {"out", "of", "sur", "von", "de", "su", "di", "em"}
    kept = [t for t in re.findall(r"[^\s,.!?;:]+", text) if t in keep or t not in FILLER]
    joined = " ".join(kept)
    return [joined, joined.replace("out of", "/")] if kept else []


def _words(text: str, language: str) -> int | None:
    tokens = _TOKEN.findall(text)
    if not tokens:
        return None
    tables = [WORDS[language]] if language in WORDS else []
    tables += [table for code, table in WORDS.items() if code != language]
    for table in tables:
        score = _match_table(tokens, table)
        if score is not None:
            return score
    return None


def _match_table(tokens: list[str], table: dict[str, int]) -> int | None:
    """The score of the longest phrase of ``table`` in ``tokens`` when every other token is
    filler and no other phrase disagrees; else None."""
    phrases = sorted(table, key=lambda p: -len(p.split()))
    remaining = list(tokens)
    scores = set()
    for phrase in phrases:
        words = phrase.split()
        n = len(words)
        i = 0
        while i <= len(remaining) - n:
            if remaining[i : i + n] == words:
                scores.add(table[phrase])
                del remaining[i : i + n]
                continue
            i += 1
    if len(scores) != 1 or not all(token in FILLER for token in remaining):
        return None
    return scores.pop()
