"""Every shipped canned reply renders for an author of every platform, even one with no name
and no handle (issue #25, point 4: a Facebook holding reply read "Sorry, : we know many of
you…"). Rules: docs/replies.md, "Template variables"."""

from __future__ import annotations

import itertools
import re

import pytest

from socialcare.conf import platform_choices
from socialcare.crisis_playbooks import TEMPLATES as PLAYBOOK_TEMPLATES
from socialcare.demo.data import TEMPLATES as DEMO_TEMPLATES
from socialcare.models import Case, Channel, ReplyTemplate, SocialIdentity
from socialcare.services.cases import open_case
from socialcare.services.templates import render_reply_template

pytestmark = pytest.mark.django_db

#: What a blank value used to leave behind.
ARTEFACTS = [
    (re.compile(r"\s[,:;.!?]"), "a space before punctuation ('Sorry , :')"),
    (re.compile(r",\s*[,:;.!?]"), "a comma before punctuation ('Sorry, :')"),
    (re.compile(r"@(\s|$|[,:;.!?])"), "a dangling '@'"),
    (re.compile(r"@@"), "a doubled '@'"),
    (re.compile(r"  "), "a double space"),
    (re.compile(r"(?i)\b(hi|hello|hey|hallo)\s*,"), "a greeting with no one ('Hi ,')"),
    (re.compile(r"[–—-]\s*$"), "a signature dash with no one to sign"),
    (re.compile(r"(?i)\bthere there\b"), "'there there'"),
    (re.compile(r"\{\{|\}\}|[\ue000-\ue003]"), "an unrendered placeholder"),
]


def shipped_templates() -> list[ReplyTemplate]:
    """The demo's templates and the playbooks' holding replies, as they are installed."""
    demo = [
        ReplyTemplate(name=name, shortcut=shortcut, visibility=vis, language=lang, text=text)
        for name, shortcut, vis, lang, text in DEMO_TEMPLATES
    ]
    playbooks = [
        ReplyTemplate(name=spec["name"], shortcut=spec["shortcut"], text=spec["text"])
        for spec in PLAYBOOK_TEMPLATES
    ]
    return demo + playbooks


_ids = itertools.count(1)


def author(platform: str, *, handle: str = "", display_name: str = "") -> Case:
    n = next(_ids)
    channel = Channel.objects.create(name="Acme Support", platform=platform, account_id=f"{n}")
    identity = SocialIdentity.objects.create(
        platform=platform,
        external_id=f"{platform}-person-{n}",
        handle=handle,
        display_name=display_name,
    )
    return open_case(channel=channel, identity=identity)


def artefacts(text: str) -> list[str]:
    return [why for pattern, why in ARTEFACTS if pattern.search(text)]


@pytest.mark.parametrize("platform", [key for key, _label in platform_choices()])
@pytest.mark.parametrize("signed", [True, False], ids=["by an agent", "automatic"])
def test_every_shipped_template_renders_cleanly_for_an_author_with_no_name(
    platform, signed, make_user
):
    agent = make_user("maya", first_name="Maya") if signed else None
    case = author(platform)  # no display name, no handle, no customer
    assert len(shipped_templates()) == len(DEMO_TEMPLATES) + len(PLAYBOOK_TEMPLATES) >= 10
    for template in shipped_templates():
        text = render_reply_template(template, case, agent)
        assert artefacts(text) == [], (template.shortcut, platform, text)
        assert ("Maya" in text) == (signed and "{{ agent }}" in template.text), text


@pytest.mark.parametrize("platform", [key for key, _label in platform_choices()])
def test_every_shipped_template_renders_cleanly_with_a_name_or_a_handle_only(platform):
    for fields in ({"display_name": "Kim Lee"}, {"handle": "kimlee"}):
        case = author(platform, **fields)
        for template in shipped_templates():
            text = render_reply_template(template, case)
            assert artefacts(text) == [], (template.shortcut, platform, fields, text)


def template(shortcut: str) -> ReplyTemplate:
    return next(t for t in shipped_templates() if t.shortcut == shortcut)


def test_the_facebook_outage_reply_no_longer_reads_sorry_colon():
    nameless = render_reply_template(template("outage-holding"), author("facebook"))
    assert nameless.startswith("Sorry: we know many of you can't log in")
    named = render_reply_template(
        template("outage-holding"), author("facebook", display_name="Susie Avellanosa")
    )
    assert named.startswith("Sorry, Susie Avellanosa: we know")


def test_handle_is_the_at_handle_where_the_platform_has_one_else_the_name():
    take_to_dm = template("take-to-dm")
    on_x = author("x", handle="lee", display_name="Lee")
    assert render_reply_template(take_to_dm, on_x).startswith("Hi @lee, thanks for reaching out")
    on_email = author("email", handle="lee@example.com", display_name="Lee Park")
    assert render_reply_template(take_to_dm, on_email).startswith("Hi Lee Park, thanks")
    on_email_nameless = author("email", handle="lee@example.com")
    assert render_reply_template(take_to_dm, on_email_nameless).startswith("Hi there, thanks")


def test_a_missing_name_becomes_there_after_a_greeting_and_goes_with_its_comma_elsewhere():
    case = author("facebook")
    thanks = render_reply_template(template("thanks"), case)
    assert thanks.startswith("Thank you so much! We'll pass this on")
    assert thanks.endswith("it really makes their day.")  # automatic: no "– " left over
    sorry = render_reply_template(template("sorry-next-step"), case)
    assert sorry.startswith("Thanks for telling us, and sorry about this.")
    assert render_reply_template(template("order-details"), case).startswith("Hi there, thanks")
    german = render_reply_template(template("entschuldigung"), case)
    assert german.startswith("Das tut uns leid! Wir kümmern uns darum")
    assert "there" not in german


def test_handwritten_templates_keep_working():
    case = author("facebook", display_name="Kim")
    nameless = author("facebook")

    def render(text: str, on: Case = case) -> str:
        return render_reply_template(ReplyTemplate(name="t", text=text), on)

    assert render("@{{ handle }} thanks") == "Kim thanks"  # no "@" before a name that is no handle
    assert render("Hi {{ customer|default:'friend' }}!", nameless) == "Hi friend!"
    assert render("{% if customer %}Hi {{ customer }}{% else %}Hello{% endif %}!", nameless) == (
        "Hello!"
    )
    assert render("{{ customer }}, we are on it.", nameless) == "We are on it."
    assert render("Hi {{ handle }} there, we are on it.", nameless) == "Hi there, we are on it."
    assert render("Line one, {{ customer }}.\n\nLine two.", nameless) == "Line one.\n\nLine two."
