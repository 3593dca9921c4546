"""Customers' data rights: export everything socialcare holds about a customer, and erase it.

``export_customer`` / ``stream_customer_export`` (in ``privacy_export``) give the customer's identities, posts (theirs and
the brand's replies on their cases), cases, case events and identity verifications as one JSON
document. ``erase_customer`` anonymises the person and removes what they wrote, keeping case
statistics; both leave a ``PrivacyRequest`` audit row (see docs/privacy.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.dispatch import Signal

from socialcare.adapter import get_customer_adapter
from socialcare.exceptions import SocialCareError
from socialcare.models import (
    Case,
    CaseEvent,
    CustomerMerge,
    IdentityVerification,
    Incident,
    OutboundEvent,
    Post,
    PrivacyRequest,
    SocialIdentity,
    Survey,
    WebhookDelivery,
    get_customer_model,
)
from socialcare.services.privacy_export import (  # noqa: F401  (the export's names, kept here)
    CHUNK,
    EXPORT_FORMAT,
    EXPORT_VERSION,
    customer_scope,
    export_customer,
    export_filename,
    has_field,
    stream_customer_export,
)

#: Sent after an erasure is committed, so a host CRM erases what it keeps about the person too.
#: Arguments: ``customer`` (the anonymised record), ``request`` (the PrivacyRequest), ``actor``.
customer_erased = Signal()


PSEUDONYM_PREFIX = "erased-"
ERASED_DISPLAY_NAME = "Erased customer"
#: Keys of case-event data that hold people's words or names. Status values, ids, times and
#: scores stay (they are the case statistics).
PERSONAL_EVENT_KEYS = ("text", "old_text", "author", "identity", "signed_in_as", "comment")
#: In these events ``from`` and ``to`` are customers' names, not statuses.
NAMED_CHANGE_KINDS = (CaseEvent.Kind.CUSTOMER_CHANGED,)
#: Post fields that hold content; cleared by erasure, platform deletion and retention.
POST_CONTENT = {"text": "", "html": "", "raw": {}, "attachments": [], "url": ""}


class UnknownCustomer(SocialCareError):
    """No customer matches what was asked for."""


# Looking customers up --------------------------------------------------------------------------


def find_customer(ref: str) -> Any:
    """The customer named by ``ref``: its id, or ``platform:handle`` / ``platform:#user-id`` of
    one of its identities. Raises ``UnknownCustomer`` with a message a person can act on."""
    Customer = get_customer_model()
    ref = (ref or "").strip()
    if not ref:
        raise UnknownCustomer("Name a customer: its id, or platform:handle of one of its accounts.")
    platform, sep, handle = ref.partition(":")
    if sep:
        handle = handle.strip()
        if handle.startswith("#"):
            identities = SocialIdentity.objects.filter(
                platform=platform.strip().lower(), external_id=handle[1:]
            )
        else:
            identities = SocialIdentity.objects.by_handle(platform.strip().lower(), handle)
        identity = identities.select_related("customer").first()
        if identity is None:
            raise UnknownCustomer(f"No {platform} account {handle!r} is known.")
        if identity.customer is None:
            raise UnknownCustomer(f"{identity} is not linked to a customer yet; link it first.")
        return identity.customer
    try:
        return Customer._default_manager.get(pk=ref)
    # ValueError / ValidationError: not an id of the key's type ("abc" for an integer key).
    except (Customer.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise UnknownCustomer(f"No customer with id {ref!r}.") from exc


# Erasure ---------------------------------------------------------------------------------------


def pseudonym(kind: str, value: object) -> str:
    """A stable pseudonym for ``value``: the same input always gives the same name, and the
    name does not reveal the input (keyed hash with SECRET_KEY)."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"socialcare:{kind}:{value}".encode(), hashlib.sha256
    ).hexdigest()
    return PSEUDONYM_PREFIX + digest[:16]


def customer_pseudonym(customer: Any) -> str:
    return pseudonym("customer", f"{customer._meta.label_lower}:{customer.pk}")


def scrub_event_data(kind: str, data: dict[str, Any], why: str) -> dict[str, Any]:
    """``data`` without the words and names in it; statuses, ids, times and numbers stay."""
    personal = set(PERSONAL_EVENT_KEYS)
    if kind in NAMED_CHANGE_KINDS:
        personal |= {"from", "to"}
    kept = {k: v for k, v in (data or {}).items() if k not in personal}
    if kept != (data or {}):
        kept["removed"] = why
    return kept


def personal_event_data() -> Q:
    """Case events whose data still holds words or names."""
    return Q(data__has_any_keys=list(PERSONAL_EVENT_KEYS)) | Q(
        kind__in=NAMED_CHANGE_KINDS, data__has_any_keys=["from", "to"]
    )


def scrub_events(events: models.QuerySet, why: str) -> int:
    """Remove personal keys from the data of ``events``, in chunks. Returns rows changed."""
    changed = 0
    candidates = events.filter(personal_event_data())
    last = 0
    while True:
        chunk = list(
            candidates.filter(pk__gt=last).order_by("pk").values_list("pk", "kind", "data")[:CHUNK]
        )
        if not chunk:
            return changed
        for pk, kind, data in chunk:
            clean = scrub_event_data(kind, data, why)
            if clean != data:
                CaseEvent.objects.filter(pk=pk).update(data=clean)
                changed += 1
        last = chunk[-1][0]


def post_content_left() -> Q:
    """Posts with some content still stored."""
    return ~Q(text="") | ~Q(html="") | ~Q(url="") | ~Q(raw={}) | ~Q(attachments=[])


def clear_post_content(posts: models.QuerySet) -> int:
    """Empty the text, HTML, URL, media and raw payload of ``posts`` (rows, times, case links,
    sentiment and reach stay). Returns rows changed; rows already empty are not touched."""
    return posts.filter(post_content_left()).update(**POST_CONTENT)


def _scrub_json(value: Any, post_ids: set[int]) -> Any:
    """Outbound event payloads and incident evidence: the people and words in them removed."""
    if isinstance(value, list):
        return [_scrub_json(v, post_ids) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key in ("customer", "author", "identity") and isinstance(item, dict):
            out[key] = {"id": item.get("id"), "erased": True}
        elif key in ("text", "old_text", "html", "subject", "url", "attachments"):
            out[key] = [] if isinstance(item, list) else ""
        else:
            out[key] = _scrub_json(item, post_ids)
    return out


def _scrub_outbound_events(post_ids: list[int], case_ids: list[int]) -> int:
    changed = 0
    for start in range(0, max(len(post_ids), len(case_ids)), CHUNK):
        query = Q(payload__post__id__in=post_ids[start : start + CHUNK]) | Q(
            payload__case__id__in=case_ids[start : start + CHUNK]
        )
        for event in OutboundEvent.objects.filter(query).only("pk", "payload"):
            clean = _scrub_json(event.payload, set(post_ids))
            if clean != event.payload:
                OutboundEvent.objects.filter(pk=event.pk).update(payload=clean)
                changed += 1
    return changed


def _scrub_incident_evidence(post_ids: set[int], case_ids: list[int]) -> int:
    changed = 0
    incident_ids = (
        Case.objects.filter(pk__in=case_ids, incident__isnull=False)
        .values_list("incident", flat=True)
        .distinct()
    )
    for incident in Incident.objects.filter(pk__in=list(incident_ids)).only("pk", "evidence"):
        evidence = dict(incident.evidence or {})
        samples = evidence.get("sample_posts")
        if not isinstance(samples, list):
            continue
        clean = [
            {"id": s.get("id"), "erased": True}
            if isinstance(s, dict) and s.get("id") in post_ids
            else s
            for s in samples
        ]
        if clean != samples:
            evidence["sample_posts"] = clean
            Incident.objects.filter(pk=incident.pk).update(evidence=evidence)
            changed += 1
    return changed


def _scrub_deliveries(post_ids: list[int], identity_keys: list[str]) -> int:
    """Empty the stored bodies of processed deliveries that carried the customer's posts or
    account ids. Pending and failed ones are left: they may hold other people's posts still to
    be ingested (retention clears them later)."""
    posts = Post.objects.filter(pk__in=post_ids, channel__isnull=False)
    # A delivery comes after the post was written and before it was stored.
    window = posts.aggregate(posted=models.Min("posted_at"), received=models.Min("received_at"))
    if window["received"] is None:
        return 0
    start = min(window["posted"], window["received"]) - dt.timedelta(days=1)
    channel_ids = list(posts.values_list("channel", flat=True).distinct())
    needles = [
        f'"{value}"'.encode()
        for value in [
            *posts.exclude(external_id=None).values_list("external_id", flat=True),
            *identity_keys,
        ]
        if value
    ]
    if not needles:
        return 0
    changed = 0
    candidates = WebhookDelivery.objects.filter(
        channel__in=channel_ids,
        status=WebhookDelivery.Status.PROCESSED,
        received_at__gte=start,
    ).exclude(body=b"")
    last = 0
    while True:
        chunk = list(candidates.filter(pk__gt=last).order_by("pk").values_list("pk", "body")[:200])
        if not chunk:
            return changed
        hits = [pk for pk, body in chunk if any(n in bytes(body) for n in needles)]
        if hits:
            changed += WebhookDelivery.objects.filter(pk__in=hits).update(body=b"", headers={})
        last = chunk[-1][0]


def _scrub_admin_log(people: list[Any], identity_ids: list[int], label: str) -> int:
    """Django admin's history names objects by ``str()``: the customer's name and handles."""
    changed = 0
    targets = [
        (ContentType.objects.get_for_model(type(people[0])), [str(p.pk) for p in people]),
        (ContentType.objects.get_for_model(SocialIdentity), [str(pk) for pk in identity_ids]),
    ]
    for content_type, ids in targets:
        changed += (
            LogEntry.objects.filter(content_type=content_type, object_id__in=ids)
            .exclude(object_repr=label)
            .update(object_repr=label, change_message="[]")
        )
    return changed


def _anonymise_customer(person: Any, label: str) -> bool:
    Customer = type(person)
    values = get_customer_adapter().erased_values(person, f"{ERASED_DISPLAY_NAME} {label}")
    if all(getattr(person, k) == v for k, v in values.items()):
        return False
    Customer._default_manager.filter(pk=person.pk).update(**values)
    return True


def _anonymise_identities(identity_ids: list[int]) -> int:
    changed = 0
    for identity in SocialIdentity.objects.filter(pk__in=identity_ids).order_by("pk"):
        already = identity.external_id.startswith(PSEUDONYM_PREFIX)
        alias = (
            identity.external_id
            if already
            else pseudonym("identity", f"{identity.platform}:{identity.external_id}")
        )
        values = {
            "external_id": alias,
            "handle": alias,
            "display_name": ERASED_DISPLAY_NAME,
            "profile_url": "",
            "avatar_url": "",
        }
        if any(getattr(identity, k) != v for k, v in values.items()):
            SocialIdentity.objects.filter(pk=identity.pk).update(**values)
            changed += 1
    return changed


def erase_customer(
    customer: Any,
    *,
    actor: Any,
    reason: str,
    source: str = PrivacyRequest.Source.CODE,
) -> PrivacyRequest:
    """Erase ``customer``'s personal data, in one transaction, and audit it.

    - the customer record (and records merged into it): name replaced by a pseudonym, e-mail
      (and on socialcare's own model phone and notes) emptied; the row stays, so cases keep it;
    - their social identities: platform user id, handle, display name, profile and avatar URLs
      replaced by a stable pseudonym (the same person posting again becomes a new identity);
    - the text, HTML, URL, media and raw payload of their posts and of every post on their cases
      (the brand's replies name them too); case subjects; words and names in case events
      (notes included), outbound webhook events, incident evidence, admin history, stored
      webhook bodies that carried their posts, identity verification sign-in names;
    - kept: rows, times, statuses, priorities, SLA times, sentiment and reach numbers, counts.

    Running it again changes nothing more and records another (zero-count) request.
    """
    reason = (reason or "").strip()
    if not reason:
        raise SocialCareError("Say why the customer's data is erased (the reason is audited).")
    if customer is None or getattr(customer, "pk", None) is None:
        raise UnknownCustomer("Pick a saved customer to erase.")
    why = "erasure"
    with transaction.atomic():
        Customer = type(customer)
        locked = Customer._default_manager.select_for_update().filter(pk=customer.pk).first()
        if locked is None:
            raise UnknownCustomer(f"No customer with id {customer.pk!r}.")
        people, identity_ids, case_ids, post_filter = customer_scope(locked)
        label = customer_pseudonym(locked)
        identity_keys = list(
            SocialIdentity.objects.filter(pk__in=identity_ids)
            .exclude(external_id__startswith=PSEUDONYM_PREFIX)
            .values_list("external_id", flat=True)
        )
        post_ids = list(Post.objects.filter(post_filter).values_list("pk", flat=True))
        counts = {
            "customers": sum(_anonymise_customer(p, label) for p in people),
            "identities": _anonymise_identities(identity_ids),
            # Before the posts are emptied: the bodies are found by the posts' ids.
            "webhook_bodies": _scrub_deliveries(post_ids, identity_keys),
            "posts": sum(
                clear_post_content(Post.objects.filter(pk__in=post_ids[i : i + CHUNK]))
                for i in range(0, len(post_ids), CHUNK)
            ),
            "case_subjects": Case.objects.filter(pk__in=case_ids)
            .exclude(subject="")
            .update(subject=""),
            "csat_answers": Survey.objects.filter(case__in=case_ids)  # the words, not the score
            .exclude(answer_text="")
            .update(answer_text=""),
            "case_events": scrub_events(
                CaseEvent.objects.filter(Q(case__in=case_ids) | Q(post__in=post_ids)), why
            ),
            "verifications": IdentityVerification.objects.filter(identity__in=identity_ids)
            .filter(~Q(signed_in_as="") | ~Q(failure_reason=""))
            .update(signed_in_as="", failure_reason=""),
            "merge_snapshots": CustomerMerge.objects.filter(
                Q(target__in=people) | Q(source_id__in=[str(p.pk) for p in people])
            )
            .exclude(source_snapshot={})
            .update(source_snapshot={}),
            "outbound_events": _scrub_outbound_events(post_ids, case_ids),
            "incidents": _scrub_incident_evidence(set(post_ids), case_ids),
            "admin_history": _scrub_admin_log(people, identity_ids, label),
            "cases_kept": len(case_ids),
            "posts_kept": len(post_ids),
        }
        record = PrivacyRequest.objects.create(
            kind=PrivacyRequest.Kind.ERASURE,
            customer_id=str(locked.pk),
            customer_pseudonym=label,
            actor=actor if getattr(actor, "pk", None) else None,
            source=source,
            reason=reason,
            counts=counts,
        )
        transaction.on_commit(
            lambda: customer_erased.send(Customer, customer=locked, request=record, actor=actor)
        )
    customer.refresh_from_db()
    return record


def is_erased(customer: Any) -> bool:
    return PrivacyRequest.objects.erasures().for_customer(customer.pk).exists()


def erase_customers(customers: Iterable[Any], **kwargs: Any) -> list[PrivacyRequest]:
    """``erase_customer`` for each (each in its own transaction)."""
    return [erase_customer(customer, **kwargs) for customer in customers]
