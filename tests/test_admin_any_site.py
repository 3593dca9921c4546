"""socialcare on a host's own admin site (issue #16: "agents get 404").

The host serves superusers on Django's ``admin.site`` at ``/admin/`` and its staff on its own
``AdminSite(name="crm_admin")`` at ``/staff/`` (``tests.custom_admin_urls``), with socialcare
registered there through ``socialcare.admin.register(site)``. An agent works the inbox, the case
page, the dashboard and the incident console on ``/staff/``: every page answers, every action
redirects back within ``/staff/``, and no link on any page leads to ``/admin/``."""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.test import RequestFactory
from django.urls import resolve, reverse

import socialcare.admin
from socialcare.admin import CaseAdmin
from socialcare.models import Case, Incident, Playbook, PlaybookStep, Post, Team
from socialcare.pipeline import refuse_staff
from socialcare.services import cases as case_services
from socialcare.services.incidents import open_incident
from socialcare.services.replies import send_reply
from socialcare.services.roles import assign_role
from tests.custom_admin_site import staff_site
from tests.oauth_provider import Account, dance
from tests.oauth_provider import oauth_provider as oauth_provider

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.custom_admin_urls")]

SITE = staff_site.name
ROOT = Path(__file__).resolve().parent.parent


def staff(name: str, *args: Any) -> str:
    """A URL of the staff site."""
    return reverse(f"admin:{name}", args=args, current_app=SITE)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "action", "formaction", "data-tone-url") and value:
                self.urls.append(value)


def page_links(response: Any) -> list[str]:
    """The paths every link and form of the page leads to (query-only links and static files
    left out), after checking that none leaves the staff site for ``/admin/``."""
    assert response.status_code == 200, (response.status_code, response.get("Location"))
    parser = _Links()
    parser.feed(response.content.decode())
    paths = []
    for url in parser.urls:
        parts = urlsplit(urljoin(response.wsgi_request.path, url))
        if parts.scheme or parts.netloc or parts.path in ("/", "") or "/static/" in parts.path:
            continue  # elsewhere, the host's home page ("View site"), static files
        assert not parts.path.startswith("/admin"), f"{url} leaves the staff site"
        match = resolve(parts.path)
        if parts.path.startswith("/staff/"):
            assert match.namespace == SITE, url
        else:
            assert match.namespace == "socialcare", url  # socialcare's own pages
        paths.append(parts.path)
    return paths


def assert_back_on_staff(response: Any, expected: str) -> None:
    assert response.status_code == 302, response.status_code
    location = response["Location"]
    assert location.split("#")[0] == expected, location
    assert resolve(urlsplit(location).path).namespace == SITE


@pytest.fixture(autouse=True)
def console_transport(socialcare_settings: Any) -> Any:
    with socialcare_settings(REPLY_TRANSPORT="socialcare.transports.console.ConsoleTransport"):
        yield


@pytest.fixture
def agent_client(client: Any, agent: Any, sign_in: Any) -> Any:
    return sign_in(client, agent, "agent")


@pytest.fixture
def supervisor(make_user: Any, team: Team, sign_in: Any) -> Any:
    user = make_user("sam", first_name="Sam", last_name="Supervisor")
    assign_role(user, "supervisor")
    return user


@pytest.fixture
def incident(case: Case, identity: Any, django_capture_on_commit_callbacks: Any) -> Incident:
    """An open incident holding public replies, with a manual step; the case is linked."""
    Post.objects.create(
        platform="x", external_id="t-1", channel=case.channel, author=identity,
        direction="inbound", kind="mention", visibility="public",
        text="@acme you charged me twice", case=case,
    )  # fmt: skip
    playbook = Playbook.objects.create(name="Billing", slug="billing")
    PlaybookStep.objects.create(playbook=playbook, order=1, title="Hold", kind="require_approval")
    PlaybookStep.objects.create(
        playbook=playbook, order=2, title="Call legal", kind="manual", automatic=False
    )
    with django_capture_on_commit_callbacks(execute=True):
        found, _ = open_incident(title="Double charges", playbook=playbook, cases=[case])
    return found


@pytest.fixture
def held(incident: Incident, case: Case, other_agent: Any) -> Post:
    """Another agent's public reply, waiting for approval."""
    post = send_reply(case, "We'll refund you today", actor=other_agent)
    assert post.send_status == Post.SendStatus.AWAITING_APPROVAL
    return post


def test_agent_works_the_inbox(agent_client: Any, case: Case, incident: Incident) -> None:
    inbox = agent_client.get("/staff/socialcare/case/")
    assert case.reference in inbox.content.decode()
    links = page_links(inbox)
    assert f"/staff/socialcare/case/{case.pk}/change/" in links
    assert "/staff/" in links  # breadcrumbs and header
    filtered = agent_client.get("/staff/socialcare/case/", {"status": "new", "sla": "breached"})
    page_links(filtered)


def test_agent_works_a_case(agent_client: Any, case: Case, incident: Incident, held: Post) -> None:
    page_url = f"/staff/socialcare/case/{case.pk}/change/"
    assert staff("socialcare_case_change", case.pk) == page_url
    links = page_links(agent_client.get(page_url))
    for action in ("reply", "note", "work", "hand-off", "tone-check"):
        assert f"/staff/socialcare/case/{case.pk}/{action}/" in links, action
    assert f"/staff/socialcare/incident/{incident.pk}/change/" in links
    assert f"/staff/socialcare/case/{case.pk}/approve/{held.pk}/" in links

    note = agent_client.post(f"/staff/socialcare/case/{case.pk}/note/", {"text": "Called her"})
    assert_back_on_staff(note, page_url)
    reply = agent_client.post(
        f"/staff/socialcare/case/{case.pk}/reply/",
        {"text": "Sorry about that, we are on it.", "visibility": "public"},
    )
    assert_back_on_staff(reply, page_url)
    work = agent_client.post(f"/staff/socialcare/case/{case.pk}/work/", {"priority": "high"})
    assert_back_on_staff(work, page_url)
    refused = agent_client.post(f"/staff/socialcare/case/{case.pk}/approve/{held.pk}/")
    assert_back_on_staff(refused, page_url)  # an agent may not approve: told so on the page
    tone = agent_client.post(f"/staff/socialcare/case/{case.pk}/tone-check/", {"text": "calm down"})
    assert tone.status_code == 200 and "/admin/" not in tone.content.decode()

    again = agent_client.get(page_url)
    assert "Note added." in again.content.decode()
    page_links(again)


def test_agent_works_the_incident_console(
    agent_client: Any, case: Case, incident: Incident
) -> None:
    console = f"/staff/socialcare/incident/{incident.pk}/change/"
    links = page_links(agent_client.get(console))
    assert f"/staff/socialcare/case/{case.pk}/change/" in links
    step = incident.steps.get(title="Call legal")
    assert f"/staff/socialcare/incident/{incident.pk}/console/steps/{step.pk}/" in links
    done = agent_client.post(
        f"/staff/socialcare/incident/{incident.pk}/console/steps/{step.pk}/",
        {"action": "done", "comment": "Legal knows"},
    )
    assert_back_on_staff(done, console)
    page_links(agent_client.get("/staff/socialcare/incident/"))


def test_agent_sees_the_dashboard(agent_client: Any, case: Case, incident: Incident) -> None:
    links = page_links(agent_client.get("/staff/socialcare/supportdashboard/"))
    assert f"/staff/socialcare/incident/{incident.pk}/change/" in links
    assert "/staff/socialcare/" in links  # breadcrumbs
    page_links(agent_client.get("/staff/"))
    page_links(agent_client.get("/staff/socialcare/"))


def test_agent_sees_the_customer_and_their_cases(
    agent_client: Any, case: Case, customer: Any
) -> None:
    opts = customer._meta
    url = staff(f"{opts.app_label}_{opts.model_name}_change", customer.pk)
    assert url.startswith("/staff/")
    links = page_links(agent_client.get(url))
    if opts.app_label == "socialcare":  # socialcare's CustomerAdmin lists the cases
        assert f"/staff/socialcare/case/{case.pk}/change/" in links
    case_page = page_links(agent_client.get(staff("socialcare_case_change", case.pk)))
    assert url in case_page


def test_supervisor_escalates_approves_and_acts_in_bulk(
    client: Any,
    supervisor: Any,
    case: Case,
    incident: Incident,
    held: Post,
    identity: Any,
    sign_in: Any,
) -> None:
    sign_in(client, supervisor, "supervisor")
    page_url = staff("socialcare_case_change", case.pk)
    approved = client.post(f"/staff/socialcare/case/{case.pk}/approve/{held.pk}/")
    assert_back_on_staff(approved, page_url)

    other = case_services.open_case(channel=case.channel, identity=identity, subject="Again")
    escalated = client.post(
        f"/staff/socialcare/case/{other.pk}/open-incident/", {"title": "Outage"}
    )
    opened = Incident.objects.exclude(pk=incident.pk).get()
    assert_back_on_staff(escalated, staff("socialcare_incident_change", opened.pk))

    inbox = "/staff/socialcare/case/"
    selected = {"_selected_action": [case.pk, other.pk]}
    bulk = client.post(inbox, {"action": "assign_to_member", **selected})
    assert f"/staff/socialcare/case/{other.pk}/change/" in page_links(bulk)
    merge = client.post(inbox, {"action": "merge_selected", **selected})
    assert inbox in page_links(merge)
    for page in (page_url, "/staff/socialcare/supportdashboard/", "/staff/socialcare/detector/"):
        page_links(client.get(page))


def test_channel_connects_through_oauth_and_comes_back_to_the_staff_site(
    client: Any, make_user: Any, channel: Any, sign_in: Any, oauth_provider: Any
) -> None:
    sign_in(client, make_user("ada-admin"), "admin")
    page = staff("socialcare_channel_change", channel.pk)
    assert f"/staff/socialcare/channel/{channel.pk}/connect/" in page_links(client.get(page))
    oauth_provider.account = Account("brand-1", "acme")
    answer = dance(client, client.post(f"/staff/socialcare/channel/{channel.pk}/connect/"))
    assert_back_on_staff(answer, page)
    oauth_provider.deny = True
    declined = dance(client, client.post(f"/staff/socialcare/channel/{channel.pk}/connect/"))
    assert_back_on_staff(declined, page)


def test_the_default_site_keeps_every_admin() -> None:
    """Hosts on Django's own site change nothing: importing socialcare.admin registers there."""
    pairs = socialcare.admin.model_admins()
    assert (Case, CaseAdmin) in pairs and len(pairs) >= 23
    for model, model_admin in pairs:
        assert type(admin.site.get_model_admin(model)) is model_admin, model
        assert type(staff_site.get_model_admin(model)) is model_admin, model


def test_register_is_repeatable_and_keeps_a_hosts_own_admin() -> None:
    class HostCaseAdmin(CaseAdmin):
        list_per_page = 20

    site = AdminSite(name="another")
    site.register(Case, HostCaseAdmin)
    socialcare.admin.register(site)
    socialcare.admin.register(site)  # a second call changes nothing
    assert type(site.get_model_admin(Case)) is HostCaseAdmin
    for model, model_admin in socialcare.admin.model_admins():
        if model is not Case:
            assert type(site.get_model_admin(model)) is model_admin, model


def test_links_outside_a_request_use_the_configured_site(socialcare_settings: Any) -> None:
    with socialcare_settings(ADMIN_SITE="tests.custom_admin_site.staff_site"):
        page = refuse_staff(RequestFactory().get("/socialcare/oauth/complete/oidc/"), "No.")
    assert 'href="/staff/login/"' in page.content.decode()
    default = refuse_staff(RequestFactory().get("/socialcare/oauth/complete/oidc/"), "No.")
    assert 'href="/admin/login/"' in default.content.decode()


SETUP_ON_STAFF_SITE = """
from django.conf import settings
settings.SOCIALCARE = {**settings.SOCIALCARE, "ADMIN_SITE": "tests.custom_admin_site.staff_site"}
import django
django.setup()
from django.contrib import admin
from socialcare.models import Case, Incident
from tests.custom_admin_site import staff_site
assert not admin.site.is_registered(Case), "registered on Django's site"
assert staff_site.is_registered(Case) and staff_site.is_registered(Incident)
print("ok")
"""


def test_the_setting_registers_on_the_hosts_site_instead() -> None:
    """``SOCIALCARE["ADMIN_SITE"]`` moves the automatic registration (in a fresh process: it
    happens once, when the admin autodiscovers ``socialcare.admin``)."""
    done = subprocess.run(
        [sys.executable, "-c", SETUP_ON_STAFF_SITE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
