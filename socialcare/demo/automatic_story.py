"""The demo's holding reply, sent once per customer (issue #25; ``services.automatic_messages``).

Leila asked on X why the status page said "all systems operational" while nobody could log in.
That morning an incident, "App login outage", was open; its playbook's holding-reply step is
manual (the shipped playbooks install every step that reaches customers manual), and Hannah
ticked it: the outage holding reply went to Leila's case, through the ledger of automatic
messages, which records it as sent once for (Leila, incident's holding reply, any thread). Had
Leila opened a second case during the incident, it would have been skipped there, naming this
case. The admin's "Automatic messages" list and ``GET api/v1/automatic-messages/`` show the row;
Leila's timeline shows the link to the incident and the "automatic message: sent" event.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from socialcare.models import (
    AutomaticMessage,
    Case,
    CaseEvent,
    Incident,
    IncidentEvent,
    IncidentStep,
    Severity,
)
from socialcare.services.automatic_messages import ANY_CONVERSATION, purpose_of
from socialcare.services.events import record_event

__all__ = ["record_holding_reply"]

TITLE = "App login outage"


def record_holding_reply(builder: Any) -> None:
    """``builder``: the demo loader; Leila's X case has the outage holding reply."""
    case: Case = builder.case_of("leila", "x")
    reply = case.posts.outbound().order_by("posted_at", "pk").first()
    if reply is None:
        return
    sent_at = reply.posted_at
    opened_at = sent_at - dt.timedelta(minutes=25)
    hannah = builder.agents["hannah"]
    incident = Incident.objects.create(
        title=TITLE,
        scope="demo",
        severity=Severity.HIGH,
        opened_at=opened_at,
        evidence={"summary": "Login failures reported on X and Instagram"},
    )
    step = IncidentStep.objects.create(
        incident=incident,
        order=10,
        title="Holding reply",
        kind="holding_reply",
        config={"template": "outage-holding"},
        status=IncidentStep.Status.DONE,
        due_at=opened_at + dt.timedelta(minutes=30),
        done_by=hannah,
        done_at=sent_at,
        result="applied to 1 of 1 case(s)",
    )
    Case.objects.filter(pk=case.pk).update(incident=incident)
    IncidentEvent.objects.create(
        incident=incident, kind="opened", at=opened_at, data={"summary": TITLE}
    )
    record_event(
        case,
        CaseEvent.Kind.INCIDENT_LINKED,
        at=opened_at + dt.timedelta(minutes=1),
        incident=incident.pk,
        text=f"Linked to incident #{incident.pk}: {TITLE}",
    )
    message = AutomaticMessage.objects.create(
        identity_id=case.identity_id,
        purpose=purpose_of(step),
        conversation=ANY_CONVERSATION,
        case=case,
        incident_step=step,
        status=AutomaticMessage.Status.SENT,
        post=reply,
        created_at=sent_at,
        due_at=sent_at,
        done_at=sent_at,
    )
    record_event(
        case,
        CaseEvent.Kind.AUTOMATIC_MESSAGE,
        actor=hannah,
        post=reply,
        at=sent_at,
        outcome="sent",
        purpose=message.purpose,
        message=message.pk,
        text="Holding reply: sent.",
    )
