"""Models: constraints, deletion rules, querysets and how records read to people."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from model_bakery import baker

from socialcare.exceptions import CustomerDeleteRefused
from socialcare.models import (
    BusinessCalendar,
    BusinessHours,
    Case,
    CaseEvent,
    Channel,
    Post,
    ReplyTemplate,
    SLAPolicy,
    SocialIdentity,
    Tag,
    TeamMembership,
    WebhookDelivery,
    customer_display_name,
    customer_email,
)
from socialcare.models.fields import redacted

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def make_post(external_id: str | None, **fields) -> Post:
    fields.setdefault("platform", "x")
    fields.setdefault("direction", Post.Direction.INBOUND)
    fields.setdefault("kind", Post.Kind.MENTION)
    fields.setdefault("visibility", "public")
    return Post.objects.create(external_id=external_id, **fields)


# Constraints ---------------------------------------------------------------------------------


def test_channel_account_is_unique_per_platform(channel):
    Channel.objects.create(name="Acme on Mastodon", platform="mastodon", account_id="brand-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Channel.objects.create(name="Duplicate", platform="x", account_id="brand-1")


def test_identity_external_id_is_unique_per_platform(make_identity):
    make_identity("42", platform="x")
    make_identity("42", platform="mastodon")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_identity("42", platform="x", handle="someone-else")


def test_post_external_id_is_unique_per_platform_but_unsent_posts_never_collide():
    make_post("p1")
    make_post("p1", platform="facebook")
    # Outbound posts have no platform id until sent: any number of them may wait.
    make_post(None, direction=Post.Direction.OUTBOUND, kind=Post.Kind.REPLY)
    make_post(None, direction=Post.Direction.OUTBOUND, kind=Post.Kind.REPLY)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_post("p1")
    assert Post.objects.filter(external_id__isnull=True).count() == 2


def test_case_references_are_unique(case, channel):
    other = baker.make(Case)
    with pytest.raises(IntegrityError), transaction.atomic():
        Case.objects.filter(pk=other.pk).update(reference=case.reference)


def test_tag_names_are_unique():
    Tag.objects.create(name="billing")
    with pytest.raises(IntegrityError), transaction.atomic():
        Tag.objects.create(name="billing")


def test_user_joins_a_team_once(team, agent):
    with pytest.raises(IntegrityError), transaction.atomic():
        TeamMembership.objects.create(team=team, user=agent)


def test_template_shortcut_unique_only_when_set():
    ReplyTemplate.objects.create(name="A", text="a")
    ReplyTemplate.objects.create(name="B", text="b")  # two blank shortcuts are fine
    ReplyTemplate.objects.create(name="C", text="c", shortcut="thanks")
    with pytest.raises(IntegrityError), transaction.atomic():
        ReplyTemplate.objects.create(name="D", text="d", shortcut="thanks")


def test_business_hours_must_close_after_opening():
    calendar = BusinessCalendar.objects.create(name="Office")
    hours = BusinessHours(calendar=calendar, weekday=0, opens=dt.time(17), closes=dt.time(9))
    with pytest.raises(ValidationError, match="Closing time must be after opening time"):
        hours.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        hours.save()
    BusinessHours.objects.create(calendar=calendar, weekday=0, opens=dt.time(9), closes=dt.time(17))


# Deletion rules ------------------------------------------------------------------------------


def test_customer_with_cases_is_deleted_keeping_the_cases_or_refused(
    case, customer, socialcare_settings
):
    """The host's customers are the host's to delete (tests/test_customer_delete.py)."""
    with socialcare_settings(CUSTOMER_DELETE="refuse"), pytest.raises(CustomerDeleteRefused):
        customer.delete()
    customer.delete()
    assert Case.objects.get(pk=case.pk).customer is None


def test_identity_and_channel_with_cases_cannot_be_deleted(case, identity, channel):
    with pytest.raises(ProtectedError):
        identity.delete()
    with pytest.raises(ProtectedError):
        channel.delete()


def test_deleting_customer_without_cases_keeps_identity_unlinked(identity, customer):
    customer.delete()
    identity.refresh_from_db()
    assert identity.customer is None


def test_deleting_team_or_agent_keeps_case(case, team, agent):
    Case.objects.filter(pk=case.pk).update(assignee=agent)
    team.delete()
    agent.delete()
    case.refresh_from_db()
    assert case.team is None
    assert case.assignee is None


def test_deleting_case_deletes_its_timeline_but_keeps_posts(case):
    post = make_post("p1", case=case)
    assert CaseEvent.objects.filter(case=case).exists()
    case.delete()
    assert not CaseEvent.objects.exists()
    post.refresh_from_db()
    assert post.case is None


# Channel secrets -----------------------------------------------------------------------------


def test_channel_secret_slots(channel):
    assert channel.get_secret("webhook_secret") == "whsec-0123456789"
    assert channel.get_secret("access_token") == ""
    with pytest.raises(ValueError, match="Unknown channel secret 'password'"):
        channel.set_secret("password", "hunter2")
    channel.set_secret("access_token", "short")
    channel.set_secret("webhook_secret", "")  # clearing removes the slot
    channel.save()
    channel.refresh_from_db()
    assert channel.secrets == {"access_token": "short"}


def test_redacted_secrets_never_show_more_than_last_four_characters(channel):
    channel.set_secret("access_token", "abc")
    assert channel.redacted_secrets() == {"webhook_secret": "••••6789", "access_token": "••••"}
    assert redacted("") == ""
    assert redacted("12345678") == "••••"
    assert redacted("123456789") == "••••6789"


# Validation ----------------------------------------------------------------------------------


def test_platform_must_be_a_known_platform(socialcare_settings):
    channel = Channel(name="Old", platform="myspace", account_id="1")
    with pytest.raises(ValidationError) as exc:
        channel.full_clean()
    assert "platform" in exc.value.message_dict
    with socialcare_settings(EXTRA_PLATFORMS={"myspace": "MySpace"}):
        channel.full_clean()
        assert channel.get_platform_display() == "MySpace"


def test_calendar_validates_timezone_and_holiday_country():
    calendar = BusinessCalendar(name="Bad", timezone="Mars/Olympus", holiday_country="XX")
    with pytest.raises(ValidationError) as exc:
        calendar.full_clean()
    assert set(exc.value.message_dict) == {"timezone", "holiday_country"}
    BusinessCalendar(name="Good", timezone="Europe/Berlin", holiday_country="de").full_clean()


# Display -------------------------------------------------------------------------------------


def test_case_str_shows_reference_and_subject(case):
    assert str(case) == f"{case.reference}: Refund please"
    unnumbered = Case(pk=7)
    assert str(unnumbered) == "Case #7"


def test_identity_str_prefers_handle(make_identity):
    assert str(make_identity("1", "ada")) == "@ada (X (Twitter))"
    assert str(make_identity("2", display_name="Ada")) == "Ada (X (Twitter))"
    assert str(make_identity("3")) == "3 (X (Twitter))"


def test_post_str_is_its_first_line():
    assert str(make_post("1", text="\n  Help!\nMy order is late")) == "Help!"
    empty = make_post("2", kind=Post.Kind.DIRECT_MESSAGE)
    assert str(empty) == f"Direct message #{empty.pk}"
    assert empty.is_inbound


def test_delivery_body_text_survives_invalid_utf8(channel):
    delivery = WebhookDelivery.objects.create(channel=channel, platform="x", body=b"ok \xff")
    delivery.refresh_from_db()
    assert delivery.body_text == "ok \ufffd"
    assert str(delivery) == f"X (Twitter) delivery #{delivery.pk} (Pending)"


def test_customer_display_name_and_email(make_customer):
    named = make_customer("Grace Hopper", "grace@example.com")
    assert customer_display_name(named) == "Grace Hopper"
    assert customer_email(named) == "grace@example.com"
    assert customer_display_name(None) == ""
    assert customer_email(None) == ""


def test_event_summaries_read_as_one_line(case, agent):
    def event(kind, **data):
        return CaseEvent(case=case, kind=kind, data=data)

    K = CaseEvent.Kind
    assert event(K.STATUS_CHANGED, **{"from": "new", "to": "open"}).summary() == (
        "Status changed: new → open"
    )
    assert event(K.ASSIGNEE_CHANGED, **{"from": "", "to": "Alice"}).summary() == (
        "Assignee changed: — → Alice"
    )
    assert event(K.NOTE, text="called back").summary() == "called back"
    assert event(K.MERGED, into="SC-000002").summary() == "Merged into SC-000002"
    assert event(K.MERGED, **{"from": "SC-000003"}).summary() == "Merged SC-000003 into this case"
    assert event(K.TAGS_CHANGED, to=["a", "b"]).summary() == "Tags: a, b"
    assert event(K.TAGS_CHANGED, to=[]).summary() == "Tags: —"
    assert event(K.ESCALATED).summary() == "Escalated"
    assert event(K.NOTE).actor_label == "system"
    assert CaseEvent(case=case, kind=K.NOTE, actor=agent).actor_label == "alice"


# Querysets -----------------------------------------------------------------------------------


def test_case_queue_querysets(channel, identity, team, agent):
    now = timezone.now()
    late = baker.make(Case, status="open", first_response_due_at=now - dt.timedelta(minutes=1))
    answered = baker.make(
        Case,
        status="open",
        first_response_due_at=now - dt.timedelta(minutes=1),
        first_responded_at=now - dt.timedelta(minutes=5),
    )
    future = baker.make(
        Case, status="new", first_response_due_at=now + dt.timedelta(hours=1), team=team
    )
    done = baker.make(
        Case, status="resolved", first_response_due_at=now - dt.timedelta(hours=1), assignee=agent
    )
    assert set(Case.objects.open()) == {late, answered, future}
    assert set(Case.objects.awaiting_first_response()) == {late, future}
    assert list(Case.objects.overdue()) == [late]
    assert set(Case.objects.overdue(now + dt.timedelta(hours=2))) == {late, future}
    assert list(Case.objects.for_team(team)) == [future]
    assert list(Case.objects.assigned_to(agent)) == [done]
    assert done not in Case.objects.unassigned()
    assert late.is_open and not done.is_open


def test_identity_querysets(make_identity, customer):
    ada = make_identity("1", "Ada_L", customer=customer, owner_verified_at=NOW)
    anon = make_identity("2", "anon")
    make_identity("3", "ada_l", platform="mastodon")
    assert list(SocialIdentity.objects.by_handle("x", "@ada_l")) == [ada]
    assert list(SocialIdentity.objects.unresolved().filter(platform="x")) == [anon]
    assert list(SocialIdentity.objects.verified()) == [ada]
    assert ada.is_owner_verified and not anon.is_owner_verified


def test_post_and_delivery_querysets(channel):
    inbound = make_post("1")
    outbound = make_post(None, direction=Post.Direction.OUTBOUND, kind=Post.Kind.REPLY)
    gone = make_post("2", deleted_at=NOW)
    assert set(Post.objects.inbound()) == {inbound, gone}
    assert list(Post.objects.outbound()) == [outbound]
    assert gone not in Post.objects.visible()
    pending = WebhookDelivery.objects.create(channel=channel, platform="x", body=b"{}")
    failed = WebhookDelivery.objects.create(
        channel=channel, platform="x", body=b"{}", status=WebhookDelivery.Status.FAILED
    )
    assert list(WebhookDelivery.objects.pending()) == [pending]
    assert list(WebhookDelivery.objects.failed()) == [failed]


def test_inactive_channels_and_policies_are_left_out(channel):
    Channel.objects.create(name="Old", platform="x", account_id="old", is_active=False)
    assert list(Channel.objects.active()) == [channel]
    second = SLAPolicy.objects.create(name="Second", order=20)
    first = SLAPolicy.objects.create(name="First", order=10)
    SLAPolicy.objects.create(name="Off", order=1, is_active=False)
    assert list(SLAPolicy.objects.active()) == [first, second]


def test_reply_templates_usable_for_visibility_platform_and_language():
    anywhere = ReplyTemplate.objects.create(name="Any", text="hi")
    public_x = ReplyTemplate.objects.create(name="X", text="hi", visibility="public", platform="x")
    private = ReplyTemplate.objects.create(name="DM", text="hi", visibility="private")
    german = ReplyTemplate.objects.create(name="DE", text="hallo", language="de")
    ReplyTemplate.objects.create(name="Off", text="hi", is_active=False)
    assert set(ReplyTemplate.objects.usable_for(visibility="public", platform="x")) == {
        anywhere,
        public_x,
        german,
    }
    assert set(
        ReplyTemplate.objects.usable_for(visibility="private", platform="facebook", language="en")
    ) == {anywhere, private}
