"""The breadcrumbs of socialcare's own admin pages (dashboard, bulk action, merge): the links they
should have, in the markup Django's own admin pages use on the running version (``<ol>`` from
Django 6.1, ``<div>`` before; the admin's stylesheet styles only that one)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from socialcare.services import cases as case_services

pytestmark = pytest.mark.django_db


def breadcrumbs(body: str) -> tuple[str, list[tuple[str, str]], str]:
    """The page's breadcrumbs: their element, their links (href, text) and the current page."""
    found = re.search(r'<(ol|div) class="breadcrumbs">(.*?)</\1>', body, re.S)
    assert found, "no breadcrumbs"
    element, inner = found.groups()
    links = re.findall(r'<a href="([^"]*)">([^<]*)</a>', inner)
    current = re.sub(r"<[^>]*>|&rsaquo;|›", "", inner.rsplit("</a>", 1)[-1]).strip()
    if element == "ol":
        assert re.search(r'<li aria-current="page">[^<]*</li>\s*$', inner)
    return element, links, current


@pytest.fixture
def djangos_element(admin_client) -> str:
    """The element Django's own change list pages put the breadcrumbs in."""
    body = admin_client.get(reverse("admin:socialcare_team_changelist")).content.decode()
    element, links, current = breadcrumbs(body)
    assert current == "Teams" and links[0] == ("/admin/", "Home")
    return element


def test_dashboard(admin_client, djangos_element):
    response = admin_client.get("/admin/socialcare/supportdashboard/")
    assert response.status_code == 200
    assert breadcrumbs(response.content.decode()) == (
        djangos_element,
        [("/admin/", "Home"), ("/admin/socialcare/", "Social care")],
        "Dashboard",
    )


def test_bulk_action_and_merge_pages(admin_client, djangos_element, channel, identity):
    cases = [
        case_services.open_case(channel=channel, identity=identity, subject=subject)
        for subject in ("Late parcel", "Late parcel again")
    ]
    url = reverse("admin:socialcare_case_changelist")
    selected = [case.pk for case in cases]
    bulk = admin_client.post(url, {"action": "assign_to_member", "_selected_action": selected})
    merge = admin_client.post(url, {"action": "merge_selected", "_selected_action": selected})
    assert (bulk.status_code, merge.status_code) == (200, 200)
    assert b"sc-bulk-form" in bulk.content and b"Choose the case to keep" in merge.content

    element, links, current = breadcrumbs(bulk.content.decode())
    assert element == djangos_element
    assert links == [("/admin/", "Home"), ("/admin/socialcare/", "Social care"), (url, "Cases")]
    assert current == bulk.context_data["title"]
    element, links, current = breadcrumbs(merge.content.decode())
    assert element == djangos_element
    assert links == [("/admin/", "Home"), (url, "Cases")]
    assert current == merge.context_data["title"]
