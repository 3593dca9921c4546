"""English word lists: AFINN-165 (Finn Årup Nielsen, ODbL 1.0: data/AFINN-LICENSE.md), read from
``data/AFINN-en-165.txt`` as published in the ``afinn`` package (whose GPL code is not used).
AFINN knows words VADER does not ("breach": -2); its sum is normalised the way VADER normalises
its own (x / sqrt(x² + 15)) so the two are comparable."""

from __future__ import annotations

import math
import re
from functools import cache
from pathlib import Path

AFINN_EN = Path(__file__).with_name("data") / "AFINN-en-165.txt"
_WORD = re.compile(r"[a-z0-9']+")


@cache
def afinn_en() -> dict[str, int]:
    entries = {}
    for line in AFINN_EN.read_text(encoding="utf-8").splitlines():
        word, _, value = line.rpartition("\t")
        if word:
            entries[word] = int(value)
    return entries


def afinn_score(text: str) -> float:
    """AFINN-165's normalised sum for ``text``: -1 … +1, 0.0 when it knows no word. A phrase
    ("does not work") counts instead of its words."""
    words = _WORD.findall(text.lower())
    entries = afinn_en()
    total, index = 0, 0
    while index < len(words):
        for size in (3, 2, 1):
            value = entries.get(" ".join(words[index : index + size]))
            if value is not None:
                total += value
                index += size
                break
        else:
            index += 1
    return total / math.sqrt(total * total + 15) if total else 0.0
