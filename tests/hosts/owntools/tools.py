"""The billing CRM's own tools for duplicates and deletes. Each runs in one transaction: a step
that fails (an invoice, or socialcare refusing to delete a client who has cases) undoes the
others, so no invoice is ever moved off a client that is then not deleted."""

from __future__ import annotations

from django.db import transaction

from tests.hosts.owntools.models import Client, Invoice


class ClientHasInvoices(Exception):
    """The client still has invoices and no client to move them to was given."""


def move_invoices(source: Client, target: Client) -> int:
    """Move ``source``'s invoices to ``target``; how many moved."""
    return Invoice.objects.filter(client=source).update(client=target)


def merge_duplicate(keep: Client, duplicate: Client) -> int:
    """Move ``duplicate``'s invoices to ``keep`` and delete ``duplicate``; how many moved."""
    if keep.pk == duplicate.pk:
        raise ValueError("A client cannot be merged into itself.")
    with transaction.atomic():
        moved = move_invoices(duplicate, keep)
        duplicate.delete()
    return moved


def delete_client(client: Client, *, move_invoices_to: Client | None = None) -> int:
    """Delete ``client``; its invoices move to ``move_invoices_to``, and without one a client
    with invoices is refused (``ClientHasInvoices``). How many invoices moved."""
    with transaction.atomic():
        invoices = Invoice.objects.filter(client=client).count()
        if invoices and move_invoices_to is None:
            raise ClientHasInvoices(
                f"{client} has {invoices} invoice(s); pick a client to move them to."
            )
        moved = move_invoices(client, move_invoices_to) if invoices else 0
        client.delete()
    return moved
