"""A customer's data export (the right of access): everything socialcare holds about a customer,
as one JSON document streamed in pieces, and recorded as a privacy request.

An export asked for by a user follows the team rule (``services.access``): their cases, posts,
events and identities only, unless they see every case; its ``scope`` says whether it is whole.
The command ``socialcare_export_customer`` exports everything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q
from django.utils import timezone

from socialcare.models import (
    Case,
    CaseEvent,
    CustomerMerge,
    IdentityVerification,
    Post,
    PrivacyRequest,
    SocialIdentity,
)
from socialcare.models.fields import has_field
from socialcare.services.access import (
    Viewer,
    sees_all_cases,
    visible_cases,
    visible_identities,
)
from socialcare.services.customer_merge import SnapshotEncoder
from socialcare.services.timeline import ORDERING, with_order_keys

EXPORT_FORMAT = "socialcare.customer-export"
EXPORT_VERSION = 1
#: Rows read per query while exporting or erasing: memory stays bounded for big customers.
CHUNK = 500


def customer_people(customer: Any) -> list[Any]:
    """The customer and the records merged into it earlier (the same person), found through
    the merge audit rows (any customer model) and ``merged_into`` (when the model has it)."""
    Customer = type(customer)
    people = {customer.pk: customer}
    frontier = [customer.pk]
    while frontier:
        sources = Q(
            pk__in=list(
                CustomerMerge.objects.filter(target__in=frontier).values_list(
                    "source_id", flat=True
                )
            )
        )
        if has_field(Customer, "merged_into"):
            sources |= Q(merged_into__in=frontier)
        found = Customer._default_manager.filter(sources).exclude(pk__in=list(people))
        frontier = []
        for person in found.order_by("pk"):
            people[person.pk] = person
            frontier.append(person.pk)
    return list(people.values())


def customer_scope(customer: Any, user: Any = None) -> tuple[list[Any], list[int], list[int], Q]:
    """(people, identity ids, case ids, posts filter) of everything about ``customer``; with
    ``user``, only what that user may see (the team rule, ``services.access``)."""
    people = customer_people(customer)
    identities = SocialIdentity.objects.all() if user is None else visible_identities(user)
    identity_ids = list(
        identities.filter(customer__in=people).order_by("pk").values_list("pk", flat=True)
    )
    cases = Case.objects.all() if user is None else visible_cases(user)
    case_ids = list(
        cases.filter(Q(customer__in=people) | Q(identity__in=identity_ids))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    posts = Q(author__in=identity_ids) | Q(case__in=case_ids)
    if user is not None and not sees_all_cases(user):
        posts = Q(case__in=case_ids)  # their posts on other teams' cases stay with those teams
    return people, identity_ids, case_ids, posts


# Export ----------------------------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def _customer_data(customer: Any) -> dict[str, Any]:
    data = {"id": str(customer.pk)}
    for field in type(customer)._meta.concrete_fields:
        if field.primary_key:
            continue
        value = getattr(customer, field.attname)
        data[field.attname] = value
    # A host's customer model may have files or its own types (a file is written by its name).
    return json.loads(SnapshotEncoder().encode(data))


def _identity_data(identity: SocialIdentity) -> dict[str, Any]:
    return {
        "id": identity.pk,
        "platform": identity.platform,
        "platform_user_id": identity.external_id,
        "handle": identity.handle,
        "display_name": identity.display_name,
        "profile_url": identity.profile_url,
        "avatar_url": identity.avatar_url,
        "followers_count": identity.followers_count,
        "platform_verified": identity.platform_verified,
        "owner_verified_at": _iso(identity.owner_verified_at),
        "owner_verified_via": identity.owner_verified_via,
        "first_seen_at": _iso(identity.first_seen_at),
        "last_seen_at": _iso(identity.last_seen_at),
    }


def _case_data(case: Case) -> dict[str, Any]:
    return {
        "id": case.pk,
        "reference": case.reference,
        "subject": case.subject,
        "status": case.status,
        "priority": case.priority,
        "visibility": case.visibility,
        "platform": case.channel.platform if case.channel_id else None,
        "brand_account": case.channel.handle if case.channel_id else None,
        "identity": case.identity_id,
        "created_at": _iso(case.created_at),
        "first_responded_at": _iso(case.first_responded_at),
        "resolved_at": _iso(case.resolved_at),
        "closed_at": _iso(case.closed_at),
        "handed_off_to": case.handed_off_to,
        "tags": sorted(tag.name for tag in case.tags.all()),
    }


def _post_data(post: Post) -> dict[str, Any]:
    return {
        "id": post.pk,
        "platform": post.platform,
        "platform_post_id": post.external_id,
        "direction": post.direction,
        "from": "customer" if post.direction == Post.Direction.INBOUND else "brand",
        "author_identity": post.author_id,
        "kind": post.kind,
        "visibility": post.visibility,
        "text": post.text,
        "url": post.url,
        "attachments": post.attachments,
        "language": post.language,
        "in_reply_to": post.in_reply_to_external_id,
        "case": post.case.reference if post.case_id and post.case else None,
        "posted_at": _iso(post.posted_at),
        "edited_at": _iso(post.edited_at),
        "deleted_at": _iso(post.deleted_at),
        "sentiment": post.sentiment,
        "send_status": post.send_status,
    }


def _event_data(event: CaseEvent, viewer: Viewer | None) -> dict[str, Any]:
    data = event.data or {}
    if viewer is not None:  # texts naming another team's case do not name it
        data = viewer.event_data(event)
    return {
        "id": event.pk,
        "case": event.case.reference,
        "at": _iso(event.at),
        "kind": event.kind,
        "what": str(event.get_kind_display()),
        # Staff are named "staff", not by name: the export is about the customer.
        "by": "staff" if event.actor_id else "system",
        "post": event.post_id,
        "details": json.loads(DjangoJSONEncoder().encode(data)),
    }


def _verification_data(verification: IdentityVerification) -> dict[str, Any]:
    return {
        "identity": verification.identity_id,
        "case": verification.case.reference if verification.case_id else None,
        "provider": verification.provider,
        "created_at": _iso(verification.created_at),
        "expires_at": _iso(verification.expires_at),
        "used_at": _iso(verification.used_at),
        "outcome": verification.outcome,
        "signed_in_as": verification.signed_in_as,
        "attempts": verification.attempts,
    }


def _sections(customer: Any, include_notes: bool, actor: Any) -> Iterator[tuple[str, Any]]:
    """The export's top-level keys, each a value or an iterator of rows read in chunks."""
    team_rule = bool(getattr(actor, "pk", None)) and not sees_all_cases(actor)
    people, identity_ids, case_ids, posts = customer_scope(customer, actor if team_rule else None)
    yield "format", EXPORT_FORMAT
    yield "version", EXPORT_VERSION
    yield "exported_at", timezone.now().isoformat()
    yield "scope", _scope_note(customer, people, case_ids, team_rule)
    yield "customer", _customer_data(customer)
    yield "merged_records", [_customer_data(c) for c in people[1:]]
    yield (
        "identities",
        (
            _identity_data(i)
            for i in SocialIdentity.objects.filter(pk__in=identity_ids).order_by("pk")
        ),
    )
    yield (
        "cases",
        (
            _case_data(c)
            for c in Case.objects.filter(pk__in=case_ids)
            .select_related("channel")
            .prefetch_related("tags")
            .order_by("created_at", "pk")
            .iterator(chunk_size=CHUNK)
        ),
    )
    yield (
        "posts",
        (
            _post_data(p)
            for p in Post.objects.filter(posts)
            .select_related("case")
            .order_by("posted_at", "pk")
            .iterator(chunk_size=CHUNK)
        ),
    )
    # Each case's timeline in the order the case page and the API list it (``services.timeline``).
    events = with_order_keys(CaseEvent.objects.filter(case__in=case_ids))
    viewer = Viewer(actor) if team_rule else None
    if not include_notes:
        events = events.exclude(kind=CaseEvent.Kind.NOTE)
    yield (
        "case_events",
        (
            _event_data(e, viewer)
            for e in events.select_related("case").order_by("case", *ORDERING).iterator(CHUNK)
        ),
    )
    yield (
        "identity_verifications",
        (
            _verification_data(v)
            for v in IdentityVerification.objects.filter(identity__in=identity_ids)
            .filter(Q(case__isnull=True) | Q(case__in=case_ids))
            .select_related("case")
            .order_by("created_at", "pk")
            .iterator(chunk_size=CHUNK)
        ),
    )


def _scope_note(customer: Any, people: list[Any], case_ids: list[int], team_rule: bool) -> dict:
    """Whether the export is whole: one made by an agent who sees some teams' cases only says
    how many of the customer's cases it leaves out (a whole one: ``socialcare_export_customer``
    or a supervisor)."""
    if not team_rule:
        return {"complete": True, "cases_in_other_teams": 0}
    _, _, every_case, _ = customer_scope(customer)
    return {
        "complete": len(every_case) == len(case_ids),
        "cases_in_other_teams": len(set(every_case) - set(case_ids)),
    }


def stream_customer_export(
    customer: Any,
    *,
    actor: Any = None,
    source: str = PrivacyRequest.Source.CODE,
    include_notes: bool = True,
) -> Iterator[str]:
    """The export as JSON text in pieces (a few rows each): write them to a file or a streaming
    response; a customer with 100k posts never sits in memory whole. The audit row is written
    when the first piece is asked for, with the counts once the last one is out."""
    record = PrivacyRequest.objects.create(
        kind=PrivacyRequest.Kind.EXPORT,
        customer_id=str(customer.pk),
        actor=actor if getattr(actor, "pk", None) else None,
        source=source,
        counts={"complete": False},
    )
    counts: dict[str, Any] = {}
    encoder = DjangoJSONEncoder(indent=None, ensure_ascii=False)
    yield "{"
    for index, (key, value) in enumerate(_sections(customer, include_notes, actor)):
        yield ("," if index else "") + f"\n{json.dumps(key)}: "
        if isinstance(value, Iterator):
            yield "["
            n = 0
            for row in value:
                yield ("," if n else "") + "\n  " + encoder.encode(row)
                n += 1
            yield "\n]"
            counts[key] = n
        else:
            yield encoder.encode(value)
    yield "\n}\n"
    counts["notes_included"] = include_notes
    counts["complete"] = True
    PrivacyRequest.objects.filter(pk=record.pk).update(counts=counts)


def export_customer(
    customer: Any,
    *,
    actor: Any = None,
    source: str = PrivacyRequest.Source.CODE,
    include_notes: bool = True,
) -> dict[str, Any]:
    """The whole export as a dict (for small customers and tests; big ones: stream it)."""
    text = "".join(
        stream_customer_export(customer, actor=actor, source=source, include_notes=include_notes)
    )
    return json.loads(text)


def export_filename(customer: Any) -> str:
    return f"customer-{customer.pk}-export-{timezone.now():%Y%m%d-%H%M%S}.json"
