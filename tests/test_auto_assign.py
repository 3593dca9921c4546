"""Auto-assignment: availability, capacity, skills, the team queue and its drain (#20)."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from socialcare.models import AgentStatus, AssignmentWait, Case, Post, Team, TeamMembership
from socialcare.services import cases as case_services
from socialcare.services.routing import on_duty, set_status, team_has_someone_on_duty
from socialcare.services.routing.queue import queue_figures, waiting_cases
from socialcare.services.routing.scan import scan

pytestmark = pytest.mark.django_db
_ids = itertools.count(1)


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Any:
    """``with committed():`` runs what waits for the commit (the routing hooks) at the end."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def care(team: Team) -> Team:
    team.auto_assign = True
    team.save()
    return team


def online(user: Any, committed: Any) -> None:
    with committed():
        set_status(user, "online")


def arrive(channel: Any, identity: Any, committed: Any, language: str = "", **fields: Any) -> Case:
    """A customer's post opens a case (its language on the post), committed."""
    with committed():
        case = case_services.open_case(channel=channel, identity=identity, **fields)
        Post.objects.create(
            platform=channel.platform, channel=channel, external_id=f"p{next(_ids)}",
            direction="inbound", kind="mention", visibility="public", text="help",
            posted_at=timezone.now(), case=case, language=language,
        )  # fmt: skip
    case.refresh_from_db()
    return case


def capacity(team: Team, user: Any, n: int, **skills: Any) -> None:
    TeamMembership.objects.filter(team=team, user=user).update(capacity=n, **skills)


def test_a_new_case_goes_to_the_online_agent_with_the_most_free_room(
    care, agent, other_agent, channel, identity, committed
):
    online(agent, committed)
    online(other_agent, committed)
    capacity(care, agent, 2)
    capacity(care, other_agent, 5)
    first = arrive(channel, identity, committed)
    assert first.assignee == other_agent  # 5 free against 2
    assert first.status == "open"
    assert first.events.filter(kind="assignee_changed", actor__isnull=True).exists()
    wait = AssignmentWait.objects.get(case=first)
    assert wait.outcome == "assigned" and wait.assignee == other_agent


def test_ties_rotate_and_offline_or_away_agents_get_nothing(
    care, agent, other_agent, make_user, channel, identity, committed
):
    carol = make_user("carol")
    TeamMembership.objects.create(team=care, user=carol)
    online(agent, committed)
    online(other_agent, committed)
    with committed():
        set_status(carol, "away")
    got = [arrive(channel, identity, committed).assignee for _ in range(4)]
    assert got == [agent, other_agent, agent, other_agent]
    assert set(on_duty(care)) == {agent, other_agent}


def test_without_auto_assignment_cases_stay_unassigned(team, agent, channel, identity, committed):
    online(agent, committed)
    case = arrive(channel, identity, committed)
    assert case.assignee is None
    assert not AssignmentWait.objects.exists()


def test_full_agents_leave_cases_in_the_queue_in_triage_order_and_closing_drains_it(
    care, agent, other_agent, channel, identity, committed
):
    TeamMembership.objects.filter(user=other_agent).update(on_duty=False)
    online(agent, committed)
    capacity(care, agent, 1)
    held = arrive(channel, identity, committed)
    assert held.assignee == agent
    normal = arrive(channel, identity, committed)
    urgent = arrive(channel, identity, committed)
    assert normal.assignee is None and urgent.assignee is None
    soon = normal.first_response_due_at - dt.timedelta(minutes=30)
    Case.objects.filter(pk=urgent.pk).update(first_response_due_at=soon)  # its reply is due first
    assert list(waiting_cases(care)) == [urgent, normal]

    with committed():
        case_services.change_status(held, "resolved", actor=agent)
    urgent.refresh_from_db()
    normal.refresh_from_db()
    assert urgent.assignee == agent  # the head of the queue, not the older case
    assert normal.assignee is None
    assert list(waiting_cases(care)) == [normal]


def test_skills_route_languages_and_platforms(
    care, agent, other_agent, channel, identity, committed
):
    online(agent, committed)
    online(other_agent, committed)
    capacity(care, agent, 5, languages=["en"])
    capacity(care, other_agent, 1, languages=["fr"], platforms=["x"])
    assert arrive(channel, identity, committed, language="fr").assignee == other_agent
    assert arrive(channel, identity, committed, language="fr-CA").assignee is None  # Bob full
    assert arrive(channel, identity, committed, language="en-GB").assignee == agent
    assert arrive(channel, identity, committed, language="").assignee == agent  # unknown: anyone


def test_going_online_takes_waiting_cases(care, agent, channel, identity, committed):
    case = arrive(channel, identity, committed)
    assert case.assignee is None
    assert not team_has_someone_on_duty(care)
    online(agent, committed)
    case.refresh_from_db()
    assert case.assignee == agent
    assert team_has_someone_on_duty(care)


def test_assigning_a_queued_case_by_hand_ends_its_wait(
    care, agent, other_agent, channel, identity, committed
):
    case = arrive(channel, identity, committed)
    with committed():
        case_services.assign_case(case, other_agent, actor=agent)
    wait = AssignmentWait.objects.get(case=case)
    assert wait.outcome == "taken" and wait.assignee == other_agent
    assert list(waiting_cases(care)) == []


def test_a_reopened_case_goes_back_to_its_agent_only_when_they_are_online(
    care, agent, other_agent, channel, identity, committed
):
    online(agent, committed)
    case = arrive(channel, identity, committed)
    assert case.assignee == agent
    with committed():
        case_services.change_status(case, "resolved", actor=agent)
        case_services.reopen_case(case)
    case.refresh_from_db()
    assert case.assignee == agent

    with committed():
        case_services.change_status(case, "resolved", actor=agent)
        set_status(agent, "offline")
        set_status(other_agent, "online")
    with committed():
        case_services.reopen_case(case)
    case.refresh_from_db()
    assert case.assignee == other_agent


def test_a_long_wait_tells_the_supervisor_once(
    care, agent, channel, identity, committed, roles, make_user
):
    from socialcare.services.roles import assign_role

    boss = make_user("boss", email="boss@example.com")
    assign_role(boss, "supervisor")
    care.queue_wait_limit = dt.timedelta(minutes=10)
    care.save()
    case = arrive(channel, identity, committed)
    mail.outbox.clear()
    assert scan()["notified"] == 0
    later = timezone.now() + dt.timedelta(minutes=11)
    assert scan(later)["notified"] == 1
    assert scan(later)["notified"] == 0
    assert sorted(m.to[0] for m in mail.outbox) == ["boss@example.com", "care@example.com"]
    assert case.reference in mail.outbox[0].subject


def test_idle_agents_go_offline_and_the_scan_queues_missed_cases(
    care, agent, channel, identity, committed
):
    online(agent, committed)
    # Opened without running its hook (a worker that died after the commit).
    missed = case_services.open_case(channel=channel, identity=identity)
    assert scan()["assigned"] == 1
    missed.refresh_from_db()
    assert missed.assignee == agent
    later = timezone.now() + dt.timedelta(hours=1)
    assert scan(later)["went_offline"] == 1
    status = AgentStatus.objects.get(user=agent)
    assert status.status == "offline" and status.changed_by_system == "inactivity"


def test_dashboard_figures_count_the_queue_and_time_to_assignment(
    care, agent, channel, identity, committed
):
    waiting = arrive(channel, identity, committed)
    online(agent, committed)
    arrive(channel, identity, committed)
    capacity(care, agent, 0)
    arrive(channel, identity, committed)
    now = timezone.now()
    figures = queue_figures(
        Case.objects.all(), now - dt.timedelta(hours=1), now + dt.timedelta(hours=1)
    )
    assert figures["queue_length"] == 1
    assert figures["assigned"] == 2
    assert figures["time_to_assign_p50"] is not None
    assert AssignmentWait.objects.get(case=waiting).outcome == "assigned"


def test_unknown_status_is_refused(agent):
    from socialcare.exceptions import SocialCareError

    with pytest.raises(SocialCareError):
        set_status(agent, "busy")


# Admin and API ----------------------------------------------------------------------------------

API = "/socialcare/api/v1"


def test_the_admin_header_switch_sets_my_status(client, agent, sign_in, care, settings):
    # The demo project's admin header (templates/admin/base_site.html) carries the switch.
    demo = Path(__file__).resolve().parent.parent / "templates"
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [demo]}]
    sign_in(client, agent, "agent")
    page = client.get("/admin/")
    assert b'id="socialcare-status"' in page.content
    answer = client.post(
        "/admin/socialcare/agentstatus/set/", {"status": "online", "next": "/admin/"}
    )
    assert answer.status_code == 302 and answer["Location"] == "/admin/"
    assert AgentStatus.objects.get(user=agent).status == "online"
    assert client.get("/admin/").content.count(b'value="online" selected') == 1
    bad = client.post(
        "/admin/socialcare/agentstatus/set/", {"status": "busy", "next": "https://evil.test/"}
    )
    assert bad.status_code == 302 and bad["Location"] == "/admin/"
    assert AgentStatus.objects.get(user=agent).status == "online"


def test_the_inbox_filter_shows_the_queue(
    client, agent, sign_in, care, channel, identity, committed
):
    waiting = arrive(channel, identity, committed)
    online(agent, committed)
    assigned = arrive(channel, identity, committed)
    capacity(care, agent, 0)
    queued = arrive(channel, identity, committed)
    waiting.refresh_from_db()
    sign_in(client, agent, "agent")
    page = client.get("/admin/socialcare/case/", {"queue": "waiting"})
    assert page.status_code == 200
    body = page.content.decode()
    assert queued.reference in body
    assert assigned.reference not in body and waiting.reference not in body  # both assigned
    assert "Waiting for an agent" in body


def test_api_status_get_and_set(client, agent, sign_in, care):
    sign_in(client, agent, "agent")
    assert client.get(f"{API}/me/status/").json()["status"] == "offline"
    answer = client.put(f"{API}/me/status/", {"status": "away"}, content_type="application/json")
    assert answer.status_code == 200 and answer.json()["status"] == "away"
    bad = client.patch(f"{API}/me/status/", {"status": "busy"}, content_type="application/json")
    assert bad.status_code == 400 and "status" in bad.json()["errors"]
    assert AgentStatus.objects.get(user=agent).status == "away"


def test_api_queue_lists_waiting_cases_of_my_teams_only(
    client, agent, make_user, sign_in, care, channel, identity, committed
):
    queued = arrive(channel, identity, committed)
    elsewhere = Team.objects.create(name="Billing", auto_assign=True)
    other = arrive(channel, identity, committed, team=elsewhere)
    assert AssignmentWait.objects.filter(case=other, ended_at__isnull=True).exists()
    sign_in(client, agent, "agent")
    answer = client.get(f"{API}/queue/")
    assert answer.status_code == 200
    rows = answer.json()["results"]
    assert [r["case_reference"] for r in rows] == [queued.reference]
    assert rows[0]["team"] == care.pk and rows[0]["waiting_seconds"] >= 0
    assert client.get(f"{API}/queue/", {"team": "x"}).status_code == 400


def test_api_team_shows_capacity_skills_and_status(client, agent, sign_in, care, committed):
    capacity(care, agent, 3, languages=["fr"])
    online(agent, committed)
    sign_in(client, agent, "agent")
    team = client.get(f"{API}/teams/{care.pk}/").json()
    assert team["auto_assign"] is True
    mine = next(m for m in team["members"] if m["user"] == agent.pk)
    assert (mine["capacity"], mine["languages"], mine["status"]) == (3, ["fr"], "online")


def test_the_dashboard_shows_the_queue_and_time_to_assignment(
    client, care, agent, django_user_model, channel, identity, committed
):
    arrive(channel, identity, committed)
    arrive(channel, identity, committed)
    online(agent, committed)  # takes both: two waits end
    arrive(channel, identity, committed)
    capacity(care, agent, 0)
    arrive(channel, identity, committed)  # waits
    boss = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(boss)
    body = client.get("/admin/socialcare/supportdashboard/").content.decode()
    assert '<dd id="sc-queue-length">1</dd>' in body
    assert 'id="sc-time-to-assign">–' not in body


def test_a_queued_case_resolved_while_everyone_is_full_leaves_the_queue(
    care, agent, channel, identity, committed
):
    online(agent, committed)
    capacity(care, agent, 1)
    arrive(channel, identity, committed)
    queued = arrive(channel, identity, committed)
    assert list(waiting_cases(care)) == [queued]
    with committed():
        case_services.change_status(queued, "resolved", actor=agent)
    assert list(waiting_cases(care)) == []
    assert AssignmentWait.objects.get(case=queued).outcome == "left"


def test_bad_skill_lists_are_a_form_error_not_a_crash(care, agent):
    from django.core.exceptions import ValidationError

    membership = TeamMembership.objects.get(team=care, user=agent)
    membership.languages = "en, fr"  # a string, not a list
    with pytest.raises(ValidationError) as caught:
        membership.full_clean()
    assert "languages" in caught.value.message_dict
    membership.languages = ["en", "fr"]
    membership.full_clean()
