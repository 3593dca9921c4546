"""CSAT after resolution (issue #20, fourth point; services/csat/): one survey per resolved case on
every platform, never twice, never outside the messaging window, never to a customer who opted
out; the answer parsed in the customer's language from a private message that does not reopen the
case, or given on a signed page that works without JavaScript; shown on the dashboard, in the API
and sent as the ``case.csat_received`` webhook event."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from socialcare.models import (
    AutomaticMessage,
    Case,
    CaseEvent,
    Channel,
    Post,
    Survey,
    WebhookSubscription,
)
from socialcare.platforms.base import InboundIdentity, InboundPost
from socialcare.services import cases as case_services
from socialcare.services.csat import messages
from socialcare.services.csat.parser import parse_score
from socialcare.services.ingest_posts import ingest_post
from tests.platform_server import platform_server as platform_server

pytestmark = pytest.mark.django_db

CONSOLE = "socialcare.transports.console.ConsoleTransport"
PLATFORMS = ["x", "facebook", "instagram", "mastodon", "bluesky", "email"]


@pytest.fixture(autouse=True)
def console(socialcare_settings):
    with socialcare_settings(
        REPLY_TRANSPORT=CONSOLE,
        CSAT_DELAY=dt.timedelta(0),
        CSAT_LINK_BASE_URL="https://crm.example.com",
    ):
        yield


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def make_channel(team: Any, platform: str = "x", mode: str = "dm") -> Channel:
    channel = Channel(
        name=f"Acme on {platform}",
        platform=platform,
        account_id=f"brand-{platform}",
        handle="acme",
        base_url="https://mastodon.example" if platform == "mastodon" else "",
        default_team=team,
        csat_mode=mode,
    )
    channel.set_secret("webhook_secret", "whsec-0123456789")
    channel.save()
    return channel


_n = iter(range(10_000, 99_999))


def dm(channel: Channel, text: str, *, author: str = "cust-1", language: str = "", at=None) -> Post:
    """A customer's private message arriving through the ingest, as a platform delivers it."""
    item = InboundPost(
        platform=channel.platform,
        external_id=f"{channel.platform}-dm-{next(_n)}",
        author=InboundIdentity(
            platform=channel.platform, external_id=author, handle=author, display_name="Ada"
        ),
        kind="email" if channel.platform == "email" else "direct_message",
        visibility="private",
        text=text,
        posted_at=at or timezone.now(),
        language=language,
    )
    return ingest_post(channel, item).post


def resolve(case: Case, committed) -> None:
    with committed():
        case_services.change_status(case, Case.Status.RESOLVED)


def surveys_sent(case: Case) -> list[Post]:
    return list(Post.objects.filter(case=case, direction=Post.Direction.OUTBOUND).order_by("pk"))


def csat_events(case: Case, outcome: str) -> list[CaseEvent]:
    return [
        e
        for e in case.events.filter(kind=CaseEvent.Kind.AUTOMATIC_MESSAGE).order_by("pk")
        if e.data.get("purpose") == "csat" and e.data.get("outcome") == outcome
    ]


@pytest.fixture
def dm_case(team, committed):
    """A Facebook DM case (Meta's 24-hour window open), resolved and surveyed."""
    channel = make_channel(team, "facebook")
    post = dm(channel, "My order #123 never arrived", language="fr")
    resolve(post.case, committed)
    return Case.objects.get(pk=post.case_id)


# Sending ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_resolved_case_gets_one_survey_even_when_resolved_again(platform, team, committed):
    channel = make_channel(team, platform)
    case = dm(channel, "Where is my refund?").case

    resolve(case, committed)
    [question] = surveys_sent(case)
    assert question.visibility == "private"
    assert "1" in question.text and "5" in question.text
    survey = Survey.objects.get(case=case)
    assert survey.question_id == question.pk and survey.platform == platform
    assert question.send_status == Post.SendStatus.SENT
    # the survey answers nothing: the case resolved without a reply still owes a first response
    assert Case.objects.get(pk=case.pk).first_responded_at is None

    with committed():
        case_services.reopen_case(case, reason="agent reopened")
    resolve(case, committed)

    assert surveys_sent(case) == [question]  # still one
    assert Survey.objects.filter(case=case).count() == 1
    ledger = AutomaticMessage.objects.filter(case=case, purpose="csat")
    assert [m.status for m in ledger] == ["sent"]
    [skipped] = csat_events(case, "skipped")
    assert "already got it" in skipped.data["text"]


def test_a_channel_that_asks_no_survey_sends_none(team, committed):
    channel = make_channel(team, "x", mode="off")
    case = dm(channel, "Hi").case
    resolve(case, committed)
    assert surveys_sent(case) == [] and not Survey.objects.exists()


def test_outside_the_messaging_window_none_is_sent_and_the_reason_is_recorded(team, committed):
    channel = make_channel(team, "facebook")
    with time_machine.travel(timezone.now() - dt.timedelta(days=2)):
        case = dm(channel, "My parcel is lost").case
    resolve(case, committed)

    assert surveys_sent(case) == [] and not Survey.objects.exists()
    [skipped] = csat_events(case, "skipped")
    assert "outside the messaging window" in skipped.data["text"]
    assert "24 hours" in skipped.data["text"]


def test_a_customer_who_opted_out_gets_none(team, committed):
    channel = make_channel(team, "x")
    case = dm(channel, "Hi").case
    case.identity.csat_opt_out = True
    case.identity.save()
    resolve(case, committed)

    assert surveys_sent(case) == [] and not Survey.objects.exists()
    [skipped] = csat_events(case, "skipped")
    assert "opted out" in skipped.data["text"]


def test_a_case_reopened_before_the_delay_ends_gets_none(team, socialcare_settings, committed):
    channel = make_channel(team, "x")
    case = dm(channel, "Hi").case
    with socialcare_settings(CSAT_DELAY=dt.timedelta(minutes=10)):
        resolve(case, committed)
    from django_q.models import Schedule

    [schedule] = Schedule.objects.filter(func="socialcare.tasks.send_csat_survey")
    case_services.reopen_case(case)
    from socialcare.services.csat.sending import send_survey

    assert send_survey(case.pk) == "skipped"  # what the schedule runs, ten minutes later
    assert surveys_sent(case) == []
    assert "not resolved" in csat_events(case, "skipped")[0].data["text"]
    assert schedule.next_run > timezone.now() + dt.timedelta(minutes=9)


def test_the_question_is_in_the_customers_language(dm_case):
    [question] = surveys_sent(dm_case)
    assert question.text == messages.QUESTIONS["fr"]


# Answers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language", "score"),
    [
        ("5", "", 5),
        ("5/5", "", 5),
        ("⭐⭐⭐⭐", "", 4),
        ("très bien", "fr", 4),
        ("Très bien, merci !", "", 4),
        ("4️⃣", "", 4),
        ("I'd say 4 out of 5, thanks", "en", 4),
        ("★★☆☆☆", "", 2),
        ("schlecht", "de", 2),
        ("muy bien", "es", 4),
        ("terrible", "en", 1),
        ("excellent", "fr", 5),
        ("molto male", "it", 1),
        ("muito bom", "pt", 4),
        ("3 days and still nothing", "en", None),
        ("I waited 3 days", "en", None),
        ("10/10", "", None),
        ("pas bien du tout, je veux un remboursement", "fr", None),
    ],
)
def test_the_answer_parser(text, language, score):
    assert parse_score(text, language) == score


@pytest.mark.parametrize(("text", "score"), [("5", 5), ("⭐⭐⭐⭐", 4), ("très bien", 4)])
def test_a_dm_answer_is_recorded_on_the_case_without_reopening_it(dm_case, text, score, committed):
    with committed():
        answer = dm(dm_case.channel, text)

    assert answer.case_id == dm_case.pk
    dm_case.refresh_from_db()
    assert dm_case.status == Case.Status.RESOLVED  # a rating does not reopen it
    survey = Survey.objects.get(case=dm_case)
    assert (survey.score, survey.answer_text, survey.answered_via) == (score, text, "dm")
    assert survey.answer_post_id == answer.pk
    assert csat_events(dm_case, "answered")[0].data["score"] == score


def test_a_message_that_is_not_a_rating_reopens_the_case_as_usual(dm_case):
    dm(dm_case.channel, "Actually the parcel came back damaged")
    dm_case.refresh_from_db()
    assert dm_case.status == Case.Status.OPEN
    assert Survey.objects.get(case=dm_case).score is None


def test_only_the_first_answer_counts(dm_case):
    dm(dm_case.channel, "5")
    dm(dm_case.channel, "1")
    assert Survey.objects.get(case=dm_case).score == 5


def test_erasing_the_customer_empties_the_answer_but_keeps_the_score(dm_case, agent, customer):
    from socialcare.services.privacy import erase_customer

    dm_case.identity.customer = customer
    dm_case.identity.save()
    Case.objects.filter(pk=dm_case.pk).update(customer=customer)
    dm(dm_case.channel, "4/5")
    assert Survey.objects.get(case=dm_case).answer_text == "4/5"

    erase_customer(customer, actor=agent, reason="customer asked")
    survey = Survey.objects.get(case=dm_case)
    assert (survey.score, survey.answer_text) == (4, "")


# The signed link --------------------------------------------------------------------------------


@pytest.fixture
def link_case(team, committed):
    channel = make_channel(team, "email", mode="link")
    case = dm(channel, "Invoice is wrong").case
    resolve(case, committed)
    return Case.objects.get(pk=case.pk)


def link_path(case: Case) -> str:
    [question] = surveys_sent(case)
    url = question.text.split(": ", 1)[1]
    assert url.startswith("https://crm.example.com/")
    return url.removeprefix("https://crm.example.com")


def test_the_link_page_works_without_javascript(client, link_case):
    path = link_path(link_case)
    page = client.get(path)
    assert page.status_code == 200
    html = page.content.decode()
    assert "<script" not in html and 'method="post"' in html
    assert html.count('type="radio" name="score"') == 5

    done = client.post(path, {"score": "4", "comment": "Quick and kind"})
    assert done.status_code == 200 and 'data-score="4"' in done.content.decode()
    survey = Survey.objects.get(case=link_case)
    assert (survey.score, survey.answer_text, survey.answered_via) == (4, "Quick and kind", "link")

    again = client.post(path, {"score": "1"})
    assert "recorded already" in again.content.decode()
    assert Survey.objects.get(case=link_case).score == 4


def test_the_link_page_refuses_a_bad_rating_with_a_form_error(client, link_case):
    page = client.post(link_path(link_case), {"score": "9", "comment": "keep me"})
    assert page.status_code == 400
    assert "from 1 to 5" in page.content.decode() and "keep me" in page.content.decode()
    assert Survey.objects.get(case=link_case).score is None


def test_a_forged_or_expired_link_is_refused_with_a_clear_page(client, link_case):
    survey = Survey.objects.get(case=link_case)
    forged = signing.dumps({"s": survey.pk}, salt="not-ours", compress=True)
    page = client.get(reverse("socialcare:csat", args=[forged]))
    assert page.status_code == 404
    assert "not valid" in page.content.decode()

    with time_machine.travel(timezone.now() + dt.timedelta(days=8)):
        page = client.post(link_path(link_case), {"score": "5"})
    assert page.status_code == 410
    assert "expired" in page.content.decode()
    assert Survey.objects.get(case=link_case).score is None


def test_a_link_channel_without_a_site_address_sends_nothing(team, socialcare_settings, committed):
    channel = make_channel(team, "email", mode="link")
    case = dm(channel, "Invoice").case
    with socialcare_settings(CSAT_LINK_BASE_URL=""):
        resolve(case, committed)
    assert surveys_sent(case) == [] and not Survey.objects.exists()
    assert AutomaticMessage.objects.get(purpose="csat").status == "failed"


# Where it shows ---------------------------------------------------------------------------------


def test_the_webhook_event_is_sent(dm_case, platform_server, committed):
    platform_server.route("POST", "/hooks", 200, {"ok": True})
    WebhookSubscription.objects.create(
        name="CRM",
        url=f"{platform_server.url}/hooks",
        secrets={"secret": "s3cret-s3cret-s3cret"},
        event_types=["case.csat_received"],
    )
    with committed():
        dm(dm_case.channel, "⭐⭐⭐⭐")

    [request] = platform_server.requests_to("POST", "/hooks")
    body = request.json()
    assert body["type"] == "case.csat_received"
    assert body["data"]["case"]["reference"] == dm_case.reference
    assert body["data"]["csat"]["score"] == 4 and body["data"]["csat"]["answered_via"] == "dm"


def test_the_api_shows_csat_on_the_case_and_lists_surveys(
    dm_case, client, sign_in, agent, other_agent, make_user, team
):
    dm(dm_case.channel, "5")
    sign_in(client, agent, "agent")
    case = client.get(f"/socialcare/api/v1/cases/{dm_case.pk}/").json()
    assert case["csat"]["score"] == 5 and case["csat"]["answered_via"] == "dm"

    listed = client.get("/socialcare/api/v1/csat/", {"score_min": 4, "platform": "facebook"})
    assert listed.status_code == 200
    [row] = listed.json()["results"]
    assert row["case_reference"] == dm_case.reference and row["score"] == 5
    assert client.get("/socialcare/api/v1/csat/", {"score_max": 3}).json()["results"] == []
    bad = client.get("/socialcare/api/v1/csat/", {"score_min": "lots"})
    assert bad.status_code == 400 and "score_min" in bad.json()["errors"]

    outsider = make_user("outsider")  # an agent of no team sees none of it
    sign_in(client, outsider, "agent")
    assert client.get("/socialcare/api/v1/csat/").json()["results"] == []


def test_the_dashboard_shows_csat_per_day_team_and_platform(dm_case, client, sign_in, agent):
    dm(dm_case.channel, "4")
    sign_in(client, agent, "supervisor")
    page = client.get(reverse("admin:socialcare_supportdashboard_changelist"))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="sc-csat"' in html
    assert "4.0" in html and "Facebook" in html and "Care" in html


def test_the_admin_lists_surveys_by_the_team_rule(dm_case, client, sign_in, agent, make_user):
    dm(dm_case.channel, "très bien")
    url = reverse("admin:socialcare_survey_changelist")
    sign_in(client, agent, "agent")
    page = client.get(url)
    assert page.status_code == 200 and dm_case.reference in page.content.decode()

    sign_in(client, make_user("outsider"), "agent")
    assert dm_case.reference not in client.get(url).content.decode()


def test_a_channel_asks_by_the_mode_set_in_its_admin_page(team, admin_client):
    channel = make_channel(team, "instagram", mode="off")
    url = reverse("admin:socialcare_channel_change", args=[channel.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="csat_mode"' in page and 'value="link"' in page
