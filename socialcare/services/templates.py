"""Canned replies: rendering a ReplyTemplate for a case and checking it fits the platform."""

from __future__ import annotations

import re
from typing import Any

from django.template import Context, Template

from socialcare.adapter import get_customer_adapter
from socialcare.exceptions import SocialCareError
from socialcare.models import Case, ReplyTemplate

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


#: Platforms where people are addressed by an ``@handle`` that the platform links (and, on X
#: and Mastodon, notifies). Facebook and Messenger have no public handle for a person (a
#: page-scoped id and a name); e-mail "handles" are addresses.
AT_HANDLE_PLATFORMS = frozenset({"x", "instagram", "mastodon", "bluesky"})

# Placeholders for a value the case does not have, resolved after rendering (they survive
# Django's filters): a person's name, and anything else (agent, brand). Names that are not
# handles are wrapped so a template's own "@" before them can be dropped.
_NO_NAME = "\ue000"
_NO_VALUE = "\ue003"
_NAME_START, _NAME_END = "\ue001", "\ue002"
#: Languages whose greeting "Hi {{ customer }}," becomes "Hi there," without a name (others
#: lose the name only: "Hallo,"), keyed by the template's language ("" counts as English).
_GREETINGS = {"en": re.compile(r"(?i)\b(hi|hello|hey)[ \t]+" + _NO_NAME + r"(?![ \t]+there\b)")}
_FALLBACK_NAME = {"en": "there"}


class _Missing:
    """A template value the case does not have: false in ``{% if %}`` and ``|default``,
    rendered as a placeholder that ``_settle`` resolves."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return self.marker


def _name(value: str) -> str:
    return f"{_NAME_START}{value}{_NAME_END}"


def customer_values(case: Case) -> dict[str, Any]:
    """``customer`` and ``handle`` for ``case`` (docs/replies.md, "Template variables"):

    - ``customer``: the CRM customer's name, else the author's display name on the platform,
      else their handle (bare: "lee"), else missing.
    - ``handle``: "@handle" where the platform has @handles (``AT_HANDLE_PLATFORMS``), else
      what ``customer`` would be without a handle (the display name on Facebook, the name on an
      e-mail), else missing.

    A missing name reads "there" after a greeting in English ("Hi there,"), and is left out
    with its comma elsewhere ("Sorry, {{ handle }}: …" → "Sorry: …")."""
    identity = case.identity
    crm_name = get_customer_adapter().get_name(case.customer).strip() if case.customer else ""
    display = (identity.display_name or "").strip() if identity else ""
    handle = (identity.handle or "").strip().lstrip("@") if identity else ""
    platform = identity.platform if identity else ""
    named = crm_name or display
    at_handle = handle and platform in AT_HANDLE_PLATFORMS and not any(c.isspace() for c in handle)
    bare_handle = handle if platform != "email" else ""
    return {
        "customer": _name(named or bare_handle) if named or bare_handle else _Missing(_NO_NAME),
        "handle": f"@{handle}" if at_handle else (_name(named) if named else _Missing(_NO_NAME)),
    }


def render_reply_template(
    template: ReplyTemplate, case: Case, agent: Any = None, *, extra: dict[str, Any] | None = None
) -> str:
    """The template's text for this case: ``{{ customer }}``, ``{{ agent }}``, ``{{ case }}``,
    ``{{ handle }}`` and ``{{ brand }}``, plus the caller's ``extra`` values (the out-of-hours
    acknowledgement's ``{{ opens }}``). Autoescaping is off: the result is plain text. No
    value is ever rendered empty: see ``customer_values``; without an agent (an automatic
    reply) or a brand, the word and a signature dash before it ("– {{ agent }}") go."""
    agent_name = ""
    if agent is not None:
        agent_name = (agent.get_short_name() or agent.get_username() or "").strip()
    brand = (case.channel.name or "").strip() if case.channel else ""
    context = {
        **customer_values(case),
        "agent": agent_name or _Missing(_NO_VALUE),
        "case": case,
        "brand": brand or _Missing(_NO_VALUE),
        **(extra or {}),
    }
    text = Template(template.text).render(Context(context, autoescape=False))
    return _settle(text, (template.language or "en").split("-")[0].lower())


def _settle(text: str, language: str) -> str:
    """Resolve the placeholders of missing values, so that no "Hi ,", "Sorry, :", dangling
    "@" or double space is left; line breaks are kept."""
    text = re.sub(f"@+(?=[{_NAME_START}{_NO_NAME}{_NO_VALUE}])", "", text)  # "@{{ customer }}"
    text = re.sub(r"@@+(?=[^\s@])", "@", text)  # "@{{ handle }}" with "@lee"
    text = text.replace(_NAME_START, "").replace(_NAME_END, "")
    text = re.sub(f"[{_NO_NAME}{_NO_VALUE}]+", lambda m: m.group()[0], text)
    # A signature with no one to sign: "… – {{ agent }}" at the end of a line.
    text = re.sub(f"[ \t]*[–—-]?[ \t]*{_NO_VALUE}(?=[ \t]*(?:\n|$))", "", text)
    greeting = _GREETINGS.get(language)
    if greeting is not None:
        text = greeting.sub(lambda m: f"{m.group(1)} {_FALLBACK_NAME[language]}", text)
    missing = f"[{_NO_NAME}{_NO_VALUE}]"
    # A vocative: "Sorry, {{ handle }}: …", "…, {{ customer }}, and …", "Thanks, {{ customer }}!"
    text = re.sub(f"[ \t]*,[ \t]*{missing}(?=[ \t]*(?:[,.!?:;)]|\n|$))", "", text)
    # At the start of a sentence: "{{ customer }}, we are on it" → "We are on it".
    text = re.sub(
        f"(^|[.!?\n][ \t]*){missing}[ \t]*,?[ \t]*(\\w?)",
        lambda m: m.group(1) + m.group(2).upper(),
        text,
    )
    text = re.sub(f"[ \t]*{missing}", "", text)
    text = re.sub(r"[ \t]+([,.!?:;])", r"\1", text)  # what was left before a removed word
    # A blank line of its own ("Hi {{ handle }} there") must not leave a double space.
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def check_length(text: str, platform: str, visibility: str) -> None:
    """Raise if ``text`` is longer than the platform accepts."""
    limit = text_limit(platform, visibility)
    if limit is not None and len(text) > limit:
        raise SocialCareError(
            f"{len(text)} characters is over the {limit}-character limit for a {visibility} "
            f"message on {platform}."
        )
