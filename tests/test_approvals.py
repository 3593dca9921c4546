"""The approval gate: while a case's incident requires approval, an agent's public reply waits
for a second agent with the approve_reply permission; private replies and the playbook's own
holding replies are not held; a rejected reply is kept, failed, with the reason."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from socialcare.exceptions import SocialCareError
from socialcare.models import CaseEvent, Incident, Playbook, PlaybookStep, Post, ReplyTemplate
from socialcare.services import cases as case_services
from socialcare.services.handoff import hand_off
from socialcare.services.incidents import change_incident_status, open_incident
from socialcare.services.replies import approve_reply, reject_reply, retry_post, send_reply

pytestmark = pytest.mark.django_db

Held = Post.SendStatus
CONSOLE = "socialcare.transports.console.ConsoleTransport"


@pytest.fixture(autouse=True)
def console(socialcare_settings):
    with socialcare_settings(REPLY_TRANSPORT=CONSOLE):
        yield


@pytest.fixture
def approver(make_user):
    user = make_user("carla", first_name="Carla", last_name="Comms")
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="socialcare", codename="approve_reply")
    )
    return user


@pytest.fixture
def customer_post(case, identity, channel):
    return Post.objects.create(
        platform="x", external_id="t-1", channel=channel, author=identity, direction="inbound",
        kind="mention", visibility="public", text="@acme you charged me twice", case=case,
    )  # fmt: skip


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Call a service and let its on-commit work run (the send task, inline in tests)."""

    def call(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            result = fn(*args, **kwargs)
        if isinstance(result, Post):
            result.refresh_from_db()
        return result

    return call


@pytest.fixture
def gated(case, customer_post, run):
    """An open incident that holds public replies, with the case linked to it."""
    ReplyTemplate.objects.create(name="Hold", shortcut="hold", text="Hi {{ customer }}, on it.")
    playbook = Playbook.objects.create(name="Billing", slug="billing")
    PlaybookStep.objects.create(playbook=playbook, order=1, title="Hold", kind="require_approval")
    PlaybookStep.objects.create(
        playbook=playbook, order=2, title="Reply", kind="holding_reply", config={"template": "hold"}
    )
    incident, _ = run(open_incident, title="Double charges", playbook=playbook, cases=[case])
    assert incident.requires_approval
    return incident


def test_an_agents_public_reply_waits_for_approval_and_is_not_sent(gated, case, agent, run):
    post = run(send_reply, case, "We'll refund you today", actor=agent)
    assert post.send_status == Held.AWAITING_APPROVAL
    assert post.send_attempts == 0
    assert post.sent_by == agent
    case.refresh_from_db()
    assert case.first_responded_at is not None  # the holding reply went out …
    holding = case.posts.filter(direction="outbound").exclude(pk=post.pk).get()
    assert holding.send_status == Held.SENT  # … because the playbook's text is pre-approved
    event = case.events.filter(kind=CaseEvent.Kind.REPLIED, post=post).get()
    assert event.data["held_for_approval"] is True
    assert event.actor == agent


def test_private_replies_and_system_replies_are_not_held(gated, case, agent, run):
    private = run(
        send_reply, case, "Can you DM us your order id?", actor=agent, visibility="private"
    )
    assert private.send_status == Held.SENT
    system = run(send_reply, case, "Automated: we received your message.", actor=None)
    assert system.send_status == Held.SENT


def test_a_second_agent_with_the_permission_approves_and_it_is_sent(
    gated, case, agent, approver, run
):
    post = run(send_reply, case, "We'll refund you today", actor=agent)
    approved = run(approve_reply, post, approver=approver)
    assert approved.send_status == Held.SENT
    assert approved.external_id.startswith("console-")
    note = case.events.filter(kind=CaseEvent.Kind.NOTE, post=post).get()
    assert note.actor == approver
    assert note.data["approval"] == "approved"
    with pytest.raises(SocialCareError, match="not waiting for approval"):
        approve_reply(post, approver=approver)


def test_the_author_cannot_approve_their_own_reply(gated, case, agent, run):
    agent.user_permissions.add(Permission.objects.get(codename="approve_reply"))
    agent = type(agent).objects.get(pk=agent.pk)  # fresh permission cache
    post = run(send_reply, case, "We'll refund you today", actor=agent)
    with pytest.raises(SocialCareError, match="someone other than its author"):
        approve_reply(post, approver=agent)
    post.refresh_from_db()
    assert post.send_status == Held.AWAITING_APPROVAL


def test_an_agent_without_the_permission_cannot_approve_or_reject(
    gated, case, agent, other_agent, run
):
    post = run(send_reply, case, "We'll refund you today", actor=agent)
    with pytest.raises(SocialCareError, match="permission"):
        approve_reply(post, approver=other_agent)
    with pytest.raises(SocialCareError, match="permission"):
        reject_reply(post, approver=other_agent, reason="no")
    post.refresh_from_db()
    assert post.send_status == Held.AWAITING_APPROVAL


def test_a_rejected_reply_is_kept_failed_with_the_reason_and_cannot_be_retried(
    gated, case, agent, approver, run
):
    post = run(send_reply, case, "Not our fault, talk to your bank", actor=agent)
    rejected = run(reject_reply, post, approver=approver, reason="Blames the customer")
    assert rejected.send_status == Held.FAILED
    assert rejected.send_error == "Not approved by carla: Blames the customer"
    assert rejected.send_attempts == 0
    note = case.events.filter(kind=CaseEvent.Kind.NOTE, post=post).get()
    assert note.data["approval"] == "rejected"
    assert note.data["text"] == rejected.send_error
    with pytest.raises(SocialCareError, match="not waiting for approval"):
        approve_reply(post, approver=approver)
    with pytest.raises(SocialCareError, match="not approved"):
        retry_post(post, actor=agent)
    post.refresh_from_db()
    assert post.send_status == Held.FAILED


def test_a_contained_incident_still_holds_and_resolving_lifts_the_gate(
    gated, case, agent, approver, run
):
    change_incident_status(gated, Incident.Status.CONTAINED, actor=approver)
    assert run(send_reply, case, "Still looking", actor=agent).send_status == Held.AWAITING_APPROVAL
    change_incident_status(gated, Incident.Status.RESOLVED, actor=approver)
    assert run(send_reply, case, "Refunded, sorry!", actor=agent).send_status == Held.SENT


def test_replies_are_not_held_without_a_gate(case, customer_post, agent, channel, identity, run):
    assert run(send_reply, case, "Not linked to any incident", actor=agent).send_status == Held.SENT
    ungated, _ = open_incident(title="Quiet one", cases=[case])
    assert not ungated.requires_approval
    assert run(send_reply, case, "Linked, no approval needed", actor=agent).send_status == (
        Held.SENT
    )


def test_an_agents_hand_off_note_is_held_but_the_private_message_goes(
    gated, case, agent, approver, run
):
    run(hand_off, case, "direct_message", actor=agent, private_message="Hi, what is your order id?")
    note = case.posts.filter(direction="outbound", visibility="public", sent_by=agent).get()
    dm = case.posts.filter(direction="outbound", visibility="private").get()
    assert note.send_status == Held.AWAITING_APPROVAL
    assert dm.send_status == Held.SENT
    assert run(approve_reply, note, approver=approver).send_status == Held.SENT


def test_a_superuser_may_approve(gated, case, agent, make_user, run):
    boss = make_user("boss", is_superuser=True)
    post = run(send_reply, case, "We'll refund you today", actor=agent)
    assert run(approve_reply, post, approver=boss).send_status == Held.SENT


def test_a_case_linked_later_is_held_too(gated, channel, make_identity, agent, run):
    later_identity = make_identity("2002", "bea")
    later = case_services.open_case(channel=channel, identity=later_identity, subject="Me too")
    Post.objects.create(
        platform="x", external_id="t-2", channel=channel, author=later_identity,
        direction="inbound", kind="mention", visibility="public", text="Charged twice too",
        case=later,
    )  # fmt: skip
    assert run(send_reply, later, "Before linking", actor=agent).send_status == Held.SENT
    open_incident(title="Double charges", playbook=gated.playbook, cases=[later])  # joins
    assert run(send_reply, later, "After linking", actor=agent).send_status == (
        Held.AWAITING_APPROVAL
    )
