"""Looking on the platform for a reply whose send was interrupted (docs/replies.md, "A reply
interrupted mid-send").

A worker killed between the platform's answer and the database update leaves a reply
``sending``: it may or may not be out. Where the platform lets us look, an adapter's
``find_published(channel, message, since, client)`` answers:

- a ``SentPost``: the brand's reply is there (its id and address, as a send would return);
- ``None``: the platform listed every reply the brand could have made since ``since`` and this
  one is not among them, so sending it again publishes it once;
- it raises: ``CannotCheck`` (this kind of message cannot be looked for, or too much to look
  through), ``RateLimited`` / ``TransientSendError`` / ``SendError`` (the platform did not
  answer). The reply service then keeps its old rule: "may have been published".
"""

from __future__ import annotations

import datetime as dt
import html
import re

from socialcare.platforms.base import SendError

#: Pages read at most for one lookup; a listing longer than that is "cannot check", never
#: "not there".
MAX_LOOKUP_PAGES = 5
#: Clock difference tolerated between us and the platform when filtering by time.
CLOCK_SKEW = dt.timedelta(minutes=2)

_URL = re.compile(r"https?://\S+")
_LEADING_MENTIONS = re.compile(r"^(?:@[\w.@-]+\s+)+")


class CannotCheck(SendError):
    """The platform cannot tell us whether this message was published (no lookup for this kind
    of message, or more to read than a lookup reads)."""


def comparable(text: str) -> str:
    """``text`` as the platform may give it back: HTML entities decoded (X's ``&amp;``), links
    (which platforms shorten or rewrite) and leading @mentions (X and Mastodon prefix replies
    with them) left out, whitespace collapsed, case folded."""
    text = html.unescape(text or "")
    text = _URL.sub("<link>", text)
    text = " ".join(text.split())
    return _LEADING_MENTIONS.sub("", text).casefold()


def same_text(published: str, sent: str) -> bool:
    """Whether the platform's ``published`` text is our ``sent`` reply."""
    return bool(comparable(sent)) and comparable(published) == comparable(sent)


def not_before(created: dt.datetime | None, since: dt.datetime) -> bool:
    """Whether a post created at ``created`` may be our reply written at ``since``."""
    return created is None or created >= since - CLOCK_SKEW
