"""The case page: the agent's workspace (timeline, customer, SLA, composer with tone check,
hand-off, notes, work controls, approvals, escalation) and its permission and CSRF checks."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from socialcare.models import Case, Incident, Post, ReplyTemplate, Team
from socialcare.services import cases as case_services
from socialcare.services.replies import send_reply

pytestmark = pytest.mark.django_db

XSS = "<script>alert('x')</script>"


def grant(user, *codenames: str):
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return type(user).objects.get(pk=user.pk)  # a fresh copy: no stale permission cache


@pytest.fixture
def alice(agent):
    return grant(agent, "view_case", "change_case")


@pytest.fixture
def bob(other_agent):
    return grant(other_agent, "view_case", "change_case", "approve_reply")


@pytest.fixture
def browser(client, alice):
    client.force_login(alice)
    return client


def page_url(case: Case) -> str:
    return reverse("admin:socialcare_case_change", args=[case.pk])


def action_url(case: Case, name: str, *args) -> str:
    return reverse(f"admin:socialcare_case_{name}", args=[case.pk, *args])


def inbound(case: Case, text: str, *, at: dt.datetime | None = None, **fields) -> Post:
    fields.setdefault("external_id", f"in-{Post.objects.count() + 1}")
    return Post.objects.create(
        platform="x",
        channel=case.channel,
        author=case.identity,
        direction="inbound",
        kind="mention",
        visibility="public",
        text=text,
        case=case,
        posted_at=at or timezone.now(),
        **fields,
    )


def kinds(body: str) -> list[str]:
    timeline = body.split('id="sc-timeline"', 1)[1].split("</ol>", 1)[0]
    return re.findall(r'class="sc-timeline__item[^"]*" data-kind="(\w+)"', timeline)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def textarea(body: str, element_id: str) -> str:
    match = re.search(rf'<textarea id="{element_id}"[^>]*>(.*?)</textarea>', body, re.S)
    assert match, element_id
    return html.unescape(match.group(1))


# The page ---------------------------------------------------------------------------------------


def test_timeline_shows_posts_notes_and_events_in_order(browser, case, alice, bob):
    start = timezone.now() - dt.timedelta(hours=2)
    case.events.update(at=start - dt.timedelta(minutes=1))  # opened just before the first post
    first = inbound(case, "My parcel is late", at=start, sentiment=-0.6)
    edited = inbound(
        case, "Still nothing", at=start + dt.timedelta(minutes=10), edited_at=timezone.now()
    )
    inbound(case, "Deleted rant", at=start + dt.timedelta(minutes=20), deleted_at=timezone.now())
    case_services.add_note(case, "Courier says Tuesday.", actor=alice)
    reply = send_reply(case, "Thanks Ada, we'll DM you the tracking link.", actor=alice)
    Post.objects.filter(pk=reply.pk).update(send_status="failed", send_error="Rate limited")

    body = browser.get(page_url(case)).content.decode()

    assert kinds(body) == ["event", "inbound", "inbound", "inbound", "note", "outbound"]
    assert body.index("My parcel is late") < body.index("Courier says Tuesday.")
    assert body.index("Courier says Tuesday.") < body.index("we&#x27;ll DM you the tracking")
    assert f'data-post-id="{first.pk}"' in body
    assert "sentiment -0.60" in body
    assert f'data-post-id="{edited.pk}"' in body and "edited " in body
    assert "deleted on platform" in body
    assert 'data-send-status="failed"' in body and "Not sent: Rate limited" in body
    assert "Alice Agent" in body  # the reply's author
    assert "X (Twitter)" in body and "@ada" in body


def test_awaiting_approval_replies_are_marked_in_the_timeline(browser, case, alice):
    inbound(case, "Hello?")
    incident = Incident.objects.create(title="Legal", severity="high", requires_approval=True)
    Case.objects.filter(pk=case.pk).update(incident=incident)
    send_reply(case, "Thanks, we'll DM you.", actor=alice)
    body = browser.get(page_url(case)).content.decode()
    assert 'data-send-status="awaiting_approval"' in body
    assert "Awaiting approval" in body
    assert "public replies need a second agent's approval" in body


def test_user_text_is_escaped_everywhere(browser, case, alice, make_identity, customer):
    case.identity.handle = f"h{XSS}"
    case.identity.display_name = f"Name {XSS}"
    case.identity.save()
    make_identity("other-1", f"x{XSS}", platform="mastodon", customer=customer)
    inbound(case, f"Text {XSS}")
    case_services.add_note(case, f"Note {XSS}", actor=alice)
    ReplyTemplate.objects.create(name=f"T {XSS}", text=f"Hi {{{{ customer }}}} {XSS}")
    body = browser.get(page_url(case)).content.decode()
    assert "<script>" not in body
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in body
    assert 'data-text="Hi Ada Lovelace &lt;script&gt;' in body


def test_canned_replies_are_rendered_for_this_customer_and_agent(browser, case, channel):
    ReplyTemplate.objects.create(
        name="Hello",
        text="Hi {{ customer }}, {{ agent }} from {{ brand }} here ({{ case.reference }}).",
    )
    ReplyTemplate.objects.create(name="Off", text="Old", is_active=False)
    ReplyTemplate.objects.create(name="Mastodon only", text="Toot", platform="mastodon")
    ReplyTemplate.objects.create(name="DM", text="Check your DMs", visibility="private")
    body = browser.get(page_url(case)).content.decode()
    expected = f"Hi Ada Lovelace, Alice from Acme on X here ({case.reference})."
    assert f'data-text="{expected}"' in body
    assert 'data-visibility="private"' in body and "DM (private)" in body
    assert "Old" not in body and "Toot" not in body
    assert 'id="sc-char-count" class="sc-count" aria-live="polite">0 / 280<' in body
    assert 'data-limit-public="280"' in body and 'data-limit-private="10000"' in body


def test_customer_panel_lists_identities_and_latest_past_cases(
    browser, case, customer, channel, make_identity, make_customer
):
    make_identity(
        "m-7",
        "ada@social.example",
        platform="mastodon",
        customer=customer,
        owner_verified_at=timezone.now(),
    )
    for n in range(12):
        case_services.open_case(channel=channel, customer=customer, subject=f"Old issue {n}")
    hidden_team = Team.objects.create(name="Legal")
    case_services.open_case(
        channel=channel, customer=customer, subject="Legal matter", team=hidden_team
    )
    case_services.open_case(channel=channel, customer=make_customer("Else"), subject="Not hers")
    body = browser.get(page_url(case)).content.decode()
    panel = body.split('id="sc-customer-title"', 1)[1].split("</section>", 1)[0]
    assert "Ada Lovelace" in panel and "ada@example.com" in panel
    assert "@ada@social.example" in panel and "verified owner" in panel
    assert "@ada" in panel and "not verified" in panel and "this case" in panel
    past = panel.split("Past cases", 1)[1]
    assert past.count("<li>") == 10
    assert "Old issue 11" in past and "Old issue 2" in past and "Old issue 1<" not in past
    assert "Legal matter" not in past  # another team's case stays hidden
    assert "Not hers" not in past
    assert 'class="sc-badge sc-badge--new">New<' in past


def test_sla_box_shows_state_and_countdown(browser, case):
    Case.objects.filter(pk=case.pk).update(
        first_response_due_at=timezone.now() - dt.timedelta(minutes=30)
    )
    body = browser.get(page_url(case)).content.decode()
    assert 'id="sc-sla" class="sc-panel sc-sla sc-sla--breached" data-sla="breached"' in body
    assert "overdue by 30 min" in body or "overdue by 29 min" in body
    Case.objects.filter(pk=case.pk).update(
        first_response_due_at=timezone.now() + dt.timedelta(hours=2, minutes=5),
        first_responded_at=None,
    )
    body = browser.get(page_url(case)).content.decode()
    assert 'data-sla="ok"' in body and ("in 2 h 4 min" in body or "in 2 h 5 min" in body)
    case_services.change_status(case, "closed")
    assert 'data-sla="none"' in browser.get(page_url(case)).content.decode()


def test_page_costs_the_same_queries_with_5_or_200_posts(
    browser, case, channel, identity, django_assert_max_num_queries
):
    small = case
    big = case_services.open_case(channel=channel, identity=identity, subject="Long thread")
    for target, count in ((small, 5), (big, 200)):
        for n in range(count):
            inbound(target, f"post {n}", sentiment=-0.1)
        case_services.add_note(target, "note")
    browser.get(page_url(small))  # warm caches (content types, permissions)
    with CaptureQueriesContext(connection) as small_queries:
        assert browser.get(page_url(small)).status_code == 200
    with django_assert_max_num_queries(len(small_queries)):
        response = browser.get(page_url(big))
    assert len(kinds(response.content.decode())) == 200  # capped: 202 entries in all
    assert len(small_queries) <= 40


def test_long_timeline_is_capped_with_a_show_older_link(browser, case):
    start = timezone.now() - dt.timedelta(days=1)
    case.events.update(at=start - dt.timedelta(minutes=1))
    for n in range(205):
        inbound(case, f"message number {n}.", at=start + dt.timedelta(minutes=n))
    body = browser.get(page_url(case)).content.decode()
    assert len(kinds(body)) == 200
    assert "message number 204." in body and "message number 4." not in body
    assert "?timeline=400#sc-timeline" in body and "Show older" in body
    body = browser.get(page_url(case) + "?timeline=400").content.decode()
    assert len(kinds(body)) == 206  # all posts and the "case opened" event
    assert "message number 0." in body and "Show older" not in body
    assert browser.get(page_url(case) + "?timeline=abc").status_code == 200


# Tone check and sending -------------------------------------------------------------------------


def test_tone_check_endpoint_answers_warnings_as_json(browser, case):
    inbound(case, "This is awful", sentiment=-0.8)
    url = action_url(case, "tone_check")
    data = browser.post(url, {"text": "We'll DM you.", "visibility": "public"}).json()
    assert [w["code"] for w in data["warnings"]] == ["no_thanks", "no_apology"]
    assert data["length"] == 13 and data["limit"] == 280
    data = browser.post(url, {"text": "As I said, no.", "visibility": "private"}).json()
    assert [w["code"] for w in data["warnings"]] == ["defensive"]
    assert data["limit"] == 10000
    assert browser.post(url, {"text": "x", "visibility": "shout"}).status_code == 400
    assert browser.get(url).status_code == 405


def test_public_reply_without_warnings_is_queued(browser, case):
    inbound(case, "Where is my parcel?")
    text = "Thanks Ada! We'll DM you the tracking link within the hour."
    response = browser.post(
        action_url(case, "reply"), {"text": text, "visibility": "public"}, follow=True
    )
    assert response.redirect_chain[-1][0] == page_url(case)
    assert "Reply queued for sending." in messages_of(response)
    reply = case.posts.get(direction="outbound")
    assert (reply.text, reply.visibility, reply.send_status) == (text, "public", "queued")
    assert reply.sent_by.username == "alice"


def test_tone_warnings_hold_a_public_reply_until_the_agent_confirms(browser, case):
    inbound(case, "Worst service ever", sentiment=-0.9)
    text = "As I said, it's our POLICY. YOU MUST WAIT."
    response = browser.post(
        action_url(case, "reply"), {"text": text, "visibility": "public"}, follow=True
    )
    assert not case.posts.filter(direction="outbound").exists()
    body = response.content.decode()
    assert any("Not sent yet" in m for m in messages_of(response))
    assert textarea(body, "sc-reply-text") == text  # nothing typed is lost
    warnings = re.search(r'<ul id="sc-tone-warnings">(.*?)</ul>', body, re.S).group(1)
    for code in ("no_thanks", "no_apology", "no_next_step", "defensive", "shouting"):
        assert f'data-code="{code}"' in warnings
    assert '<p id="sc-send-anyway-row">' in body  # shown, not hidden
    # The draft is shown once: a fresh visit starts empty.
    assert textarea(browser.get(page_url(case)).content.decode(), "sc-reply-text") == ""

    response = browser.post(
        action_url(case, "reply"),
        {"text": text, "visibility": "public", "send_anyway": "1"},
        follow=True,
    )
    assert "Reply queued for sending." in messages_of(response)
    assert case.posts.get(direction="outbound").text == text


def test_private_replies_skip_the_tone_check_except_defensiveness(browser, case):
    inbound(case, "Bad", sentiment=-0.9)
    url = action_url(case, "reply")
    response = browser.post(url, {"text": "Here is your code: 1234", "visibility": "private"})
    assert response.status_code == 302
    dm = case.posts.get(direction="outbound")
    assert (dm.visibility, dm.kind) == ("private", "direct_message")
    response = browser.post(url, {"text": "As I said: 1234", "visibility": "private"}, follow=True)
    assert case.posts.filter(direction="outbound").count() == 1
    assert 'data-code="defensive"' in response.content.decode()
    assert 'value="private" checked' in response.content.decode()


def test_a_canned_reply_is_rendered_and_checked_when_the_box_is_empty(browser, case):
    inbound(case, "Hi")
    template = ReplyTemplate.objects.create(
        name="Thanks", text="Thanks {{ customer }}! We'll DM you the details."
    )
    response = browser.post(
        action_url(case, "reply"), {"text": "", "visibility": "public", "template": template.pk}
    )
    assert response.status_code == 302
    reply = case.posts.get(direction="outbound")
    assert reply.text == "Thanks Ada Lovelace! We'll DM you the details."
    assert case.events.get(kind="replied").data["template"] == "Thanks"


def test_refused_reply_keeps_the_text_and_says_why(browser, case):
    inbound(case, "Hi")
    long_text = "Thanks! We'll DM you. " + "x" * 300
    response = browser.post(
        action_url(case, "reply"),
        {"text": long_text, "visibility": "public", "send_anyway": "1"},
        follow=True,
    )
    assert any("280-character limit" in m for m in messages_of(response))
    assert textarea(response.content.decode(), "sc-reply-text") == long_text
    response = browser.post(action_url(case, "reply"), {"text": "  "}, follow=True)
    assert "Write a reply (or pick a canned one) first." in messages_of(response)
    assert not case.posts.filter(direction="outbound").exists()


def test_reply_during_an_approval_incident_is_held_then_approved_by_another_agent(
    client, case, alice, bob
):
    inbound(case, "I will sue")
    incident = Incident.objects.create(title="Legal", severity="high", requires_approval=True)
    Case.objects.filter(pk=case.pk).update(incident=incident)
    alice = grant(alice, "approve_reply")  # may approve, but not her own reply
    client.force_login(alice)
    response = client.post(
        action_url(case, "reply"),
        {"text": "Thanks, we'll DM you.", "visibility": "public"},
        follow=True,
    )
    assert any("held until another agent approves it" in m for m in messages_of(response))
    held = case.posts.get(direction="outbound")
    assert held.send_status == "awaiting_approval"
    body = response.content.decode()
    assert 'class="sc-approve button"' in body and 'class="sc-reject button"' in body
    assert "(yours: another agent must approve it)" in body

    response = client.post(action_url(case, "approve", held.pk), follow=True)
    assert "A reply must be approved by someone other than its author." in messages_of(response)
    held.refresh_from_db()
    assert held.send_status == "awaiting_approval"

    client.force_login(bob)
    response = client.post(action_url(case, "approve", held.pk), follow=True)
    assert "Reply approved and queued for sending." in messages_of(response)
    held.refresh_from_db()
    assert held.send_status == "queued"


def test_held_reply_rejected_with_a_reason_and_approval_needs_the_permission(
    client, case, alice, bob, make_user
):
    inbound(case, "I will sue")
    incident = Incident.objects.create(title="Legal", severity="high", requires_approval=True)
    Case.objects.filter(pk=case.pk).update(incident=incident)
    held = send_reply(case, "Thanks, we'll DM you.", actor=alice)
    carol = grant(make_user("carol"), "view_case", "change_case")
    case.team.memberships.create(user=carol)
    client.force_login(carol)
    response = client.post(action_url(case, "approve", held.pk), follow=True)
    assert "You do not have permission to approve replies." in messages_of(response)
    client.force_login(bob)
    response = client.post(action_url(case, "reject", held.pk), {"reason": "Legal first"})
    assert response.status_code == 302
    held.refresh_from_db()
    assert held.send_status == "failed"
    assert held.send_error == "Not approved by bob: Legal first"
    other = case_services.open_case(channel=case.channel, subject="Other")
    assert client.post(action_url(other, "approve", held.pk)).status_code == 404


# Hand-off, notes, work, escalation ----------------------------------------------------------


def test_hand_off_by_direct_message_with_a_templated_public_note(browser, case):
    inbound(case, "My account is hacked")
    template = ReplyTemplate.objects.create(
        name="Private", text="Sorry {{ customer }}, we've sent you a DM."
    )
    response = browser.post(
        action_url(case, "hand_off"),
        {"via": "direct_message", "note_template": template.pk, "private_message": "Hi Ada"},
        follow=True,
    )
    assert "Taken private via direct message." in messages_of(response)
    case.refresh_from_db()
    assert case.handed_off_to == "direct_message" and case.visibility == "private"
    public, private = case.posts.filter(direction="outbound").order_by("pk")
    assert (public.visibility, public.text) == (
        "public",
        "Sorry Ada Lovelace, we've sent you a DM.",
    )
    assert (private.visibility, private.text) == ("private", "Hi Ada")
    body = response.content.decode()
    assert 'id="sc-handoff-form"' not in body
    assert "This conversation was taken private via direct message." in body
    # From now on the composer answers privately by default.
    assert re.search(r'value="private"\s+checked', body), body
    assert not re.search(r'value="public"\s+checked', body)


def test_hand_off_by_email_sends_mail(browser, case):
    inbound(case, "Help")
    response = browser.post(
        action_url(case, "hand_off"),
        {"via": "email", "public_note": "Thanks, we've emailed you.", "private_message": "Hello"},
    )
    assert response.status_code == 302
    assert mail.outbox[0].to == ["ada@example.com"]
    assert mail.outbox[0].body == "Hello"
    assert case.posts.get(direction="outbound").text == "Thanks, we've emailed you."


def test_hand_off_errors_are_messages_and_keep_what_was_typed(
    browser, case, customer, make_customer
):
    inbound(case, "Help")
    case_services.set_customer(case, make_customer("No Mail", ""))
    response = browser.post(
        action_url(case, "hand_off"),
        {"via": "email", "private_message": "Long careful text"},
        follow=True,
    )
    assert "The customer has no email address on file." in messages_of(response)
    assert textarea(response.content.decode(), "sc-handoff-message") == "Long careful text"
    assert '<option value="email" selected>' in response.content.decode()
    case.refresh_from_db()
    assert case.handed_off_to == "" and not case.posts.filter(direction="outbound").exists()
    response = browser.post(action_url(case, "hand_off"), {"via": "pigeon"}, follow=True)
    assert any("not 'pigeon'" in m for m in messages_of(response))


def test_adding_a_note(browser, case, alice):
    response = browser.post(action_url(case, "note"), {"text": "Called the courier."}, follow=True)
    assert "Note added." in messages_of(response)
    note = case.events.get(kind="note")
    assert (note.actor, note.data["text"]) == (alice, "Called the courier.")
    assert kinds(response.content.decode())[-1] == "note"
    response = browser.post(action_url(case, "note"), {"text": " "}, follow=True)
    assert "A note needs some text." in messages_of(response)


def test_work_form_offers_allowed_statuses_and_saves_through_services(browser, case, alice, bob):
    body = browser.get(page_url(case)).content.decode()
    work = body.split('id="sc-work-form"', 1)[1].split("</form>", 1)[0]
    status_select = work.split('name="status"', 1)[1].split("</select>", 1)[0]
    assert re.findall(r'value="(\w+)"', status_select) == [
        "new",
        "closed",
        "open",
        "resolved",
        "waiting_on_customer",
    ]
    assert f'value="{bob.pk}"' in work and "Bob Backup" in work
    response = browser.post(
        action_url(case, "work"),
        {"status": "waiting_on_customer", "priority": "high", "assignee": bob.pk},
        follow=True,
    )
    assert "Saved: status, priority, assignee." in messages_of(response)
    case.refresh_from_db()
    assert (case.status, case.priority, case.assignee) == ("waiting_on_customer", "high", bob)
    assert {"status_changed", "priority_changed", "assignee_changed"} <= set(
        case.events.values_list("kind", flat=True)
    )
    response = browser.post(
        action_url(case, "work"), {"status": "closed", "priority": "high", "assignee": bob.pk}
    )
    case.refresh_from_db()
    body = browser.get(page_url(case)).content.decode()
    status_select = body.split('id="sc-work-status"', 1)[1].split("</select>", 1)[0]
    assert re.findall(r'value="(\w+)"', status_select) == ["closed"]


def test_work_form_refuses_illegal_moves_and_strangers(browser, case, make_user):
    case_services.change_status(case, "closed")
    response = browser.post(
        action_url(case, "work"),
        {"status": "open", "priority": "normal", "assignee": ""},
        follow=True,
    )
    assert any("cannot go from Closed to Open" in m for m in messages_of(response))
    outsider = make_user("mallory", is_staff=False)
    response = browser.post(
        action_url(case, "work"),
        {"status": "closed", "priority": "normal", "assignee": outsider.pk},
        follow=True,
    )
    assert "Pick an active staff member as assignee." in messages_of(response)
    case.refresh_from_db()
    assert case.status == "closed" and case.assignee is None


def test_open_incident_from_the_case_redirects_to_its_console(client, case, alice):
    client.force_login(alice)
    body = client.get(page_url(case)).content.decode()
    assert 'id="sc-open-incident-form"' not in body  # needs socialcare.add_incident
    assert client.post(action_url(case, "open_incident")).status_code == 403
    supervisor = grant(alice, "add_incident")
    client.force_login(supervisor)
    assert 'id="sc-open-incident"' in client.get(page_url(case)).content.decode()
    response = client.post(action_url(case, "open_incident"), {"title": "Courier outage"})
    incident = Incident.objects.get()
    assert response["Location"] == f"/admin/socialcare/incident/{incident.pk}/change/"
    assert incident.title == "Courier outage"
    case.refresh_from_db()
    assert case.incident == incident
    response = client.post(action_url(case, "open_incident"), {"playbook": "999"}, follow=True)
    assert "Pick one of the active playbooks." in messages_of(response)


# Permissions and CSRF -----------------------------------------------------------------------


ACTIONS = ["tone_check", "reply", "hand_off", "note", "work", "open_incident"]


def test_view_only_user_sees_the_page_without_forms_and_cannot_post(client, case, make_user):
    viewer = grant(make_user("vera"), "view_case")
    case.team.memberships.create(user=viewer)
    client.force_login(viewer)
    body = client.get(page_url(case)).content.decode()
    assert 'id="sc-timeline"' in body and 'id="sc-sla"' in body
    for form in ("sc-reply-form", "sc-handoff-form", "sc-note-form", "sc-work-form"):
        assert f'id="{form}"' not in body
    for name in ACTIONS:
        assert client.post(action_url(case, name), {"text": "hi"}).status_code == 403, name
    assert not case.events.filter(kind="note").exists()


def test_another_teams_case_is_not_found(client, case, make_user):
    stranger = grant(make_user("sam"), "view_case", "change_case", "add_incident")
    Team.objects.create(name="Elsewhere").memberships.create(user=stranger)
    client.force_login(stranger)
    assert client.get(page_url(case)).status_code == 404
    for name in ACTIONS:
        assert client.post(action_url(case, name), {"text": "hi"}).status_code == 404, name
    assert client.post(action_url(case, "approve", 1)).status_code == 404


def test_anonymous_users_are_sent_to_the_login_page(client, case):
    response = client.post(action_url(case, "note"), {"text": "hi"})
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_actions_need_a_csrf_token(case, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(action_url(case, "note"), {"text": "no token"}).status_code == 403
    assert client.post(action_url(case, "tone_check"), {"text": "x"}).status_code == 403
    body = client.get(page_url(case)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
    response = client.post(
        action_url(case, "note"), {"text": "with token", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    response = client.post(
        action_url(case, "tone_check"), {"text": "Thanks!"}, HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 200
    assert case.events.get(kind="note").data["text"] == "with token"


def test_details_form_still_edits_subject_customer_team_and_tags(browser, case, make_customer):
    other = make_customer("Grace Hopper")
    response = browser.post(
        page_url(case),
        {
            "subject": "Parcel lost",
            "customer": other.pk,
            "team": case.team_id,
            "tag_names": "shipping",
            # status/priority/assignee sent here are ignored: the work form owns them.
            "status": "closed",
            "priority": "urgent",
        },
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.subject, case.customer, case.status, case.priority) == (
        "Parcel lost",
        other,
        "new",
        "normal",
    )
    assert [t.name for t in case.tags.all()] == ["shipping"]
    assert case.events.filter(kind="customer_changed").exists()


def test_page_renders_for_a_case_without_channel_customer_or_posts(browser):
    bare = case_services.open_case(subject="Phoned in")
    body = browser.get(page_url(bare)).content.decode()
    assert "Not linked to a customer yet" in body and "No social identity." in body
    assert kinds(body) == ["event"]
    assert 'id="sc-char-count" class="sc-count" aria-live="polite">0 / no limit<' in body
    response = browser.post(
        action_url(bare, "reply"),
        {"text": "Thanks! We'll call you.", "visibility": "public"},
        follow=True,
    )
    assert any("has no channel to reply through" in m for m in messages_of(response))
