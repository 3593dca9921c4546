"""The team rule on what admin pages render from cases: incident titles, evidence and timelines,
case timelines naming merged cases and incidents, social identities, SLA alerts, verification
links, delivery bodies and delete confirmations (``services.access.Viewer``).

The world of ``test_team_rule`` (Alice, agent in Care; Billing's case with BILLING-… markers), plus:
an incident escalated from Billing's case (its title and summary name it) with a playbook step,
Care's case linked to it; a detector-style incident whose samples come from both teams; a Billing
case merged into Care's, and a Care case merged into Billing's; an identity known only from a
Billing case. Each page is read by Alice (nothing of Billing's, and her own content must show,
so an empty or broken page cannot pass) and by a supervisor (Billing's content shows).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from socialcare.admin.inlines import CaseEventInline
from socialcare.models import (
    Case,
    CaseEvent,
    IdentityVerification,
    Incident,
    OutboundDelivery,
    OutboundEvent,
    Playbook,
    PlaybookStep,
    Post,
    SLAAlert,
    SocialIdentity,
    WebhookSubscription,
)
from socialcare.services import cases as case_services
from socialcare.services import incidents as incident_services
from socialcare.services.access import OTHER_TEAM_CASE
from socialcare.services.roles import assign_role
from tests.access import test_team_rule
from tests.access.test_team_rule import World

pytestmark = pytest.mark.django_db
#: The team rule's world, as a fixture of this module too.
world = test_team_rule.world

HIDDEN_HANDLE = "billing-only-handle"


@dataclass
class More:
    world: World
    escalated: Incident
    detected: Incident
    absorbed: Case  # a Billing case merged into Care's
    gone: Case  # a Care case merged into Billing's
    billing_identity: SocialIdentity
    boss: Any

    @property
    def hidden(self) -> tuple[str, ...]:
        w = self.world
        return ("BILLING-SUBJECT", "BILLING-POST", "BILLING-NOTE", w.theirs.reference)


@pytest.fixture
def more(world: World, agent: Any, make_user: Callable[..., Any], make_identity: Any) -> More:
    carol = type(agent).objects.get(username="carol")
    playbook = Playbook.objects.create(name="Escalation", slug="escalation", severity="high")
    PlaybookStep.objects.create(playbook=playbook, order=1, title="Confirm", kind="checklist")
    escalated = incident_services.open_incident_from_case(
        world.theirs, actor=carol, playbook=playbook
    )
    mine = Case.objects.get(pk=world.mine.pk)
    incident_services.link_cases(escalated, [mine], actor=carol, move=True)
    step = escalated.steps.get()
    step.result = f"applied; {world.theirs.reference}: refused"
    step.save()
    detected, _ = incident_services.open_incident(
        title="Negative wave",
        evidence={
            "summary": "2 negative posts",
            "count": 2,
            "sample_posts": [
                {"id": world.posts["billing"].pk, "author": "@x", "text": "BILLING-POST"},
                {"id": world.posts["mine"].pk, "author": "@y", "text": "MINE-POST"},
            ],
        },
        cases=[],
    )
    absorbed = case_services.open_case(
        channel=world.mine.channel, identity=world.mine.identity, subject="ABSORBED-SUBJECT"
    )
    Case.objects.filter(pk=absorbed.pk).update(team=world.theirs.team)
    absorbed.refresh_from_db()
    case_services.merge_cases(absorbed, Case.objects.get(pk=world.mine.pk))
    gone = case_services.open_case(
        channel=world.mine.channel, identity=world.mine.identity, subject="GONE-SUBJECT"
    )
    Case.objects.filter(pk=gone.pk).update(team=world.mine.team)
    gone.refresh_from_db()
    case_services.merge_cases(gone, Case.objects.get(pk=world.theirs.pk))
    billing_identity = make_identity("999", HIDDEN_HANDLE, customer=world.customer)
    hidden_case = case_services.open_case(
        channel=world.mine.channel, identity=billing_identity, subject="BILLING-SUBJECT 2"
    )
    Case.objects.filter(pk=hidden_case.pk).update(team=world.theirs.team)
    boss = make_user("sam")
    assign_role(boss, "supervisor")
    return More(world, escalated, detected, absorbed, gone, billing_identity, boss)


def _as(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _grant(user: Any, *codenames: str) -> Any:
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="socialcare", codename__in=codenames)
    )
    return type(user).objects.get(pk=user.pk)


def _page(client: Client, url: str, **post: Any) -> str:
    response = client.post(url, post) if post else client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def _hides(body: str, more: More, where: str, *also: str) -> None:
    for marker in (*more.hidden, *also):
        assert marker not in body, f"{where}: {marker} leaked"


def _shows(body: str, where: str, *expected: str) -> None:
    for text in expected:
        assert text in body, f"{where}: {text!r} missing (broken page?)"


# Incidents --------------------------------------------------------------------------------------


def test_incident_list_titles_are_per_reader(more: More, agent: Any) -> None:
    body = _page(_as(agent), "/admin/socialcare/incident/")
    _hides(body, more, "incident list")
    _shows(body, "incident list", "Outage", f"Escalated from {OTHER_TEAM_CASE}", "Negative wave")
    boss = _page(_as(more.boss), "/admin/socialcare/incident/")
    _shows(boss, "incident list (supervisor)", "BILLING-SUBJECT", more.world.theirs.reference)


def test_incident_page_title_evidence_samples_steps_and_timeline(more: More, agent: Any) -> None:
    url = reverse("admin:socialcare_incident_change", args=[more.escalated.pk])
    body = _page(_as(agent), url)
    _hides(body, more, "escalated incident page")
    _shows(
        body,
        "escalated incident page",
        f"Escalated from {OTHER_TEAM_CASE}",  # heading, <title>, breadcrumbs, title field
        f"from {OTHER_TEAM_CASE}",  # the evidence's summary and the "opened" line
        more.world.mine.reference,  # the linked case Alice may see
        "MINE-SUBJECT",
        f"applied; {OTHER_TEAM_CASE}: refused",  # the step's result
    )
    assert "<title>" in body and "BILLING" not in body.split("</title>")[0]
    boss = _page(_as(more.boss), url)
    _shows(boss, "escalated incident (supervisor)", "BILLING-SUBJECT", more.world.theirs.reference)
    assert "Redacted" not in boss  # the redacted forms are not evidence of their own


def test_an_editor_who_does_not_see_the_case_changes_an_incident_without_reading_it(
    more: More, agent: Any
) -> None:
    from django.contrib.admin.models import LogEntry

    client = _as(_grant(agent, "change_incident"))
    url = reverse("admin:socialcare_incident_change", args=[more.escalated.pk])
    assert 'name="title"' not in _page(client, url)  # the title is read-only, as they read it
    response = client.post(url, {"severity": "critical", "commander": ""}, follow=True)
    body = response.content.decode()
    _hides(body, more, "incident saved")
    _shows(body, "incident saved", f"Escalated from {OTHER_TEAM_CASE}", "was changed successfully")
    more.escalated.refresh_from_db()
    assert more.escalated.severity == "critical"
    assert more.escalated.title.startswith(f"Escalated from {more.world.theirs.reference}")
    logged = LogEntry.objects.get(object_id=str(more.escalated.pk), user=agent)
    assert "BILLING" not in logged.object_repr and OTHER_TEAM_CASE in logged.object_repr


def test_incident_samples_of_hidden_posts_are_counted_not_shown(more: More, agent: Any) -> None:
    url = reverse("admin:socialcare_incident_change", args=[more.detected.pk])
    body = _page(_as(agent), url)
    _hides(body, more, "detected incident page")
    _shows(body, "detected incident page", "MINE-POST", "other teams&#x27; cases (not shown)")
    _shows(_page(_as(more.boss), url), "detected (supervisor)", "BILLING-POST", "MINE-POST")


def test_incident_history_and_search_and_autocomplete(more: More, agent: Any) -> None:
    client = _as(agent)
    history = reverse("admin:socialcare_incident_history", args=[more.escalated.pk])
    body = _page(client, history)
    _hides(body, more, "incident history")
    _shows(body, "incident history", f"Escalated from {OTHER_TEAM_CASE}")
    # A search does not find an incident by the hidden case's words in its title.
    found = _page(client, "/admin/socialcare/incident/?q=BILLING-SUBJECT")
    assert f"/admin/socialcare/incident/{more.escalated.pk}/change/" not in found
    found = _page(client, "/admin/socialcare/incident/?q=Outage")
    _shows(found, "incident search", f"/admin/socialcare/incident/{more.world.incident.pk}/change/")
    boss = _page(_as(more.boss), "/admin/socialcare/incident/?q=BILLING-SUBJECT")
    _shows(boss, "incident search (supervisor)", f"/incident/{more.escalated.pk}/change/")
    # Django's autocomplete names results with str(): the escalated incident is left out.
    query = "app_label=socialcare&model_name=case&field_name=incident&term="
    body = _page(client, f"/admin/autocomplete/?{query}")
    _hides(body, more, "incident autocomplete")
    _shows(body, "incident autocomplete", "Outage")
    _shows(_page(_as(more.boss), f"/admin/autocomplete/?{query}"), "(boss)", "BILLING-SUBJECT")


def test_incident_steps_list_and_page(more: More, agent: Any) -> None:
    client = _as(agent)
    body = _page(client, "/admin/socialcare/incidentstep/")
    _hides(body, more, "step list")
    _shows(body, "step list", "Confirm", f"#{more.escalated.pk} Escalated from {OTHER_TEAM_CASE}")
    step = more.escalated.steps.get()
    body = _page(client, reverse("admin:socialcare_incidentstep_change", args=[step.pk]))
    _hides(body, more, "step page")
    _shows(body, "step page", f"Escalated from {OTHER_TEAM_CASE}", f"{OTHER_TEAM_CASE}: refused")
    assert "Confirm" not in _page(client, "/admin/socialcare/incidentstep/?q=BILLING-SUBJECT")
    boss = _page(_as(more.boss), "/admin/socialcare/incidentstep/?q=BILLING-SUBJECT")
    _shows(boss, "step search (supervisor)", "Confirm", "BILLING-SUBJECT")


def test_dashboard_inbox_filter_and_link_form_name_incidents_per_reader(
    more: More, agent: Any
) -> None:
    client = _as(_grant(agent, "view_supportdashboard"))
    for name, url in (
        ("dashboard", "/admin/socialcare/supportdashboard/"),
        ("inbox incident filter", "/admin/socialcare/case/"),
    ):
        body = _page(client, url)
        _hides(body, more, name)
        _shows(body, name, "Outage", f"Escalated from {OTHER_TEAM_CASE}")
        _shows(_page(_as(more.boss), url), f"{name} (supervisor)", "BILLING-SUBJECT")
    # "Link selected cases to an incident…": the incidents to choose from.
    form = {"action": "link_to_incident", "_selected_action": [more.world.mine.pk]}
    body = _page(client, "/admin/socialcare/case/", **form)
    _hides(body, more, "link to incident")
    _shows(body, "link to incident", "Outage", f"Escalated from {OTHER_TEAM_CASE}")
    boss = _page(_as(more.boss), "/admin/socialcare/case/", **form)
    _shows(boss, "link to incident (supervisor)", "BILLING-SUBJECT")


# A case's timeline ------------------------------------------------------------------------------


def test_case_page_names_no_hidden_case_and_reads_incident_titles(more: More, agent: Any) -> None:
    client = _as(agent)
    url = reverse("admin:socialcare_case_change", args=[more.world.mine.pk])
    body = _page(client, url)
    _hides(body, more, "case page", more.absorbed.reference, HIDDEN_HANDLE)
    _shows(
        body,
        "case page",
        "MINE-SUBJECT",
        f"Merged {OTHER_TEAM_CASE} into this case",
        f"Linked to incident #{more.escalated.pk}: Escalated from {OTHER_TEAM_CASE}",
        f"#{more.escalated.pk} Escalated from {OTHER_TEAM_CASE}",  # "Part of incident" and field
        more.world.mine.identity.handle,  # the customer's identity Alice may see
    )
    boss = _page(_as(more.boss), url)
    _shows(boss, "case page (supervisor)", more.absorbed.reference, "BILLING-SUBJECT")
    _shows(boss, "case page (supervisor)", HIDDEN_HANDLE)


def test_a_case_merged_into_a_hidden_case_neither_names_nor_links_it(
    more: More, agent: Any
) -> None:
    url = reverse("admin:socialcare_case_change", args=[more.gone.pk])
    body = _page(_as(agent), url)
    _hides(body, more, "merged case page", f"/admin/socialcare/case/{more.world.theirs.pk}/")
    _shows(body, "merged case page", "GONE-SUBJECT", f"Merged into {OTHER_TEAM_CASE}")
    boss = _page(_as(more.boss), url)
    _shows(boss, "merged case (supervisor)", f"/admin/socialcare/case/{more.world.theirs.pk}/")


def test_case_event_list_and_page(more: More, agent: Any) -> None:
    client = _as(agent)
    body = _page(client, "/admin/socialcare/caseevent/?kind__exact=merged")
    _hides(body, more, "event list", more.absorbed.reference)
    _shows(body, "event list", f"Merged {OTHER_TEAM_CASE} into this case")
    merged = CaseEvent.objects.get(case=more.world.mine, kind=CaseEvent.Kind.MERGED)
    page = reverse("admin:socialcare_caseevent_change", args=[merged.pk])
    body = _page(client, page)
    _hides(body, more, "event page", more.absorbed.reference)
    _shows(body, "event page", more.world.mine.reference, OTHER_TEAM_CASE)
    _shows(_page(_as(more.boss), page), "event page (supervisor)", more.absorbed.reference)


def test_case_event_inline_for_hosts(more: More, agent: Any) -> None:
    from django.contrib import admin

    inline = CaseEventInline(Case, admin.site)
    request = RequestFactory().get("/")
    request.user = agent
    events = list(inline.get_queryset(request).filter(case=more.world.mine))
    lines = [inline.what_happened(e) for e in events]
    assert f"Merged {OTHER_TEAM_CASE} into this case" in lines
    assert not any(more.absorbed.reference in line for line in lines)


# Identities and customers ------------------------------------------------------------------------


def test_identity_list_popup_page_and_autocomplete(more: More, agent: Any) -> None:
    client = _as(agent)
    mine = more.world.mine.identity.handle
    hidden = f"/admin/socialcare/socialidentity/{more.billing_identity.pk}/change/"
    for name, url in (
        ("identity list", "/admin/socialcare/socialidentity/"),
        ("identity popup", "/admin/socialcare/socialidentity/?_popup=1&_to_field=id"),
        (
            "identity autocomplete",
            "/admin/autocomplete/?app_label=socialcare&model_name=post&field_name=author&term=",
        ),
    ):
        body = _page(client, url)
        _hides(body, more, name, HIDDEN_HANDLE, hidden)
        _shows(body, name, mine)
        _shows(_page(_as(more.boss), url), f"{name} (supervisor)", HIDDEN_HANDLE)
    response = client.get(hidden, follow=True)
    assert HIDDEN_HANDLE not in response.content.decode()


def test_customer_page_counts_and_handle_search(more: More, agent: Any) -> None:
    client = _as(agent)
    customer = more.world.customer
    if type(customer)._meta.app_label != "socialcare":
        pytest.skip("the host's customer admin is its own")
    page = reverse("admin:socialcare_customer_change", args=[customer.pk])
    body = _page(client, page)
    _hides(body, more, "customer page", HIDDEN_HANDLE)
    _shows(body, "customer page", more.world.mine.identity.handle, "MINE-SUBJECT")
    _shows(_page(_as(more.boss), page), "customer page (supervisor)", HIDDEN_HANDLE)
    listing = _page(client, "/admin/socialcare/customer/")

    def column(body: str, name: str) -> str:
        match = re.search(rf'<td class="field-{name}">(\d+)</td>', body)
        assert match, name
        return match.group(1)

    # Alice sees Care's, the pool's, her assigned one and the merged-in one: not Billing's.
    visible = Case.objects.filter(customer=customer).exclude(team=more.world.theirs.team)
    visible = visible.count() + 1  # the case assigned to her is Billing's
    assert column(listing, "cases") == str(visible)
    assert column(listing, "identities") == "1"
    boss_listing = _page(_as(more.boss), "/admin/socialcare/customer/")
    assert column(boss_listing, "cases") == str(Case.objects.filter(customer=customer).count())
    assert column(boss_listing, "identities") == "2"
    url = f"/admin/socialcare/customer/{customer.pk}/change/"
    assert url not in _page(client, f"/admin/socialcare/customer/?q={HIDDEN_HANDLE}")
    assert url in _page(client, f"/admin/socialcare/customer/?q={more.world.mine.identity.handle}")
    _shows(_page(_as(more.boss), f"/admin/socialcare/customer/?q={HIDDEN_HANDLE}"), "boss", url)


# SLA alerts, verification links, deliveries, delete pages ------------------------------------------


def test_sla_alerts_and_verification_links(more: More, agent: Any) -> None:
    due = timezone.now()
    w = more.world
    for case in (w.mine, w.theirs):
        SLAAlert.objects.create(case=case, target="first_response", level="breach", due_at=due)
        IdentityVerification.objects.create(
            case=case,
            identity=case.identity,
            provider="x",
            token_hash=f"hash-{case.pk}",
            expires_at=due + dt.timedelta(hours=1),
        )
    client = _as(_grant(agent, "view_slaalert"))
    for name, url in (
        ("SLA alerts", "/admin/socialcare/slaalert/"),
        ("verification links", "/admin/socialcare/identityverification/"),
    ):
        body = _page(client, url)
        _hides(body, more, name)
        _shows(body, name, "MINE-SUBJECT")
        _shows(_page(_as(more.boss), url), f"{name} (supervisor)", w.theirs.reference)
    # Searching by the hidden case's reference (echoed in the search box) finds nothing.
    hidden_alert = f"/slaalert/{w.theirs.sla_alerts.get().pk}/"
    body = _page(client, f"/admin/socialcare/slaalert/?q={w.theirs.reference}")
    assert hidden_alert not in body and "BILLING-SUBJECT" not in body and "0 results" in body
    boss = _page(_as(more.boss), f"/admin/socialcare/slaalert/?q={w.theirs.reference}")
    _shows(boss, "SLA alert search (supervisor)", hidden_alert)


def test_delivery_bodies_are_for_readers_who_see_every_case(
    more: More, agent: Any, django_user_model: Any
) -> None:
    subscription = WebhookSubscription.objects.create(name="BI", url="https://bi.example.com/")
    event = OutboundEvent.objects.create(
        type="case.created", payload={"case": {"subject": "BILLING-SUBJECT"}}
    )
    delivery = OutboundDelivery.objects.create(
        subscription=subscription, event=event, sequence=1, last_error="BILLING-SUBJECT echoed"
    )
    client = _as(_grant(agent, "view_outbounddelivery"))
    page = reverse("admin:socialcare_outbounddelivery_change", args=[delivery.pk])
    for name, url in (
        ("delivery page", page),
        ("delivery list", "/admin/socialcare/outbounddelivery/"),
        ("delivery search", "/admin/socialcare/outbounddelivery/?q=echoed"),
    ):
        body = _page(client, url)
        _hides(body, more, name)
        if "?q=" not in url:
            _shows(body, name, "case.created")
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    _shows(_page(_as(root), page), "delivery page (superuser)", "BILLING-SUBJECT")


def test_delete_confirmation_lists_hidden_cases_without_naming_them(
    more: More, agent: Any, django_user_model: Any, socialcare_settings: Any
) -> None:
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    customer = more.world.customer
    if type(customer)._meta.app_label == "socialcare":
        # With CUSTOMER_DELETE = "refuse" the customer's cases protect it: the page lists them.
        client = _as(_grant(agent, "delete_customer", "delete_case"))
        url = reverse("admin:socialcare_customer_delete", args=[customer.pk])
        with socialcare_settings(CUSTOMER_DELETE="refuse"):
            body = _page(client, url)
            theirs = f"/admin/socialcare/case/{more.world.theirs.pk}/"
            _hides(body, more, "customer delete page", theirs, more.absorbed.reference)
            mine = more.world.mine.reference
            _shows(body, "customer delete page", mine, f"Case: {OTHER_TEAM_CASE}")
            _shows(_page(_as(root), url), "customer delete page (superuser)", theirs)
    # An incident's delete page: its title as the reader reads it.
    client = _as(_grant(agent, "view_incident", "delete_incident"))
    url = reverse("admin:socialcare_incident_delete", args=[more.escalated.pk])
    body = _page(client, url)
    _hides(body, more, "incident delete page")
    _shows(body, "incident delete page", f"Escalated from {OTHER_TEAM_CASE}")
    # A playbook's: the incidents that ran it protect it.
    playbook = reverse("admin:socialcare_playbook_delete", args=[more.escalated.playbook_id])
    body = _page(_as(_grant(agent, "view_playbook", "delete_playbook")), playbook)
    _hides(body, more, "playbook delete page")
    _shows(body, "playbook delete page", f"Escalated from {OTHER_TEAM_CASE}")
    _shows(_page(_as(root), playbook), "playbook delete page (superuser)", "BILLING-SUBJECT")
    assert Post.objects.filter(case=more.world.theirs).exists()  # nothing was deleted
