"""The inbox search's two ways to the same cases (``CaseAdmin.get_search_results``): a common word
walks the cases in triage order, a rarer one takes the matching ids from the indexes. Both must
list the same cases in the same order, for every searched field and for team-scoped agents; a
search counts only up to ``search_count_limit`` ("250+ cases") from its ids step; on PostgreSQL
the triage order is answered by the index of migration 0013."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from socialcare.admin.cases import CaseAdmin
from socialcare.models import Case, Post, Team
from socialcare.services import cases as case_services

pytestmark = pytest.mark.django_db

URL = "/admin/socialcare/case/"
_ids = iter(range(1, 10**6))


@pytest.fixture
def boss(client: Client, django_user_model: Any) -> Client:
    client.force_login(django_user_model.objects.create_superuser("boss", "b@example.com", "pw"))
    return client


def add_post(case: Case, text: str) -> None:
    Post.objects.create(
        platform="x",
        external_id=f"search-{next(_ids)}",
        channel=case.channel,
        author=case.identity,
        direction="inbound",
        kind="mention",
        visibility="public",
        text=text,
        case=case,
    )


def listed(client: Client, **params: Any) -> list[str]:
    response = client.get(URL, params)
    assert response.status_code == 200
    return [c.reference for c in response.context["cl"].result_list]


@pytest.fixture
def cases(channel, make_identity, make_customer) -> dict[str, Case]:
    """Cases matching "kettle" through a different field each, with distinct due times (so the
    triage order is known), and one that matches nothing."""
    now = timezone.now()
    made: dict[str, Case] = {}

    def make(key: str, hours: int, subject: str = "Help", text: str = "", **who: Any) -> None:
        identity = make_identity(f"id-{key}", who.pop("handle", f"h{key}"), **who)
        case = case_services.open_case(channel=channel, identity=identity, subject=subject)
        if text:
            add_post(case, text)
        Case.objects.filter(pk=case.pk).update(
            first_response_due_at=now + dt.timedelta(hours=hours)
        )
        made[key] = case

    make("subject", 5, subject="Kettle leaks")
    make("handle", 1, handle="kettlefan")
    make("display", 4, display_name="The Kettle Man")
    make("name", 2, customer=make_customer("Kit Kettleworth"))
    make("email", 6, customer=make_customer("Sam", "sam@kettle.example"))
    make("post", 3, text="my KETTLE whistles all night")
    make("other", 0, subject="Toaster", text="toast")
    # The walked path tests its posts per case: a second matching post lists the case once.
    add_post(made["post"], "the kettle again")
    return made


@pytest.fixture(params=["walk", "ids"])
def path(request, monkeypatch) -> str:
    monkeypatch.setattr(CaseAdmin, "matches_many", lambda self, found: request.param == "walk")
    return request.param


def test_both_paths_find_every_field_in_triage_order(boss, cases, path):
    order = ["handle", "name", "post", "display", "subject", "email"]
    assert listed(boss, q="kettle") == [cases[k].reference for k in order]
    assert listed(boss, q="@kettlefan") == [cases["handle"].reference]
    assert listed(boss, q="kettle whistles") == [cases["post"].reference]  # every word
    assert listed(boss, q='"kettle man"') == [cases["display"].reference]
    assert listed(boss, q=cases["other"].reference.lower()) == [cases["other"].reference]
    assert listed(boss, q="kettle toaster") == []
    assert listed(boss, q="nothing-like-this") == []
    assert listed(boss, q="kettle", status="closed") == []


def test_both_paths_keep_agents_to_their_cases(client, agent, team, cases, path):
    billing = Team.objects.create(name="Billing")
    Case.objects.filter(pk=cases["post"].pk).update(team=billing)
    agent.user_permissions.add(*Permission.objects.filter(codename__in=["view_case"]))
    client.force_login(agent)
    found = listed(client, q="kettle")
    assert cases["post"].reference not in found
    assert len(found) == 5


def test_a_search_counts_up_to_its_limit_from_the_ids_step(boss, cases, monkeypatch):
    monkeypatch.setattr(CaseAdmin, "search_count_limit", 3)
    monkeypatch.setattr(CaseAdmin, "list_per_page", 2)
    with CaptureQueriesContext(connection) as queries:
        response = boss.get(URL, {"q": "kettle"})
    body = response.content.decode()
    assert "3+ cases" in body
    assert "More than 3: the inbox stops counting there" in body
    assert 'class="action-counter"' not in body  # "select all 3+" is not offered
    assert not [q for q in queries if "COUNT(" in q["sql"].upper()]
    assert [c.reference for c in response.context["cl"].result_list] == [
        cases["handle"].reference,
        cases["name"].reference,
    ]
    # Later pages come from the same capped ids, in order; past them the admin says so.
    assert listed(boss, q="kettle", p=2) == [cases["post"].reference, cases["display"].reference]
    assert boss.get(URL, {"q": "kettle", "p": 3}).status_code == 302
    # Under the limit the count is exact, and "show all" lists every match.
    monkeypatch.setattr(CaseAdmin, "search_count_limit", 10)
    body = boss.get(URL, {"q": "kettle"}).content.decode()
    assert "6 cases" in body and "6+" not in body
    assert len(listed(boss, q="kettle", all="")) == 6
    # Without a search the inbox keeps its bounded COUNT.
    assert "7 cases" in boss.get(URL).content.decode()


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the plans are PostgreSQL's"
)


@postgres_only
def test_the_triage_order_is_the_index_order(boss, cases):
    """Migration 0013's index holds the very expressions the inbox sorts by: with sorting made
    prohibitively expensive, the ids step reads the index and sorts nothing."""
    with CaptureQueriesContext(connection) as queries:
        boss.get(URL)
    ids_step = next(q["sql"] for q in queries if 'AS "pk" FROM "socialcare_case"' in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + ids_step)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "socialcare_case_triage" in plan
    assert "Sort" not in plan


def test_the_matching_ids_are_a_query_of_their_own(cases):
    """``matches_many`` EXPLAINs them on PostgreSQL, so they must run by themselves too, not only
    inside the list's query (a union is ordered by the model's ordering from Django 6.1 on)."""
    found = CaseAdmin(Case, None).matching_cases("kettle", "kettle")
    expected = ["subject", "handle", "display", "name", "email", "post", "post"]  # 2 posts
    assert sorted(row["id"] for row in found) == sorted(cases[k].pk for k in expected)


@postgres_only
def test_the_path_follows_the_expected_number_of_matches(boss, cases, monkeypatch):
    admin = CaseAdmin(Case, None)
    found = admin.matching_cases("kettle", "kettle")
    monkeypatch.setattr(CaseAdmin, "search_walk_rows", 10**9)
    assert not admin.matches_many(found)
    monkeypatch.setattr(CaseAdmin, "search_walk_rows", 1)
    assert admin.matches_many(found)
    with CaptureQueriesContext(connection) as queries:
        assert len(listed(boss, q="kettle")) == 6
    walked = [q["sql"] for q in queries if 'AS "pk" FROM "socialcare_case"' in q["sql"]]
    assert walked and "UNION ALL" not in walked[0] and "LEFT OUTER JOIN" in walked[0]


def test_select_across_a_search_acts_on_its_cases_only(boss, cases, path, django_user_model):
    response = boss.post(
        URL + "?q=kettle",
        {
            "action": "assign_to_me",
            "select_across": "1",
            "index": 0,
            "_selected_action": [cases["post"].pk],
        },
        follow=True,
    )
    assert response.status_code == 200
    boss_user = django_user_model.objects.get(username="boss")
    assigned = set(Case.objects.filter(assignee=boss_user).values_list("pk", flat=True))
    assert assigned == {c.pk for key, c in cases.items() if key != "other"}


def test_the_sidebar_reads_teams_incidents_and_tags_in_one_query(boss, cases, monkeypatch):
    from socialcare.admin import inbox_filters
    from socialcare.models import Incident, Tag

    monkeypatch.setattr(inbox_filters, "TAG_CHOICES", 2)
    for name in ["zeta", "alpha", "beta"]:
        Tag.objects.create(name=name)
    now = timezone.now()
    made = {
        title: Incident.objects.create(title=title, opened_at=now - dt.timedelta(days=days))
        for title, days in [("Outage", 2), ("Recall", 1), ("Old", 3)]
    }
    outage, recall = made["Outage"].pk, made["Recall"].pk
    Incident.objects.filter(title="Old").update(status=Incident.Status.RESOLVED)
    with CaptureQueriesContext(connection) as queries:
        body = boss.get(URL).content.decode()
    sidebar = [q["sql"] for q in queries if '"socialcare_tag"' in q["sql"]]
    assert len(sidebar) == 1 and '"socialcare_incident"' in sidebar[0]
    assert not [q for q in queries if q["sql"].startswith('SELECT "socialcare_team"')]
    assert body.index(f">#{recall} Recall</a>") < body.index(f">#{outage} Outage</a>")  # newest
    assert "Old</a>" not in body
    assert ">alpha</a>" in body and ">beta</a>" in body and ">zeta</a>" not in body
    assert ">Care</a>" in body
