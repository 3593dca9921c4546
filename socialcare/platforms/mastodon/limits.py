"""A Mastodon server's status limits, and a status' length as Mastodon counts it.

Servers publish their limits in ``GET /api/v2/instance`` (Mastodon 4.0+, public):
``configuration.statuses.max_characters`` and ``characters_reserved_per_url``. A server that
does not say (an older Mastodon answers 404; some other servers leave fields out) gets
Mastodon's defaults, 500 and 23.

Mastodon counts a status as its validator does (``StatusLengthValidator``): every link that
starts with ``http://`` or ``https://`` counts as ``characters_reserved_per_url`` however long
it is; a mention counts only its username part (``@alice@example.com`` counts as ``@alice``);
characters are user-perceived characters (grapheme clusters: an emoji sequence or a letter with
its combining accents counts 1); the content warning counts too (socialcare sends none).
Links are found with the twitter-text URL grammar Mastodon uses (``platforms.x_text``), with the
protocol required; grapheme clusters are approximated without a Unicode segmentation library
(emoji sequences, combining marks, variation selectors, ZWJ joins and CRLF are joined).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from socialcare.platforms import x_text
from socialcare.platforms.base import ChannelConfig, ParseError, load_json
from socialcare.platforms.mastodon.common import base_url, request

DEFAULT_MAX_CHARACTERS = 500
DEFAULT_URL_CHARACTERS = 23

#: A mention as Mastodon finds it: ``@user`` or ``@user@domain`` not preceded by a word
#: character, ``=`` or ``/``; group 1 is the username, the only part that counts.
MENTION = re.compile(r"(?<![=/\w])@([a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?:@[\w.-]+\w)?", re.IGNORECASE)
_JOINERS = {"\u200d", "\ufe0e", "\ufe0f"}


@dataclass(frozen=True)
class InstanceLimits:
    max_characters: int = DEFAULT_MAX_CHARACTERS
    characters_reserved_per_url: int = DEFAULT_URL_CHARACTERS
    #: False: the server did not say, these are Mastodon's defaults.
    from_instance: bool = False


def _positive(container: Any, key: str) -> int | None:
    value = container.get(key) if isinstance(container, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


class LimitsMixin:
    def instance_limits(self, channel: ChannelConfig, client: httpx.Client) -> InstanceLimits:
        """The channel's server's status limits (``GET /api/v2/instance``), Mastodon's defaults
        for what it does not say. Raises ``SendError``/``TransientSendError`` when the server
        cannot be asked, ``ParseError`` when it answers something other than an object."""
        base = base_url(channel, "instance")
        response = request(
            client,
            "GET",
            f"{base}/api/v2/instance",
            "Mastodon GET /api/v2/instance",
            headers={"Accept": "application/json"},
            passthrough=(404,),
        )
        if response.status_code == 404:
            return InstanceLimits()
        data = load_json(response.content)
        if not isinstance(data, dict):
            raise ParseError(f"Mastodon instance: expected an object, got {type(data).__name__}.")
        configuration = data.get("configuration")
        statuses = configuration.get("statuses") if isinstance(configuration, Mapping) else None
        most = _positive(statuses, "max_characters")
        per_url = _positive(statuses, "characters_reserved_per_url")
        return InstanceLimits(
            max_characters=most or DEFAULT_MAX_CHARACTERS,
            characters_reserved_per_url=per_url or DEFAULT_URL_CHARACTERS,
            from_instance=bool(most or per_url),
        )


def _graphemes(text: str) -> int:
    emojis = x_text.emoji_spans(text)
    count = offset = 0
    while offset < len(text):
        if offset in emojis:
            count, offset = count + 1, emojis[offset]
            continue
        char = text[offset]
        previous = text[offset - 1] if offset else ""
        extends = (
            unicodedata.category(char) in ("Mn", "Mc", "Me")
            or char in _JOINERS
            or previous == "\u200d"
            or (char == "\n" and previous == "\r")
        )
        if not (extends and count):
            count += 1
        offset += 1
    return count


def status_length(text: str, characters_per_url: int = DEFAULT_URL_CHARACTERS) -> int:
    """``text``'s length as Mastodon counts it against ``max_characters`` (module docstring)."""
    spans = sorted(x_text.url_spans(text).items())
    parts, last = [], 0
    for start, end in spans:
        if not text[start:end].lower().startswith(("http://", "https://")):
            continue  # Mastodon links only text with a protocol
        parts += [text[last:start], "x" * characters_per_url]
        last = end
    counted = "".join([*parts, text[last:]])
    counted = MENTION.sub(lambda m: f"@{m.group(1)}", counted)
    return _graphemes(counted)
