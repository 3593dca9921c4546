"""When the host deletes its own rows that socialcare points at: customers, users, teams.

A delete is the host's (its admin, its code, a cascade from its company model), so socialcare
hears of it through ``pre_delete`` receivers, connected by ``connect()`` in ``AppConfig.ready``.
They run when the delete is carried out (never while Django only collects what a delete would
reach, as the admin's confirmation page does), in the delete's transaction: a delete that fails
leaves no event behind.

- A customer: its cases are kept with no customer (``Case.customer``'s ``on_delete``,
  ``SOCIALCARE["CUSTOMER_DELETE"] = "keep_cases"``), each with a "customer changed" event naming
  who was deleted and by whom; or, with ``"refuse"``, the delete is refused naming the cases.
- A user who is an assignee, a team that holds cases: the cases are kept unassigned / with no
  team (``SET_NULL``), each with an "assignee changed" / "team changed" event.

Who deleted: Django's signals carry no request. ``CurrentUserMiddleware``
(``socialcare.middleware``) or ``acting_as(user)`` tell it; otherwise it is "unknown".
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import pre_delete
from django.utils import timezone

from socialcare import signals
from socialcare.conf import app_settings
from socialcare.exceptions import CustomerDeleteRefused
from socialcare.models import Case, CaseEvent, Team, customer_display_name, get_customer_model
from socialcare.models.case import customer_delete_refused
from socialcare.services.events import record_event, user_label, written_together

UNKNOWN = "unknown"

_actor: contextvars.ContextVar[Callable[[], Any] | None] = contextvars.ContextVar(
    "socialcare_acting_user", default=None
)


@contextmanager
def acting_as(user: Any) -> Iterator[None]:
    """Name ``user`` as the one who deletes (or changes) what the block deletes: for the host's
    own tools, management commands and tasks. ``user`` may be a zero-argument callable that
    returns the user when first asked (the middleware passes the request's lazy user)."""
    token = _actor.set(user if callable(user) else (lambda: user))
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> Any:
    """The signed-in user of the current request or ``acting_as`` block, or None."""
    get = _actor.get()
    user = get() if get is not None else None
    return user if getattr(user, "is_authenticated", False) and user.pk is not None else None


# Deleting customers ---------------------------------------------------------------------------


def check_customer_delete(customers: Iterable[Any]) -> None:
    """Raise ``CustomerDeleteRefused`` now if deleting ``customers`` would be refused (with
    ``"refuse"`` and cases), so a host tool can ask before it changes anything else."""
    if app_settings.CUSTOMER_DELETE != "refuse":
        return
    customers = list(customers)
    cases = list(Case.objects.filter(customer__in=[c.pk for c in customers]))
    if cases:
        raise customer_delete_refused(cases, customers)


def _customer_deleting(sender: Any, instance: Any, **kwargs: Any) -> None:
    cases = list(Case.objects.filter(customer=instance))
    if not cases:
        return
    name = customer_display_name(instance)
    _keep_cases(
        cases,
        CaseEvent.Kind.CUSTOMER_CHANGED,
        field="customer",
        old=str(instance.pk),
        what=f"Customer {name}",
        reason="customer deleted",
        data={"from": name, "from_id": str(instance.pk), "to": "", "to_id": None},
    )


# Deleting users and teams ---------------------------------------------------------------------


def _user_deleting(sender: Any, instance: Any, **kwargs: Any) -> None:
    cases = list(Case.objects.filter(assignee=instance))
    if cases:
        label = user_label(instance)
        _keep_cases(
            cases,
            CaseEvent.Kind.ASSIGNEE_CHANGED,
            field="assignee",
            old=instance.pk,
            what=f"Assignee {label}",
            reason="user deleted",
            data={"from": label, "from_id": instance.pk, "to": "", "to_id": None},
        )


def _team_deleting(sender: Any, instance: Team, **kwargs: Any) -> None:
    cases = list(Case.objects.filter(team=instance))
    if cases:
        _keep_cases(
            cases,
            CaseEvent.Kind.TEAM_CHANGED,
            field="team",
            old=instance.pk,
            what=f"Team {instance}",
            reason="team deleted",
            data={"from": str(instance), "to": ""},
        )


def _keep_cases(
    cases: list[Case], kind: str, *, field: str, old: Any, what: str, reason: str, data: dict
) -> None:
    """One event per case that loses ``field`` to the delete, the cases marked updated (API
    sync), and ``case_updated`` sent once the delete is committed. The field itself is set to
    NULL by the delete (its ``on_delete``)."""
    actor = current_actor()
    who = user_label(actor) if actor is not None else UNKNOWN
    with written_together():
        for case in cases:
            record_event(
                case,
                kind,
                actor=actor,
                reason=reason,
                deleted_by=who,
                text=f"{what} was deleted by {who}.",
                **data,
            )
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(updated_at=timezone.now())
    for case in cases:
        transaction.on_commit(
            lambda case=case: signals.case_updated.send(
                Case, case=case, actor=actor, field=field, old=old, new=None
            )
        )


def connect() -> None:
    """Connect the receivers (``AppConfig.ready``): the active customer and user models, Team."""
    pre_delete.connect(
        _customer_deleting, sender=get_customer_model(), dispatch_uid="socialcare_customer_delete"
    )
    pre_delete.connect(
        _user_deleting, sender=get_user_model(), dispatch_uid="socialcare_user_delete"
    )
    pre_delete.connect(_team_deleting, sender=Team, dispatch_uid="socialcare_team_delete")


__all__ = [
    "CustomerDeleteRefused",
    "acting_as",
    "check_customer_delete",
    "connect",
    "current_actor",
]
