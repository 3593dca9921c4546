"""Canned replies: rendering a ReplyTemplate for a case and checking it fits the platform."""

from __future__ import annotations

import re
from typing import Any

from django.template import Context, Template

from socialcare.exceptions import SocialCareError
from socialcare.models import Case, ReplyTemplate, customer_display_name

#: Longest text each platform accepts in one post or message (characters; None: no limit).
PLATFORM_TEXT_LIMITS: dict[str, dict[str, int | None]] = {
    "x": {"public": 280, "private": 10000},
    "facebook": {"public": 8000, "private": 2000},
    "instagram": {"public": 2200, "private": 1000},
    "mastodon": {"public": 500, "private": 500},
    "bluesky": {"public": 300, "private": 1000},
    "email": {"public": None, "private": None},
}


def text_limit(platform: str, visibility: str) -> int | None:
    return PLATFORM_TEXT_LIMITS.get(platform, {}).get(visibility)


def render_reply_template(template: ReplyTemplate, case: Case, agent: Any = None) -> str:
    """The template's text for this case: ``{{ customer }}``, ``{{ agent }}``, ``{{ case }}``,
    ``{{ handle }}`` and ``{{ brand }}``. Autoescaping is off: the result is plain text."""
    agent_name = ""
    if agent is not None:
        agent_name = agent.get_short_name() or agent.get_username()
    identity = case.identity
    context = {
        "customer": customer_display_name(case.customer)
        or (identity.display_name or identity.handle if identity else ""),
        "agent": agent_name,
        "case": case,
        "handle": f"@{identity.handle}" if identity and identity.handle else "",
        "brand": case.channel.name if case.channel else "",
    }
    text = Template(template.text).render(Context(context, autoescape=False))
    # A blank variable ("Hi {{ handle }} there") must not leave a double space; keep line breaks.
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def check_length(text: str, platform: str, visibility: str) -> None:
    """Raise if ``text`` is longer than the platform accepts."""
    limit = text_limit(platform, visibility)
    if limit is not None and len(text) > limit:
        raise SocialCareError(
            f"{len(text)} characters is over the {limit}-character limit for a {visibility} "
            f"message on {platform}."
        )
