"""Agents and supervisors working socialcare on the host's admin site (the split-name CRM's own
``crm`` site at /crm/, Django's default site for the others), in each host CRM shape: the inbox,
a case page showing the customer by the adapter's name, a note and a reply, the customer's page
in the host's admin."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

from socialcare.models import Case, CaseEvent, Post
from tests.hosts.profiles import HostProfile

pytestmark = pytest.mark.django_db

#: A reply the tone check lets through (sorry, thanks, and what happens next).
REPLY = (
    "Sorry for the trouble, and thanks for your patience: the refund is on its way, you will see it"
)


#: Where a page's links and forms lead.
LINK = re.compile(r'\b(?:href|action|formaction)="([^"]+)"')


def admin_links(host: HostProfile, response: Any) -> set[str]:
    """The admin paths a page links to, after checking none leaves the host's admin site."""
    paths = set()
    for url in LINK.findall(response.content.decode()):
        parts = urlsplit(urljoin(response.wsgi_request.path, html.unescape(url)))
        if parts.scheme or parts.netloc or "/static/" in parts.path:
            continue
        for other in ("/admin/", "/crm/"):
            assert other == host.admin_prefix or not parts.path.startswith(other), url
        if parts.path.startswith(host.admin_prefix):
            paths.add(parts.path)
    return paths


def case_url(host: HostProfile, case: Case, action: str = "change") -> str:
    return f"{host.admin_prefix}socialcare/case/{case.pk}/{action}/"


def works_the_inbox_and_the_case(host: HostProfile, client: Any, case: Case) -> None:
    """Open the inbox and the case page: the customer is named as the adapter names them (the
    split-name CRM's own ``str()`` is "Shah, Priya R")."""
    inbox = client.get(f"{host.admin_prefix}socialcare/case/")
    assert inbox.status_code == 200
    text = inbox.content.decode()
    assert case.reference in text and "Priya R Shah" in text
    assert str(case.customer) == "Priya R Shah" or str(case.customer) not in text
    assert case_url(host, case) in admin_links(host, inbox)
    page = client.get(case_url(host, case))
    assert page.status_code == 200
    content = page.content.decode()
    assert "Priya R Shah" in content and "You charged me twice" in content
    assert case_url(host, case, "reply") in admin_links(host, page)


def test_an_agent_works_the_inbox_and_a_case(
    host: HostProfile, agent_client: Any, agent: Any, priya_case: Case
) -> None:
    works_the_inbox_and_the_case(host, agent_client, priya_case)
    note = agent_client.post(case_url(host, priya_case, "note"), {"text": "Refund approved"})
    assert note.status_code == 302 and note["Location"].startswith(case_url(host, priya_case))
    assert CaseEvent.objects.get(case=priya_case, kind=CaseEvent.Kind.NOTE).actor == agent
    reply = agent_client.post(
        case_url(host, priya_case, "reply"),
        {"text": f"{REPLY} within 3 days.", "visibility": "public"},
    )
    assert reply.status_code == 302 and reply["Location"].startswith(case_url(host, priya_case))
    sent = Post.objects.get(case=priya_case, direction="outbound")
    assert REPLY in sent.text and sent.sent_by == agent
    again = agent_client.get(case_url(host, priya_case)).content.decode()
    assert "Refund approved" in again and REPLY in again


def test_a_supervisor_works_the_inbox_and_a_case(
    host: HostProfile, supervisor_client: Any, priya_case: Case
) -> None:
    works_the_inbox_and_the_case(host, supervisor_client, priya_case)
    work = supervisor_client.post(case_url(host, priya_case, "work"), {"priority": "urgent"})
    assert work.status_code == 302
    assert Case.objects.get(pk=priya_case.pk).priority == "urgent"
    reply = supervisor_client.post(
        case_url(host, priya_case, "reply"),
        {"text": f"{REPLY} in your account.", "visibility": "private"},
    )
    assert reply.status_code == 302
    assert Post.objects.filter(case=priya_case, direction="outbound").count() == 1


def test_the_agent_opens_the_customer_in_the_hosts_admin(
    host: HostProfile, agent_client: Any, priya: Any, priya_case: Case
) -> None:
    page = agent_client.get(case_url(host, priya_case))
    customer_page = host.customer_url("change", priya.pk)
    assert customer_page.startswith(host.admin_prefix)
    assert customer_page in admin_links(host, page)
    shown = agent_client.get(customer_page)
    assert shown.status_code == 200
    assert "priya_shah" in shown.content.decode()  # socialcare's identity inline


def test_the_inbox_finds_the_customer_by_the_hosts_search_fields(
    host: HostProfile, supervisor_client: Any, priya_case: Case, make_customer_case: Any
) -> None:
    other = make_customer_case("Bo Diaz", "bo@example.com")
    for term in ("Shah", "priya@example.com"):
        found = supervisor_client.get(f"{host.admin_prefix}socialcare/case/", {"q": term})
        assert found.status_code == 200
        text = found.content.decode()
        assert priya_case.reference in text and other.reference not in text, term


@pytest.fixture
def make_customer_case(host: HostProfile, x_channel: Any) -> Any:
    from socialcare.services import cases as case_services

    def make(name: str, email: str) -> Case:
        customer = host.make_customer(name, email)
        return case_services.open_case(channel=x_channel, customer=customer, subject="Hello")

    return make
