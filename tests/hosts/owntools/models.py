"""The billing CRM's clients and their invoices. An invoice protects its client from deletion:
the host's tools (``tools.py``) move invoices first. ``Client`` is the customer model
(``tests.hosts.settings_owntools``)."""

from __future__ import annotations

from django.db import models


class Client(models.Model):
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class Invoice(models.Model):
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(max_length=20, unique=True)
    amount = models.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return self.number
