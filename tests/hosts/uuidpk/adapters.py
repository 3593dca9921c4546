"""How socialcare reads and writes the CRM's people (``SOCIALCARE["CUSTOMER_ADAPTER"]``): the
default adapter, told the host's field names and where it keeps X handles."""

from __future__ import annotations

from socialcare.adapter import CustomerAdapter


class PersonAdapter(CustomerAdapter):
    name_field = "display_name"
    email_field = "primary_email"
    handle_fields = {"x": "x_handle"}
    search_fields = ["display_name", "primary_email", "x_handle"]
