"""The crisis API: incidents (read, steps, status, linking cases, opening from a case), playbooks
and detectors; permissions, the team rule on linked cases, every filter, bad input (400, never
500), 409s, constant query counts, the schema; and the case list's ``incident`` filter and field.
Runs with the default and the swapped customer model."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from drf_spectacular.drainage import GENERATOR_STATS
from rest_framework.test import APIClient

from socialcare.api import crisis
from socialcare.api.crisis_serializers import MAX_LINK
from socialcare.crisis_playbooks import install_playbooks
from socialcare.models import (
    Case,
    CaseEvent,
    Detector,
    Incident,
    IncidentEvent,
    IncidentStep,
    Playbook,
    PlaybookStep,
    Team,
)
from socialcare.services import cases as case_services
from socialcare.services.incidents import (
    change_incident_status,
    complete_step,
    link_cases,
    open_incident,
)
from tests.test_api_cases import API, assert_error, grant, ids, walk
from tests.test_api_cases import client_for as client_for
from tests.test_api_cases import make_case as make_case
from tests.test_api_cases import other_team as other_team

pytestmark = pytest.mark.django_db

READ = ("view_incident", "view_playbook", "view_detector")
ACT = (*READ, "change_incident")
_slugs = itertools.count(1)


def make_playbook(*steps, slug=None, severity="high", **fields):
    """steps: (title, kind, automatic, due_after_minutes, config)."""
    slug = slug or f"plan-{next(_slugs)}"
    playbook = Playbook.objects.create(
        name=slug.replace("-", " ").title(), slug=slug, severity=severity, **fields
    )
    for order, (title, kind, automatic, due, config) in enumerate(steps, start=1):
        PlaybookStep.objects.create(
            playbook=playbook, order=order * 10, title=title, kind=kind, automatic=automatic,
            due_after_minutes=due, config=config,
        )  # fmt: skip
    return playbook


@pytest.fixture
def playbook():
    return make_playbook(
        ("Raise to urgent", "raise_priority", True, 0, {"priority": "urgent"}),
        ("Route to Escalations", "assign_team", False, 10, {"team": "Escalations"}),
        ("Confirm with Product", "checklist", False, 30, {}),
        slug="defect",
    )


@pytest.fixture
def incident(playbook, case):
    opened, _ = open_incident(
        title="Photos vanish",
        playbook=playbook,
        scope="platform=x;channel=*",
        evidence={"summary": "17 negative posts in 15 min", "count": 17},
        cases=[case],
    )
    return opened


@pytest.fixture
def api(agent, client_for):
    """Alice, an agent of team Care who may read and run incidents and work cases."""
    grant(agent, *ACT, "view_case", "change_case")
    return client_for(agent)


def body_of(response, status=200):
    assert response.status_code == status, response.content
    return response.json()


def step_of(incident, title):
    return incident.steps.get(title=title)


def step_url(incident, step):
    return f"{API}/incidents/{incident.pk}/steps/{step.pk}/"


# Authentication and permissions ----------------------------------------------------------------


def test_anonymous_is_401_and_non_staff_403(incident, make_user, client_for):
    for path in ("incidents/", f"incidents/{incident.pk}/", "playbooks/", "detectors/"):
        assert_error(APIClient().get(f"{API}/{path}"), 401, "not_authenticated")
    outsider = client_for(grant(make_user("eve", is_staff=False), *ACT))
    assert_error(outsider.get(f"{API}/incidents/"), 403, "permission_denied")


def test_reads_need_the_view_permission_of_each_model(agent, client_for, incident, playbook):
    client = client_for(agent)
    for path in ("incidents/", f"incidents/{incident.pk}/", "playbooks/", "detectors/"):
        assert_error(client.get(f"{API}/{path}"), 403, "permission_denied")
    grant(agent, "view_incident")
    assert ids(client.get(f"{API}/incidents/")) == [incident.pk]
    assert client.get(f"{API}/incidents/{incident.pk}/").status_code == 200
    assert_error(client.get(f"{API}/playbooks/"), 403)
    grant(agent, "view_playbook", "view_detector")
    assert ids(client.get(f"{API}/playbooks/")) == [playbook.pk]
    assert client.get(f"{API}/detectors/").status_code == 200


def test_every_action_needs_change_incident(agent, client_for, incident, make_case):
    client = client_for(grant(agent, *READ, "view_case", "change_case"))
    step = step_of(incident, "Confirm with Product")
    other = make_case("Another")
    requests = [
        (step_url(incident, step), {"action": "done"}),
        (f"{API}/incidents/{incident.pk}/status/", {"status": "contained"}),
        (f"{API}/incidents/{incident.pk}/cases/", {"cases": [other.pk]}),
        (f"{API}/incidents/open-from-case/", {"case": other.pk}),
    ]
    for url, data in requests:
        assert_error(client.post(url, data, format="json"), 403, "permission_denied")
    assert step_of(incident, "Confirm with Product").status == "pending"
    assert Incident.objects.get().status == "open" and other.incident_id is None
    grant(agent, "change_incident")
    assert client.post(*requests[0], format="json").status_code == 200


def test_read_only_key_reads_but_never_acts(agent, client_for, incident, make_case):
    client = client_for(grant(agent, *ACT, "view_case"), read_only=True)
    assert client.get(f"{API}/incidents/{incident.pk}/").status_code == 200
    step = step_of(incident, "Confirm with Product")
    body = assert_error(client.post(step_url(incident, step), {"action": "done"}), 403)
    assert body["detail"] == "This API key is read-only."
    assert_error(client.post(f"{API}/incidents/{incident.pk}/status/", {"status": "resolved"}), 403)
    assert_error(client.post(f"{API}/incidents/open-from-case/", {"case": make_case().pk}), 403)
    assert Incident.objects.get().status == "open"


def test_no_create_update_or_delete(api, incident, playbook):
    assert_error(api.post(f"{API}/incidents/", {"title": "x"}), 405, "method_not_allowed")
    assert_error(api.patch(f"{API}/incidents/{incident.pk}/", {"title": "x"}), 405)
    assert_error(api.put(f"{API}/incidents/{incident.pk}/", {"title": "x"}), 405)
    assert_error(api.delete(f"{API}/incidents/{incident.pk}/"), 405)
    assert_error(api.get(f"{API}/incidents/open-from-case/"), 405)
    assert_error(api.get(step_url(incident, incident.steps.first())), 405)
    assert_error(api.post(f"{API}/playbooks/", {"name": "x"}), 405)
    assert_error(api.delete(f"{API}/playbooks/{playbook.pk}/"), 405)
    assert_error(api.patch(f"{API}/detectors/1/", {"name": "x"}), 405)
    assert Incident.objects.filter(pk=incident.pk).exists()


# Reading incidents -----------------------------------------------------------------------------


def test_retrieve_shows_evidence_playbook_steps_and_cases(api, incident, playbook, case, agent):
    detector = Detector.objects.create(name="Negative surge", kind="negative_surge")
    Incident.objects.filter(pk=incident.pk).update(
        detector=detector, commander=agent, requires_approval=True
    )
    body = body_of(api.get(f"{API}/incidents/{incident.pk}/"))
    assert (body["title"], body["status"], body["severity"], body["scope"]) == (
        "Photos vanish",
        "open",
        "high",
        "platform=x;channel=*",
    )
    assert body["evidence"] == {"summary": "17 negative posts in 15 min", "count": 17}
    assert body["playbook"] == {"id": playbook.pk, "slug": "defect", "name": "Defect"}
    assert body["detector"] == {
        "id": detector.pk,
        "name": "Negative surge",
        "kind": "negative_surge",
    }
    assert body["commander"] == {"id": agent.pk, "username": "alice", "name": "Alice Agent"}
    assert body["requires_approval"] is True and body["opened_by"] is None
    assert body["opened_at"].endswith("Z") and body["contained_at"] is None
    assert body["resolved_at"] is None and body["updated_at"] >= body["opened_at"]
    assert [s["title"] for s in body["steps"]] == [
        "Raise to urgent",
        "Route to Escalations",
        "Confirm with Product",
    ]
    raised, routed, _ = body["steps"]
    assert (raised["status"], raised["automatic"], raised["kind"]) == (
        "done",
        True,
        "raise_priority",
    )
    assert raised["result"] == "applied to 1 of 1 case(s)" and raised["done_by"] is None
    assert (routed["status"], routed["done_at"], routed["comment"]) == ("pending", None, "")
    due = dt.datetime.fromisoformat(routed["due_at"]) - dt.datetime.fromisoformat(body["opened_at"])
    assert due == dt.timedelta(minutes=10)
    case.refresh_from_db()
    assert body["cases"] == [
        {
            "id": case.pk,
            "reference": case.reference,
            "subject": "Refund please",
            "status": case.status,
            "priority": "urgent",
        }
    ]
    assert (body["case_count"], body["visible_case_count"]) == (1, 1)
    assert body_of(api.get(f"{API}/incidents/"))["results"] == [body]


def test_incidents_are_brand_wide_but_show_only_cases_the_caller_may_see(
    api, incident, make_case, other_team, make_user, client_for, django_user_model
):
    mine = Case.objects.get(incident=incident)
    theirs = make_case("Billing's", team=other_team)
    link_cases(incident, [theirs])
    body = body_of(api.get(f"{API}/incidents/{incident.pk}/"))
    assert [c["id"] for c in body["cases"]] == [mine.pk]
    assert (body["case_count"], body["visible_case_count"]) == (2, 1)
    carol = client_for(grant(django_user_model.objects.get(username="carol"), *READ))
    body = body_of(carol.get(f"{API}/incidents/{incident.pk}/"))
    assert [c["id"] for c in body["cases"]] == [theirs.pk]
    stranger = client_for(grant(make_user("dan"), *READ))  # no team: only the teamless pool
    body = body_of(stranger.get(f"{API}/incidents/"))["results"][0]
    assert (body["cases"], body["case_count"], body["visible_case_count"]) == ([], 2, 0)
    boss = client_for(grant(make_user("sam"), *READ, "view_all_cases"))
    body = body_of(boss.get(f"{API}/incidents/{incident.pk}/"))
    assert [c["id"] for c in body["cases"]] == [mine.pk, theirs.pk]


def test_linked_cases_shown_are_bounded_oldest_first(api, incident, make_case, monkeypatch):
    monkeypatch.setattr(crisis, "CASES_SHOWN", 3)
    first = Case.objects.get(incident=incident)
    more = [make_case(f"More {n}") for n in range(4)]
    link_cases(incident, more)
    body = body_of(api.get(f"{API}/incidents/{incident.pk}/"))
    assert [c["id"] for c in body["cases"]] == [first.pk, more[0].pk, more[1].pk]
    assert (body["case_count"], body["visible_case_count"]) == (5, 5)
    assert sorted(ids(api.get(f"{API}/cases/?incident={incident.pk}"))) == sorted(
        [first.pk, *(c.pk for c in more)]
    )


def test_unknown_incident_is_404(api, incident):
    for pk in (incident.pk + 100, "abc", 10**30):
        assert_error(api.get(f"{API}/incidents/{pk}/"), 404, "not_found")


# Listing, filtering, ordering ------------------------------------------------------------------


@pytest.fixture
def make_incident(make_case):
    def make(title="Wave", *, playbook=None, severity="high", status="open", **fields):
        incident, _ = open_incident(
            title=title,
            playbook=playbook,
            severity=severity,
            scope=f"scope-{next(_slugs)}",
            cases=[make_case(title)],
        )
        if status != "open":
            change_incident_status(incident, status, actor=None)
        if fields:
            Incident.objects.filter(pk=incident.pk).update(**fields)
        incident.refresh_from_db()
        return incident

    return make


def test_filter_by_status_severity_playbook_and_detector(api, make_incident, playbook):
    detector = Detector.objects.create(name="Spike", kind="volume_spike")
    opened = make_incident("A", playbook=playbook, detector=detector)
    contained = make_incident("B", severity="critical", status="contained")
    resolved = make_incident("C", severity="low", status="resolved")
    assert ids(api.get(f"{API}/incidents/?status=open")) == [opened.pk]
    assert sorted(ids(api.get(f"{API}/incidents/?status=open&status=resolved"))) == sorted(
        [opened.pk, resolved.pk]
    )
    assert ids(api.get(f"{API}/incidents/?severity=critical")) == [contained.pk]
    assert sorted(ids(api.get(f"{API}/incidents/?severity=low&severity=high"))) == sorted(
        [opened.pk, resolved.pk]
    )
    assert ids(api.get(f"{API}/incidents/?playbook={playbook.pk}")) == [opened.pk]
    assert ids(api.get(f"{API}/incidents/?playbook=defect")) == [opened.pk]
    assert ids(api.get(f"{API}/incidents/?playbook=no-such-plan")) == []
    assert ids(api.get(f"{API}/incidents/?detector={detector.pk}")) == [opened.pk]
    assert ids(api.get(f"{API}/incidents/?search=b")) == [contained.pk]


def test_filter_by_opened_range(api, make_incident):
    now = timezone.now()
    old = make_incident("Old", opened_at=now - dt.timedelta(days=3))
    new = make_incident("New")
    since = (now - dt.timedelta(days=1)).isoformat()
    assert ids(api.get(f"{API}/incidents/", {"opened_after": since})) == [new.pk]
    assert ids(api.get(f"{API}/incidents/", {"opened_before": since})) == [old.pk]


def test_updated_since_and_default_order_count_steps_and_linked_cases(
    api, make_incident, playbook, agent, make_case
):
    long_ago = timezone.now() - dt.timedelta(days=2)
    first = make_incident("First", playbook=playbook)
    second = make_incident("Second")
    for incident in (first, second):
        Incident.objects.filter(pk=incident.pk).update(updated_at=long_ago)
        IncidentEvent.objects.filter(incident=incident).update(at=long_ago)
    since = (timezone.now() - dt.timedelta(days=1)).isoformat()
    assert ids(api.get(f"{API}/incidents/", {"updated_since": since})) == []
    complete_step(step_of(first, "Confirm with Product"), actor=agent)  # not saving the incident
    assert Incident.objects.get(pk=first.pk).updated_at == long_ago
    assert ids(api.get(f"{API}/incidents/", {"updated_since": since})) == [first.pk]
    body = body_of(api.get(f"{API}/incidents/{first.pk}/"))
    assert body["updated_at"] > since.replace("+00:00", "Z")
    link_cases(second, [make_case("Late")])
    assert ids(api.get(f"{API}/incidents/")) == [first.pk, second.pk]  # oldest change first
    assert walk(api, f"{API}/incidents/?page_size=1") == [first.pk, second.pk]
    assert walk(api, f"{API}/incidents/?ordering=-updated_at&page_size=1") == [
        second.pk,
        first.pk,
    ]


def test_ordering_by_opened_at_pages_by_cursor(api, make_incident):
    now = timezone.now()
    made = [make_incident(f"I{n}", opened_at=now - dt.timedelta(hours=n)) for n in range(5)]
    newest_first = [i.pk for i in made]
    assert walk(api, f"{API}/incidents/?ordering=-opened_at&page_size=2") == newest_first
    assert walk(api, f"{API}/incidents/?ordering=opened_at&page_size=2") == newest_first[::-1]


@pytest.mark.parametrize(
    "query",
    [
        "status=later",
        "severity=5",
        "playbook=a%20b",
        "playbook=0",
        "playbook=99999999999999999999999999",
        "playbook=a%00",
        "detector=abc",
        "detector=1.5",
        "detector=-991364263784990912806912",
        "opened_after=yesterday",
        "opened_before=2025-13-45",
        "updated_since=0001-01-01T00:00%2B05:00",
        "ordering=title",
        "cursor=garbage",
    ],
)
def test_bad_filter_values_are_400_with_field_errors(api, incident, query):
    name = query.split("=")[0]
    response = api.get(f"{API}/incidents/?{query}")
    if name == "ordering":  # an unknown ordering is ignored, as on every list
        assert ids(response) == [incident.pk]
        return
    assert name in assert_error(response, 400, "invalid")["errors"]


# Steps -----------------------------------------------------------------------------------------


def test_tick_a_checklist_step(api, incident, agent):
    step = step_of(incident, "Confirm with Product")
    response = api.post(step_url(incident, step), {"action": "done", "comment": "ETA 22:00"})
    body = body_of(response)
    ticked = next(s for s in body["steps"] if s["id"] == step.pk)
    assert (ticked["status"], ticked["comment"], ticked["result"]) == ("done", "ETA 22:00", "done")
    assert ticked["done_by"]["username"] == "alice" and ticked["done_at"]
    event = IncidentEvent.objects.filter(incident=incident).latest("pk")
    assert (event.kind, event.actor, event.data["comment"]) == ("step_done", agent, "ETA 22:00")
    assert body["id"] == incident.pk


def test_tick_a_step_that_fails_then_succeeds(api, incident):
    step = step_of(incident, "Route to Escalations")
    body = body_of(api.post(step_url(incident, step), {"action": "done"}))
    failed = next(s for s in body["steps"] if s["id"] == step.pk)
    assert (failed["status"], failed["result"]) == ("failed", "no team named 'Escalations'")
    team = Team.objects.create(name="Escalations")
    body = body_of(api.post(step_url(incident, step), {"action": "done"}))
    assert next(s for s in body["steps"] if s["id"] == step.pk)["status"] == "done"
    assert Case.objects.get(incident=incident).team == team


def test_skip_needs_a_comment_and_a_done_step_stays_done(api, incident):
    step = step_of(incident, "Confirm with Product")
    for comment in (None, "", "   "):
        data = {"action": "skip"} if comment is None else {"action": "skip", "comment": comment}
        body = assert_error(api.post(step_url(incident, step), data), 400, "invalid")
        assert "comment" in body["errors"]
    body = body_of(api.post(step_url(incident, step), {"action": "skip", "comment": "Not needed"}))
    skipped = next(s for s in body["steps"] if s["id"] == step.pk)
    assert (skipped["status"], skipped["comment"], skipped["result"]) == (
        "skipped",
        "Not needed",
        "skipped",
    )
    for data in ({"action": "done"}, {"action": "skip", "comment": "again"}):
        body = assert_error(api.post(step_url(incident, step), data), 400, "invalid")
        assert "already skipped" in body["detail"]
    done = step_of(incident, "Raise to urgent")  # an automatic step, done when it opened
    body = assert_error(api.post(step_url(incident, done), {"action": "done"}), 400)
    assert "already done" in body["detail"]


def test_step_of_another_incident_or_unknown_is_404(api, incident, make_incident, playbook):
    other = make_incident("Other", playbook=make_playbook(("Check", "checklist", False, 0, {})))
    foreign = other.steps.get()
    for step_id in (foreign.pk, "abc", 0, -1, 10**30, "1.5"):
        url = f"{API}/incidents/{incident.pk}/steps/{step_id}/"
        assert_error(api.post(url, {"action": "done"}), 404, "not_found")
    assert IncidentStep.objects.get(pk=foreign.pk).status == "pending"
    step = step_of(incident, "Confirm with Product")
    url = f"{API}/incidents/{incident.pk + 100}/steps/{step.pk}/"
    assert_error(api.post(url, {"action": "done"}), 404)


@pytest.mark.parametrize(
    "data, field",
    [
        ({}, "action"),
        ({"action": "undo"}, "action"),
        ({"action": None}, "action"),
        ({"action": "done", "comment": "x" * 2001}, "comment"),
        ({"action": "done", "comment": 5}, None),
        ({"action": "done", "comment": "a\x00b"}, "comment"),
        ({"action": "done", "status": "done"}, "status"),
        ([1, 2], "non_field_errors"),
    ],
)
def test_step_with_bad_input_is_400(api, incident, data, field):
    step = step_of(incident, "Confirm with Product")
    response = api.post(step_url(incident, step), data, format="json")
    if field is None:  # a number is taken as its text, as DRF does
        assert response.status_code == 200
        return
    assert field in assert_error(response, 400, "invalid")["errors"]
    assert IncidentStep.objects.get(pk=step.pk).status == "pending"


def test_malformed_or_non_json_bodies_are_4xx(api, incident):
    url = step_url(incident, step_of(incident, "Confirm with Product"))
    assert_error(api.post(url, '{"action": ', content_type="application/json"), 400, "parse_error")
    assert_error(api.post(url, "action=done", content_type="text/plain"), 415)


# Status ----------------------------------------------------------------------------------------


def test_contain_reopen_and_resolve(api, incident, agent):
    Incident.objects.filter(pk=incident.pk).update(requires_approval=True)
    url = f"{API}/incidents/{incident.pk}/status/"
    body = body_of(api.post(url, {"status": "contained", "note": "Fix deployed"}))
    assert body["status"] == "contained" and body["contained_at"]
    event = IncidentEvent.objects.filter(incident=incident).latest("pk")
    assert (event.kind, event.actor, event.data) == (
        "status_changed",
        agent,
        {"from": "open", "to": "contained", "note": "Fix deployed"},
    )
    assert body_of(api.post(url, {"status": "open"}))["status"] == "open"
    body = body_of(api.post(url, {"status": "resolved"}))
    assert (body["status"], body["requires_approval"]) == ("resolved", False)
    assert body["resolved_at"]


@pytest.mark.parametrize(
    "start, to", [("open", "open"), ("resolved", "open"), ("resolved", "contained")]
)
def test_illegal_status_change_is_409(api, incident, start, to):
    if start != "open":
        change_incident_status(incident, start, actor=None)
    response = api.post(f"{API}/incidents/{incident.pk}/status/", {"status": to})
    assert "cannot go from" in assert_error(response, 409, "illegal_transition")["detail"]
    assert Incident.objects.get(pk=incident.pk).status == start


@pytest.mark.parametrize(
    "data, field",
    [
        ({}, "status"),
        ({"status": "closed"}, "status"),
        ({"status": ["open"]}, "status"),
        ({"status": "contained", "note": "x" * 2001}, "note"),
        ({"status": "contained", "title": "x"}, "title"),
    ],
)
def test_status_with_bad_input_is_400(api, incident, data, field):
    response = api.post(f"{API}/incidents/{incident.pk}/status/", data, format="json")
    assert field in assert_error(response, 400, "invalid")["errors"]


# Linking cases ---------------------------------------------------------------------------------


def test_link_cases_applies_the_steps_already_done(api, incident, make_case, agent):
    first, second = make_case("One"), make_case("Two")
    response = api.post(
        f"{API}/incidents/{incident.pk}/cases/", {"cases": [first.pk, second.pk]}, format="json"
    )
    body = body_of(response)
    assert body["case_count"] == 3 and len(body["cases"]) == 3
    for case in (first, second):
        case.refresh_from_db()
        assert (case.incident_id, case.priority) == (incident.pk, "urgent")
        linked = CaseEvent.objects.get(case=case, kind=CaseEvent.Kind.INCIDENT_LINKED)
        assert linked.actor == agent
    again = api.post(f"{API}/incidents/{incident.pk}/cases/", {"cases": [first.pk]}, format="json")
    assert body_of(again)["case_count"] == 3  # already linked: left as it is
    assert CaseEvent.objects.filter(case=first, kind=CaseEvent.Kind.INCIDENT_LINKED).count() == 1


def test_link_only_cases_the_caller_may_see(api, incident, make_case, other_team):
    mine, theirs = make_case("Mine"), make_case("Billing's", team=other_team)
    response = api.post(
        f"{API}/incidents/{incident.pk}/cases/", {"cases": [mine.pk, theirs.pk]}, format="json"
    )
    assert "cases" in assert_error(response, 400, "invalid")["errors"]
    assert not Case.objects.filter(pk__in=[mine.pk, theirs.pk], incident=incident).exists()


@pytest.mark.parametrize(
    "cases",
    [None, [], "1", [0], ["abc"], [10**30], ["missing"], ["merged"], [True], [{"id": 1}], "many"],
)
def test_link_with_bad_input_is_400(api, incident, make_case, cases):
    if cases == ["missing"]:
        cases = [Case.objects.order_by("pk").last().pk + 100]
    elif cases == ["merged"]:
        source, target = make_case("Dup"), make_case("Kept")
        case_services.merge_cases(source=source, target=target)
        cases = [source.pk]
    elif cases == "many":
        cases = [make_case().pk] * (MAX_LINK + 1)
    data = {} if cases is None else {"cases": cases}
    response = api.post(f"{API}/incidents/{incident.pk}/cases/", data, format="json")
    assert "cases" in assert_error(response, 400, "invalid")["errors"]
    assert Case.objects.filter(incident=incident).count() == 1


# Opening from a case ---------------------------------------------------------------------------


def test_open_from_a_case_with_a_playbook_slug(api, make_case, playbook, agent):
    case = make_case("Lawsuit threat")
    response = api.post(
        f"{API}/incidents/open-from-case/",
        {"case": case.pk, "playbook": "defect", "title": "Legal threat", "severity": "critical"},
        format="json",
    )
    body = body_of(response, 201)
    incident = Incident.objects.get(pk=body["id"])
    assert (incident.title, incident.severity, incident.scope, incident.opened_by) == (
        "Legal threat",
        "critical",
        "manual",
        agent,
    )
    assert body["opened_by"]["username"] == "alice" and body["playbook"]["slug"] == "defect"
    assert [s["status"] for s in body["steps"]] == ["done", "pending", "pending"]
    assert [c["id"] for c in body["cases"]] == [case.pk]
    case.refresh_from_db()
    assert (case.incident_id, case.priority) == (incident.pk, "urgent")
    # A second case joins the incident of that playbook opened by hand while it is active.
    other = make_case("Me too")
    joined = api.post(
        f"{API}/incidents/open-from-case/", {"case": other.pk, "playbook": playbook.pk}
    )
    assert body_of(joined)["id"] == incident.pk and body_of(joined)["case_count"] == 2


def test_open_from_a_case_without_a_playbook(api, case):
    body = body_of(api.post(f"{API}/incidents/open-from-case/", {"case": case.pk}), 201)
    assert body["title"] == f"Escalated from {case.reference}: Refund please"
    assert (body["severity"], body["playbook"], body["steps"]) == ("high", None, [])
    assert body["evidence"]["summary"] == f"Opened by Alice Agent from {case.reference}"
    again = api.post(f"{API}/incidents/open-from-case/", {"case": case.pk, "playbook": None})
    assert body_of(again, 201)["id"] != body["id"]  # without a playbook nothing is joined


@pytest.mark.parametrize(
    "data, field",
    [
        ({}, "case"),
        ({"case": "abc"}, "case"),
        ({"case": 10**30}, "case"),
        ({"case": "unseen"}, "case"),
        ({"case": "merged"}, "case"),
        ({"case": "own", "playbook": "no-such-plan"}, "playbook"),
        ({"case": "own", "playbook": "inactive"}, "playbook"),
        ({"case": "own", "playbook": "a b"}, "playbook"),
        ({"case": "own", "playbook": 10**30}, "playbook"),
        ({"case": "own", "playbook": True}, "playbook"),
        ({"case": "own", "playbook": [1]}, "playbook"),
        ({"case": "own", "severity": "apocalyptic"}, "severity"),
        ({"case": "own", "title": "x" * 201}, "title"),
        ({"case": "own", "scope": "manual"}, "scope"),
    ],
)
def test_open_from_case_with_bad_input_is_400(api, make_case, other_team, data, field):
    cases = {
        "own": make_case().pk,
        "unseen": make_case(team=other_team).pk,
    }
    if data.get("case") == "merged":
        source, target = make_case("Dup"), make_case("Kept")
        case_services.merge_cases(source=source, target=target)
        cases["merged"] = source.pk
    if data.get("playbook") == "inactive":
        make_playbook(slug="inactive", is_active=False)
    data = (
        {**data, "case": cases.get(data.get("case"), data.get("case"))} if "case" in data else data
    )
    response = api.post(f"{API}/incidents/open-from-case/", data, format="json")
    assert field in assert_error(response, 400, "invalid")["errors"]
    assert not Incident.objects.exists()


# Playbooks and detectors -----------------------------------------------------------------------


def test_playbooks_list_in_name_order_with_ordered_steps(api):
    install_playbooks()
    rows = body_of(api.get(f"{API}/playbooks/"))["results"]
    assert [r["slug"] for r in rows] == ["legal-threat", "product-defect", "service-outage"]
    defect = body_of(api.get(f"{API}/playbooks/{rows[1]['id']}/"))
    assert defect == rows[1]
    assert (defect["name"], defect["severity"], defect["is_active"]) == (
        "Product defect wave",
        "high",
        True,
    )
    assert [s["order"] for s in defect["steps"]] == [10, 20, 30, 40, 50, 60, 70]
    assert defect["steps"][0] == {
        "id": defect["steps"][0]["id"],
        "order": 10,
        "title": "Alert the escalations team",
        "kind": "notify",
        "automatic": True,
        "due_after_minutes": 0,
        "config": {"teams": ["Escalations"]},
    }
    Playbook.objects.filter(slug="legal-threat").update(is_active=False)
    assert [r["slug"] for r in body_of(api.get(f"{API}/playbooks/?is_active=true"))["results"]] == [
        "product-defect",
        "service-outage",
    ]
    critical = body_of(api.get(f"{API}/playbooks/?severity=critical"))["results"]
    assert [r["slug"] for r in critical] == ["service-outage"]
    assert [r["slug"] for r in body_of(api.get(f"{API}/playbooks/?search=outage"))["results"]] == [
        "service-outage"
    ]
    assert (
        walk(api, f"{API}/playbooks/?ordering=-name&page_size=1") == [r["id"] for r in rows][::-1]
    )


def test_detectors_list_kind_scope_thresholds_and_playbook(api, channel):
    install_playbooks()
    fired = timezone.now().replace(microsecond=0)
    Detector.objects.filter(name="Volume spike").update(
        platform="x", channel=channel, last_fired_at=fired
    )
    rows = body_of(api.get(f"{API}/detectors/"))["results"]
    assert [r["name"] for r in rows] == [
        "Influencer complaint",
        "Legal and safety watch words",
        "Negative surge",
        "Volume spike",
    ]
    spike = body_of(api.get(f"{API}/detectors/{rows[3]['id']}/"))
    assert spike == rows[3]
    assert {key: spike[key] for key in ("kind", "platform", "threshold", "window_minutes")} == {
        "kind": "volume_spike",
        "platform": "x",
        "threshold": 30,
        "window_minutes": 10,
    }
    assert (spike["spike_factor"], spike["cooldown_minutes"], spike["watch_words"]) == (3.0, 60, [])
    assert spike["channel"] == {
        "id": channel.pk,
        "name": "Acme on X",
        "platform": "x",
        "handle": "acme",
    }
    assert spike["playbook"]["slug"] == "service-outage"
    assert spike["last_fired_at"] == fired.isoformat().replace("+00:00", "Z")
    words = body_of(api.get(f"{API}/detectors/{rows[1]['id']}/"))["watch_words"]
    assert "lawsuit" in words and "訴訟" in words
    assert "secrets" not in str(spike)
    by_kind = body_of(api.get(f"{API}/detectors/?kind=influencer&kind=watch_words"))["results"]
    assert [r["name"] for r in by_kind] == [rows[0]["name"], rows[1]["name"]]
    by_plan = body_of(api.get(f"{API}/detectors/?playbook=product-defect"))["results"]
    assert [r["name"] for r in by_plan] == ["Negative surge"]
    Detector.objects.filter(name="Negative surge").update(is_active=False)
    assert len(body_of(api.get(f"{API}/detectors/?is_active=false"))["results"]) == 1


@pytest.mark.parametrize(
    "path",
    [
        "playbooks/?severity=5",
        "detectors/?kind=rumour",
        "detectors/?playbook=a%20b",
        "detectors/?cursor=garbage",
    ],
)
def test_bad_playbook_and_detector_filters_are_400(api, path):
    install_playbooks()
    name = path.split("?")[1].split("=")[0]
    assert name in assert_error(api.get(f"{API}/{path}"), 400, "invalid")["errors"]


# The case list's incident filter and field -----------------------------------------------------


def test_cases_filter_by_incident_and_show_it(api, incident, make_case):
    linked = Case.objects.get(incident=incident)
    loose = make_case("Loose")
    assert ids(api.get(f"{API}/cases/?incident={incident.pk}")) == [linked.pk]
    assert ids(api.get(f"{API}/cases/?incident=none")) == [loose.pk]
    assert ids(api.get(f"{API}/cases/?incident=NONE")) == [loose.pk]
    assert ids(api.get(f"{API}/cases/?incident={incident.pk + 100}")) == []
    assert body_of(api.get(f"{API}/cases/{linked.pk}/"))["incident"] == {
        "id": incident.pk,
        "title": "Photos vanish",
    }
    assert body_of(api.get(f"{API}/cases/{loose.pk}/"))["incident"] is None
    for bad in ("abc", "-1", "0", "1.5", "99999999999999999999999", "%C2%B3"):
        body = assert_error(api.get(f"{API}/cases/?incident={bad}"), 400, "invalid")
        assert "incident" in body["errors"]


def test_case_answers_of_actions_show_the_incident(api, incident):
    linked = Case.objects.get(incident=incident)
    response = api.patch(f"{API}/cases/{linked.pk}/", {"priority": "low"})
    assert body_of(response)["incident"]["id"] == incident.pk


# Query counts ----------------------------------------------------------------------------------


def count_queries(api, url):
    with CaptureQueriesContext(connection) as queries:
        response = api.get(url)
    assert response.status_code == 200, response.content
    return len(queries), response.json()


def test_incident_list_and_detail_cost_the_same_queries_whatever_their_size(
    api, make_case, playbook, agent, other_team
):
    big = None
    for n in range(12):
        incident, _ = open_incident(
            title=f"Wave {n}",
            playbook=playbook,
            scope=f"s{n}",
            cases=[make_case(f"C{n}-{k}") for k in range(3)]
            + [make_case(f"B{n}", team=other_team)],
        )
        complete_step(step_of(incident, "Confirm with Product"), actor=agent)
        big = big or incident
    link_cases(big, [make_case(f"Extra {k}") for k in range(30)])
    small, _ = open_incident(title="Small", scope="small")
    api.get(f"{API}/incidents/?page_size=1")  # the key's last use is recorded once a minute
    counts = []
    for size in (2, 10):
        n, body = count_queries(api, f"{API}/incidents/?page_size={size}&status=open")
        assert len(body["results"]) == size
        assert all(len(r["steps"]) == 3 and len(r["cases"]) >= 3 for r in body["results"])
        counts.append(n)
    # key + user, user and group permissions, the page, its steps, its cases
    assert counts == [6, 6]
    n_big, body = count_queries(api, f"{API}/incidents/{big.pk}/")
    assert len(body["cases"]) == crisis.CASES_SHOWN and body["visible_case_count"] == 33
    n_small, body = count_queries(api, f"{API}/incidents/{small.pk}/")
    assert body["cases"] == [] and body["steps"] == []
    assert n_big == n_small == 6


def test_playbook_and_detector_lists_cost_the_same_queries(api):
    install_playbooks()
    for n in range(6):
        make_playbook(("Check", "checklist", False, 0, {}), ("Tell", "notify", True, 0, {}))
        Detector.objects.create(
            name=f"Words {n}", kind="watch_words", playbook_id=Playbook.objects.first().pk
        )
    api.get(f"{API}/playbooks/?page_size=1")
    for path in ("playbooks", "detectors"):
        counts = [count_queries(api, f"{API}/{path}/?page_size={size}")[0] for size in (2, 8)]
        assert counts[0] == counts[1], path


# Schema ----------------------------------------------------------------------------------------

CRISIS_PATHS = {
    "incidents/": "get",
    "incidents/{id}/": "get",
    "incidents/{id}/steps/{step_id}/": "post",
    "incidents/{id}/status/": "post",
    "incidents/{id}/cases/": "post",
    "incidents/open-from-case/": "post",
    "playbooks/": "get",
    "playbooks/{id}/": "get",
    "detectors/": "get",
    "detectors/{id}/": "get",
}


def test_every_crisis_operation_is_documented_without_warnings(api):
    GENERATOR_STATS.reset()
    response = api.get("/socialcare/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    for path, method in CRISIS_PATHS.items():
        path = f"/socialcare/api/v1/{path}"
        assert list(schema["paths"][path]) == [method], path  # nothing else is offered
        operation = schema["paths"][path][method]
        where = f"{method.upper()} {path}"
        assert operation.get("summary"), where
        assert {"401", "403", "429"} <= set(operation["responses"]), where
        for code, answer in operation["responses"].items():
            content = answer["content"]["application/json"]
            assert content.get("examples"), where
            if code.startswith("4"):
                assert content["schema"]["$ref"] == "#/components/schemas/Error", where
    status = schema["paths"]["/socialcare/api/v1/incidents/{id}/status/"]["post"]
    assert "409" in status["responses"]
    case_filters = schema["paths"]["/socialcare/api/v1/cases/"]["get"]["parameters"]
    assert "incident" in {p["name"] for p in case_filters}
    assert "incident" in schema["components"]["schemas"]["Case"]["properties"]
    ours = [w for w in GENERATOR_STATS._warn_cache if "crisis" in w or "Incident" in w]
    assert not ours and not GENERATOR_STATS._error_cache
