"""Macros (issue #20): a named set of case actions run in one step from the case page, the inbox
(bulk) and the API, all or nothing per case, audited as one ``macro_applied`` event; who may run
and who may edit them; bad input answered with a 4xx, never a 500."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from socialcare.models import (
    Case,
    CaseEvent,
    Macro,
    MacroAction,
    Post,
    ReplyTemplate,
    Team,
    TeamMembership,
)
from socialcare.services import cases as case_services
from socialcare.services import macros as macro_services
from socialcare.services.incidents import open_incident_from_case
from socialcare.services.roles import ADMIN, AGENT
from tests.test_api_cases import client_for as client_for

pytestmark = pytest.mark.django_db

API = "/socialcare/api/v1"
INBOX = "/admin/socialcare/case/"
Kind = MacroAction.Kind


def customer_post(case: Case, text: str = "My refund never came") -> Post:
    return Post.objects.create(
        platform="x",
        external_id=f"in-{Post.objects.count() + 1}",
        channel=case.channel,
        author=case.identity,
        direction="inbound",
        kind="mention",
        visibility="public",
        text=text,
        case=case,
    )


def make_macro(name: str, *steps: dict, teams=(), groups=(), active: bool = True) -> Macro:
    macro = Macro.objects.create(name=name, is_active=active)
    macro.teams.set(teams)
    macro.groups.set(groups)
    for position, step in enumerate(steps, 1):
        MacroAction.objects.create(macro=macro, position=position, **step)
    return macro


@pytest.fixture
def template() -> ReplyTemplate:
    return ReplyTemplate.objects.create(
        name="Refund issued", text="Hi {{ customer }}, your refund is on its way."
    )


@pytest.fixture
def refund(template) -> Macro:
    """Reply publicly, tag, resolve and note: what an agent does by hand for a refund."""
    return make_macro(
        "Refund issued",
        {"kind": Kind.REPLY, "template": template, "visibility": "public"},
        {"kind": Kind.ADD_TAGS, "tags": "refund, billing"},
        {"kind": Kind.STATUS, "status": "resolved"},
        {"kind": Kind.NOTE, "text": "Refund confirmed by macro."},
    )


@pytest.fixture
def billing_only(make_user) -> Macro:
    billing = Team.objects.create(name="Billing")
    TeamMembership.objects.create(team=billing, user=make_user("carol"))
    return make_macro(
        "Escalate to billing", {"kind": Kind.PRIORITY, "priority": "high"}, teams=[billing]
    )


@pytest.fixture
def alice(agent, team, sign_in, client):
    """Alice, a support agent of team Care, signed in to admin."""
    sign_in(client, agent, AGENT)
    return type(agent).objects.get(pk=agent.pk)


def macro_events(case: Case) -> list[CaseEvent]:
    return list(CaseEvent.objects.filter(case=case, kind=CaseEvent.Kind.MACRO_APPLIED))


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# The case page ---------------------------------------------------------------------------------


def test_case_page_runs_a_macro_as_one_audited_event(client, alice, case, refund, billing_only):
    customer_post(case)
    page = client.get(reverse("admin:socialcare_case_change", args=[case.pk]))
    body = page.content.decode()
    assert 'id="sc-macro-form"' in body
    assert f'<option value="{refund.pk}"' in body
    assert "Escalate to billing" not in body  # limited to a team Alice is not in

    url = reverse("admin:socialcare_case_macro", args=[case.pk])
    response = client.post(url, {"macro": refund.pk}, follow=True)
    assert any("Macro “Refund issued” applied" in m for m in messages_of(response))

    case.refresh_from_db()
    assert case.status == "resolved"
    assert sorted(case.tags.values_list("name", flat=True)) == ["billing", "refund"]
    reply = Post.objects.get(case=case, direction="outbound")
    assert reply.text == "Hi Ada Lovelace, your refund is on its way."
    assert reply.send_status == Post.SendStatus.QUEUED and reply.sent_by_id == alice.pk
    notes = CaseEvent.objects.filter(case=case, kind="note")
    assert [n.data["text"] for n in notes] == ["Refund confirmed by macro."]
    (event,) = macro_events(case)
    assert event.actor_id == alice.pk and event.data["macro_id"] == refund.pk
    assert event.data["actions"] == [
        "public reply “Refund issued” queued",
        "tags added: refund, billing",
        "status → resolved",
        "note added",
    ]
    # It heads the changes it made in the timeline.
    first = CaseEvent.objects.filter(case=case).exclude(kind__in=["created", "post_added"])
    assert first.order_by("at", "pk").first() == event
    assert "Macro “Refund issued” applied" in event.summary()
    page = client.get(reverse("admin:socialcare_case_change", args=[case.pk])).content.decode()
    assert 'data-event="macro_applied"' in page
    assert "Macro “Refund issued” applied: public reply “Refund issued” queued;" in page


def test_a_refused_step_fails_the_whole_macro_and_keeps_nothing(client, alice, case, refund):
    # No customer post to reply to: the reply (step 1) is refused after nothing else ran, and
    # the steps after it must not run either.
    url = reverse("admin:socialcare_case_macro", args=[case.pk])
    response = client.post(url, {"macro": refund.pk}, follow=True)
    errors = messages_of(response)
    assert any("Step 1" in m and "nothing changed" in m for m in errors), errors
    case.refresh_from_db()
    assert case.status == "new" and not case.tags.exists()
    assert not Post.objects.filter(direction="outbound").exists()
    assert not macro_events(case)

    # A later step refused rolls back the earlier ones too.
    resolve_then_note = make_macro(
        "Close out",
        {"kind": Kind.ADD_TAGS, "tags": "done"},
        {"kind": Kind.STATUS, "status": "closed"},
        {"kind": Kind.REPLY, "template": refund.actions.first().template},
    )
    customer_post(case)
    response = client.post(url, {"macro": resolve_then_note.pk}, follow=True)
    assert any("Step 3" in m and "closed" in m for m in messages_of(response))
    case.refresh_from_db()
    assert case.status == "new" and not case.tags.exists()


def test_case_page_refuses_a_macro_not_offered(client, alice, case, billing_only, refund):
    url = reverse("admin:socialcare_case_macro", args=[case.pk])
    for value in (billing_only.pk, "abc", "999999", ""):
        response = client.post(url, {"macro": value}, follow=True)
        assert response.status_code == 200
        assert any("Pick one of the macros" in m for m in messages_of(response))
    Macro.objects.filter(pk=refund.pk).update(is_active=False)
    response = client.post(url, {"macro": refund.pk}, follow=True)
    assert any("Pick one of the macros" in m for m in messages_of(response))
    assert client.get(url).status_code == 405
    case.refresh_from_db()
    assert case.priority == "normal" and not macro_events(case)


def test_macro_reply_waits_for_approval_during_an_incident(client, alice, case, refund, make_user):
    customer_post(case)
    boss = make_user("boss", is_superuser=True)
    incident = open_incident_from_case(case, actor=boss, title="Outage")
    type(incident).objects.filter(pk=incident.pk).update(requires_approval=True)
    result = macro_services.apply_macro(case, refund, actor=alice)
    assert result.done[0] == "public reply “Refund issued” held for approval"
    reply = Post.objects.get(case=case, direction="outbound")
    assert reply.send_status == Post.SendStatus.AWAITING_APPROVAL


# The inbox ---------------------------------------------------------------------------------------


def test_inbox_bulk_runs_a_macro_and_reports_the_refused_case(
    client, alice, channel, make_identity, refund
):
    cases = [
        case_services.open_case(channel=channel, identity=make_identity(str(n)), subject=f"c{n}")
        for n in range(3)
    ]
    customer_post(cases[0])
    customer_post(cases[2])  # cases[1] has nothing to reply to

    payload = {"action": "apply_macro_action", "_selected_action": [c.pk for c in cases]}
    page = client.post(INBOX, payload)
    body = page.content.decode()
    assert page.status_code == 200 and "Run a macro" in body
    assert "Refund issued (Reply (public) with “Refund issued”" in body

    done = client.post(INBOX, {**payload, "confirm": "yes", "macro": refund.pk}, follow=True)
    shown = messages_of(done)
    assert "2 case(s) changed by the macro “Refund issued”." in shown
    assert any(
        m.startswith(f"{cases[1].reference}: macro “Refund issued” not applied") for m in shown
    )
    statuses = {c.reference: c.status for c in Case.objects.filter(pk__in=[c.pk for c in cases])}
    assert statuses == {
        cases[0].reference: "resolved",
        cases[1].reference: "new",
        cases[2].reference: "resolved",
    }
    assert [len(macro_events(c)) for c in cases] == [1, 0, 1]


def test_inbox_bulk_with_a_bad_choice_asks_again(client, alice, case, billing_only, refund):
    payload = {"action": "apply_macro_action", "_selected_action": [case.pk], "confirm": "yes"}
    for bad in ("", "abc", billing_only.pk):
        response = client.post(INBOX, {**payload, "macro": bad})
        assert response.status_code == 200
        assert "Please correct the error below." in response.content.decode()
    case.refresh_from_db()
    assert case.priority == "normal" and not macro_events(case)


# Who may run and who may edit ----------------------------------------------------------------


def test_an_agent_runs_macros_but_cannot_edit_them(client, alice, refund):
    change = reverse("admin:socialcare_macro_change", args=[refund.pk])
    assert client.get(reverse("admin:socialcare_macro_changelist")).status_code == 200
    assert client.get(reverse("admin:socialcare_macro_add")).status_code == 403
    response = client.post(change, {"name": "Hacked", "is_active": "on"})
    assert response.status_code == 403
    refund.refresh_from_db()
    assert refund.name == "Refund issued"
    assert (
        client.post(f"{API}/macros/", {"name": "x"}, content_type="application/json").status_code
        == 405
    )


def test_the_admin_list_hides_macros_not_offered(client, alice, refund, billing_only):
    body = client.get(reverse("admin:socialcare_macro_changelist")).content.decode()
    assert "Refund issued" in body and "Escalate to billing" not in body


def test_a_support_admin_edits_actions_in_rows_not_json(client, make_user, sign_in, template):
    sign_in(client, make_user("root"), ADMIN)
    url = reverse("admin:socialcare_macro_add")
    form = {
        "name": "Thanks",
        "is_active": "on",
        "actions-TOTAL_FORMS": "2",
        "actions-INITIAL_FORMS": "0",
        "actions-0-position": "1",
        "actions-0-kind": "reply",
        "actions-0-template": "",  # missing: the reply needs its template
        "actions-1-position": "2",
        "actions-1-kind": "add_tags",
        "actions-1-tags": " , ",
    }
    page = client.post(url, form)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Pick the reply template to send." in body and "Name at least one tag." in body
    assert not Macro.objects.exists()
    form.update({"actions-0-template": template.pk, "actions-1-tags": "thanks"})
    assert client.post(url, form).status_code == 302
    macro = Macro.objects.get(name="Thanks")
    assert [a.describe() for a in macro.actions.all()] == [
        "Reply (as the case) with “Refund issued”",
        "Add tags: thanks",
    ]


def test_roles_limit_who_is_offered_a_macro(alice, refund, make_user):
    supervisors = Group.objects.get(name="Support supervisor")
    refund.groups.set([supervisors])
    assert not macro_services.usable_macros(alice).exists()
    with pytest.raises(macro_services.MacroRefused, match="not available to you"):
        macro_services.apply_macro(Case(pk=1), refund, actor=alice)
    refund.groups.set([Group.objects.get(name=AGENT)])
    assert list(macro_services.usable_macros(alice)) == [refund]
    outsider = make_user("noperm")  # staff, but no role: may not run macros
    assert not macro_services.usable_macros(outsider).exists()


# The API -------------------------------------------------------------------------------------


@pytest.fixture
def api(alice, client_for):
    return client_for(alice)


def test_api_lists_the_macros_offered_with_filters(api, refund, billing_only, template):
    make_macro("Retired", {"kind": Kind.UNASSIGN}, active=False)
    response = api.get(f"{API}/macros/")
    assert response.status_code == 200, response.content
    (listed,) = response.json()["results"]
    assert (listed["name"], listed["sends_reply"]) == ("Refund issued", True)
    assert [a["kind"] for a in listed["actions"]] == ["reply", "add_tags", "status", "note"]
    assert listed["actions"][1]["tags"] == ["refund", "billing"]
    assert api.get(f"{API}/macros/?kind=priority").json()["results"] == []
    assert len(api.get(f"{API}/macros/?search=refund").json()["results"]) == 1
    assert api.get(f"{API}/macros/?kind=loud").status_code == 400
    assert api.get(f"{API}/macros/{billing_only.pk}/").status_code == 404


def test_api_applies_a_macro_to_a_case(api, alice, case, refund):
    customer_post(case)
    response = api.post(f"{API}/cases/{case.pk}/macros/{refund.pk}/apply/")
    assert response.status_code == 200, response.content
    body = response.json()
    (event,) = macro_events(case)
    assert body == {
        "case": case.pk,
        "reference": case.reference,
        "macro": refund.pk,
        "event": event.pk,
        "done": event.data["actions"],
    }
    case.refresh_from_db()
    assert case.status == "resolved"


def test_api_refusals_are_4xx_with_nothing_changed(
    api, client_for, alice, case, refund, billing_only
):
    refused = api.post(f"{API}/cases/{case.pk}/macros/{refund.pk}/apply/")  # no post to answer
    assert refused.status_code == 400
    assert refused.json()["code"] == "macro_refused" and "Step 1" in refused.json()["detail"]
    assert api.post(f"{API}/cases/{case.pk}/macros/{billing_only.pk}/apply/").status_code == 404
    assert api.post(f"{API}/cases/{case.pk}/macros/999999/apply/").status_code == 404
    assert api.post(f"{API}/cases/999999/macros/{refund.pk}/apply/").status_code == 404
    assert api.get(f"{API}/cases/{case.pk}/macros/{refund.pk}/apply/").status_code == 405
    no_reply = client_for(alice, scopes=["cases:read", "cases:write"])
    lacking = no_reply.post(f"{API}/cases/{case.pk}/macros/{refund.pk}/apply/")
    assert lacking.status_code == 403 and "replies:write" in lacking.json()["detail"]
    reader = client_for(alice, scopes=["cases:read"])
    assert reader.get(f"{API}/macros/").status_code == 200
    assert reader.post(f"{API}/cases/{case.pk}/macros/{refund.pk}/apply/").status_code == 403
    assert api.post(f"{API}/macros/abc/apply/", {"cases": [case.pk]}).status_code == 404
    assert api.post(f"{API}/macros/{2**64}/apply/", {"cases": [case.pk]}).status_code == 404
    assert api.post(f"{API}/cases/{2**64}/macros/{refund.pk}/apply/").status_code == 404
    for body in (
        {},
        {"cases": []},
        {"cases": "1"},
        {"cases": ["x"]},
        {"cases": [0]},
        {"cases": [2**64]},
    ):
        bad = api.post(f"{API}/macros/{refund.pk}/apply/", body)
        assert bad.status_code == 400 and "cases" in bad.json()["errors"], body
    case.refresh_from_db()
    assert case.status == "new" and not macro_events(case)


def test_api_bulk_apply_reports_per_case(api, case, refund, make_identity, make_user):
    customer_post(case)
    bare = case_services.open_case(channel=case.channel, identity=make_identity("2"))
    other = Team.objects.create(name="Elsewhere")
    hidden = case_services.open_case(channel=case.channel, identity=make_identity("3"), team=other)
    response = api.post(
        f"{API}/macros/{refund.pk}/apply/", {"cases": [case.pk, bare.pk, hidden.pk, case.pk]}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["applied"] == [{"case": case.pk, "reference": case.reference}]
    assert body["refused"][0].startswith(f"{bare.reference}: macro “Refund issued” not applied")
    assert body["refused"][1] == f"Case {hidden.pk}: no such case."
    assert len(body["refused"]) == 2
    assert [len(macro_events(c)) for c in (case, bare, hidden)] == [1, 0, 0]


# The demo --------------------------------------------------------------------------------------
