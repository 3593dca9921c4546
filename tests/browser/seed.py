"""Data the browser tests add to the demo database before the server starts (run through
``manage.py shell`` with the demo's settings): a customer whose name and post carry HTML/JS, a
canned reply that renders that name, and an incident escalated from the case (hostile title);
and a case escalated under the "Influencer or legal threat" playbook (public replies held for
approval, a manual checklist) with a public reply by Diego held for a supervisor's approval."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.utils import timezone

from socialcare.conf import app_settings
from socialcare.models import Channel, Playbook, Post, ReplyTemplate, get_customer_model
from socialcare.platforms.base import InboundIdentity, InboundPost
from socialcare.services.incidents import open_incident_from_case
from socialcare.services.ingest import ingest
from socialcare.services.replies import send_reply

XSS_NAME = "<img src=x onerror=alert('name')>"
XSS_HANDLE = "xss_probe"
XSS_TEXT = (
    "@AcmeHelp <script>alert('post')</script> my Hub <img src=x onerror=alert('text')> shows "
    "<b onmouseover=alert('b')>error 7</b> since Monday"
)


#: The CRM customer's name (rendered into canned replies through ``{{ customer }}``).
XSS_CUSTOMER = "Eve <script>alert('customer')</script><svg onload=alert('svg')>"
#: A canned reply that renders the customer's name (and carries markup of its own).
XSS_TEMPLATE_NAME = "XSS probe <b>greeting</b>"
XSS_TEMPLATE_TEXT = "Hi {{ customer }}, sorry about {{ handle }}! <img src=y onerror=alert('tpl')>"
XSS_INCIDENT = "Outage <img src=z onerror=alert('incident')> for {{ customer }}"

#: The post, the incident and the held reply of the approval case (seen by ``add_approval_case``).
APPROVAL_TEXT = "@AcmeHelp your Hub firmware update bricked my thermostat, please fix it"
APPROVAL_INCIDENT = "Thermostat bricked by the Hub update (browser tests)"
APPROVAL_REPLY = "We're so sorry: our engineers are on it and will write to you today."


def add_xss_case() -> None:
    """A post on the demo's X channel (Social Care's queue) through the ingest pipeline."""
    channel = Channel.objects.get(name="Acme on X")
    result = ingest(
        channel,
        InboundPost(
            platform="x",
            external_id="1899990000000000001",
            author=InboundIdentity(
                platform="x", external_id="4242424242", handle=XSS_HANDLE, display_name=XSS_NAME
            ),
            kind="mention",
            visibility="public",
            text=XSS_TEXT,
            posted_at=timezone.now() - dt.timedelta(minutes=2),
            url=f"https://x.com/{XSS_HANDLE}/status/1899990000000000001",
        ),
    )
    case = result.case
    customer = case.customer
    if customer is None:
        customer = get_customer_model().objects.create(
            **{app_settings.CUSTOMER_NAME_FIELD: XSS_CUSTOMER}
        )
        case.customer = customer
        case.save(update_fields=["customer"])
    else:
        setattr(customer, app_settings.CUSTOMER_NAME_FIELD, XSS_CUSTOMER)
        customer.save()
    ReplyTemplate.objects.create(
        name=XSS_TEMPLATE_NAME, shortcut="xss-probe", visibility="", text=XSS_TEMPLATE_TEXT
    )
    incident = open_incident_from_case(case, actor=None, title=XSS_INCIDENT)
    print(f"XSS_CASE={case.pk} {case.reference}")
    print(f"XSS_INCIDENT={incident.pk}")
    add_approval_case()


def add_approval_case() -> None:
    """A case escalated by Hannah under the legal-threat playbook: its automatic steps hold
    public replies for approval and route the case to Escalations (Maya's Social Care inbox
    does not see it); Diego, of Escalations, writes a public reply, which is held."""
    User = get_user_model()
    hannah = User._default_manager.get(**{User.USERNAME_FIELD: "hannah"})
    diego = User._default_manager.get(**{User.USERNAME_FIELD: "diego"})
    channel = Channel.objects.get(name="Acme on X")
    result = ingest(
        channel,
        InboundPost(
            platform="x",
            external_id="1899990000000000002",
            author=InboundIdentity(
                platform="x", external_id="4242424243", handle="held_reply", display_name="Held"
            ),
            kind="mention",
            visibility="public",
            text=APPROVAL_TEXT,
            posted_at=timezone.now() - dt.timedelta(minutes=3),
            url="https://x.com/held_reply/status/1899990000000000002",
        ),
    )
    incident = open_incident_from_case(
        result.case,
        actor=hannah,
        title=APPROVAL_INCIDENT,
        playbook=Playbook.objects.get(slug="legal-threat"),
    )
    reply = send_reply(result.case, APPROVAL_REPLY, actor=diego)
    assert incident.requires_approval and reply.send_status == Post.SendStatus.AWAITING_APPROVAL
    print(f"APPROVAL_CASE={result.case.pk} {result.case.reference}")
    print(f"APPROVAL_INCIDENT={incident.pk}")
