"""The incident console (the incident's admin page): evidence, linked cases, the playbook checklist
(done / skip with a comment / retry a failed step), a holding reply to every linked case,
contain / resolve, the timeline; permissions, CSRF and escaping."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from socialcare.models import (
    Case,
    Incident,
    IncidentStep,
    Playbook,
    PlaybookStep,
    Post,
    ReplyTemplate,
    Team,
)
from socialcare.services import cases as case_services
from socialcare.services.incidents import change_incident_status, open_incident

pytestmark = pytest.mark.django_db
XSS = "<script>alert('x')</script>"


def grant(user, *codenames):
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="socialcare", codename__in=codenames)
    )
    return type(user).objects.get(pk=user.pk)  # a fresh object: no cached permissions


def console_url(incident):
    return reverse("admin:socialcare_incident_change", args=[incident.pk])


def step_url(incident, step):
    return reverse("admin:socialcare_incident_step", args=[incident.pk, step.pk])


def status_url(incident):
    return reverse("admin:socialcare_incident_status", args=[incident.pk])


def holding_url(incident):
    return reverse("admin:socialcare_incident_holding_reply", args=[incident.pk])


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def lead(make_user, team):
    user = make_user("lead", first_name="Lee", last_name="Lead")
    return grant(
        user,
        "view_incident",
        "change_incident",
        "change_incidentstep",
        "view_case",
        "change_case",
        "view_all_cases",
    )


@pytest.fixture
def lead_client(client, lead):
    client.force_login(lead)
    return client


@pytest.fixture
def world(channel, identity, make_identity, customer, team):
    """An incident opened by a detector: two open cases, one closed, a failed automatic step."""
    template = ReplyTemplate.objects.create(
        name="Known defect", shortcut="defect", text="Hi {{ customer }}, we know and are on it."
    )
    playbook = Playbook.objects.create(name="Defect", slug="defect", severity="high")
    for order, (title, kind, automatic, config) in enumerate(
        [
            ("Route to Escalations", "assign_team", True, {"team": "Escalations"}),
            ("Confirm with Product", "checklist", False, {}),
            ("Publish an update", "checklist", False, {}),
        ],
        start=1,
    ):
        PlaybookStep.objects.create(
            playbook=playbook, order=order, title=title, kind=kind, automatic=automatic,
            due_after_minutes=30, config=config,
        )  # fmt: skip
    public_case = case_services.open_case(channel=channel, identity=identity, subject="Broken")
    Post.objects.create(
        platform="x", external_id="9001", channel=channel, author=identity, direction="inbound",
        kind="mention", visibility="public", text=f"@acme it broke {XSS}", case=public_case,
    )  # fmt: skip
    evil = make_identity("666", "<img src=x onerror=alert(1)>", display_name=XSS)
    private_case = case_services.open_case(channel=channel, identity=evil, subject="Also broken")
    closed_case = case_services.open_case(channel=channel, identity=identity, subject="Old one")
    Case.objects.filter(pk=closed_case.pk).update(status=Case.Status.CLOSED)
    closed_case.refresh_from_db()
    incident, _ = open_incident(
        title="Defect wave",
        playbook=playbook,
        scope="platform=x;channel=*",
        evidence={
            "summary": "18 negative posts in 15 min (threshold 15)",
            "detector": "Negative surge",
            "count": 18,
            "baseline": 2.5,
            "threshold": 15,
            "window_minutes": 15,
            "sample_posts": [
                {"author": "@ada", "text": f"It broke again {XSS}", "url": "javascript:alert(1)"},
                {"author": "@bo", "text": "Same here", "url": "https://x.com/bo/status/1"},
            ],
        },
        cases=[public_case, private_case, closed_case],
    )
    return {
        "incident": incident,
        "template": template,
        "public_case": public_case,
        "private_case": private_case,
        "closed_case": closed_case,
        "failed": incident.steps.get(title="Route to Escalations"),
        "confirm": incident.steps.get(title="Confirm with Product"),
        "publish": incident.steps.get(title="Publish an update"),
    }


def step_li(body, step):
    match = re.search(rf'<li class="sc-step[^"]*"[^>]*data-step-id="{step.pk}"[^>]*>', body)
    assert match, f"no li for step {step.pk}"
    return match.group(0)


# Rendering -----------------------------------------------------------------------------------
def test_console_shows_evidence_cases_steps_and_timeline(
    lead_client, world, django_assert_max_num_queries
):
    incident = world["incident"]
    with django_assert_max_num_queries(16):
        response = lead_client.get(console_url(incident))
    assert response.status_code == 200
    body = response.content.decode()
    assert (
        '<span id="sc-incident-status" class="sc-status sc-status--open" data-status="open">'
        in body
    )
    evidence = body[body.index('<section id="sc-evidence"') :]
    evidence = evidence[: evidence.index("</section>")]
    assert "18 negative posts in 15 min (threshold 15)" in evidence
    assert "Usual count per window (baseline)" in evidence and "2.5" in evidence
    assert "Negative surge" in evidence
    assert 'href="https://x.com/bo/status/1"' in evidence
    assert "javascript:" not in evidence  # an unsafe sample URL is not linked
    # Linked cases with reference link, customer, status, SLA state.
    table = body[body.index('<table id="sc-incident-cases"') :]
    table = table[: table.index("</table>")]
    for case in (world["public_case"], world["private_case"], world["closed_case"]):
        assert (
            f'<a href="{reverse("admin:socialcare_case_change", args=[case.pk])}">{case.reference}</a>'
            in table
        )
    assert "Ada Lovelace" in table
    assert 'data-sla="ok"' in table
    assert "Closed" in table
    # The checklist: one li per step, the failed one with its reason and a Retry button.
    assert body.count('class="sc-step ') == 3
    assert 'data-status="failed"' in step_li(body, world["failed"])
    assert "Failed: no team named &#x27;Escalations&#x27;" in body
    assert 'data-status="pending"' in step_li(body, world["confirm"])
    assert body.count('class="button sc-step-done"') == 2
    assert body.count('class="button sc-step-done sc-step-retry"') == 1
    assert body.count('class="button sc-step-skip"') == 3
    assert 'id="sc-holding-form"' in body and 'id="sc-send-holding"' in body
    assert 'id="sc-contain"' in body and 'id="sc-resolve"' in body
    assert 'id="sc-reopen"' not in body
    timeline = body[body.index('<ol id="sc-incident-timeline"') :]
    assert "Opened" in timeline and "Step failed" in timeline and "Cases linked" in timeline


def test_user_text_is_escaped_everywhere(lead_client, world):
    body = lead_client.get(console_url(world["incident"])).content.decode()
    assert XSS not in body
    assert "<img src=x onerror=alert(1)>" not in body
    assert "It broke again &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in body
    assert "@&lt;img src=x onerror=alert(1)&gt;" in body


def test_the_edit_form_still_saves_title_and_severity(lead_client, world):
    incident = world["incident"]
    response = lead_client.post(
        console_url(incident), {"title": "Defect wave (app 4.2)", "severity": "critical"}
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    assert (incident.title, incident.severity) == ("Defect wave (app 4.2)", "critical")


# Steps ----------------------------------------------------------------------------------------
def test_done_with_a_comment_ticks_the_step(lead_client, world, lead):
    step, incident = world["confirm"], world["incident"]
    response = lead_client.post(
        step_url(incident, step), {"action": "done", "comment": "Product confirmed"}, follow=True
    )
    assert response.redirect_chain[-1][0].startswith(console_url(incident))
    assert "Confirm with Product: done" in " ".join(messages_of(response))
    step.refresh_from_db()
    assert (step.status, step.done_by, step.comment) == ("done", lead, "Product confirmed")
    body = response.content.decode()
    assert 'data-status="done"' in step_li(body, step)
    assert "Comment: Product confirmed" in body
    assert incident.events.filter(kind="step_done", data__step="Confirm with Product").exists()


def test_skip_needs_a_comment(lead_client, world):
    step, incident = world["publish"], world["incident"]
    response = lead_client.post(
        step_url(incident, step), {"action": "skip", "comment": "  "}, follow=True
    )
    assert "Say why the step is skipped." in messages_of(response)
    step.refresh_from_db()
    assert step.status == "pending"
    response = lead_client.post(
        step_url(incident, step), {"action": "skip", "comment": "No update needed"}, follow=True
    )
    step.refresh_from_db()
    assert (step.status, step.comment) == ("skipped", "No update needed")
    assert 'data-status="skipped"' in step_li(response.content.decode(), step)


def test_a_finished_step_cannot_be_ticked_again(lead_client, world):
    step, incident = world["confirm"], world["incident"]
    lead_client.post(step_url(incident, step), {"action": "done"})
    response = lead_client.post(
        step_url(incident, step), {"action": "skip", "comment": "x"}, follow=True
    )
    assert "Step 'Confirm with Product' is already done." in messages_of(response)


def test_a_failed_step_is_retried_after_the_cause_is_fixed(lead_client, world):
    step, incident = world["failed"], world["incident"]
    response = lead_client.post(step_url(incident, step), {"action": "retry"}, follow=True)
    step.refresh_from_db()
    assert step.status == "failed"
    assert "Route to Escalations: failed — no team named 'Escalations'" in messages_of(response)
    Team.objects.create(name="Escalations")
    response = lead_client.post(step_url(incident, step), {"action": "retry"}, follow=True)
    step.refresh_from_db()
    assert step.status == "done"
    assert step.result == "applied to 3 of 3 case(s)"
    assert Case.objects.filter(incident=incident, team__name="Escalations").count() == 3
    assert 'data-status="done"' in step_li(response.content.decode(), step)


def test_only_a_failed_step_is_retried_and_unknown_actions_are_refused(lead_client, world):
    step, incident = world["confirm"], world["incident"]
    response = lead_client.post(step_url(incident, step), {"action": "retry"}, follow=True)
    assert "Step 'Confirm with Product' has not failed; nothing to retry." in messages_of(response)
    response = lead_client.post(step_url(incident, step), {"action": "explode"}, follow=True)
    assert "Choose done, skip or retry." in messages_of(response)
    step.refresh_from_db()
    assert step.status == "pending"


def test_a_step_of_another_incident_is_not_found(lead_client, world, channel, identity):
    other, _ = open_incident(title="Other", scope="manual")
    response = lead_client.post(step_url(other, world["confirm"]), {"action": "done"})
    assert response.status_code == 404


def test_steps_only_take_posts(lead_client, world):
    response = lead_client.get(step_url(world["incident"], world["confirm"]))
    assert response.status_code == 405


# Holding reply --------------------------------------------------------------------------------
def test_holding_reply_from_a_canned_reply_goes_to_open_linked_cases(lead_client, world):
    incident = world["incident"]
    response = lead_client.post(
        holding_url(incident), {"template": world["template"].pk, "text": ""}, follow=True
    )
    text = " ".join(messages_of(response))
    closed = world["closed_case"].reference
    assert "Holding reply sent to 2 case(s)" in text
    assert f"skipped 1 — {closed}: case is closed" in text
    public = world["public_case"].posts.get(direction="outbound")
    assert (public.visibility, public.text) == ("public", "Hi Ada Lovelace, we know and are on it.")
    assert world["private_case"].posts.get(direction="outbound").visibility == "private"
    assert not world["closed_case"].posts.filter(direction="outbound").exists()
    event = incident.events.get(kind="holding_reply")
    assert (event.data["sent"], event.data["skipped"]) == (2, 1)


def test_typed_holding_reply_is_held_while_the_incident_requires_approval(lead_client, world):
    incident = world["incident"]
    Incident.objects.filter(pk=incident.pk).update(requires_approval=True)
    response = lead_client.post(holding_url(incident), {"text": "We are on it."}, follow=True)
    text = " ".join(messages_of(response))
    # Only the public reply waits; the private one (a DM) is not held.
    assert f"sent to 1 case(s) (1 held for approval: {world['public_case'].reference})" in text
    assert world["public_case"].posts.get(direction="outbound").send_status == "awaiting_approval"
    assert world["private_case"].posts.get(direction="outbound").send_status == "queued"


def test_holding_reply_needs_text_or_a_template_and_is_checked(lead_client, world):
    incident = world["incident"]
    response = lead_client.post(holding_url(incident), {"text": " "}, follow=True)
    assert "Write the holding reply or choose a canned reply." in messages_of(response)
    response = lead_client.post(holding_url(incident), {"template": "99999"}, follow=True)
    assert "That canned reply is not available any more; choose another." in messages_of(response)
    long_text = "x" * 300  # over X's 280 for the public case; fine as a DM
    response = lead_client.post(holding_url(incident), {"text": long_text}, follow=True)
    text = " ".join(messages_of(response))
    assert "Holding reply sent to 1 case(s)" in text
    assert "300 characters is over the 280-character limit" in text


def test_holding_reply_skips_cases_the_agent_cannot_see(client, world, agent):
    other_team = Team.objects.create(name="Other")
    Case.objects.filter(pk=world["private_case"].pk).update(team=other_team)
    agent = grant(agent, "view_incident", "change_incident", "change_case")  # a member of Care
    client.force_login(agent)
    body = client.get(console_url(world["incident"])).content.decode()
    table = body[body.index('<table id="sc-incident-cases"') :]
    table = table[: table.index("</table>")]
    assert world["public_case"].reference in table
    assert world["private_case"].reference not in table
    assert "1 more linked case belongs to teams you are not in." in body
    response = client.post(holding_url(world["incident"]), {"text": "On it."}, follow=True)
    said = " ".join(messages_of(response))
    # The skipped case of another team is counted, not named (services.access).
    assert "a case in another team: not in your teams" in said
    assert world["private_case"].reference not in said
    assert not world["private_case"].posts.filter(direction="outbound").exists()


# Contain / resolve ----------------------------------------------------------------------------
def test_contain_then_resolve_with_notes(lead_client, world):
    incident = world["incident"]
    response = lead_client.post(
        status_url(incident), {"to": "contained", "note": "Fix deployed"}, follow=True
    )
    assert f"{incident}: now contained." in messages_of(response)
    body = response.content.decode()
    assert 'data-status="contained"' in body and 'id="sc-reopen"' in body
    assert 'id="sc-contain"' not in body
    incident.refresh_from_db()
    assert incident.status == "contained" and incident.contained_at
    event = incident.events.get(kind="status_changed")
    assert event.data["note"] == "Fix deployed"
    response = lead_client.post(status_url(incident), {"to": "resolved"}, follow=True)
    incident.refresh_from_db()
    assert incident.status == "resolved"
    body = response.content.decode()
    assert 'id="sc-resolve"' not in body and 'id="sc-contain"' not in body


def test_illegal_and_unknown_transitions_are_refused(lead_client, world):
    incident = world["incident"]
    change_incident_status(incident, "resolved", actor=None)
    response = lead_client.post(status_url(incident), {"to": "contained"}, follow=True)
    assert f"Incident #{incident.pk} cannot go from Resolved to Contained." in messages_of(response)
    response = lead_client.post(status_url(incident), {"to": "exploded"}, follow=True)
    assert "Unknown incident status 'exploded'." in messages_of(response)
    incident.refresh_from_db()
    assert incident.status == "resolved"


# Permissions and CSRF -------------------------------------------------------------------------
def test_a_viewer_sees_the_console_without_buttons_and_cannot_post(client, world, make_user):
    viewer = grant(make_user("viewer"), "view_incident", "view_case", "view_all_cases")
    client.force_login(viewer)
    body = client.get(console_url(world["incident"])).content.decode()
    assert 'id="sc-steps"' in body and 'id="sc-evidence"' in body
    assert "sc-step-done" not in body and 'id="sc-holding-form"' not in body
    assert 'id="sc-contain"' not in body
    incident, step = world["incident"], world["confirm"]
    assert client.post(step_url(incident, step), {"action": "done"}).status_code == 403
    assert client.post(status_url(incident), {"to": "contained"}).status_code == 403
    assert client.post(holding_url(incident), {"text": "hi"}).status_code == 403
    step.refresh_from_db()
    incident.refresh_from_db()
    assert (step.status, incident.status) == ("pending", "open")


def test_step_rights_and_incident_rights_are_separate(client, world, make_user):
    ticker = grant(make_user("ticker"), "view_incident", "change_incidentstep")
    client.force_login(ticker)
    body = client.get(console_url(world["incident"])).content.decode()
    assert "sc-step-done" in body and 'id="sc-contain"' not in body
    response = client.post(step_url(world["incident"], world["confirm"]), {"action": "done"})
    assert response.status_code == 302
    assert client.post(status_url(world["incident"]), {"to": "contained"}).status_code == 403


def test_anonymous_is_sent_to_login(client, world):
    response = client.post(status_url(world["incident"]), {"to": "contained"})
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_posts_need_the_csrf_token(world, lead):
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    incident = world["incident"]
    assert client.post(status_url(incident), {"to": "contained"}).status_code == 403
    assert client.post(step_url(incident, world["confirm"]), {"action": "done"}).status_code == 403
    incident.refresh_from_db()
    assert incident.status == "open"
    body = client.get(console_url(incident)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
    response = client.post(status_url(incident), {"to": "contained", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.status == "contained"


def test_the_console_query_count_does_not_grow_with_cases(
    lead_client, world, channel, identity, django_assert_max_num_queries
):
    more = [case_services.open_case(channel=channel, identity=identity) for _ in range(15)]
    from socialcare.services.incidents import link_cases

    link_cases(world["incident"], more)
    with django_assert_max_num_queries(16):
        response = lead_client.get(console_url(world["incident"]))
    assert response.content.decode().count("<tr data-case-id=") == 18
    assert IncidentStep.objects.filter(incident=world["incident"]).count() == 3


def test_an_invalid_edit_keeps_the_console(lead_client, world):
    response = lead_client.post(console_url(world["incident"]), {"title": "", "severity": "high"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "This field is required." in body
    assert 'id="sc-steps"' in body and 'id="sc-evidence"' in body
