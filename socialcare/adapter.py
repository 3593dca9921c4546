"""The customer adapter: the host's one point of control over its customer model.

Like django-allauth's account adapter, it is a class with overridable methods, named by a setting
(``SOCIALCARE["CUSTOMER_ADAPTER"]``, default :class:`CustomerAdapter`). socialcare never reads
or writes the customer model's fields itself: it asks the adapter for a customer's name and
e-mail, what to search, how to write a name from the API, whether and how to create a customer
for a new social identity, which existing customer an identity belongs to, and what a merge does
with the host's own data. docs/integration.md shows three adapters.

    from socialcare.adapter import get_customer_adapter
    get_customer_adapter().get_name(customer)
"""

from __future__ import annotations

import contextlib
import functools
import operator
from typing import TYPE_CHECKING, Any

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, ValidationError
from django.db import models
from django.db.models import Q
from django.utils.module_loading import import_string

from socialcare.exceptions import SocialCareError

if TYPE_CHECKING:
    from socialcare.models import SocialIdentity


class CustomerNotCreated(SocialCareError):
    """The adapter tried to create a customer for an identity and could not (a required field it
    cannot fill, the host's own validation). The message says why; the case stays without one."""

    code = "customer_not_created"


class AmbiguousCustomer(SocialCareError):
    """More than one customer matches an identity: linking is left to an agent."""

    code = "customer_ambiguous"


def split_name(name: str) -> tuple[str, str, str]:
    """``"Priya R. Shah"`` -> ``("Priya", "R.", "Shah")``; one word is a first name, two are first
    and last, and anything between the first and last words is the middle name."""
    words = name.split()
    if not words:
        return "", "", ""
    if len(words) == 1:
        return words[0], "", ""
    return words[0], " ".join(words[1:-1]), words[-1]


class CustomerAdapter:
    """Serves socialcare's own ``Customer`` and any model whose name and e-mail are one field, a
    property or a method each (``SOCIALCARE["CUSTOMER_NAME_FIELD"]`` / ``CUSTOMER_EMAIL_FIELD``,
    or the class attributes below). Subclass it and override methods for anything else.
    """

    #: Attribute holding the display name: a model field, a property or a method. None: the
    #: ``CUSTOMER_NAME_FIELD`` setting.
    name_field: str | None = None
    #: Attribute holding the e-mail address (same rules). None: ``CUSTOMER_EMAIL_FIELD``.
    email_field: str | None = None
    #: Platform key -> the customer model's field that stores that platform's handle (e.g.
    #: ``{"x": "twitter_handle"}``): an identity with that handle is matched to the customer.
    handle_fields: dict[str, str] = {}
    #: ORM lookups (on the customer model) that the admin's and the API's searches look in.
    #: None: the name and e-mail attributes that are model fields.
    search_fields: list[str] | None = None

    # The model --------------------------------------------------------------------------------

    @property
    def model(self) -> type[models.Model]:
        from socialcare.models import get_customer_model

        return get_customer_model()

    @property
    def manager(self) -> models.Manager:
        return self.model._default_manager

    def _setting(self, attribute: str, setting: str) -> str:
        from socialcare.conf import app_settings

        return getattr(self, attribute) or getattr(app_settings, setting)

    def name_attribute(self) -> str:
        return self._setting("name_field", "CUSTOMER_NAME_FIELD")

    def email_attribute(self) -> str:
        return self._setting("email_field", "CUSTOMER_EMAIL_FIELD")

    def concrete_field(self, name: str) -> models.Field | None:
        """The model field called ``name``, or None when it is a property, a method or absent."""
        try:
            field = self.model._meta.get_field(name)
        except FieldDoesNotExist:
            return None
        return field if getattr(field, "concrete", False) else None

    # Reading ----------------------------------------------------------------------------------

    def _read(self, customer: models.Model, name: str) -> str:
        value = getattr(customer, name, "")
        if callable(value):
            value = value()
        return "" if value is None else str(value)

    def get_name(self, customer: models.Model) -> str:
        """The customer's name ("" when the record has none)."""
        return self._read(customer, self.name_attribute())

    def display_name(self, customer: models.Model) -> str:
        """The name agents see: :meth:`get_name`, else ``str(customer)``."""
        return self.get_name(customer) or str(customer)

    def get_email(self, customer: models.Model) -> str:
        """The address a conversation taken private is e-mailed to; "" when there is none."""
        return self._read(customer, self.email_attribute())

    def get_search_fields(self) -> list[str]:
        """ORM paths (on the customer model) searched with ``icontains``."""
        if self.search_fields is not None:
            return list(self.search_fields)
        names = (self.name_attribute(), self.email_attribute())
        return [name for name in names if self.concrete_field(name) is not None]

    def search_filter(self, term: str, prefix: str = "") -> Q:
        """A ``Q`` matching customers (or, with ``prefix="customer__"``, rows pointing at them)
        with ``term`` in any search field. Empty (matches nothing) when there are none."""
        query = Q(pk__in=[])
        for path in self.get_search_fields():
            query |= Q(**{f"{prefix}{path}__icontains": term})
        return query

    # Writing ----------------------------------------------------------------------------------

    def _write(self, customer: models.Model, name: str, value: str, label: str) -> None:
        field = self.concrete_field(name)
        attribute = getattr(type(customer), name, None)
        if field is None and not (isinstance(attribute, property) and attribute.fset):
            raise ValidationError(
                {label: f"The customer's {label} ({name}) cannot be written from socialcare."}
            )
        setattr(customer, name, value)

    def set_name(self, customer: models.Model, name: str) -> None:
        """Write the name an agent or the API gave (not saved)."""
        self._write(customer, self.name_attribute(), name, "name")

    def set_email(self, customer: models.Model, email: str) -> None:
        """Write the e-mail address the API gave (not saved)."""
        self._write(customer, self.email_attribute(), email, "email")

    def field_label(self, field_name: str) -> str:
        """What the API calls a model field in its errors: ``name`` and ``email`` for theirs."""
        if field_name == self.name_attribute():
            return "name"
        if field_name == self.email_attribute():
            return "email"
        return field_name

    def validate(self, customer: models.Model) -> None:
        """The model's own validation (``full_clean``): a ``ValidationError`` whose keys are the
        API's names for the fields (``name``, ``email``, or the host's field names)."""
        try:
            customer.full_clean()
        except ValidationError as exc:
            if not hasattr(exc, "error_dict"):
                raise
            errors: dict[str, list[str]] = {}
            for field_name, problems in exc.message_dict.items():
                key = "non_field_errors" if field_name == "__all__" else field_name
                errors.setdefault(self.field_label(key), []).extend(problems)
            raise ValidationError(errors) from exc

    def save_customer(self, customer: models.Model) -> None:
        """Store a customer socialcare wrote (created or changed), after :meth:`validate`."""
        customer.save()

    def erased_values(self, customer: models.Model, label: str) -> dict[str, Any]:
        """Column -> value that erases the customer's personal data (a privacy erasure): the
        name becomes ``label``, the e-mail is emptied, and on socialcare's own model the phone
        and notes too. Only model fields; a host erases its other fields by overriding this or
        in a ``customer_erased`` receiver."""
        from socialcare.models import AbstractCustomer

        values: dict[str, Any] = {}
        name = self.concrete_field(self.name_attribute())
        if name is not None:
            values[name.attname] = label[: getattr(name, "max_length", None) or None]
        email = self.concrete_field(self.email_attribute())
        if email is not None:
            values[email.attname] = ""
        if isinstance(customer, AbstractCustomer):
            values.update(phone="", notes="")
        return values

    # Customers for identities -----------------------------------------------------------------

    def new_customer_for(self, identity: SocialIdentity) -> models.Model | None:
        """An unsaved customer for ``identity`` (called when it opens its first case and
        ``SOCIALCARE["CUSTOMERS_FOR_CASES"]`` is ``"create"``), or None to create none. The
        default fills the name from the display name (or handle) and, for an e-mail identity, the
        address. A host with required fields sets them here."""
        customer = self.model()
        name = identity.display_name or identity.handle or identity.external_id
        # A name socialcare cannot write: the host's own default stands.
        with contextlib.suppress(ValidationError):
            self.set_name(customer, name)
        if identity.platform == "email" and self.concrete_field(self.email_attribute()):
            self.set_email(customer, identity.external_id)
        handle_field = self.handle_fields.get(identity.platform)
        if handle_field and identity.handle:
            setattr(customer, handle_field, identity.handle)
        return customer

    def create_customer_for(self, identity: SocialIdentity) -> models.Model | None:
        """Create (validated, saved) a customer for ``identity``; None when
        :meth:`new_customer_for` declines. ``CustomerNotCreated`` names what the model refused."""
        customer = self.new_customer_for(identity)
        if customer is None:
            return None
        try:
            self.validate(customer)
        except ValidationError as exc:
            problems = "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
            )
            raise CustomerNotCreated(
                f"No customer record was created for {identity}: the customer model refused it "
                f"({problems})."
            ) from exc
        self.save_customer(customer)
        return customer

    def match_customer(self, identity: SocialIdentity) -> models.Model | None:
        """The existing customer ``identity`` belongs to, or None. The default matches an e-mail
        identity's address to the e-mail field, and a handle to the field ``handle_fields``
        names for its platform, among customers not merged away. More than one match raises
        ``AmbiguousCustomer`` (an agent links it)."""
        conditions: list[Q] = []
        email_field = self.concrete_field(self.email_attribute())
        if identity.platform == "email" and email_field is not None and identity.external_id:
            conditions.append(Q(**{f"{email_field.name}__iexact": identity.external_id}))
        handle_field = self.handle_fields.get(identity.platform)
        handle = identity.handle.lstrip("@")
        if handle_field and handle:
            conditions.append(Q(**{f"{handle_field}__iexact": handle}))
            conditions.append(Q(**{f"{handle_field}__iexact": "@" + handle}))
        if not conditions:
            return None
        query = functools.reduce(operator.or_, conditions)
        found = list(self.live_customers().filter(query).order_by("pk")[:2])
        if len(found) > 1:
            raise AmbiguousCustomer(
                f"More than one customer matches {identity}; link it to the right one by hand."
            )
        return found[0] if found else None

    def live_customers(self) -> models.QuerySet:
        """Customers not merged into another (what pickers and matching offer)."""
        from socialcare.models.case import UNMERGED_CUSTOMERS

        return self.manager.complex_filter(UNMERGED_CUSTOMERS)

    # Merging ----------------------------------------------------------------------------------

    def merge_relations(self, source: models.Model, target: models.Model) -> dict[str, Any]:
        """Move the host's own data from the merged ``source`` to the kept ``target`` (called
        inside the merge's transaction, after identities and cases moved). Returns
        ``{"moved": [...], "left": [...]}`` rows (``relation``, ``count``, ``reason``) for the
        audit record. The default moves foreign keys, many-to-many rows and generic relations
        where that breaks no unique constraint, and reports the rest as left."""
        from socialcare.services.customer_merge import move_customer_relations

        return move_customer_relations(source, target)


@functools.cache
def _adapter_class(path: str | type) -> type[CustomerAdapter]:
    adapter: Any = path
    if isinstance(path, str):
        try:
            adapter = import_string(path)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"SOCIALCARE['CUSTOMER_ADAPTER'] = {path!r} cannot be imported: {exc}"
            ) from exc
    if not (isinstance(adapter, type) and issubclass(adapter, CustomerAdapter)):
        raise ImproperlyConfigured(
            f"SOCIALCARE['CUSTOMER_ADAPTER'] = {path!r} is not a subclass of "
            "socialcare.adapter.CustomerAdapter."
        )
    return adapter


def get_customer_adapter() -> CustomerAdapter:
    """The configured adapter (``SOCIALCARE["CUSTOMER_ADAPTER"]``): a new instance per call,
    so adapters may keep per-call state."""
    from socialcare.conf import app_settings

    return _adapter_class(app_settings.CUSTOMER_ADAPTER)()
