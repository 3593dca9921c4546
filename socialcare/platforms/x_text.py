"""A post's length as X counts it: twitter-text's weighted length, configuration v3.

X does not count characters. It counts **weights** (https://github.com/twitter/twitter-text,
``config/v3.json``; "Counting characters" on docs.x.com):

* the text is NFC-normalized first; a text of only spaces and control characters weighs 0;
* a code point in U+0000–U+10FF (Latin, Greek, Cyrillic, Arabic, Hebrew, Indic scripts, …),
  U+2000–U+200D, U+2010–U+201F or U+2032–U+2037 (general punctuation) weighs **1**; every other
  code point (CJK, Hangul, Japanese kana, most symbols) weighs **2**;
* an emoji weighs **2** however many code points it joins (a skin tone, a ZWJ family, a flag, a
  keycap), told apart with the ``emoji`` library; a character that is only an emoji when followed
  by U+FE0F (``©``, ``®``) keeps its plain weight when it is not;
* every URL weighs **23** (the t.co link that replaces it), whatever its length: with a
  protocol (``http://``, ``https://``) any host ending in a known top-level domain, Unicode
  hosts included; without one, a host ending in a known generic TLD, or in a country TLD when a
  path follows (``example.co/x``). A host label longer than 63 characters (after IDNA encoding)
  is not a host, and a URL over 4,096 characters is not a URL; ``t.co`` links end at their slug.

The weights are summed at scale 100 and divided down: the result is compared with
``MAX_WEIGHTED_LENGTH`` (280). ``tests/test_x_text.py`` runs cases of twitter-text's conformance
suite (``conformance/validate.yml``, WeightedTweetsWithDiscountedEmojiCounterTest and
UnicodeDirectionalMarkerCounterTest).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import emoji

from socialcare.platforms.x_tlds import COUNTRY_TLDS, GENERIC_TLDS

#: The most a post may weigh.
MAX_WEIGHTED_LENGTH = 280
SCALE = 100
DEFAULT_WEIGHT = 200
#: Code point ranges that weigh 100 (one character); everything else weighs ``DEFAULT_WEIGHT``.
LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
#: What every URL weighs, in characters.
URL_LENGTH = 23
MAX_URL_LENGTH = 4096
MAX_TCO_SLUG_LENGTH = 40

_LATIN_ACCENTS = (
    "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u024f"
    "\u0253\u0254\u0256\u0257\u0259\u025b\u0263\u0268\u026f\u0272\u0289\u028b"
    "\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC = "\u0400-\u04ff"
_DIRECTIONAL = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_NOT_TEXT = "\ufffe\ufeff\uffff"
#: Unicode's space, line and paragraph separators (categories Zs, Zl, Zp).
_SEPARATORS = "\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_QUERY = r"[a-z0-9!?*'();:&=+$/%#\[\]\-_.,~|@]"
_QUERY_END = r"[a-z0-9\-_&=#/]"
_TCO = re.compile(rf"^https?://t\.co/([a-z0-9]+)(?:\?{_QUERY}*{_QUERY_END})?", re.IGNORECASE)
_BAD_BEFORE_BARE_HOST = re.compile(r"[-_./]$")


def _alternatives(names: frozenset[str]) -> str:
    # Longest first, so that ``com`` is not taken for ``co`` followed by ``m``.
    return "|".join(re.escape(name) for name in sorted(names, key=lambda n: (-len(n), n)))


@cache
def _url_pattern() -> re.Pattern[str]:
    char = f"[a-z0-9{_LATIN_ACCENTS}]"
    subdomain = rf"(?>(?:{char}[a-z0-9{_LATIN_ACCENTS}\-_]*)?{char}\.)"
    name = rf"(?:(?:{char}[a-z0-9{_LATIN_ACCENTS}\-]*)?{char}\.)"
    unicode_char = rf"[^\-_!\"#$%&'()*+,./:;<=>?@\[\]^`{{|}}~\s{_SEPARATORS}\u2000-\u206f]"
    unicode_name = rf"(?:(?:{unicode_char}(?:{unicode_char}|-)*)?{unicode_char}\.)"
    tld_end = r"(?=[^a-z0-9@+\-]|$)"
    generic = rf"(?:(?:{_alternatives(GENERIC_TLDS)}){tld_end})"
    country = rf"(?:(?:{_alternatives(COUNTRY_TLDS)}){tld_end})"
    punycode = r"(?:xn--[\-0-9a-z]+)"
    after_protocol = r"(?:(?<=http://)|(?<=https://))"
    domain = (
        rf"(?:{subdomain}*{name}(?:{generic}|{country}|{punycode}))"
        rf"|(?:{after_protocol}(?:(?:{name}{country})|(?:{unicode_name}(?:{generic}|{country}))))"
        rf"|(?:{name}{country}(?=/))"
    )
    path_char = rf"[a-z0-9!*';:=+,.$/%#\[\]\-\u2013_~|&@{_LATIN_ACCENTS}{_CYRILLIC}]"
    parens = rf"\((?:{path_char}+|(?:{path_char}*\({path_char}+\){path_char}*))\)"
    path_end = rf"[a-z0-9=_#/\-+{_LATIN_ACCENTS}{_CYRILLIC}]|(?:{parens})"
    path = rf"(?:(?:{path_char}*(?:{parens}{path_char}*)*(?:{path_end}))|(?:@{path_char}+/))"
    before = rf"(?:[^a-z0-9@\uff20$#\uff03{_NOT_TEXT}]|[{_DIRECTIONAL}]|^)"
    return re.compile(
        rf"(?P<before>{before})"
        rf"(?P<url>(?P<protocol>https?://)?(?P<host>{domain})(?::[0-9]++)?"
        rf"(?:/{path}*+)?(?:\?{_QUERY}*{_QUERY_END})?)",
        re.IGNORECASE,
    )


def _host_fits(url: str, host: str, protocol: str) -> bool:
    """A host IDNA-encodes with labels of 1–63 characters, and the URL stays within 4,096."""
    try:
        encoded = host.encode("idna")
    except UnicodeError:
        return False
    if not encoded:
        return False
    length = len(url) + len(encoded) - len(host) + (0 if protocol else len("https://"))
    return length <= MAX_URL_LENGTH


def url_spans(text: str) -> dict[int, int]:
    """Where the URLs X would shorten are in ``text``: start offset -> end offset."""
    if "." not in text:
        return {}
    spans: dict[int, int] = {}
    for match in _url_pattern().finditer(text):
        protocol = match.group("protocol") or ""
        if not protocol and _BAD_BEFORE_BARE_HOST.search(match.group("before")):
            continue
        url, start, end = match.group("url"), match.start("url"), match.end("url")
        tco = _TCO.match(url)
        if tco:
            if len(tco.group(1)) > MAX_TCO_SLUG_LENGTH:
                continue
            url, end = tco.group(0), start + len(tco.group(0))
        if _host_fits(url, match.group("host"), protocol):
            spans[start] = end
    return spans


def _light(code_point: int) -> bool:
    return any(low <= code_point <= high for low, high in LIGHT_RANGES)


def emoji_spans(text: str) -> dict[int, int]:
    """Where the emoji are in ``text``: start offset -> end offset, a sequence as one."""
    spans: dict[int, int] = {}
    unqualified = emoji.STATUS["unqualified"]
    for found in emoji.emoji_list(text):
        start, end = found["match_start"], found["match_end"]
        if end - start == 1 and _light(ord(text[start])):
            data = emoji.EMOJI_DATA.get(found["emoji"]) or {}
            if data.get("status") == unqualified:
                continue  # "©" without U+FE0F is a letter-like symbol, not an emoji
        spans[start] = end
    return spans


def weighted_length(text: str) -> int:
    """``text``'s length as X counts it against ``MAX_WEIGHTED_LENGTH`` (module docstring)."""
    text = unicodedata.normalize("NFC", text or "")
    if all(ord(char) <= 0x20 for char in text):
        return 0
    urls = url_spans(text)
    emojis = emoji_spans(text)
    total = 0
    offset = 0
    while offset < len(text):
        if offset in urls:
            total += URL_LENGTH * SCALE
            offset = urls[offset]
        elif offset in emojis:
            total += DEFAULT_WEIGHT
            offset = emojis[offset]
        else:
            total += SCALE if _light(ord(text[offset])) else DEFAULT_WEIGHT
            offset += 1
    return total // SCALE
