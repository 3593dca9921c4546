"""Telling people: email through Django's mail backend. A mail server that is down never breaks
the workflow that wanted to notify; it is logged."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.mail import send_mail

from socialcare.models import Case, Team

logger = logging.getLogger("socialcare.notifications")


def team_addresses(team: Team | None) -> list[str]:
    """The team's own address, else its members' addresses."""
    if team is None:
        return []
    if team.email:
        return [team.email]
    return [m.user.email for m in team.memberships.select_related("user") if m.user.email]


def case_recipients(case: Case) -> list[str]:
    """Who hears about a case: its assignee and its team."""
    addresses = []
    if case.assignee_id and case.assignee.email:
        addresses.append(case.assignee.email)
    addresses += team_addresses(case.team)
    return sorted(set(addresses))


def notify(recipients: Iterable[str], subject: str, body: str) -> int:
    """Send one email to each address; returns how many were sent."""
    recipients = sorted({r for r in recipients if r})
    if not recipients:
        return 0
    sender: Any = getattr(settings, "DEFAULT_FROM_EMAIL", None)
    sent = 0
    for address in recipients:
        try:
            sent += send_mail(subject[:200], body, sender, [address], fail_silently=False)
        except Exception:  # a mail outage must not stop an SLA scan or a playbook
            logger.exception("Could not email %s about %r", address, subject)
    return sent
