"""Canned replies: rendering for a case, and the platform length limits."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from socialcare.exceptions import SocialCareError
from socialcare.models import Case, ReplyTemplate
from socialcare.services.cases import open_case
from socialcare.services.templates import check_length, render_reply_template, text_limit

pytestmark = pytest.mark.django_db


def render(text: str, case: Case, agent=None) -> str:
    return render_reply_template(ReplyTemplate(name="t", text=text), case, agent)


def test_all_variables_render(case, agent):
    text = render(
        "Hi {{ customer }} ({{ handle }}), {{ agent }} from {{ brand }} here about "
        "{{ case.reference }}.",
        case,
        agent,
    )
    assert text == f"Hi Ada Lovelace (@ada), Alice from Acme on X here about {case.reference}."


def test_agent_without_first_name_signs_with_username(case, make_user):
    assert render("{{ agent }}", case, make_user("carol")) == "carol"
    assert render("Thanks!{{ agent }}", case) == "Thanks!"


def test_unresolved_author_is_greeted_by_display_name_or_handle(channel, make_identity):
    named = open_case(channel=channel, identity=make_identity("5", "kim", display_name="Kim"))
    handle_only = open_case(channel=channel, identity=make_identity("6", "lee"))
    nobody = open_case()
    assert render("Hi {{ customer }}", named) == "Hi Kim"
    assert render("Hi {{ customer }}", handle_only) == "Hi lee"
    # No name at all: "there", never "Hi ," (tests/test_template_fallbacks.py).
    assert render("Hi {{ customer }}{{ handle }}{{ brand }}", nobody) == "Hi there"


def test_output_is_plain_text_not_html_escaped(channel, make_identity, make_customer):
    identity = make_identity("9", "tom", customer=make_customer("Tom & Jerry's <Shop>"))
    case = open_case(channel=channel, identity=identity)
    assert render("Hello {{ customer }}", case) == "Hello Tom & Jerry's <Shop>"


def test_blank_variables_leave_no_double_spaces_but_keep_lines(channel):
    case = open_case(channel=channel)
    text = render("  Hi {{ handle }} there,\n\nwe are on it.\n  ", case)
    assert text == "Hi there,\n\nwe are on it."


def test_template_syntax_is_validated():
    broken = ReplyTemplate(name="Broken", text="Hi {% if customer %}")
    with pytest.raises(ValidationError) as exc:
        broken.full_clean()
    assert "Template error" in exc.value.message_dict["text"][0]
    ReplyTemplate(name="Fine", text="Hi {{ customer|default:'there' }}").full_clean()


@pytest.mark.parametrize(
    ("platform", "visibility", "limit"),
    [
        ("x", "public", 280),
        ("x", "private", 10000),
        ("mastodon", "public", 500),
        ("bluesky", "public", 300),
        ("facebook", "private", 2000),
        ("instagram", "public", 2200),
    ],
)
def test_length_limit_per_platform_and_visibility(platform, visibility, limit):
    assert text_limit(platform, visibility) == limit
    check_length("a" * limit, platform, visibility)
    with pytest.raises(SocialCareError) as exc:
        check_length("a" * (limit + 1), platform, visibility)
    assert exc.value.message == (
        f"{limit + 1} characters is over the {limit}-character limit for a {visibility} "
        f"message on {platform}."
    )


@pytest.mark.parametrize("platform", ["email", "carrier-pigeon"])
def test_no_limit_for_email_or_unknown_platforms(platform):
    assert text_limit(platform, "public") is None
    check_length("a" * 100_000, platform, "public")


def test_rendered_reply_is_checked_against_its_platform(case):
    long = render("{{ customer }} " + "x" * 270, case)
    assert len(long) == len("Ada Lovelace ") + 270
    with pytest.raises(SocialCareError, match="283 characters is over the 280-character limit"):
        check_length(long, case.channel.platform, case.visibility)
    check_length(long, case.channel.platform, "private")
