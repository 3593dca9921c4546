"""Data the browser tests add to the demo database before the server starts (run through
``manage.py shell`` with the demo's settings): a customer whose name and post carry HTML/JS."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from socialcare.models import Channel
from socialcare.platforms.base import InboundIdentity, InboundPost
from socialcare.services.ingest import ingest

XSS_NAME = "<img src=x onerror=alert('name')>"
XSS_HANDLE = "xss_probe"
XSS_TEXT = (
    "@AcmeHelp <script>alert('post')</script> my Hub <img src=x onerror=alert('text')> shows "
    "<b onmouseover=alert('b')>error 7</b> since Monday"
)


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
    print(f"XSS_CASE={result.case.pk} {result.case.reference}")
