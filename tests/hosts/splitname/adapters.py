"""How socialcare reads and writes the CRM's contacts (``SOCIALCARE["CUSTOMER_ADAPTER"]``)."""

from __future__ import annotations

from typing import Any

from django.db import models

from socialcare.adapter import CustomerAdapter, split_name
from socialcare.models import SocialIdentity
from tests.hosts.splitname.models import Company, Contact

#: The company the CRM files contacts under when they first write on social media.
SOCIAL_MEDIA = "Social media"
#: The fields socialcare's one ``name`` is written to.
NAME_PARTS = ("first_name", "middle_name", "last_name")


class ContactAdapter(CustomerAdapter):
    name_field = "full_name"
    email_field = "email"
    search_fields = ["first_name", "last_name", "email"]

    def set_name(self, customer: models.Model, name: str) -> None:
        customer.first_name, customer.middle_name, customer.last_name = split_name(name)

    def field_label(self, field_name: str) -> str:
        return "name" if field_name in NAME_PARTS else super().field_label(field_name)

    def new_customer_for(self, identity: SocialIdentity) -> Contact | None:
        contact = super().new_customer_for(identity)
        if contact is not None:
            contact.company, _ = Company.objects.get_or_create(name=SOCIAL_MEDIA)
        return contact

    def erased_values(self, customer: models.Model, label: str) -> dict[str, Any]:
        values = super().erased_values(customer, label)
        values.update(first_name=label[:100], middle_name="", last_name="")
        return values
