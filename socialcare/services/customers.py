"""Customers and their social identities: linking, unlinking and merging."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from socialcare import signals
from socialcare.adapter import get_customer_adapter
from socialcare.exceptions import MergeError, SocialCareError
from socialcare.models import (
    Case,
    CaseEvent,
    CustomerMerge,
    SocialIdentity,
    customer_display_name,
    get_customer_model,
)
from socialcare.models.fields import has_field
from socialcare.services.change_seq import touch_customer
from socialcare.services.customer_merge import (
    fill_blank_fields,
    merge_refusal,
    refuse_merged,
    snapshot,
)
from socialcare.services.events import record_customer_change, record_event


def _move_cases(cases: Any, customer: Any, actor: Any, **data: Any) -> int:
    """Move ``cases`` to ``customer`` and note it on each case's timeline."""
    cases = list(cases.select_related("customer"))
    for case in cases:
        record_customer_change(case, case.customer, customer, actor=actor, **data)
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(
        customer=customer, updated_at=timezone.now()
    )
    return len(cases)


@transaction.atomic
def link_identity(identity: SocialIdentity, customer: Any, *, actor: Any = None) -> SocialIdentity:
    """Attach ``identity`` to ``customer`` (moving it off another customer if it had one).

    The identity's cases that belonged to its previous customer, or to nobody, follow it, with a
    "customer changed" event each.
    """
    if customer is None or customer.pk is None:
        raise SocialCareError("Pick a saved customer to link the identity to.")
    refuse_merged(customer, "link it")
    locked = SocialIdentity.objects.select_for_update().get(pk=identity.pk)
    previous = locked.customer
    if previous is not None and previous.pk == customer.pk:
        identity.refresh_from_db()
        return identity
    locked.customer = customer
    locked.save(update_fields=["customer"])
    cases = Case.objects.filter(identity=locked).filter(
        models.Q(customer__isnull=True) | models.Q(customer=previous)
        if previous is not None
        else models.Q(customer__isnull=True)
    )
    _move_cases(cases, customer, actor, identity=str(locked))
    touch_customer(customer)
    touch_customer(previous)
    transaction.on_commit(
        lambda: signals.identity_linked.send(
            SocialIdentity, identity=locked, customer=customer, previous=previous, actor=actor
        )
    )
    identity.refresh_from_db()
    return identity


@transaction.atomic
def unlink_identity(identity: SocialIdentity, *, actor: Any = None) -> SocialIdentity:
    """Detach ``identity`` from its customer. Its past cases keep their customer (history stays)."""
    locked = SocialIdentity.objects.select_for_update().get(pk=identity.pk)
    if locked.customer_id is None:
        raise SocialCareError(f"{locked} is not linked to a customer.")
    previous = locked.customer
    locked.customer = None
    locked.save(update_fields=["customer"])
    for case in Case.objects.filter(identity=locked).open():
        record_event(
            case,
            CaseEvent.Kind.NOTE,
            actor=actor,
            text=f"{locked} was unlinked from {customer_display_name(previous)}.",
        )
    touch_customer(previous)
    identity.refresh_from_db()
    return identity


@transaction.atomic
def merge_customers(source: Any, target: Any, *, actor: Any = None) -> CustomerMerge:
    """Merge customer ``source`` into ``target``: identities and cases move to ``target``, with
    the host's own relations (``move_customer_relations``); blank text fields of ``target`` are
    filled from ``source``; a ``CustomerMerge`` row keeps a snapshot of ``source`` and what was
    moved or left, and marks ``source`` as merged (also ``merged_into`` when the model has that
    field). The source record is kept, never deleted: it may hold host CRM data socialcare does
    not know.

    Refused (``MergeError``, with the reason): merging a record into itself, merging a merged
    record again, and merging into a merged record (a reverse or cyclic merge).
    """
    Customer = get_customer_model()
    if source.pk == target.pk:
        raise MergeError("A customer cannot be merged into itself.")
    pks = sorted([source.pk, target.pk])
    locked = {c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=pks)}
    if len(locked) != 2:
        raise MergeError("Both customers must exist to be merged.")
    src, dst = locked[source.pk], locked[target.pk]
    refusal = merge_refusal(src, dst)
    if refusal:
        raise MergeError(refusal)

    source_snapshot = snapshot(src)
    identities_moved = SocialIdentity.objects.filter(customer=src).update(customer=dst)
    cases_moved = _move_cases(
        Case.objects.filter(customer=src), dst, actor, reason="customers merged"
    )
    relations = get_customer_adapter().merge_relations(src, dst)
    changed = fill_blank_fields(src, dst)
    if has_field(Customer, "notes") and getattr(src, "notes", ""):
        dst.notes = "\n\n".join(
            part for part in (dst.notes, f"[Merged from {src}]\n{src.notes}") if part
        )
        changed.append("notes")
    if changed:
        dst.save()
    merge = CustomerMerge.objects.create(
        source_id=str(src.pk),
        merged_customer=src,
        source_snapshot=source_snapshot,
        target=dst,
        target_ref=str(dst.pk),
        merged_by=actor if getattr(actor, "pk", None) else None,
        identities_moved=identities_moved,
        cases_moved=cases_moved,
        relations={**relations, "filled": changed},
    )
    if has_field(Customer, "merged_into"):
        src.merged_into = dst
        src.save()
    touch_customer(dst)
    touch_customer(src)
    transaction.on_commit(
        lambda: signals.customers_merged.send(
            Customer, source=src, target=dst, merge=merge, actor=actor
        )
    )
    source.refresh_from_db()
    target.refresh_from_db()
    return merge


def save_customer(
    customer: Any = None, *, name: str | None = None, email: str | None = None
) -> Any:
    """Create (``customer`` None) or change a customer from the API: the name and e-mail are
    written through the customer adapter, the record is validated with the model's own
    ``full_clean()`` and saved. A ``ValidationError`` names each field the model refused (the
    host's required fields included); nothing is saved then."""
    adapter = get_customer_adapter()
    if customer is None:
        customer = adapter.model()
    if name is not None:
        adapter.set_name(customer, name)
    if email is not None:
        adapter.set_email(customer, email)
    adapter.validate(customer)
    try:
        with transaction.atomic():
            adapter.save_customer(customer)
            touch_customer(customer)
    except IntegrityError as exc:
        raise ValidationError(
            {"non_field_errors": [f"The customer could not be saved: {exc}".strip()]}
        ) from exc
    return customer
