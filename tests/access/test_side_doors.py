"""Side doors of the team rule: what reaches an agent through a visible case, a shared incident
or a customer record, though it belongs to another team's case (issue #23, items 1, 2, 5, 6).

Alice (agent, team Care) sees her case ``mine``; ``theirs`` belongs to Billing. Every test
checks that Alice does not get Billing's content AND that a supervisor does through the same
door (so the door really carries it, and the test could fail).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from socialcare.models import Case, Detector, Post, SocialIdentity, Team, TeamMembership
from socialcare.services import cases as case_services
from socialcare.services import detectors as detector_services
from socialcare.services import incidents as incident_services
from socialcare.services.apikeys import create_api_key
from socialcare.services.customers import link_identity
from socialcare.services.privacy import export_customer
from socialcare.services.roles import assign_role, install_roles

pytestmark = pytest.mark.django_db

API = "/socialcare/api/v1"


@dataclass
class Teams:
    agent: Any
    supervisor: Any
    mine: Case
    theirs: Case
    stranger: SocialIdentity


def _post(case: Case, author: SocialIdentity, text: str, **fields: Any) -> Post:
    return Post.objects.create(
        platform="x",
        channel=case.channel,
        author=author,
        case=case,
        direction=Post.Direction.INBOUND,
        kind=Post.Kind.MENTION,
        visibility="public",
        text=text,
        external_id=f"ext-{text}",
        posted_at=timezone.now(),
        **fields,
    )


@pytest.fixture
def teams(
    agent: Any,
    channel: Any,
    identity: SocialIdentity,
    make_identity: Callable[..., SocialIdentity],
    make_user: Callable[..., Any],
) -> Teams:
    install_roles()
    assign_role(agent, "agent")
    supervisor = make_user("sam")
    assign_role(supervisor, "supervisor")
    billing = Team.objects.create(name="Billing")
    TeamMembership.objects.create(team=billing, user=make_user("carol"))
    mine = case_services.open_case(channel=channel, identity=identity, subject="MINE-SUBJECT")
    _post(mine, identity, "MINE-POST")
    # A stranger known only from Billing's case, with the same customer record as nobody.
    stranger = make_identity(
        "2002", "HIDDEN-HANDLE", display_name="HIDDEN-NAME", followers_count=900_000
    )
    theirs = case_services.open_case(channel=channel, identity=stranger, subject="HIDDEN-SUBJECT")
    Case.objects.filter(pk=theirs.pk).update(team=billing)
    theirs.refresh_from_db()
    _post(theirs, stranger, "HIDDEN-POST", sentiment=-0.9)
    case_services.add_note(theirs, "HIDDEN-NOTE")
    return Teams(agent, supervisor, mine, theirs, stranger)


def _client(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _key_client(user: Any, scopes: list[str]) -> APIClient:
    _, plain = create_api_key(user, "probe", scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    return client


def _body(client: APIClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    return (
        b"".join(response.streaming_content).decode()
        if response.streaming
        else (response.content.decode())
    )


# 1. A merged case's history ------------------------------------------------------------------


def test_timeline_with_merged_cases_leaves_out_other_teams_cases(teams: Teams) -> None:
    case_services.merge_cases(teams.theirs, teams.mine, actor=teams.supervisor)
    case_services.add_note(teams.theirs, "HIDDEN-NOTE-AFTER-MERGE")
    url = f"{API}/cases/{teams.mine.pk}/timeline/?include_merged=true"

    for client in (_client(teams.agent), _key_client(teams.agent, ["cases:read"])):
        body = _body(client, url)
        assert "MINE-SUBJECT" in body or "Case opened" in body
        assert "HIDDEN-NOTE" not in body
        assert teams.theirs.reference not in body  # "Merged SC-… into this case" too
        assert "a case in another team" in body

    body = _body(_client(teams.supervisor), url)
    assert "HIDDEN-NOTE-AFTER-MERGE" in body
    assert f"Merged {teams.theirs.reference} into this case" in body


def test_merged_into_a_hidden_case_does_not_name_it(teams: Teams) -> None:
    case_services.merge_cases(teams.mine, teams.theirs, actor=teams.supervisor)
    detail = _client(teams.agent).get(f"{API}/cases/{teams.mine.pk}/").json()
    assert detail["merged_into"] == teams.theirs.pk
    assert detail["merged_into_reference"] is None
    timeline = _body(_client(teams.agent), f"{API}/cases/{teams.mine.pk}/timeline/")
    assert teams.theirs.reference not in timeline

    detail = _client(teams.supervisor).get(f"{API}/cases/{teams.mine.pk}/").json()
    assert detail["merged_into_reference"] == teams.theirs.reference


# 2. Incidents are shared; what in them comes from a case is rendered per reader --------------


def test_incident_escalated_from_a_hidden_case(teams: Teams) -> None:
    incident = incident_services.open_incident_from_case(teams.theirs, actor=teams.supervisor)
    incident_services.link_cases(incident, [teams.mine], actor=teams.supervisor)
    agent = _client(teams.agent)
    for url in (
        f"{API}/incidents/",
        f"{API}/incidents/{incident.pk}/",
        f"{API}/cases/{teams.mine.pk}/",
        f"{API}/cases/?incident={incident.pk}",
        f"{API}/cases/{teams.mine.pk}/timeline/",
    ):
        body = _body(agent, url)
        assert "HIDDEN-SUBJECT" not in body, url
        assert teams.theirs.reference not in body, url
    shown = agent.get(f"{API}/incidents/{incident.pk}/").json()
    assert shown["title"] == "Escalated from a case in another team"
    assert shown["visible_case_count"] == 1
    timeline = agent.get(f"{API}/cases/{teams.mine.pk}/timeline/").json()["results"]
    linked = [e for e in timeline if e["kind"] == "incident_linked"]
    assert linked and linked[0]["summary"] == (
        f"Linked to incident #{incident.pk}: Escalated from a case in another team"
    )

    shown = _client(teams.supervisor).get(f"{API}/incidents/{incident.pk}/").json()
    assert shown["title"] == f"Escalated from {teams.theirs.reference}: HIDDEN-SUBJECT"


def test_detector_samples_from_hidden_cases_are_counted_not_shown(teams: Teams) -> None:
    detector = Detector.objects.create(
        name="Spike", kind=Detector.Kind.VOLUME_SPIKE, threshold=1, window_minutes=60
    )
    incident = detector_services.fire(
        detector,
        {"summary": "2 posts in 60 min", "count": 2},
        [teams.mine, teams.theirs],
        timezone.now(),
    )
    evidence = _client(teams.agent).get(f"{API}/incidents/{incident.pk}/").json()["evidence"]
    assert [s["text"] for s in evidence["sample_posts"]] == ["MINE-POST"]
    assert evidence["samples_in_other_teams"] == 1
    assert "HIDDEN" not in json.dumps(evidence)

    evidence = _client(teams.supervisor).get(f"{API}/incidents/{incident.pk}/").json()["evidence"]
    assert {s["text"] for s in evidence["sample_posts"]} == {"MINE-POST", "HIDDEN-POST"}


def test_influencer_incident_on_a_hidden_post_does_not_name_the_author(teams: Teams) -> None:
    detector = Detector.objects.create(
        name="Influencer", kind=Detector.Kind.INFLUENCER, threshold=10_000, negative_below=-0.5
    )
    post = teams.theirs.posts.get()
    incident = detector_services.fire(
        detector, detector_services.check_post(detector, post), [teams.theirs], timezone.now()
    )
    incident_services.link_cases(incident, [teams.mine], actor=teams.supervisor)
    for url in (f"{API}/incidents/{incident.pk}/", f"{API}/cases/{teams.mine.pk}/"):
        body = _body(_client(teams.agent), url)
        assert "HIDDEN" not in body, url
        assert "900,000 followers" in body or url.endswith(f"/cases/{teams.mine.pk}/")

    body = _body(_client(teams.supervisor), f"{API}/incidents/{incident.pk}/")
    assert "HIDDEN-HANDLE" in body


# 5. Customer export ----------------------------------------------------------------------------


def test_export_by_an_agent_follows_the_team_rule(teams: Teams, identity: SocialIdentity) -> None:
    # The stranger turns out to be Ada: one customer, a case in each team.
    teams.stranger.customer = identity.customer
    teams.stranger.save()
    teams.agent.user_permissions.add(Permission.objects.get(codename="export_customer_data"))
    url = f"{API}/customers/{identity.customer.pk}/export/"
    body = _body(_key_client(teams.agent, ["privacy"]), url)
    assert "MINE-POST" in body
    assert "HIDDEN" not in body
    assert json.loads(body)["scope"] == {"complete": False, "cases_in_other_teams": 1}

    whole = json.dumps(export_customer(identity.customer, actor=teams.supervisor))
    assert "HIDDEN-POST" in whole and "HIDDEN-NOTE" in whole


# 6. Customers' aggregates, identities ----------------------------------------------------------


def test_customer_counts_and_filters_see_visible_cases_only(teams: Teams, customer: Any) -> None:
    # Customers are shared; the stranger's case is not.
    link_identity(teams.stranger, customer, actor=teams.supervisor)
    case_services.set_customer(teams.mine, None, actor=teams.supervisor)
    agent = _client(teams.agent)
    row = agent.get(f"{API}/customers/{customer.pk}/").json()
    assert row["open_cases"] == 0
    assert [i["handle"] for i in row["identities"]] == ["ada"]
    assert agent.get(f"{API}/customers/?has_open_case=true").json()["results"] == []
    assert agent.get(f"{API}/customers/?handle=HIDDEN-HANDLE").json()["results"] == []
    assert "HIDDEN" not in _body(agent, f"{API}/identities/")
    assert agent.get(f"{API}/identities/{teams.stranger.pk}/").status_code == 404
    assert "ada" in _body(agent, f"{API}/identities/")

    supervisor = _client(teams.supervisor)
    row = supervisor.get(f"{API}/customers/{customer.pk}/").json()
    assert row["open_cases"] == 1
    assert {i["handle"] for i in row["identities"]} == {"ada", "HIDDEN-HANDLE"}
    assert len(supervisor.get(f"{API}/customers/?has_open_case=true").json()["results"]) == 1


def test_an_identity_joins_when_it_writes_to_a_visible_case(teams: Teams) -> None:
    agent = _client(teams.agent)
    assert agent.get(f"{API}/identities/{teams.stranger.pk}/").status_code == 404
    _post(teams.mine, teams.stranger, "STRANGER-ON-MINE")
    assert agent.get(f"{API}/identities/{teams.stranger.pk}/").status_code == 200


def test_an_identity_on_no_case_is_shared(
    teams: Teams, make_identity: Callable[..., SocialIdentity]
) -> None:
    fresh = make_identity("3003", "newcomer")
    assert _client(teams.agent).get(f"{API}/identities/{fresh.pk}/").status_code == 200


def test_case_reference_in_a_note_is_redacted(teams: Teams) -> None:
    case_services.add_note(teams.mine, f"Same person as {teams.theirs.reference}, see there")
    timeline = _body(_client(teams.agent), f"{API}/cases/{teams.mine.pk}/timeline/")
    assert teams.theirs.reference not in timeline
    assert "Same person as a case in another team, see there" in timeline


def test_incident_search_does_not_match_a_hidden_cases_words(teams: Teams) -> None:
    incident_services.open_incident_from_case(teams.theirs, actor=teams.supervisor)
    agent = _client(teams.agent)
    assert agent.get(f"{API}/incidents/?search=HIDDEN-SUBJECT").json()["results"] == []
    assert len(agent.get(f"{API}/incidents/?search=Escalated").json()["results"]) == 1
    supervisor = _client(teams.supervisor)
    assert len(supervisor.get(f"{API}/incidents/?search=HIDDEN-SUBJECT").json()["results"]) == 1


def test_a_page_of_cases_and_incidents_asks_who_may_see_what_once(
    teams: Teams, channel: Any, identity: SocialIdentity
) -> None:
    """An agent's case list and incident list read the incidents their rows name once per
    page, not once per row: six incidents cost what two do."""
    agent = _client(teams.agent)

    def linked_cases(n: int) -> None:
        for i in range(n):
            case = case_services.open_case(channel=channel, identity=identity, subject=f"C{i}")
            incident = incident_services.open_incident_from_case(case, actor=teams.supervisor)
            incident_services.link_cases(incident, [teams.mine], actor=teams.supervisor, move=True)

    def queries(url: str) -> int:
        agent.get(url)  # warm: permissions cached on the user
        with CaptureQueriesContext(connection) as ctx:
            assert agent.get(url).status_code == 200
        return len(ctx)

    linked_cases(2)
    few = {url: queries(url) for url in (f"{API}/cases/", f"{API}/incidents/")}
    linked_cases(4)
    for url, count in few.items():
        assert queries(url) == count, url
