"""A customer for every case: when an identity with no customer opens a case, the customer
adapter matches it to an existing customer or creates one (``SOCIALCARE["CUSTOMERS_FOR_CASES"]``:
``"create"``, ``"match"`` or ``"manual"``). docs/customers.md, "Customers for new cases"."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, transaction

from socialcare import signals
from socialcare.adapter import AmbiguousCustomer, CustomerNotCreated, get_customer_adapter
from socialcare.conf import app_settings
from socialcare.models import Case, CaseEvent, SocialIdentity
from socialcare.services.events import record_customer_change, record_event

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CustomerFound:
    """What :func:`customer_for_identity` did: the customer (or None), ``how`` it was found
    (``"matched"``, ``"created"``, ``"linked"`` by someone else meanwhile, or ``""``) and, when
    none was found, ``problem``: why, for the case's timeline ("" when by design)."""

    customer: Any = None
    how: str = ""
    problem: str = ""


NOTHING = CustomerFound()


def customer_for_identity(identity: SocialIdentity | None) -> CustomerFound:
    """Find or create the customer of ``identity`` (which has none) as the setting says, and
    link the identity to it. Runs inside the caller's transaction (the identity's row is locked,
    so two workers never create two customers for one person); a refusal by the host's model
    never fails the caller."""
    mode = app_settings.CUSTOMERS_FOR_CASES
    if identity is None or identity.customer_id is not None or mode == "manual":
        return NOTHING
    linked = (
        SocialIdentity.objects.select_for_update()
        .filter(pk=identity.pk)
        .values_list("customer_id", flat=True)
        .first()
    )
    adapter = get_customer_adapter()
    if linked is not None:  # another worker (or an agent) linked it meanwhile
        identity.customer = adapter.manager.get(pk=linked)
        return CustomerFound(identity.customer, "linked")
    try:
        with transaction.atomic():
            customer, how = adapter.match_customer(identity), "matched"
            if customer is None and mode == "create":
                customer, how = adapter.create_customer_for(identity), "created"
    except (AmbiguousCustomer, CustomerNotCreated) as exc:
        return CustomerFound(problem=" ".join(exc.messages))
    except DatabaseError as exc:
        logger.warning("No customer for identity %s: %s", identity.pk, exc)
        return CustomerFound(problem=f"No customer record was created for {identity}: {exc}")
    if customer is None:
        return NOTHING
    SocialIdentity.objects.filter(pk=identity.pk).update(customer=customer)
    identity.customer = customer
    transaction.on_commit(
        lambda: signals.identity_linked.send(
            SocialIdentity, identity=identity, customer=customer, previous=None, actor=None
        )
    )
    return CustomerFound(customer, how)


def note_on_case(case: Case, found: CustomerFound) -> None:
    """Say on the new case's timeline how its customer was found, or why there is none."""
    if found.problem:
        record_event(case, CaseEvent.Kind.NOTE, at=case.created_at, text=found.problem)
    elif found.how in ("matched", "created"):
        record_customer_change(case, None, found.customer, at=case.created_at, found=found.how)
