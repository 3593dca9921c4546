"""The support roles: groups with exactly their permissions, idempotent installs, the command,
and what an agent and a supervisor may do (through the API, the services and admin)."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command

from socialcare.exceptions import SocialCareError
from socialcare.models import Case, Post, Team, get_customer_model
from socialcare.services import cases as case_services
from socialcare.services.access import visible_cases
from socialcare.services.apikeys import create_api_key
from socialcare.services.incidents import open_incident
from socialcare.services.replies import approve_reply, send_reply
from socialcare.services.roles import (
    ADMIN,
    AGENT,
    ROLES,
    SUPERVISOR,
    assign_role,
    install_roles,
    role_permissions,
)

pytestmark = pytest.mark.django_db

API = "/socialcare/api/v1"

#: docs/roles.md, "Support agent" (the customer model's view permission is added below).
AGENT_DOC = {
    "view_case", "change_case", "view_post", "add_post", "view_caseevent", "view_socialidentity",
    "view_channel", "view_team", "view_teammembership", "view_replytemplate", "view_tag",
    "view_slapolicy", "view_identityverification", "view_incident", "view_incidentevent", "view_incidentstep",
    "change_incidentstep", "view_playbook", "view_playbookstep", "hide_post",
    "view_automaticmessage",
    "view_macro", "view_macroaction", "apply_macro",
    "view_agentstatus",
    "view_survey",
}  # fmt: skip
#: docs/roles.md, what a supervisor has on top (plus change on the customer model).
SUPERVISOR_DOC = {
    "view_all_cases", "add_case", "merge_case", "approve_reply", "change_post", "moderate_post",
    "view_supportdashboard", "view_slaalert", "add_incident", "change_incident",
    "add_playbook", "change_playbook", "delete_playbook",
    "add_playbookstep", "change_playbookstep", "delete_playbookstep",
    "add_detector", "change_detector", "delete_detector", "view_detector",
    "add_replytemplate", "change_replytemplate", "delete_replytemplate",
    "add_tag", "change_tag", "delete_tag",
    "change_socialidentity", "view_customermerge",
    "export_customer_data", "view_privacyrequest",
}  # fmt: skip


def perms_of(name: str) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name=name).permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


def customer_perm(action: str) -> str:
    opts = get_customer_model()._meta
    return f"{opts.app_label}.{action}_{opts.model_name}"


@pytest.fixture
def roles() -> dict[str, Any]:
    return install_roles()


def test_groups_get_exactly_the_documented_permissions(roles: dict[str, Any]) -> None:
    assert list(roles) == list(ROLES)
    assert all(change["created"] for change in roles.values())
    agent = {f"socialcare.{p}" for p in AGENT_DOC} | {customer_perm("view")}
    assert perms_of(AGENT) == agent
    supervisor = agent | {f"socialcare.{p}" for p in SUPERVISOR_DOC} | {customer_perm("change")}
    assert perms_of(SUPERVISOR) == supervisor
    every_socialcare = {
        f"socialcare.{codename}"
        for codename in Permission.objects.filter(content_type__app_label="socialcare").values_list(
            "codename", flat=True
        )
    }
    admin = perms_of(ADMIN)
    assert (
        every_socialcare | {customer_perm(a) for a in ("add", "change", "delete", "view")} <= admin
    )
    assert {
        "auth.add_user",
        "auth.change_user",
        "auth.change_group",
        "auth.view_permission",
    } <= admin
    assert not {p for p in admin if p.startswith("auth.") and "permission" in p} - {
        "auth.view_permission"
    }
    assert {name: perms_of(name) for name in ROLES} == role_permissions()
    assert roles[AGENT]["count"] == len(agent)


def test_agent_ticks_steps_but_cannot_approve_contain_or_merge(roles: dict[str, Any]) -> None:
    agent = perms_of(AGENT)
    assert {"socialcare.change_incidentstep", "socialcare.add_post"} <= agent
    for power in (
        "socialcare.approve_reply",
        "socialcare.merge_case",
        "socialcare.view_all_cases",
        "socialcare.change_incident",
        "socialcare.add_incident",
        "socialcare.view_supportdashboard",
        "socialcare.change_playbook",
    ):
        assert power not in agent
        assert power in perms_of(SUPERVISOR)


def test_second_install_changes_nothing_and_repairs_edited_groups(roles: dict[str, Any]) -> None:
    before = {name: perms_of(name) for name in ROLES}
    again = install_roles()
    assert all(not c["created"] and not c["added"] and not c["removed"] for c in again.values())
    assert {name: perms_of(name) for name in ROLES} == before
    assert Group.objects.filter(name__in=ROLES).count() == 3

    group = Group.objects.get(name=AGENT)
    group.permissions.add(Permission.objects.get(codename="merge_case"))
    group.permissions.remove(Permission.objects.get(codename="add_post"))
    repaired = install_roles()[AGENT]
    assert (repaired["added"], repaired["removed"]) == (
        ["socialcare.add_post"],
        ["socialcare.merge_case"],
    )
    assert perms_of(AGENT) == before[AGENT]


def test_command_prints_what_it_created_then_that_nothing_changed() -> None:
    out = StringIO()
    call_command("socialcare_roles", stdout=out)
    assert f"created group {AGENT} with {len(AGENT_DOC) + 1} permissions" in out.getvalue()
    assert f"created group {SUPERVISOR} with" in out.getvalue()
    Group.objects.get(name=SUPERVISOR).permissions.clear()
    out = StringIO()
    call_command("socialcare_roles", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == f"group {AGENT} is up to date ({len(AGENT_DOC) + 1} permissions)"
    assert lines[1].startswith(f"updated group {SUPERVISOR}: added socialcare.add_case, ")
    assert lines[2].startswith(f"group {ADMIN} is up to date")


def test_command_assigns_a_role(make_user: Any) -> None:
    user = make_user("zara", is_staff=False)
    out = StringIO()
    call_command("socialcare_roles", "--assign", "zara", "agent", stdout=out)
    assert "zara is now a Support agent; made staff so they can log in to admin." in out.getvalue()
    user.refresh_from_db()
    assert user.is_staff and list(user.groups.values_list("name", flat=True)) == [AGENT]

    out = StringIO()
    call_command("socialcare_roles", "--assign", "zara", "Support Supervisor", stdout=out)
    assert f"zara is now a {SUPERVISOR} (no longer {AGENT})." in out.getvalue()
    assert list(user.groups.values_list("name", flat=True)) == [SUPERVISOR]
    out = StringIO()
    call_command("socialcare_roles", "--assign", "zara", "supervisor", stdout=out)
    assert f"zara is already a {SUPERVISOR}." in out.getvalue()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--assign", "nobody", "agent"], "There is no user 'nobody'."),
        (["--assign", "zara", "boss"], "Unknown role 'boss': use agent, supervisor or admin"),
    ],
)
def test_command_refuses_an_unknown_user_or_role(
    make_user: Any, args: list[str], message: str
) -> None:
    make_user("zara")
    with pytest.raises(CommandError, match=message) as refused:
        call_command("socialcare_roles", *args, stdout=StringIO())
    assert refused.value.returncode == 1  # manage.py exits with status 1
    assert not Group.objects.exists()  # refused before changing anything


def test_assign_role_needs_the_groups(make_user: Any) -> None:
    with pytest.raises(SocialCareError, match="run socialcare_roles"):
        assign_role(make_user("zara"), "agent")


# What the roles allow --------------------------------------------------------------------------


@pytest.fixture
def staff(roles: dict[str, Any], agent: Any, make_user: Any, team: Team) -> dict[str, Any]:
    """Alice (team Care) as an agent, Sam (no team) as a supervisor."""
    supervisor = make_user("sam")
    assign_role(agent, "agent")
    assign_role(supervisor, "supervisor")
    return {"agent": agent, "supervisor": supervisor}


def api_client(user: Any) -> Any:
    from rest_framework.test import APIClient

    client = APIClient()
    client.default_format = "json"
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {create_api_key(user, 'tests')[1]}")
    return client


def customer_post(case: Case, external_id: str) -> Post:
    return Post.objects.create(
        platform="x",
        external_id=external_id,
        channel=case.channel,
        direction=Post.Direction.INBOUND,
        kind=Post.Kind.MENTION,
        visibility="public",
        author=case.identity,
        text="Where is my order?",
        case=case,
    )


def test_agent_replies_and_adds_notes_but_cannot_merge(staff: dict[str, Any], case: Case) -> None:
    other = case_services.open_case(channel=case.channel, identity=case.identity, subject="Dup")
    customer_post(case, "9001")
    api = api_client(staff["agent"])
    reply = api.post(f"{API}/cases/{case.pk}/replies/", {"text": "Sorry, Ada! On it."})
    assert reply.status_code == 201, reply.content
    note = api.post(f"{API}/cases/{case.pk}/notes/", {"text": "Called the courier."})
    assert note.status_code == 201, note.content
    merge = api.post(f"{API}/cases/{other.pk}/merge/", {"into": case.pk})
    assert merge.status_code == 403, merge.content
    assert Case.objects.get(pk=other.pk).merged_into_id is None

    merged = api_client(staff["supervisor"]).post(
        f"{API}/cases/{other.pk}/merge/", {"into": case.pk}
    )
    assert merged.status_code == 200, merged.content
    assert Case.objects.get(pk=other.pk).merged_into_id == case.pk


def test_only_a_supervisor_approves_a_held_reply(staff: dict[str, Any], case: Case) -> None:
    customer_post(case, "9002")
    incident, _ = open_incident(title="Cam outage", cases=[case])
    incident.requires_approval = True
    incident.save()
    held = send_reply(case, "We're on it, Ada.", actor=staff["agent"])
    assert held.send_status == Post.SendStatus.AWAITING_APPROVAL
    with pytest.raises(SocialCareError, match="permission to approve"):
        approve_reply(held, approver=staff["agent"])
    approved = approve_reply(held, approver=staff["supervisor"])
    assert approved.send_status == Post.SendStatus.QUEUED


def test_agent_sees_team_cases_and_supervisor_all(
    staff: dict[str, Any], case: Case, make_user: Any
) -> None:
    billing = Team.objects.create(name="Billing")
    elsewhere = case_services.open_case(
        channel=case.channel, identity=case.identity, subject="Invoice", team=billing
    )
    assert set(visible_cases(staff["agent"])) == {case}
    assert set(visible_cases(staff["supervisor"])) == {case, elsewhere}


def test_agent_works_cases_in_admin_and_only_the_admin_role_manages_staff(
    staff: dict[str, Any], case: Case, client: Any, make_user: Any
) -> None:
    client.force_login(staff["agent"])
    assert client.get("/admin/socialcare/case/").status_code == 200
    assert client.get(f"/admin/socialcare/case/{case.pk}/change/").status_code == 200
    assert client.get("/admin/socialcare/playbook/add/").status_code == 403
    assert client.get("/admin/auth/user/").status_code == 403
    client.force_login(staff["supervisor"])
    assert client.get("/admin/socialcare/supportdashboard/").status_code == 200
    assert client.get("/admin/socialcare/playbook/add/").status_code == 200
    assert client.get("/admin/auth/user/").status_code == 403
    boss = make_user("boss")
    assign_role(boss, "admin")
    client.force_login(boss)
    assert client.get("/admin/auth/user/").status_code == 200
    assert client.get("/admin/auth/group/").status_code == 200
