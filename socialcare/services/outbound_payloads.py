"""Payloads of outbound webhook events: JSON-safe, and never secrets (no channel secrets, no raw
platform payloads). Each builder reads the object fresh from the database, because events are
emitted after the change was committed and describe the object as it is then."""

from __future__ import annotations

import datetime as dt
from typing import Any

from socialcare.models import (
    Case,
    Channel,
    Incident,
    Post,
    SocialIdentity,
    customer_display_name,
)
from socialcare.services.events import user_label
from socialcare.services.moderation_state import ANSWER, with_moderation

#: Case references listed in an incident's payload (``cases_count`` has them all).
INCIDENT_CASES_SHOWN = 100


def iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC, to the millisecond: ``2024-05-06T09:00:00.508Z``."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def user_data(user: Any) -> dict[str, Any] | None:
    if user is None or not getattr(user, "pk", None) or not hasattr(user, "get_username"):
        return None
    return {"id": user.pk, "username": user.get_username(), "name": user_label(user)}


def customer_data(customer: Any) -> dict[str, Any] | None:
    if customer is None:
        return None
    return {"id": str(customer.pk), "name": customer_display_name(customer)}


def channel_data(channel: Channel | None) -> dict[str, Any] | None:
    if channel is None:
        return None
    return {
        "id": channel.pk,
        "name": channel.name,
        "platform": channel.platform,
        "handle": channel.handle,
    }


def identity_data(identity: SocialIdentity | None) -> dict[str, Any] | None:
    if identity is None:
        return None
    return {
        "id": identity.pk,
        "platform": identity.platform,
        "external_id": identity.external_id,
        "handle": identity.handle,
        "display_name": identity.display_name,
        "profile_url": identity.profile_url,
        "followers_count": identity.followers_count,
        "platform_verified": identity.platform_verified,
        "owner_verified": identity.is_owner_verified,
        "customer": customer_data(identity.customer),
    }


def case_data(case: Case) -> dict[str, Any]:
    """The case as it is now in the database (events are emitted after commit)."""
    case = case_rows([case.pk]).get(case.pk, case)
    return case_payload(case)


def case_rows(pks: list[int]) -> dict[int, Case]:
    """The cases with everything :func:`case_payload` reads, in a constant number of queries."""
    fresh = Case.objects.with_people().select_related("identity__customer", "merged_into")
    return {c.pk: c for c in fresh.filter(pk__in=pks).prefetch_related("tags")}


def case_payload(case: Case) -> dict[str, Any]:
    """``case`` rendered (loaded by :func:`case_rows`: no query)."""
    return {
        "id": case.pk,
        "reference": case.reference,
        "subject": case.subject,
        "status": case.status,
        "priority": case.priority,
        "visibility": case.visibility,
        "channel": channel_data(case.channel),
        "identity": identity_data(case.identity),
        "customer": customer_data(case.customer),
        "team": {"id": case.team.pk, "name": case.team.name} if case.team else None,
        "assignee": user_data(case.assignee),
        "tags": sorted(tag.name for tag in case.tags.all()),
        "handed_off_to": case.handed_off_to or None,
        "merged_into": case.merged_into.reference if case.merged_into else None,
        "created_at": iso(case.created_at),
        "updated_at": iso(case.updated_at),
        "first_response_due_at": iso(case.first_response_due_at),
        "next_response_due_at": iso(case.next_response_due_at),
        "resolution_due_at": iso(case.resolution_due_at),
        "first_responded_at": iso(case.first_responded_at),
        "resolved_at": iso(case.resolved_at),
        "closed_at": iso(case.closed_at),
    }


def post_data(post: Post) -> dict[str, Any]:
    post = post_rows([post.pk]).get(post.pk, post)
    return post_payload(post)


def post_rows(pks: list[int]) -> dict[int, Post]:
    """The posts with everything :func:`post_payload` reads, in one query."""
    fresh = with_moderation(Post.objects.with_people().select_related("author__customer", "case"))
    return {p.pk: p for p in fresh.filter(pk__in=pks)}


def post_payload(post: Post) -> dict[str, Any]:
    """``post`` rendered (loaded by :func:`post_rows`: no query)."""
    return {
        "id": post.pk,
        "platform": post.platform,
        "external_id": post.external_id,
        "url": post.url,
        "channel": channel_data(post.channel),
        "direction": post.direction,
        "kind": post.kind,
        "visibility": post.visibility,
        "author": identity_data(post.author),
        "sent_by": user_data(post.sent_by),
        "text": post.text,
        "language": post.language,
        "in_reply_to": post.in_reply_to_external_id,
        "conversation_id": post.conversation_id,
        "sentiment": post.sentiment,
        "reach": post.reach,
        "attachments": post.attachments,
        "case": post.case.reference if post.case else None,
        "posted_at": iso(post.posted_at),
        "received_at": iso(post.received_at),
        "edited_at": iso(post.edited_at),
        "deleted_at": iso(post.deleted_at),
        "moderation": post.moderation,
        "moderated_at": iso(post.moderated_at),
        "moderated_by": user_data(post.moderated_by) if post.moderated_by_id else None,
        "moderation_answer": getattr(post, ANSWER, None),
    }


def incident_data(incident: Incident) -> dict[str, Any]:
    fresh = Incident.objects.select_related("playbook", "detector", "commander")
    incident = fresh.filter(pk=incident.pk).first() or incident
    cases = incident.cases.order_by("pk").values_list("reference", flat=True)
    return {
        "id": incident.pk,
        "title": incident.title,
        "status": incident.status,
        "severity": incident.severity,
        "scope": incident.scope,
        "playbook": incident.playbook.name if incident.playbook else None,
        "detector": incident.detector.name if incident.detector else None,
        "commander": user_data(incident.commander),
        "requires_approval": incident.requires_approval,
        "cases_count": cases.count(),
        "cases": list(cases[:INCIDENT_CASES_SHOWN]),
        "opened_at": iso(incident.opened_at),
        "contained_at": iso(incident.contained_at),
        "resolved_at": iso(incident.resolved_at),
        "updated_at": iso(incident.updated_at),
    }
