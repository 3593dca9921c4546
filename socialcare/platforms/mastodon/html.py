"""Status HTML: sanitized for agents, and read as plain text."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import ClassVar

import nh3

# Sanitizing: what Mastodon itself lets through in status HTML, minus anything executable.
ALLOWED_TAGS = {
    "p", "br", "a", "span", "b", "strong", "i", "em", "u", "del", "s",
    "pre", "code", "blockquote", "ul", "ol", "li",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href"}, "ol": {"start", "reversed"}, "li": {"value"}}
ALLOWED_CLASSES = {
    "a": {"u-url", "mention", "hashtag", "status-link", "unhandled-link"},
    "span": {"h-card", "invisible", "ellipsis"},
}
LINK_REL = "nofollow noopener noreferrer"
URL_SCHEMES = {"http", "https", "mailto"}


def sanitize_html(content: str) -> str:
    """Status HTML safe to show an agent: no scripts, no event handlers, no relative or
    ``javascript:`` links; links get ``rel="nofollow noopener noreferrer"``."""
    return nh3.clean(
        content,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        allowed_classes=ALLOWED_CLASSES,
        link_rel=LINK_REL,
        url_schemes=URL_SCHEMES,
        url_relative="deny",
    )


class _TextExtractor(HTMLParser):
    BLOCKS: ClassVar[set[str]] = {"p", "blockquote", "pre", "ul", "ol"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "li"):
            self.parts.append("\n")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(content: str) -> str:
    """Plain text of (sanitized) status HTML: paragraphs become blank lines, ``<br>`` newlines,
    entities are unescaped, mentions stay as written (``@acmehelp``)."""
    extractor = _TextExtractor()
    extractor.feed(content)
    extractor.close()
    text = "".join(extractor.parts).replace("\r\n", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()
