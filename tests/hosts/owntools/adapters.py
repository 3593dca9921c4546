"""How socialcare deals with the billing CRM's clients (``SOCIALCARE["CUSTOMER_ADAPTER"]``): it
never creates one (only billing does), so an identity gets a client only when its e-mail address
matches one; and a customer merge moves invoices the way the host's own tool does."""

from __future__ import annotations

from typing import Any

from django.db import models

from socialcare.adapter import CustomerAdapter
from socialcare.models import SocialIdentity
from tests.hosts.owntools import tools
from tests.hosts.owntools.models import Invoice

INVOICES = f"{Invoice._meta.label}.client"


class ClientAdapter(CustomerAdapter):
    name_field = "name"
    email_field = "email"

    def new_customer_for(self, identity: SocialIdentity) -> models.Model | None:
        return None

    def merge_relations(self, source: models.Model, target: models.Model) -> dict[str, Any]:
        moved = tools.move_invoices(source, target)
        return {"moved": [{"relation": INVOICES, "count": moved}] if moved else [], "left": []}
