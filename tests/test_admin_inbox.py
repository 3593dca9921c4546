"""The inbox (Case changelist): columns, filters, search, bulk actions, team scoping, bounded
queries."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from socialcare.admin import inbox_actions
from socialcare.admin.large_lists import BoundedPaginator
from socialcare.exceptions import SocialCareError
from socialcare.models import (
    Case,
    CaseEvent,
    Channel,
    Incident,
    Post,
    Tag,
    Team,
    TeamMembership,
)
from socialcare.services import assignment
from socialcare.services import cases as case_services
from socialcare.services.incidents import change_incident_status, open_incident_from_case

pytestmark = pytest.mark.django_db

URL = "/admin/socialcare/case/"
NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


def grant(user: Any, *codenames: str) -> Any:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return get_user_model().objects.get(pk=user.pk)  # fresh permission cache


@pytest.fixture
def superuser() -> Any:
    return get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")


@pytest.fixture
def boss(client: Client, superuser: Any) -> Client:
    client.force_login(superuser)
    return client


@pytest.fixture
def agent_client(client: Client, agent: Any, team: Team) -> Client:
    grant(agent, "view_case", "change_case", "view_post", "view_caseevent")
    client.force_login(agent)
    return client


_post_ids = iter(range(1, 10**6))


def add_post(case: Case, text: str, **fields: Any) -> Post:
    fields.setdefault("direction", "inbound")
    return Post.objects.create(
        platform="x",
        external_id=f"post-{next(_post_ids)}",
        channel=case.channel,
        author=case.identity,
        kind="mention",
        visibility="public",
        text=text,
        case=case,
        **fields,
    )


@pytest.fixture
def make_case(channel: Channel, identity: Any) -> Any:
    def make(subject: str = "Help", text: str | None = None, **fields: Any) -> Case:
        case = case_services.open_case(
            channel=fields.pop("channel", channel),
            identity=fields.pop("identity", identity),
            subject=subject,
            team=fields.pop("team", None),
        )
        if text is not None:
            add_post(case, text)
        if fields:
            Case.objects.filter(pk=case.pk).update(**fields)
            case.refresh_from_db()
        return case

    return make


def listed(client: Client, **params: Any) -> list[str]:
    response = client.get(URL, params)
    assert response.status_code == 200
    return [c.reference for c in response.context["cl"].result_list]


def row(body: str, reference: str) -> str:
    """The HTML of the inbox row showing ``reference``."""
    for tr in re.findall(r"<tr>.*?</tr>", body, flags=re.S):
        if f">{reference}</a>" in tr:
            return tr
    raise AssertionError(f"{reference} not listed")


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def act(client: Client, action: str, cases: list[Case], query: str = "", **data: Any) -> Any:
    payload = {"action": action, "_selected_action": [c.pk for c in cases], **data}
    return client.post(URL + query, payload, follow=True)


def test_admin_system_checks_pass():
    from django.contrib import admin

    assert admin.site._registry[Case].check() == []
    assert admin.site._registry[Post].check() == []


# Columns ------------------------------------------------------------------------------------


def test_columns_show_customer_last_post_and_escape_user_text(
    boss, make_case, make_customer, make_identity, channel, other_agent
):
    evil = make_customer("<b>Mallory</b>", "m@example.com")
    who = make_identity("666", "<img src=x onerror=alert(1)>", customer=evil, platform="x")
    case = make_case("Refund", identity=who, priority="urgent")
    add_post(case, "old news", posted_at=timezone.now() - dt.timedelta(hours=2))
    add_post(
        case,
        "<script>alert('x')</script> where is my parcel?\nsecond line",
        sentiment=-0.62,
        reach=12345,
    )
    add_post(case, "agent reply", direction="outbound")  # not the customer's: not shown
    case_services.assign_case(case, other_agent, actor=None)

    body = boss.get(URL).content.decode()
    tr = row(body, case.reference)
    change = reverse("admin:socialcare_case_change", args=[case.pk])
    assert f'href="{change}' in tr  # the reference links to the case page
    assert "&lt;b&gt;Mallory&lt;/b&gt;" in tr and "<b>Mallory" not in tr
    assert "@&lt;img src=x onerror=alert(1)&gt;" in tr and "<img src=x" not in tr
    assert "/static/socialcare/admin/platforms/x.svg" in tr and 'alt="X (Twitter)"' in tr
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; where is my parcel?" in tr
    assert "<script>alert" not in body
    assert "second line</span>" not in tr  # first line only
    assert "agent reply" not in tr and "old news" not in tr
    assert "sc-sentiment--negative" in tr and "negative -0.62" in tr
    assert 'title="reach">12,345<' in tr
    assert "sc-priority--urgent" in tr and ">Urgent<" in tr
    assert ">Bob Backup<" in tr
    assert ">Care<" in tr  # the case's team, under its assignee


def test_platform_icon_falls_back_for_unknown_platforms(boss, make_case, make_identity, team):
    email = Channel.objects.create(name="Mail", platform="email", account_id="m", handle="m")
    other = Channel.objects.create(name="Odd", platform="myspace", account_id="o", handle="o")
    a = make_case(channel=email, identity=make_identity("e1", "ann@example.com", platform="email"))
    b = make_case(channel=other)
    body = boss.get(URL).content.decode()
    assert "platforms/email.svg" in row(body, a.reference)
    assert "ann@example.com" in row(body, a.reference)
    assert "@ann@example.com" not in body
    assert "platforms/other.svg" in row(body, b.reference)


@time_machine.travel(NOW, tick=False)
def test_sla_column_counts_down_and_shows_the_state(boss, make_case, superuser):
    m = dt.timedelta(minutes=1)
    ok = make_case("ok", first_response_due_at=NOW + 125 * m)
    soon = make_case("soon", first_response_due_at=NOW + 12 * m)
    late = make_case("late", first_response_due_at=NOW - 185 * m)
    met = make_case(
        "met", first_response_due_at=NOW - 10 * m, first_responded_at=NOW - 30 * m, status="open"
    )
    missed = make_case("missed", first_response_due_at=NOW - 30 * m, first_responded_at=NOW - 5 * m)
    chasing = make_case(
        "chasing",
        first_response_due_at=NOW - 50 * m,
        first_responded_at=NOW - 55 * m,
        next_response_due_at=NOW - 20 * m,
        status="open",
    )
    done = make_case("done", first_response_due_at=NOW - 50 * m, status="closed")
    body = boss.get(URL).content.decode()

    def span(case: Case) -> str:
        return re.search(
            r'<span class="sc-sla [^"]*"[^>]*>[^<]*</span>', row(body, case.reference)
        )[0]

    assert 'class="sc-sla sc-sla--ok" data-sla="ok"' in span(ok)
    assert ">in 2 h 5 min<" in span(ok)
    assert 'data-sla="due_soon"' in span(soon) and ">in 12 min<" in span(soon)
    assert 'data-sla="breached"' in span(late) and ">3 h 5 min overdue<" in span(late)
    assert 'data-sla="met"' in span(met) and ">met<" in span(met)
    assert 'data-sla="missed"' in span(missed) and ">missed<" in span(missed)
    assert 'data-sla="none"' in span(done)
    assert "next reply 20 min overdue" in row(body, chasing.reference)

    # Triage order: a reply due soonest first (most overdue on top), closed cases last.
    order = listed(boss)
    assert order == [
        late.reference,
        chasing.reference,
        soon.reference,
        ok.reference,
        missed.reference,
        met.reference,
        done.reference,
    ]
    # The SLA column (2nd, after the checkbox and the reference) sorts by the same due time.
    assert listed(boss, o="2")[:4] == [
        late.reference,
        chasing.reference,
        soon.reference,
        ok.reference,
    ]


# Filters ------------------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_each_filter_selects_the_right_cases(boss, make_case, superuser, other_agent, team):
    m = dt.timedelta(minutes=1)
    billing = Team.objects.create(name="Billing")
    fb = Channel.objects.create(name="FB", platform="facebook", account_id="f", handle="f")
    mine = make_case("mine", assignee=superuser, status="open", team=team)
    bobs = make_case("bobs", assignee=other_agent, status="open", team=billing)
    pool = make_case("pool", channel=fb, first_response_due_at=NOW - 5 * m)  # fb: no team
    urgent = make_case("urgent", priority="urgent", first_response_due_at=NOW + 5 * m)
    resolved = make_case("resolved", status="resolved", first_responded_at=NOW - 60 * m)
    tagged = make_case("tagged")
    case_services.set_tags(tagged, ["vip"])
    escalated = make_case("escalated")
    incident = open_incident_from_case(escalated, actor=superuser)
    all_refs = {c.reference for c in (mine, bobs, pool, urgent, resolved, tagged, escalated)}

    assert set(listed(boss)) == all_refs
    assert listed(boss, assignee="me") == [mine.reference]
    assert set(listed(boss, assignee="none")) == all_refs - {mine.reference, bobs.reference}
    assert listed(boss, team=billing.pk) == [bobs.reference]
    assert listed(boss, team="none") == [pool.reference]
    assert listed(boss, status="resolved") == [resolved.reference]
    assert resolved.reference not in listed(boss, status="active")
    assert listed(boss, priority="urgent") == [urgent.reference]
    assert listed(boss, sla="breached") == [pool.reference]
    assert listed(boss, sla="due_soon") == [urgent.reference]
    assert listed(boss, sla="met") == [resolved.reference]
    assert listed(boss, platform="facebook") == [pool.reference]
    assert listed(boss, incident=incident.pk) == [escalated.reference]
    assert listed(boss, incident="any") == [escalated.reference]
    assert escalated.reference not in listed(boss, incident="none")
    assert listed(boss, tag=Tag.objects.get(name="vip").pk) == [tagged.reference]

    body = boss.get(URL).content.decode()
    # The sidebar: "Anyone" instead of "All", and the SLA filter of the browser-test contract.
    assert "Anyone" in body and 'data-filter-title="SLA"' in body
    for value, label in [
        ("ok", "OK"),
        ("due_soon", "Due soon"),
        ("breached", "Breached"),
        ("met", "Met"),
        ("missed", "Missed"),
    ]:
        assert f'href="?sla={value}"' in body and f">{label}</a>" in body


def test_unknown_filter_values_are_ignored_with_a_warning(boss, make_case):
    case = make_case("x")
    for params in ({"team": "abc"}, {"sla": "late"}, {"incident": "-1"}, {"tag": "none"}):
        response = boss.get(URL, params)
        assert response.status_code == 200
        assert [c.reference for c in response.context["cl"].result_list] == [case.reference]
        assert any("was ignored" in m for m in messages_of(response)), params


# Search -------------------------------------------------------------------------------------


def test_search_by_reference_handle_name_and_post_text(
    boss, make_case, make_customer, make_identity
):
    grace = make_identity("2002", "gracehopper", customer=make_customer("Grace Hopper"))
    a = make_case("Late parcel", identity=grace, text="My COBOL compiler arrived broken")
    add_post(a, "still broken, compiler useless")  # two matching posts: still one row
    b = make_case("Refund", text="please refund the toaster")

    assert listed(boss, q=a.reference) == [a.reference]
    assert listed(boss, q=a.reference.lower()) == [a.reference]
    assert listed(boss, q="@gracehopper") == [a.reference]
    assert listed(boss, q="Grace Hopper") == [a.reference]
    assert listed(boss, q="compiler") == [a.reference]  # only in the posts
    assert listed(boss, q="toaster") == [b.reference]
    assert listed(boss, q="broken toaster") == []  # every word must match
    assert listed(boss, q='"refund the toaster"') == [b.reference]
    assert listed(boss, q="nothing-like-this") == []


# Bounded count ------------------------------------------------------------------------------


def test_count_stops_at_the_limit_and_says_so(boss, make_case, monkeypatch):
    for i in range(5):
        make_case(f"case {i}")
    monkeypatch.setattr(BoundedPaginator, "limit", 3)
    monkeypatch.setattr("socialcare.admin.cases.CaseAdmin.list_per_page", 2)
    with CaptureQueriesContext(connection) as queries:
        response = boss.get(URL)
    body = response.content.decode()
    assert "3+ cases" in body
    assert "More than 3: the inbox stops counting there" in body
    assert 'class="action-counter"' not in body  # selecting "all 3+" is not offered
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1 and "LIMIT 4" in counts[0]
    assert len(response.context["cl"].result_list) == 2

    monkeypatch.setattr(BoundedPaginator, "limit", 10)
    body = boss.get(URL).content.decode()
    assert "5 cases" in body and "5+" not in body
    assert 'class="action-counter"' in body


# Bulk actions -------------------------------------------------------------------------------


def test_assign_to_me_reports_merged_cases(boss, make_case, superuser):
    a, b, c = make_case("a"), make_case("b"), make_case("c")
    case_services.merge_cases(c, a, actor=superuser)
    response = act(boss, "assign_to_me", [a, b, c])
    msgs = messages_of(response)
    assert "2 case(s) assigned to you." in msgs
    assert f"{c.reference} was merged into another case; work on that one." in msgs
    assert set(Case.objects.filter(assignee=superuser)) == {a, b}
    assert a.events.filter(kind=CaseEvent.Kind.ASSIGNEE_CHANGED, actor=superuser).exists()


def test_assign_to_member_asks_whom_then_assigns(boss, make_case, agent, other_agent, make_user):
    make_user("outsider", first_name="Not", last_name="Member")  # in no team: not offered
    off = make_user("gone", first_name="Gone", last_name="Away", is_active=False)
    TeamMembership.objects.create(team=Team.objects.get(name="Care"), user=off)
    a, b = make_case("a"), make_case("b")

    page = act(boss, "assign_to_member", [a, b], query="?status=active")
    body = page.content.decode()
    assert page.status_code == 200
    assert "Assign cases to a team member" in body
    assert "csrfmiddlewaretoken" in body
    assert f'<option value="{agent.pk}">Alice Agent (alice)</option>' in body
    assert "Bob Backup (bob)" in body
    assert "Not Member" not in body and "Gone Away" not in body
    assert a.reference in body and b.reference in body
    assert 'href="/admin/socialcare/case/?status=active" class="button cancel-link"' in body
    assert 'name="select_across" value="0"' in body

    response = act(boss, "assign_to_member", [a, b], confirm="yes", assignee=other_agent.pk)
    assert "2 case(s) assigned to Bob Backup." in messages_of(response)
    assert set(Case.objects.filter(assignee=other_agent)) == {a, b}

    again = act(boss, "assign_to_member", [a], confirm="yes", assignee=other_agent.pk)
    assert f"{a.reference} is already assigned to Bob Backup." in messages_of(again)


@pytest.mark.parametrize("bad", ["", "abc", "999999", "outsider"])
def test_assign_to_member_refuses_a_bad_choice(boss, make_case, make_user, bad):
    outsider = make_user("outsider")
    a = make_case("a")
    value = outsider.pk if bad == "outsider" else bad
    response = act(boss, "assign_to_member", [a], confirm="yes", assignee=value)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Please correct the error below." in body
    assert "errorlist" in body
    a.refresh_from_db()
    assert a.assignee is None


def test_bulk_posts_need_the_csrf_token(superuser, make_case):
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    a = make_case("a")
    response = client.post(URL, {"action": "assign_to_me", "_selected_action": [a.pk]})
    assert response.status_code == 403
    a.refresh_from_db()
    assert a.assignee is None


def test_view_only_users_get_no_actions(client, make_case, make_user):
    viewer = make_user("viewer")
    grant(viewer, "view_case", "view_all_cases")
    client.force_login(viewer)
    a = make_case("a")
    body = client.get(URL).content.decode()
    assert 'name="action"' not in body
    client.post(URL, {"action": "assign_to_me", "_selected_action": [a.pk], "index": 0})
    a.refresh_from_db()
    assert a.assignee is None


def test_round_robin_is_fair_fewest_open_cases_then_turns(make_case, make_user, agent):
    ann, ben, cat = make_user("ann"), make_user("ben"), make_user("cat")
    off_duty = make_user("dan")
    support = Team.objects.create(name="Support")
    for user in (ann, ben, cat):
        TeamMembership.objects.create(team=support, user=user)
    TeamMembership.objects.create(team=support, user=off_duty, on_duty=False)
    for i in range(2):  # ann already has two open cases
        make_case(f"ann {i}", assignee=ann, status="open")
    make_case("ben closed", assignee=ben, status="closed")  # closed work is not load

    batch = [make_case(f"new {i}") for i in range(4)]
    closed = make_case("closed one", status="closed")
    result = assignment.round_robin([*batch, closed], support, actor=agent)

    got = [Case.objects.get(pk=c.pk).assignee.username for c in batch]
    assert got == ["ben", "cat", "ben", "cat"]
    assert result.skipped == [f"{closed.reference} is closed; not assigned."]
    assert all(Case.objects.get(pk=c.pk).team == support for c in batch)
    support.refresh_from_db()
    assert support.last_assigned == cat

    # Equal load now (ann 2, ben 2, cat 2): turns continue after cat.
    more = [make_case(f"more {i}") for i in range(3)]
    assignment.round_robin(more, support, actor=agent)
    assert [Case.objects.get(pk=c.pk).assignee.username for c in more] == ["ann", "ben", "cat"]
    assert not Case.objects.filter(assignee=off_duty).exists()


def test_round_robin_action_picks_a_team_and_reports(boss, make_case, agent, other_agent, team):
    empty = Team.objects.create(name="Nobody home")
    a, b = make_case("a"), make_case("b")
    page = act(boss, "assign_round_robin", [a, b])
    body = page.content.decode()
    assert "Share cases round-robin" in body
    assert f'<option value="{team.pk}">Care</option>' in body
    assert "Nobody home" not in body  # no one on duty there

    bad = act(boss, "assign_round_robin", [a, b], confirm="yes", team=empty.pk)
    assert "errorlist" in bad.content.decode()

    response = act(boss, "assign_round_robin", [a, b], confirm="yes", team=team.pk)
    assert "2 case(s) shared among the members of Care." in messages_of(response)
    assert {Case.objects.get(pk=a.pk).assignee, Case.objects.get(pk=b.pk).assignee} == {
        agent,
        other_agent,
    }


def test_status_and_priority_actions_report_each_case(boss, make_case, superuser):
    a, b = make_case("a"), make_case("b", priority="urgent")
    case_services.change_status(b, "closed", actor=superuser)
    response = act(boss, "set_priority_urgent", [a, b])
    msgs = messages_of(response)
    assert "1 case(s) set to urgent priority." in msgs
    assert f"{b.reference} already has urgent priority." in msgs
    a.refresh_from_db()
    assert a.priority == "urgent"
    assert a.events.filter(kind=CaseEvent.Kind.PRIORITY_CHANGED).exists()

    response = act(boss, "mark_waiting", [a, b])
    msgs = messages_of(response)
    assert "1 case(s) marked waiting on customer." in msgs
    assert any("cannot go from Closed to Waiting on customer" in m for m in msgs)

    response = act(boss, "set_priority_low", [b])
    assert "1 case(s) set to low priority." in messages_of(response)


def test_link_to_incident_offers_open_incidents_only(boss, make_case, superuser):
    old = open_incident_from_case(make_case("old"), actor=superuser, title="Last year")
    change_incident_status(old, Incident.Status.RESOLVED, actor=superuser)
    first, a, b = make_case("first"), make_case("a"), make_case("b")
    live = open_incident_from_case(first, actor=superuser, title="Outage")

    page = act(boss, "link_to_incident", [a, b, first])
    body = page.content.decode()
    assert f"#{live.pk} Outage" in body and "Last year" not in body

    refused = act(boss, "link_to_incident", [a], confirm="yes", incident=old.pk)
    assert "errorlist" in refused.content.decode()
    assert Case.objects.get(pk=a.pk).incident is None

    response = act(boss, "link_to_incident", [a, b, first], confirm="yes", incident=live.pk)
    msgs = messages_of(response)
    assert f"2 case(s) linked to incident #{live.pk}." in msgs
    assert f"{first.reference} is already linked to incident #{live.pk}." in msgs
    assert set(live.cases.all()) == {first, a, b}
    assert a.events.filter(kind=CaseEvent.Kind.INCIDENT_LINKED).exists()


def test_link_to_incident_without_any_open_incident_says_so(boss, make_case):
    a = make_case("a")
    response = act(boss, "link_to_incident", [a])
    assert any("There is no open incident" in m for m in messages_of(response))


def test_bulk_actions_stop_at_the_maximum(boss, make_case, monkeypatch):
    monkeypatch.setattr(inbox_actions, "MAX_BULK", 2)
    cases = [make_case(str(i)) for i in range(3)]
    response = act(boss, "assign_to_me", cases)
    assert any("at most 2 cases at once" in m for m in messages_of(response))
    assert not Case.objects.filter(assignee__isnull=False).exists()
    # "Select all" across pages is capped the same way.
    response = boss.post(
        URL,
        {
            "action": "assign_to_me",
            "select_across": "1",
            "index": 0,
            "_selected_action": [cases[0].pk],
        },
        follow=True,
    )
    assert any("at most 2 cases at once" in m for m in messages_of(response))


# Team scoping -------------------------------------------------------------------------------


@pytest.fixture
def scoped(make_case, agent, team, channel):
    """Cases of the agent's team (Care), another team (Billing), the unrouted pool, and a
    Billing case assigned to the agent."""
    billing = Team.objects.create(name="Billing")
    ours = make_case("ours", text="ours text")
    theirs = make_case("theirs", team=billing, text="theirs text")
    pool = make_case("pool", text="pool text")
    Case.objects.filter(pk=pool.pk).update(team=None)
    lent = make_case("lent", team=billing)
    Case.objects.filter(pk=lent.pk).update(assignee=agent)
    orphan = Post.objects.create(
        platform="x",
        external_id="orphan",
        direction="inbound",
        kind="mention",
        visibility="public",
        text="orphan text",
    )
    return {
        "ours": ours,
        "theirs": theirs,
        "pool": pool,
        "lent": lent,
        "billing": billing,
        "orphan": orphan,
    }


def test_agent_sees_own_teams_assigned_and_unrouted_cases(agent_client, scoped):
    refs = set(listed(agent_client))
    expected = {scoped[k].reference for k in ("ours", "pool", "lent")}
    assert refs == expected
    # Another team's case page answers as if the case did not exist.
    theirs = scoped["theirs"]
    response = agent_client.get(reverse("admin:socialcare_case_change", args=[theirs.pk]))
    assert response.status_code == 404
    # Not through search, not through a filter on the other team either.
    assert listed(agent_client, q="theirs") == []
    assert theirs.reference not in listed(agent_client, team=scoped["billing"].pk)
    # Bulk actions only reach visible cases.
    act(agent_client, "assign_to_me", [theirs])
    theirs.refresh_from_db()
    assert theirs.assignee is None


def test_supervisor_and_superuser_see_every_case(superuser, make_user, scoped):
    everything = {scoped[k].reference for k in ("ours", "theirs", "pool", "lent")}
    supervisor = make_user("sue")
    grant(supervisor, "view_case", "view_all_cases")
    for user in (superuser, supervisor):
        client = Client()
        client.force_login(user)
        assert set(listed(client)) == everything


def test_posts_and_events_admin_are_scoped_too(agent_client, superuser, scoped):
    posts = agent_client.get("/admin/socialcare/post/").content.decode()
    assert "ours text" in posts and "pool text" in posts
    assert "theirs text" not in posts and "orphan text" not in posts
    theirs_post = scoped["theirs"].posts.get()
    page = agent_client.get(reverse("admin:socialcare_post_change", args=[theirs_post.pk]))
    assert page.status_code == 302
    events = agent_client.get("/admin/socialcare/caseevent/")
    shown = {e.case_id for e in events.context["cl"].result_list}
    assert scoped["theirs"].pk not in shown and scoped["ours"].pk in shown
    boss = Client()
    boss.force_login(superuser)
    everything = boss.get("/admin/socialcare/post/").content.decode()
    assert "theirs text" in everything and "orphan text" in everything


def test_agent_team_filter_lists_only_own_teams(agent_client, scoped):
    body = agent_client.get(URL).content.decode()
    assert ">Care</a>" in body and ">Billing</a>" not in body
    assert "No team (triage pool)" in body


# Query counts -------------------------------------------------------------------------------


def fill(
    prefix: str, n: int, channel: Channel, make_identity: Any, make_customer: Any, users: list
) -> None:
    tag = Tag.objects.get_or_create(name="vip")[0]
    for i in range(n):
        who = make_identity(
            f"{prefix}-{i}", f"h{prefix}{i}", customer=make_customer(f"C {prefix}{i}", "c@x.io")
        )
        case = case_services.open_case(channel=channel, identity=who, subject=f"s{i}")
        add_post(case, f"post {i}", sentiment=0.3, reach=i)
        add_post(case, f"again {i}", sentiment=-0.3, reach=i)
        Case.objects.filter(pk=case.pk).update(assignee=users[i % len(users)])
        case.tags.add(tag)


#: Session, user, 2 permission lookups (agents), the sidebar's teams, incidents and tags (one
#: query), the page's ids (one more than a page: here that is all, so no COUNT), the page's cases
#: with their related rows and last posts. On PostgreSQL a search adds the planner's estimate of
#: each word's matches (one EXPLAIN, which picks the search's route).
INBOX_QUERIES = 7


@pytest.mark.parametrize("who", ["superuser", "agent"])
def test_inbox_queries_do_not_grow_with_the_page(
    who,
    channel,
    make_identity,
    make_customer,
    agent,
    other_agent,
    superuser,
    django_assert_max_num_queries,
):
    client = Client()
    user = superuser if who == "superuser" else grant(agent, "view_case", "change_case")
    client.force_login(user)
    counts = []
    for n, more in ((5, 5), (40, 35)):
        fill(f"n{n}", more, channel, make_identity, make_customer, [agent, other_agent])
        with (
            django_assert_max_num_queries(INBOX_QUERIES + (connection.vendor == "postgresql")),
            CaptureQueriesContext(connection) as queries,
        ):
            response = client.get(URL, {"q": "post", "sla": "ok", "platform": "x"})
        assert response.status_code == 200
        assert len(response.context["cl"].result_list) == n
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_case_picker_popup_is_scoped_and_picks_by_reference(agent_client, scoped):
    response = agent_client.get(URL, {"_popup": "1", "_to_field": "id"})
    assert response.status_code == 200
    body = response.content.decode()
    assert scoped["ours"].reference in body and scoped["theirs"].reference not in body
    assert "data-popup-opener" in body  # the reference link picks the case


def test_select_across_applies_to_every_filtered_case(boss, make_case, other_agent):
    cases = [make_case(f"c{i}") for i in range(3)]
    closed = make_case("closed", status="closed")
    data = {
        "select_across": "1",
        "_selected_action": [cases[0].pk],
        "confirm": "yes",
        "assignee": other_agent.pk,
    }
    page = act(boss, "assign_to_member", [cases[0]], query="?status=active", select_across="1")
    assert "3 selected cases" in page.content.decode()
    assert 'name="select_across" value="1"' in page.content.decode()
    data["action"] = "assign_to_member"
    response = boss.post(URL + "?status=active", data, follow=True)
    assert "3 case(s) assigned to Bob Backup." in messages_of(response)
    assert Case.objects.get(pk=closed.pk).assignee is None


def test_later_pages_keep_the_triage_order(boss, make_case, monkeypatch):
    monkeypatch.setattr("socialcare.admin.cases.CaseAdmin.list_per_page", 2)
    now = timezone.now()
    cases = [
        make_case(f"c{i}", first_response_due_at=now + dt.timedelta(hours=i)) for i in range(5)
    ]
    refs = [c.reference for c in cases]
    assert listed(boss) == refs[:2]
    assert listed(boss, p=2) == refs[2:4]
    assert listed(boss, p=3) == refs[4:]
    assert boss.get(URL, {"p": 9}).status_code == 302  # Django's "?e=1" for a page past the end


def test_nothing_changed_is_said_so(boss, make_case, superuser):
    a = make_case("a", priority="high")
    response = act(boss, "set_priority_high", [a])
    assert messages_of(response) == [
        "No case was changed.",
        f"{a.reference} already has high priority.",
    ]


def test_round_robin_needs_someone_on_duty(make_case, make_user, agent):
    idle = Team.objects.create(name="Idle")
    TeamMembership.objects.create(team=idle, user=make_user("zed"), on_duty=False)
    with pytest.raises(SocialCareError, match="Nobody on team Idle is on duty"):
        assignment.round_robin([make_case("a")], idle, actor=agent)
