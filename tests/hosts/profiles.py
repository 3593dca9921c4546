"""What each host CRM shape looks like to the integration suite: how to make a valid customer
with the host's required data, where its admin lives, how it names people, whether socialcare
creates customers in it, and the host data a merge must carry over.

The active profile follows the settings module: ``SOCIALCARE_TEST_HOST`` in
``tests.hosts.settings_<shape>``; under ``tests.settings`` / ``tests.settings_swapped`` the
customer model decides ("builtin" or "testapp"). Host models are imported inside the functions:
only the active host's app is installed."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse

from socialcare.adapter import split_name
from socialcare.models import customer_model_name, get_customer_model

Customer = models.Model


@dataclass(frozen=True)
class HostProfile:
    name: str
    #: Builds and saves a valid customer: (name, email) -> customer, the host's required data set.
    make_customer: Callable[[str, str], Customer]
    #: The name as the host's own fields spell it (what agents must see), read without the adapter.
    name_of: Callable[[Customer], str]
    #: Attribute paths -> values of the customer socialcare creates for the X account
    #: "Priya R Shah" (@priya_shah). Empty when the host creates none.
    created: dict[str, str] = field(default_factory=dict)
    #: URL namespace and prefix of the admin site the host's staff work on.
    admin_site: str = "admin"
    admin_prefix: str = "/admin/"
    #: The customer admin's merge action (the host's admin, or socialcare's own CustomerAdmin).
    merge_action: str = "merge_customers"
    #: A customer API body lacking data the host's model requires, and the error key naming it.
    incomplete: tuple[dict[str, str], str] | None = None
    #: The API can create a valid customer from a name and an e-mail address alone.
    api_creates: bool = True
    #: The model refuses a customer without a name.
    name_required: bool = True
    #: The host data a merge must move: add some to a customer, and read it back as text.
    add_host_data: Callable[[Customer, str], None] | None = None
    host_data: Callable[[Customer], list[str]] | None = None
    #: The relation that data is on, as a merge reports it ("app_label.Model.field").
    host_relation: str = ""
    #: The model stores X handles: an X identity with a stored handle is matched to its owner.
    stores_x_handles: bool = False

    @property
    def creates_customers(self) -> bool:
        return bool(self.created)

    def admin_url(self, model: type[models.Model] | str, view: str, *args: Any) -> str:
        """A URL of the host's admin site: ``model`` a model class or ``"app_label.model"``."""
        if isinstance(model, str):
            app_label, model_name = model.lower().split(".")
        else:
            app_label, model_name = model._meta.app_label, model._meta.model_name
        name = f"{self.admin_site}:{app_label}_{model_name}_{view}"
        return reverse(name, args=args, current_app=self.admin_site)

    def customer_url(self, view: str, *args: Any) -> str:
        return self.admin_url(get_customer_model(), view, *args)


def api_id(customer: Customer) -> Any:
    """The customer's id as the API writes it (a UUID is a string in JSON)."""
    return customer.pk if isinstance(customer.pk, int) else str(customer.pk)


def read_path(obj: Any, path: str) -> str:
    """``"company.name"`` of ``obj``, as text."""
    return str(functools.reduce(getattr, path.split("."), obj))


def _squeeze(*parts: str) -> str:
    return " ".join(part for part in parts if part)


# The shapes -------------------------------------------------------------------------------------


def _builtin_customer(name: str, email: str) -> Customer:
    from socialcare.models import Customer

    return Customer.objects.create(name=name, email=email)


def _testapp_customer(name: str, email: str) -> Customer:
    from tests.testapp.models import Contact

    return Contact.objects.create(full_name=name, email_address=email)


def _testapp_tag(customer: Customer, label: str) -> None:
    from tests.testapp.models import Tag

    customer.tags.add(Tag.objects.get_or_create(name=label)[0])


def _tags(customer: Customer) -> list[str]:
    return sorted(customer.tags.values_list("name", flat=True))


def _splitname_customer(name: str, email: str) -> Customer:
    from tests.hosts.splitname.models import Company, Contact

    first, middle, last = split_name(name)
    acme, _ = Company.objects.get_or_create(name="Acme Ltd")
    return Contact.objects.create(
        first_name=first, middle_name=middle, last_name=last, email=email, company=acme
    )


def _splitname_tag(customer: Customer, label: str) -> None:
    from tests.hosts.splitname.models import Tag

    customer.tags.add(Tag.objects.get_or_create(name=label)[0])


def _uuidpk_customer(name: str, email: str) -> Customer:
    from tests.hosts.uuidpk.models import Person

    return Person.objects.create(display_name=name, primary_email=email)


def _uuidpk_activity(customer: Customer, label: str) -> None:
    customer.activities.create(summary=label)


def _activities(customer: Customer) -> list[str]:
    return sorted(customer.activities.values_list("summary", flat=True))


def _owntools_customer(name: str, email: str) -> Customer:
    from tests.hosts.owntools.models import Client

    return Client.objects.create(name=name, email=email)


def _owntools_invoice(customer: Customer, label: str) -> None:
    customer.invoices.create(number=label, amount=Decimal("120.00"))


def _invoices(customer: Customer) -> list[str]:
    return sorted(customer.invoices.values_list("number", flat=True))


PROFILES: dict[str, HostProfile] = {
    "builtin": HostProfile(
        name="builtin",
        make_customer=_builtin_customer,
        name_of=operator.attrgetter("name"),
        created={"name": "Priya R Shah"},
        merge_action="merge_selected",
        name_required=False,
    ),
    "testapp": HostProfile(
        name="testapp",
        make_customer=_testapp_customer,
        name_of=operator.attrgetter("full_name"),
        created={"full_name": "Priya R Shah"},
        incomplete=({"email": "priya@example.com"}, "name"),
        add_host_data=_testapp_tag,
        host_data=_tags,
        host_relation="testapp.Contact.tags",
    ),
    "splitname": HostProfile(
        name="splitname",
        make_customer=_splitname_customer,
        name_of=lambda c: _squeeze(c.first_name, c.middle_name, c.last_name),
        created={
            "first_name": "Priya",
            "middle_name": "R",
            "last_name": "Shah",
            "company.name": "Social media",
        },
        admin_site="crm",
        admin_prefix="/crm/",
        incomplete=({"name": "Priya Shah", "email": "priya@example.com"}, "company"),
        api_creates=False,  # every contact needs a company, which the API does not set
        add_host_data=_splitname_tag,
        host_data=_tags,
        host_relation="hosts_splitname.Contact.tags",
    ),
    "uuidpk": HostProfile(
        name="uuidpk",
        make_customer=_uuidpk_customer,
        name_of=operator.attrgetter("display_name"),
        created={"display_name": "Priya R Shah", "x_handle": "priya_shah"},
        incomplete=({"email": "priya@example.com"}, "name"),
        add_host_data=_uuidpk_activity,
        host_data=_activities,
        host_relation="hosts_uuidpk.Activity.person",
        stores_x_handles=True,
    ),
    "owntools": HostProfile(
        name="owntools",
        make_customer=_owntools_customer,
        name_of=operator.attrgetter("name"),
        incomplete=({"email": "priya@example.com"}, "name"),
        add_host_data=_owntools_invoice,
        host_data=_invoices,
        host_relation="hosts_owntools.Invoice.client",
    ),
}


def active_profile() -> HostProfile:
    """The profile of the settings module the tests run under."""
    name = getattr(settings, "SOCIALCARE_TEST_HOST", None)
    if name is None:
        name = "builtin" if customer_model_name() == "socialcare.Customer" else "testapp"
    return PROFILES[name]
