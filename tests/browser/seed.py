"""Data the browser tests add to the demo database before the server starts (run through
``manage.py shell`` with the demo's settings): a customer whose name and post carry HTML/JS, a
canned reply that renders that name, and an incident escalated from the case (hostile title)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from socialcare.conf import app_settings
from socialcare.models import Channel, ReplyTemplate, get_customer_model
from socialcare.platforms.base import InboundIdentity, InboundPost
from socialcare.services.incidents import open_incident_from_case
from socialcare.services.ingest import ingest

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
