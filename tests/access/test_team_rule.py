"""The team rule on every surface that shows cases or what belongs to them.

One world: Alice (Support agent, team Care) must see her team's case, the unrouted case and the
case assigned to her, and nothing of Billing's case (its subject, its posts, its notes, its
reference). Each surface of the admin and of the REST API is tried with Alice (nothing of
Billing's may show, and her own cases must, so an empty or broken page cannot pass) and with a
supervisor (Billing's case shows: the surface really lists cases).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from socialcare.models import Case, CaseEvent, Post, Team, TeamMembership, get_customer_model
from socialcare.services import cases as case_services
from socialcare.services import incidents as incident_services
from socialcare.services.apikeys import create_api_key
from socialcare.services.roles import assign_role, install_roles

pytestmark = pytest.mark.django_db

API = "/socialcare/api/v1"
HIDDEN = ("BILLING-SUBJECT", "BILLING-POST", "BILLING-NOTE")


@dataclass
class World:
    mine: Case
    pool: Case
    assigned: Case
    theirs: Case
    posts: dict[str, Post]
    customer: Any
    incident: Any

    def markers(self, name: str) -> tuple[str, ...]:
        return tuple(f"{name.upper()}-{part}" for part in ("SUBJECT", "POST", "NOTE"))


@pytest.fixture
def world(agent: Any, channel: Any, identity: Any, make_user: Callable[..., Any]) -> World:
    install_roles()
    assign_role(agent, "agent")
    billing = Team.objects.create(name="Billing")
    TeamMembership.objects.create(team=billing, user=make_user("carol"))
    care = channel.default_team
    cases: dict[str, Case] = {}
    posts: dict[str, Post] = {}
    for name, team, assignee in (
        ("mine", care, None),
        ("pool", None, None),
        ("assigned", billing, agent),
        ("billing", billing, None),
    ):
        case = case_services.open_case(
            channel=channel, identity=identity, subject=f"{name.upper()}-SUBJECT"
        )
        Case.objects.filter(pk=case.pk).update(team=team, assignee=assignee)
        case.refresh_from_db()
        posts[name] = Post.objects.create(
            platform="x",
            channel=channel,
            author=identity,
            case=case,
            direction=Post.Direction.INBOUND,
            kind=Post.Kind.MENTION,
            visibility="public",
            text=f"{name.upper()}-POST",
            external_id=f"ext-{name}",
        )
        case_services.add_note(case, f"{name.upper()}-NOTE")
        cases[name] = case
    incident, _ = incident_services.open_incident(
        title="Outage", cases=[cases["mine"], cases["billing"]]
    )
    return World(
        mine=cases["mine"],
        pool=cases["pool"],
        assigned=cases["assigned"],
        theirs=cases["billing"],
        posts=posts,
        customer=identity.customer,
        incident=incident,
    )


def _customer_admin_url(world: World) -> str:
    meta = get_customer_model()._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[world.customer.pk])


# (surface, url, what Alice must see there: "list" = her three cases' markers, "none" = a
# refusal or a page without any case's content, "own" = at least her team's case)
ADMIN_SURFACES: list[tuple[str, Callable[[World], str], str]] = [
    ("case changelist", lambda w: "/admin/socialcare/case/", "list"),
    ("case search by reference", lambda w: f"/admin/socialcare/case/?q={w.theirs.reference}", "-"),
    ("case search by subject", lambda w: "/admin/socialcare/case/?q=BILLING", "-"),
    ("case raw_id popup", lambda w: "/admin/socialcare/case/?_popup=1&_to_field=id", "list"),
    ("case change view", lambda w: f"/admin/socialcare/case/{w.theirs.pk}/change/", "-"),
    ("case history view", lambda w: f"/admin/socialcare/case/{w.theirs.pk}/history/", "-"),
    ("post changelist", lambda w: "/admin/socialcare/post/", "list"),
    ("post search", lambda w: "/admin/socialcare/post/?q=BILLING", "-"),
    ("post change view", lambda w: f"/admin/socialcare/post/{w.posts['billing'].pk}/change/", "-"),
    ("post raw_id popup", lambda w: "/admin/socialcare/post/?_popup=1&_to_field=id", "list"),
    ("case events", lambda w: "/admin/socialcare/caseevent/", "list"),
    ("case events search", lambda w: f"/admin/socialcare/caseevent/?q={w.theirs.reference}", "-"),
    ("customer page", _customer_admin_url, "customer"),
    ("incident page", lambda w: f"/admin/socialcare/incident/{w.incident.pk}/change/", "own"),
    ("SLA alerts", lambda w: "/admin/socialcare/slaalert/", "-"),
    ("verification links", lambda w: "/admin/socialcare/identityverification/", "-"),
]

API_SURFACES: list[tuple[str, Callable[[World], str], str]] = [
    ("case list", lambda w: f"{API}/cases/", "list"),
    ("case list search", lambda w: f"{API}/cases/?search=BILLING", "-"),
    ("case list by incident", lambda w: f"{API}/cases/?incident={w.incident.pk}", "own"),
    ("case list by customer", lambda w: f"{API}/cases/?customer={w.customer.pk}", "list"),
    ("case detail", lambda w: f"{API}/cases/{w.theirs.pk}/", "-"),
    ("case timeline", lambda w: f"{API}/cases/{w.theirs.pk}/timeline/", "-"),
    ("post list", lambda w: f"{API}/posts/", "list"),
    ("post list search", lambda w: f"{API}/posts/?search=BILLING", "-"),
    ("post list by case", lambda w: f"{API}/posts/?case={w.theirs.pk}", "-"),
    ("post detail", lambda w: f"{API}/posts/{w.posts['billing'].pk}/", "-"),
    ("customer history", lambda w: f"{API}/customers/{w.customer.pk}/history/", "list"),
    ("incident detail", lambda w: f"{API}/incidents/{w.incident.pk}/", "own"),
    ("incident list", lambda w: f"{API}/incidents/", "own"),
]


def _own_cases(world: World, expect: str) -> list[tuple[str, Case]]:
    if expect == "list":
        return [("MINE", world.mine), ("POOL", world.pool), ("ASSIGNED", world.assigned)]
    if expect == "own":
        return [("MINE", world.mine)]
    if expect == "customer":  # socialcare's customer page lists cases; a host's may not
        return (
            [("MINE", world.mine)] if get_customer_model()._meta.app_label == "socialcare" else []
        )
    return []


def _hidden(world: World) -> tuple[str, ...]:
    return (
        *HIDDEN,
        world.theirs.reference,
        f"/admin/socialcare/case/{world.theirs.pk}/",
        f"/admin/socialcare/post/{world.posts['billing'].pk}/",
    )


def _check(content: str, world: World, expect: str, where: str, echoed: str = "") -> None:
    for marker in _hidden(world):
        if marker != echoed:
            assert marker not in content, f"{where}: Billing's {marker} leaked"
    for name, case in _own_cases(world, expect):
        assert case.reference in content or f"{name}-" in content, (
            f"{where}: Alice's own {name} case missing (broken surface?)"
        )


@pytest.mark.parametrize(
    ("name", "url", "expect"), ADMIN_SURFACES, ids=[s[0] for s in ADMIN_SURFACES]
)
def test_admin_surface_hides_other_teams_cases(
    world: World, agent: Any, robustness: Any, name: str, url: Callable, expect: str
) -> None:
    client = Client()
    client.force_login(agent)
    target = url(world)
    response = client.get(target, follow=True)
    robustness.bad_inputs(1)
    assert response.status_code in (200, 403, 404), (name, response.status_code)
    # A search term is echoed in the search box: it is not a leak by itself.
    echoed = target.partition("?q=")[2]
    _check(response.content.decode(), world, expect, name, echoed)


@pytest.mark.parametrize(("name", "url", "expect"), API_SURFACES, ids=[s[0] for s in API_SURFACES])
def test_api_surface_hides_other_teams_cases(
    world: World, agent: Any, robustness: Any, name: str, url: Callable, expect: str
) -> None:
    _, plain = create_api_key(agent, "agent key")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    response = client.get(url(world))
    robustness.bad_inputs(1)
    assert response.status_code in (200, 404), (name, response.status_code, response.content)
    _check(response.content.decode(), world, expect, name)


def test_admin_autocomplete_endpoints_hide_other_teams_cases(
    world: World, agent: Any, robustness: Any
) -> None:
    """Every autocomplete field in the admin whose target holds case content."""
    client = Client()
    client.force_login(agent)
    tried = 0
    targets = {Case, Post, CaseEvent}
    for model, model_admin in admin.site._registry.items():
        for field_name in model_admin.autocomplete_fields:
            field = model._meta.get_field(field_name)
            if field.related_model not in targets:
                continue
            for term in ("BILLING", world.theirs.reference, ""):
                response = client.get(
                    "/admin/autocomplete/",
                    {
                        "app_label": model._meta.app_label,
                        "model_name": model._meta.model_name,
                        "field_name": field_name,
                        "term": term,
                    },
                )
                tried += 1
                _check(response.content.decode(), world, "-", f"autocomplete {field_name}", term)
    # Case autocomplete as an admin widget would call it from any model pointing at cases.
    for model in (Post, CaseEvent):
        response = client.get(
            "/admin/autocomplete/",
            {
                "app_label": "socialcare",
                "model_name": model._meta.model_name,
                "field_name": "case",
                "term": "BILLING",
            },
        )
        tried += 1
        assert response.status_code in (200, 403, 404)
        _check(response.content.decode(), world, "-", f"autocomplete {model.__name__}.case")
    robustness.bad_inputs(tried)


@pytest.mark.parametrize(
    ("name", "url", "expect"),
    [s for s in ADMIN_SURFACES if s[2] == "list"],
    ids=[s[0] for s in ADMIN_SURFACES if s[2] == "list"],
)
def test_supervisor_sees_billing_on_the_same_admin_surfaces(
    world: World, make_user: Callable[..., Any], name: str, url: Callable, expect: str
) -> None:
    """The control: the surfaces above do list other teams' cases to a supervisor."""
    boss = make_user("sam")
    assign_role(boss, "supervisor")
    client = Client()
    client.force_login(boss)
    content = client.get(url(world), follow=True).content.decode()
    assert any(marker in content for marker in (*HIDDEN, world.theirs.reference)), name


@pytest.mark.parametrize(
    ("name", "url", "expect"),
    [s for s in API_SURFACES if s[2] == "list"],
    ids=[s[0] for s in API_SURFACES if s[2] == "list"],
)
def test_supervisor_sees_billing_on_the_same_api_surfaces(
    world: World, make_user: Callable[..., Any], name: str, url: Callable, expect: str
) -> None:
    boss = make_user("sam")
    assign_role(boss, "supervisor")
    _, plain = create_api_key(boss, "boss key")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    content = client.get(url(world)).content.decode()
    assert any(marker in content for marker in (*HIDDEN, world.theirs.reference)), name
