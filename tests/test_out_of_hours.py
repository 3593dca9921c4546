"""The out-of-hours acknowledgement (issue #20, third acceptance point; services/out_of_hours.py,
docs/out-of-hours.md): outside business hours with no one online a private message gets exactly
one acknowledgement saying when a person answers, however many follow; a public mention gets none
unless the channel says so; inside hours, with an agent online, during an incident's approval
gate or outside the messaging window none (the last two recorded on the case, with why)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
import time_machine

from socialcare.models import (
    AutomaticMessage,
    BusinessCalendar,
    BusinessHours,
    Case,
    CaseEvent,
    Channel,
    Incident,
    Post,
    ReplyTemplate,
)
from socialcare.platforms.base import InboundIdentity, InboundPost
from socialcare.services.ingest import ingest

pytestmark = pytest.mark.django_db

#: Saturday 5 December 2026, 22:00 in Berlin; the team works Monday to Friday 9–17 there.
SATURDAY_NIGHT = dt.datetime(2026, 12, 5, 21, 0, tzinfo=dt.UTC)
MONDAY_MORNING = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)  # 10:00 in Berlin
ACK = (
    "Hi {{ customer }}, thanks for your message. Our team is back {{ opens }} and will answer then."
)
ACK_DE = "Hallo {{ customer }}, danke! Unser Team ist ab {{ opens }} wieder da."
_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def console_transport(socialcare_settings):
    """Replies "reach" the customer through the console transport (the demo's)."""
    with socialcare_settings(REPLY_TRANSPORT="socialcare.transports.console.ConsoleTransport"):
        yield


@pytest.fixture
def calendar(team) -> BusinessCalendar:
    calendar = BusinessCalendar.objects.create(name="Berlin office", timezone="Europe/Berlin")
    for weekday in range(5):
        BusinessHours.objects.create(
            calendar=calendar, weekday=weekday, opens=dt.time(9), closes=dt.time(17)
        )
    team.calendar = calendar
    team.save()
    return calendar


@pytest.fixture
def template() -> ReplyTemplate:
    return ReplyTemplate.objects.create(name="Out of hours", shortcut="out-of-hours", text=ACK)


@pytest.fixture
def x_channel(channel, template, calendar) -> Channel:
    channel.out_of_hours_ack = True
    channel.out_of_hours_template = template
    channel.save()
    return channel


def post(
    channel: Channel,
    *,
    private: bool = True,
    author: str = "2001",
    text: str = "My order never arrived",
    at: dt.datetime | None = None,
    language: str = "",
) -> Case:
    """One customer post arriving through ingest as the worker runs it (detectors and the
    out-of-hours task after the commit); returns its case."""
    n = next(_ids)
    item = InboundPost(
        platform=channel.platform,
        external_id=f"{channel.platform}-in-{n}",
        author=InboundIdentity(
            platform=channel.platform, external_id=author, handle=f"cust{author}"
        ),
        kind="direct_message" if private else "mention",
        visibility="private" if private else "public",
        text=text if private else f"@{channel.handle} {text}",
        posted_at=at or SATURDAY_NIGHT,
        conversation_id=f"dm-{author}" if private else "",
        language=language,
    )
    return ingest(channel, item).case


@pytest.fixture
def arrive(django_capture_on_commit_callbacks):
    def run(channel: Channel, **kwargs) -> Case:
        with django_capture_on_commit_callbacks(execute=True):
            case = post(channel, **kwargs)
        case.refresh_from_db()
        return case

    return run


def acknowledgements(case: Case) -> list[Post]:
    return list(Post.objects.filter(case=case, direction=Post.Direction.OUTBOUND).order_by("pk"))


def skipped(case: Case) -> list[str]:
    return [
        e.data["text"]
        for e in case.events.filter(kind=CaseEvent.Kind.AUTOMATIC_MESSAGE, data__outcome="skipped")
    ]


@time_machine.travel(SATURDAY_NIGHT, tick=False)
def test_three_dms_at_night_get_exactly_one_acknowledgement_naming_the_opening(x_channel, arrive):
    case = arrive(x_channel, text="Hello?")
    arrive(x_channel, text="Anyone there?")
    arrive(x_channel, text="Still waiting for my refund")
    assert Case.objects.count() == 1
    [ack] = acknowledgements(case)
    assert ack.visibility == "private" and ack.sent_by is None
    assert ack.send_status == Post.SendStatus.SENT, ack.send_error
    assert "back Monday 09:00 CET" in ack.text
    assert ack.text.startswith("Hi cust2001,")
    [row] = AutomaticMessage.objects.all()
    assert row.status == AutomaticMessage.Status.SENT and row.post == ack
    assert row.purpose == "out_of_hours:2026-12-07T08:00Z"
    event = case.events.get(kind=CaseEvent.Kind.AUTOMATIC_MESSAGE, data__outcome="sent")
    assert "Monday 09:00 CET" in event.data["text"]
    # A person still owes the first answer: the acknowledgement does not stop the SLA clock.
    case.refresh_from_db()
    assert case.first_responded_at is None


@time_machine.travel(SATURDAY_NIGHT, tick=False)
def test_public_mention_gets_none_unless_the_channel_acknowledges_public_posts(x_channel, arrive):
    case = arrive(x_channel, private=False, author="3001")
    assert acknowledgements(case) == []
    assert any("wrote publicly" in text for text in skipped(case))
    x_channel.out_of_hours_public = True
    x_channel.save()
    other = arrive(x_channel, private=False, author="3002")
    [ack] = acknowledgements(other)
    assert ack.visibility == "public" and ack.parent.case_id == other.pk


@time_machine.travel(MONDAY_MORNING, tick=False)
def test_inside_business_hours_nothing_is_sent(x_channel, arrive):
    case = arrive(x_channel, at=MONDAY_MORNING)
    assert acknowledgements(case) == []
    assert not AutomaticMessage.objects.exists()
    assert skipped(case) == []


@time_machine.travel(SATURDAY_NIGHT, tick=False)
def test_an_agent_online_at_night_answers_instead(x_channel, arrive, agent):
    from socialcare.services.routing.availability import set_status

    set_status(agent, "online")
    case = arrive(x_channel)
    assert acknowledgements(case) == []
    assert not AutomaticMessage.objects.exists()


@time_machine.travel(SATURDAY_NIGHT, tick=False)
def test_none_while_the_incident_requires_approval_and_why_is_recorded(x_channel, arrive):
    first = arrive(x_channel, text="Hello?")
    # That customer already got theirs; a second customer's case joins an incident in approval.
    incident = Incident.objects.create(title="Outage", requires_approval=True)
    case = post(x_channel, author="4001")  # no commit hooks yet: linked before the decision
    Case.objects.filter(pk=case.pk).update(incident=incident)
    from socialcare.services.out_of_hours import acknowledge

    acknowledge(case.pk)
    acknowledge(case.pk)  # asked again (another post): recorded once
    assert acknowledgements(case) == []
    [reason] = skipped(case)
    assert f"incident #{incident.pk} requires approval" in reason
    assert len(acknowledgements(first)) == 1


@time_machine.travel(SATURDAY_NIGHT, tick=False)
def test_outside_the_messaging_window_none_and_why_is_recorded(team, template, calendar, arrive):
    facebook = Channel.objects.create(
        name="Acme on Facebook",
        platform="facebook",
        account_id="page-1",
        default_team=team,
        out_of_hours_ack=True,
        out_of_hours_template=template,
    )
    # A message delivered a day and a half late: Meta's 24 hours are over.
    case = arrive(facebook, at=SATURDAY_NIGHT - dt.timedelta(hours=36))
    assert acknowledgements(case) == []
    assert not AutomaticMessage.objects.exists()
    [reason] = skipped(case)
    assert "No private message can reach the customer now" in reason
    assert "24 hours" in reason


@time_machine.travel(SATURDAY_NIGHT, tick=False)
def test_the_customers_language_is_used_where_a_template_exists(x_channel, arrive):
    ReplyTemplate.objects.create(name="Out of hours", language="de", text=ACK_DE)
    case = arrive(x_channel, language="de", text="Wo bleibt meine Bestellung?")
    [ack] = acknowledgements(case)
    assert ack.text == "Hallo cust2001, danke! Unser Team ist ab Montag 09:00 CET wieder da."
    french = arrive(x_channel, author="5001", language="fr", text="Bonjour ?")
    [fallback] = acknowledgements(french)
    assert "back Monday 09:00 CET" in fallback.text


@time_machine.travel(SATURDAY_NIGHT, tick=False)
def test_a_channel_without_it_sends_nothing(channel, calendar, arrive):
    case = arrive(channel)
    assert acknowledgements(case) == []
    assert skipped(case) == []


def test_turning_it_on_needs_a_template(channel):
    from django.core.exceptions import ValidationError

    channel.out_of_hours_ack = True
    with pytest.raises(ValidationError) as caught:
        channel.full_clean()
    assert "out_of_hours_template" in caught.value.message_dict


def test_the_api_sets_it_and_refuses_it_without_a_template(admin_user, client, channel, template):
    client.force_login(admin_user)
    url = f"/socialcare/api/v1/channels/{channel.pk}/"
    refused = client.patch(url, {"out_of_hours_ack": True}, content_type="application/json")
    assert refused.status_code == 400
    assert "out_of_hours_template" in refused.json()["errors"]
    channel.refresh_from_db()
    assert channel.out_of_hours_ack is False
    body = {"out_of_hours_ack": True, "out_of_hours_template": template.pk}
    done = client.patch(url, body, content_type="application/json")
    assert done.status_code == 200, done.content
    assert done.json()["out_of_hours_template"] == template.pk
    assert done.json()["out_of_hours_public"] is False  # private by default
    channel.refresh_from_db()
    assert channel.out_of_hours_ack and channel.out_of_hours_template == template
    missing = client.patch(url, {"out_of_hours_template": 999999}, content_type="application/json")
    assert missing.status_code == 400 and "out_of_hours_template" in missing.json()["errors"]


def test_the_admin_form_sets_it(admin_client, channel, template):
    from django.urls import reverse

    url = reverse("admin:socialcare_channel_change", args=[channel.pk])
    page = admin_client.get(url)
    assert 'name="out_of_hours_template"' in page.content.decode()
    form = page.context["adminform"].form
    # What the browser posts back unchanged: ticked boxes "on", unticked ones absent.
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None and not name.startswith("secret_") and name != "clear_secrets":
            data[name] = value
    data["out_of_hours_ack"] = "on"
    shown = admin_client.post(url, data)
    assert shown.status_code == 200  # shown again with the error
    assert "Choose the reply template" in shown.content.decode()
    saved = admin_client.post(url, {**data, "out_of_hours_template": template.pk})
    assert saved.status_code == 302
    channel.refresh_from_db()
    assert channel.out_of_hours_ack and channel.out_of_hours_template == template
