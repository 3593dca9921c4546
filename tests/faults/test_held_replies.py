"""Replies held for approval when their incident is resolved: resolving lifts the gate, but the
held replies are neither sent unreviewed nor left held in silence: each case's timeline and the
incident's timeline say they wait, and an approver can still send or reject them."""

from __future__ import annotations

import pytest

from socialcare.models import CaseEvent, Incident, Post
from socialcare.services.incidents import change_incident_status
from socialcare.services.replies import approve_reply, send_reply
from tests.test_approvals import approver as approver
from tests.test_approvals import console as console
from tests.test_approvals import customer_post as customer_post
from tests.test_approvals import gated as gated
from tests.test_approvals import run as run

pytestmark = pytest.mark.django_db

Held = Post.SendStatus


def test_replies_held_when_the_incident_is_resolved_are_flagged_not_forgotten(
    gated, case, agent, approver, run, robustness
):
    held = run(send_reply, case, "We'll refund you today", actor=agent)
    assert held.send_status == Held.AWAITING_APPROVAL
    robustness.fault()  # the gate goes away under a waiting reply

    change_incident_status(gated, Incident.Status.RESOLVED, actor=approver)

    held.refresh_from_db()
    assert held.send_status == Held.AWAITING_APPROVAL  # not sent unreviewed
    note = case.events.filter(kind=CaseEvent.Kind.NOTE, post=held).latest("pk")
    assert f"Incident #{gated.pk} is resolved" in note.data["text"]
    assert "still awaiting approval" in note.data["text"]
    listed = gated.events.get(kind="held_replies")
    assert listed.data == {"count": 1, "cases": [case.reference]}
    # A reply written now is not held; the old one is sent once an approver says so.
    assert run(send_reply, case, "Refunded, sorry!", actor=agent).send_status == Held.SENT
    sent = run(approve_reply, held, approver=approver)
    robustness.lost(0 if sent.send_status == Held.SENT else 1)
    assert sent.send_status == Held.SENT


def test_resolving_an_incident_without_held_replies_records_nothing_extra(
    gated, case, approver, robustness
):
    robustness.fault()
    change_incident_status(gated, Incident.Status.RESOLVED, actor=approver)
    assert not gated.events.filter(kind="held_replies").exists()
    assert not case.events.filter(data__has_key="held_after_incident").exists()
