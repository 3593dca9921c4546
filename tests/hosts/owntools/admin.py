"""The billing CRM's admin for clients, on Django's default site: socialcare's merge action beside
the host's own tools ("merge duplicates", "delete, moving invoices")."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import ProtectedError, QuerySet, RestrictedError
from django.http import HttpRequest

from socialcare.admin import SocialIdentityInline
from socialcare.admin.customers import merge_customers
from tests.hosts.owntools import tools
from tests.hosts.owntools.models import Client, Invoice

#: What stops the host's tools: invoices, or socialcare refusing to delete a client with cases
#: (``CustomerDeleteRefused`` is a ``RestrictedError``).
REFUSALS = (tools.ClientHasInvoices, ProtectedError, RestrictedError)


@admin.action(
    description="Merge duplicates into the oldest selected client", permissions=["delete"]
)
def merge_duplicates(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> Any:
    keep, *duplicates = queryset.order_by("created", "pk")
    for duplicate in duplicates:
        try:
            moved = tools.merge_duplicate(keep, duplicate)
        except REFUSALS as exc:
            modeladmin.message_user(request, f"{duplicate}: {exc.args[0]}", messages.ERROR)
        else:
            modeladmin.message_user(
                request,
                f"{duplicate} merged into {keep} ({moved} invoice(s) moved).",
                messages.SUCCESS,
            )


@admin.action(
    description="Delete, moving invoices to the oldest selected client", permissions=["delete"]
)
def delete_moving_invoices(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> Any:
    keep, *others = queryset.order_by("created", "pk")
    for client in others:
        try:
            tools.delete_client(client, move_invoices_to=keep)
        except REFUSALS as exc:
            modeladmin.message_user(request, f"{client}: {exc.args[0]}", messages.ERROR)
        else:
            modeladmin.message_user(request, f"{client} deleted.", messages.SUCCESS)


class InvoiceInline(admin.TabularInline):
    model = Invoice
    extra = 0


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "created"]
    search_fields = ["name", "email"]
    inlines = [InvoiceInline, SocialIdentityInline]
    actions = [merge_customers, merge_duplicates, delete_moving_invoices]


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ["number", "client", "amount"]
