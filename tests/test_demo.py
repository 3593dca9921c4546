"""The demo: the data a first-time user clicks through, and `socialcare_demo --no-serve`."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count

from socialcare.conf import app_settings
from socialcare.demo import (
    DEMO_LOGINS,
    MARKER_CHANNEL,
    TEAMS,
    TEMPLATES,
    load_demo_data,
    set_up_demo_staff,
)
from socialcare.models import (
    Case,
    CaseEvent,
    Channel,
    CustomerMerge,
    Post,
    Priority,
    ReplyTemplate,
    SocialIdentity,
    get_customer_model,
)
from socialcare.services import polling
from socialcare.services.access import visible_cases
from socialcare.services.roles import AGENT, SUPERVISOR
from socialcare.services.sla_state import SLA_STATES, sla_state, sla_state_filter
from socialcare.services.templates import check_length, render_reply_template
from socialcare.services.tone import NEGATIVE_SENTIMENT, tone_warnings

pytestmark = pytest.mark.django_db

#: A Wednesday afternoon in Berlin, so business-hours SLAs are running.
NOW = dt.datetime(2026, 3, 11, 14, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def loaded_demo(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    """The demo, loaded once per module and worker (seconds each) inside a transaction that is
    rolled back at the end; each test runs in its own savepoint within it (pytest-django's
    ``django_db``), so what a test changes is gone before the next. Every test of this module
    starts from the loaded demo: those that need an empty database are in test_demo_command.py.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        yield load_demo_data(now=NOW)
        transaction.set_rollback(True)


@pytest.fixture
def demo(loaded_demo: dict[str, Any], db: None) -> dict[str, Any]:
    return loaded_demo


def test_cases_in_every_status_and_priority(demo: dict[str, Any]) -> None:
    assert demo["created"] is True
    assert demo["cases"] == Case.objects.count() >= 35
    assert set(Case.objects.values_list("status", flat=True)) == set(Case.Status.values)
    assert set(Case.objects.values_list("priority", flat=True)) == set(Priority.values)
    assert all(demo["cases_by_status"][status] >= 3 for status in Case.Status.values)
    assert Case.objects.filter(customer__isnull=True).exists()  # from identities nobody matched
    assert Case.objects.filter(merged_into__isnull=False).count() == 1


def test_overdue_cases(demo: dict[str, Any]) -> None:
    overdue = Case.objects.overdue(NOW)
    assert overdue.count() >= 3
    assert demo["overdue_cases"] == overdue.count()
    assert overdue.filter(priority=Priority.URGENT).exists()


def test_first_responses_breached_due_soon_and_ok_when_loaded(demo: dict[str, Any]) -> None:
    by_state = {state: Case.objects.filter(sla_state_filter(state, NOW)) for state, _ in SLA_STATES}
    assert demo["cases_by_sla"] == {state: cases.count() for state, cases in by_state.items()}
    assert by_state["breached"].count() >= 3
    assert by_state["due_soon"].count() >= 1
    assert by_state["ok"].count() >= 1
    assert by_state["met"].count() >= 10
    for case in by_state["due_soon"]:
        assert sla_state(case, NOW) == "due_soon"
        assert NOW <= case.first_response_due_at <= NOW + app_settings.SLA_WARNING_WINDOW


def test_timelines_are_complete_and_in_the_past(demo: dict[str, Any]) -> None:
    for case in Case.objects.prefetch_related("events"):
        assert re.fullmatch(r"SC-\d{6}", case.reference)
        first = case.events.order_by("at", "pk").first()
        assert first is not None and first.kind == CaseEvent.Kind.CREATED
        assert first.at == case.created_at
    assert not CaseEvent.objects.filter(at__gt=NOW).exists()
    assert not Post.objects.filter(posted_at__gt=NOW).exists()
    # Every post is on its case's timeline: inbound as "post added", outbound as "replied".
    for post in Post.objects.all():
        kind = CaseEvent.Kind.POST_ADDED if post.is_inbound else CaseEvent.Kind.REPLIED
        assert CaseEvent.objects.filter(post=post, kind=kind).exists(), post
    replies = Post.objects.outbound()
    assert replies.exists()
    assert not replies.exclude(send_status=Post.SendStatus.SENT).exists()
    assert not replies.filter(sent_by__is_staff=False).exists()
    # A person's reply is the first response; an out-of-hours acknowledgement is not.
    answered = Case.objects.filter(
        posts__direction=Post.Direction.OUTBOUND, posts__sent_by__isnull=False
    )
    assert Case.objects.filter(first_responded_at__isnull=False).count() == (
        answered.distinct().count()
    )
    for kind in (CaseEvent.Kind.NOTE, CaseEvent.Kind.TAGS_CHANGED, CaseEvent.Kind.MERGED):
        assert CaseEvent.objects.filter(kind=kind).exists(), kind


def test_customers_with_several_identities(demo: dict[str, Any]) -> None:
    Customer = get_customer_model()
    several = Customer._default_manager.annotate(n=Count("social_identities")).filter(n__gte=2)
    assert several.count() >= 10
    names = set(Customer._default_manager.values_list(app_settings.CUSTOMER_NAME_FIELD, flat=True))
    assert {"Jonas Müller", "田中 健二", "Zoë Brooks 🎧"} <= names
    assert SocialIdentity.objects.unresolved().count() == demo["unresolved_identities"] > 0
    assert SocialIdentity.objects.filter(followers_count__gte=50_000).count() >= 3
    assert CustomerMerge.objects.count() == 1
    assert len(set(SocialIdentity.objects.values_list("platform", flat=True))) == 6
    channel = Channel.objects.get(name=MARKER_CHANNEL)
    assert channel.get_secret("webhook_secret").startswith("demo-")


def test_second_load_changes_nothing(demo: dict[str, Any]) -> None:
    before = [m.objects.count() for m in (Case, Post, CaseEvent, SocialIdentity)]
    assert load_demo_data(now=NOW) == {"created": False, "polling_turned_off": []}
    assert [m.objects.count() for m in (Case, Post, CaseEvent, SocialIdentity)] == before


def _scheduled_polls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the worker's "poll channels" schedule polls: channel names, no network."""
    polled: list[str] = []
    monkeypatch.setattr(polling, "poll_channel", lambda channel: polled.append(channel.name))
    polling.poll_due_channels()
    return polled


def test_the_worker_polls_no_demo_channel(
    demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's Mastodon and Bluesky tokens are made up: the schedule leaves those channels to
    the simulator instead of asking mastodon.social and bsky.social every minute."""
    off = set(Channel.objects.filter(polling_enabled=False).values_list("name", flat=True))
    assert off == {"Acme on Mastodon", "Acme on Bluesky"}
    assert _scheduled_polls(monkeypatch) == []


def test_loading_again_stops_polling_in_an_older_demo_database(
    demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A demo database from before the switch polls its channels; running the demo again stops
    it, except on a channel an admin gave a real token."""
    Channel.objects.update(polling_enabled=True)
    assert _scheduled_polls(monkeypatch) == ["Acme on Mastodon", "Acme on Bluesky"]
    bluesky = Channel.objects.get(name="Acme on Bluesky")
    bluesky.set_secret("access_token", "a-real-app-password")
    bluesky.save()
    out = StringIO()
    call_command("socialcare_demo", "--no-serve", stdout=out)
    assert "Turned off automatic polling of Acme on Mastodon:" in out.getvalue()
    assert _scheduled_polls(monkeypatch) == ["Acme on Bluesky"]
    assert load_demo_data(now=NOW)["polling_turned_off"] == []  # once is enough


def test_demo_staff_in_their_roles(demo: dict[str, Any]) -> None:
    logins = set_up_demo_staff("staff-pass-123")
    assert [(login.username, login.role) for login in logins] == [
        ("maya", AGENT),
        ("hannah", SUPERVISOR),
    ]
    assert logins[0].teams == ("Social Care",)
    assert logins[1].teams == ("Escalations",)
    User = get_user_model()
    for username in (m[0] for _, _, members in TEAMS.values() for m in members):
        user = User.objects.get(username=username)
        assert list(user.groups.values_list("name", flat=True)) == [
            DEMO_LOGINS.get(username, AGENT)
        ]
        assert user.is_staff and not user.is_superuser
        assert user.check_password("staff-pass-123") == (username in DEMO_LOGINS)
    maya, hannah = User.objects.get(username="maya"), User.objects.get(username="hannah")
    assert maya.has_perm("socialcare.add_post") and not maya.has_perm("socialcare.approve_reply")
    assert hannah.has_perm("socialcare.approve_reply")
    # The agent has breached cases in her queue to work on; the supervisor sees every case.
    breached = Case.objects.filter(sla_state_filter("breached", NOW))
    assert visible_cases(maya, breached).count() >= 2
    assert visible_cases(maya).count() < Case.objects.count() == visible_cases(hannah).count()
    set_up_demo_staff("staff-pass-456")  # again: the new password, nothing else changes
    assert User.objects.get(username="maya").check_password("staff-pass-456")
    assert list(maya.groups.values_list("name", flat=True)) == [AGENT]


def test_canned_replies_for_public_and_private_use_fit_the_demo_cases(
    demo: dict[str, Any],
) -> None:
    templates = ReplyTemplate.objects.all()
    visibilities = set(templates.values_list("visibility", flat=True))
    assert {"public", "private"} <= visibilities
    maya = get_user_model().objects.get(username="maya")
    for case in Case.objects.filter(status__in=Case.OPEN_STATUSES).select_related("channel"):
        for template in templates:
            if template.visibility and template.visibility != case.visibility:
                continue
            text = render_reply_template(template, case, maya)
            assert ("{{" not in text and "Maya" in text) or "{{ agent }}" not in template.text
            check_length(text, case.channel.platform, case.visibility)


def test_canned_replies_pass_the_tone_check(demo: dict[str, Any]) -> None:
    """Every demo template, rendered for every demo case it may be used on, reads fine to the case
    page's tone check (the "Thanks" template is for praise, so only on cases that are not upset)."""
    maya = get_user_model().objects.get(username="maya")
    templates = ReplyTemplate.objects.filter(shortcut__in=[t[1] for t in TEMPLATES])
    checked: Counter[str] = Counter()
    for case in Case.objects.select_related("channel", "identity", "customer"):
        latest = case.posts.inbound().order_by("-posted_at").first()
        sentiment = latest.sentiment if latest else None
        upset = sentiment is not None and sentiment <= NEGATIVE_SENTIMENT
        for template in templates:
            if template.visibility and template.visibility != case.visibility:
                continue
            if template.shortcut == "thanks" and upset:
                continue
            text = render_reply_template(template, case, maya)
            warnings = tone_warnings(text, sentiment=sentiment, visibility=case.visibility)
            assert warnings == [], (template.name, case.reference, text, warnings)
            checked[f"{template.shortcut}/{case.visibility}"] += 1
    public = {t[1] for t in TEMPLATES if t[2] in ("", "public")}
    private = {t[1] for t in TEMPLATES if t[2] in ("", "private")}
    assert {f"{s}/public" for s in public} | {f"{s}/private" for s in private} == set(checked)
    assert checked["sorry-next-step/public"] >= 10


def test_the_brand_accounts_share_one_webhook_url_per_app(demo: dict[str, Any]) -> None:
    from socialcare.models import Channel, PlatformApp

    apps = {app.key: app for app in PlatformApp.objects.all()}
    assert set(apps) == {"demo-x", "demo-meta"}
    served = {c.platform: c.app.key for c in Channel.objects.filter(app__isnull=False)}
    assert served == {"x": "demo-x", "facebook": "demo-meta", "instagram": "demo-meta"}
    assert apps["demo-meta"].get_secret("verify_token") == "demo-meta-verify-token"


def test_a_commenter_taken_private_whose_messenger_answer_joined_the_case(
    demo: dict[str, Any],
) -> None:
    from socialcare.platforms.meta.ids import platform_user_id
    from socialcare.services.private_replies import private_reply, private_reply_comment_id
    from socialcare.services.reply_window import reply_window

    [reply] = Post.objects.filter(
        platform="facebook", direction="outbound", visibility="private", parent__kind="comment"
    ).select_related("case", "parent", "sent_by")
    case, comment = reply.case, reply.parent
    assert comment.case_id == case.pk and comment.visibility == "public"
    assert private_reply_comment_id(reply) == comment.external_id  # sent as a private reply
    assert reply.send_status == Post.SendStatus.SENT and reply.sent_by.get_username() == "lukas"
    [answer] = case.posts.filter(direction="inbound", visibility="private")
    # Meta answered the private reply with the commenter's PSID; his Messenger answer came from it.
    psid = platform_user_id(comment.author.external_id)
    assert answer.conversation_id == reply.conversation_id == f"dm:{psid}"
    assert comment.posted_at < reply.posted_at < answer.posted_at < NOW
    assert case.status == Case.Status.OPEN and demo["cases"] == Case.objects.count()
    # The timeline: the private reply, the note that he answered, then his message.
    events = list(case.events.order_by("at", "pk"))
    replied = next(e for e in events if e.kind == CaseEvent.Kind.REPLIED)
    noted = next(e for e in events if "answered the private reply in Messenger" in e.summary())
    added = next(e for e in events if e.kind == CaseEvent.Kind.POST_ADDED and e.post == answer)
    assert replied.post == reply and replied.at < noted.at <= added.at
    # What the composer and the API then say: the window is open, the private reply used.
    assert reply_window(case, now=NOW).kind == "standard"
    chance = private_reply(case, now=NOW)
    assert not chance.possible and "already sent" in chance.reason


def test_an_instagram_mention_whose_text_and_author_were_fetched(demo: dict[str, Any]) -> None:
    from socialcare.platforms.meta.mentions import DETAILS_KEY
    from socialcare.services.mention_details import needs_details

    [post] = Post.objects.filter(platform="instagram", kind="mention").select_related(
        "author", "case"
    )
    assert post.raw["media_id"] and post.raw[DETAILS_KEY]["username"] == "smarthome.sara"
    assert "acme Hub" in post.text and post.url.startswith("https://www.instagram.com/p/")
    assert post.author.external_id == "username:smarthome.sara"
    assert post.author.handle == "smarthome.sara"
    assert post.author.profile_url == "https://www.instagram.com/smarthome.sara/"
    assert not needs_details(post)  # the worker has nothing left to fetch
    case = post.case
    assert case.identity == post.author
    assert case.subject.startswith("Three months in with the acme Hub")  # not "… unknown author"
    notes = [e.summary() for e in case.events.filter(kind=CaseEvent.Kind.NOTE)]
    assert any("Instagram mention fetched: @smarthome.sara wrote" in note for note in notes)
    assert not CaseEvent.objects.filter(case=case, at__gt=NOW).exists()


def test_a_mastodon_complaint_edited_after_the_poll_keeps_its_old_text_on_the_timeline(
    demo: dict[str, Any], admin_client: Any
) -> None:
    from django.urls import reverse
    from django.utils.html import escape

    from socialcare.models import WebhookDelivery

    [post] = Post.objects.filter(platform="mastodon", edited_at__isnull=False).select_related(
        "case", "author"
    )
    case = post.case
    assert case.is_open and case.identity == post.author
    assert post.author.handle == "soren@mastodon.social" and post.local_id in post.external_id
    [edit] = case.events.filter(kind=CaseEvent.Kind.POST_EDITED)
    old = edit.data["old_text"]
    # The edit added the order number; the post shows the new text, the timeline the old.
    assert "AC-53318" in post.text and "AC-53318" not in old and old.startswith("@acmehelp")
    assert edit.post == post and edit.summary() == f"The customer edited this post. Before: {old}"
    assert post.posted_at < post.edited_at == edit.at < NOW
    added = case.events.get(kind=CaseEvent.Kind.POST_ADDED, post=post)
    assert added.data["text"] == old  # as it was when the poll brought it
    # Both came the poll's way: a mention notification, then the re-fetched status.
    polled = WebhookDelivery.objects.filter(channel=post.channel, source="poll")
    assert [d.status for d in polled] == ["processed", "processed"]
    assert [d.posts_count for d in polled.order_by("received_at")] == [1, 0]
    page = admin_client.get(reverse("admin:socialcare_case_change", args=[case.pk]))
    html = page.content.decode()
    assert escape(post.text) in html and escape(f"Before: {old}") in html


# Issue #20: who owns each conversation -----------------------------------------------------------


def test_the_demo_has_statuses_skills_and_a_queued_case(demo: dict[str, Any]) -> None:
    from socialcare.models import AgentStatus, AssignmentWait, Team, TeamMembership
    from socialcare.services.routing.queue import waiting_cases

    escalations = Team.objects.get(name="Escalations")
    assert escalations.auto_assign
    waiting = list(waiting_cases(escalations))
    assert any(c.subject.startswith("reviewing the Acme Cam") for c in waiting)
    assert AgentStatus.objects.filter(status="online").count() == 3
    maya = TeamMembership.objects.get(user__username="maya")
    assert maya.languages == ["en", "de"] and maya.capacity == 6
    assert AssignmentWait.objects.filter(outcome="assigned").count() == 2


def test_the_demo_has_a_channel_configured_and_a_case_acknowledged_at_night(
    demo: dict[str, Any],
) -> None:
    from socialcare.models import AutomaticMessage

    channel = Channel.objects.get(out_of_hours_ack=True)
    assert channel.platform == "x" and channel.out_of_hours_template.language == "en"
    [row] = AutomaticMessage.objects.filter(purpose__startswith="out_of_hours:")
    assert row.status == AutomaticMessage.Status.SENT
    case = row.case
    assert case.team.name == "Billing" and case.first_responded_at is None
    assert row.post.visibility == "private" and row.post.sent_by is None
    # Saturday 7 March 23:10 in Berlin; Billing is back Monday 08:00, said in German.
    assert "ab Montag 08:00 CET wieder" in row.post.text
    assert case.events.filter(kind=CaseEvent.Kind.AUTOMATIC_MESSAGE, data__outcome="sent").exists()


def test_the_demo_has_answered_and_pending_csat_surveys(demo: dict[str, Any]) -> None:
    from socialcare.models import Survey

    scores = {
        (s.case.identity.handle.lower(), s.answered_via): s.score
        for s in Survey.objects.select_related("case__identity")
    }
    assert sorted(v for v in scores.values() if v is not None) == [3, 4, 4, 5, 5]
    assert list(scores.values()).count(None) == 1  # one customer has not answered yet
    assert Survey.objects.filter(answered_via=Survey.Via.LINK, score=5).exists()


def test_the_demo_offers_its_two_macros_by_team(demo: dict[str, Any]) -> None:
    from socialcare.models import Macro
    from socialcare.services import macros as macro_services

    set_up_demo_staff("staff-pass-123")
    users = get_user_model().objects
    maya, priya = users.get(username="maya"), users.get(username="priya")  # Care, Billing
    offered = macro_services.usable_macros
    assert sorted(m.name for m in offered(maya)) == ["Escalate to billing", "Refund issued"]
    assert [m.name for m in offered(priya)] == ["Refund issued"]
    case = (
        Case.objects.filter(team__name="Social Care", status="open", merged_into=None)
        .order_by("pk")
        .first()
    )
    result = macro_services.apply_macro(
        case, Macro.objects.get(name="Escalate to billing"), actor=maya
    )
    case.refresh_from_db()
    assert (case.team.name, case.priority, case.assignee) == ("Billing", "high", None)
    assert "billing" in case.tags.values_list("name", flat=True)
    assert result.event.data["actions"][-1] == "note added"
