"""A host CRM's own customer model, swapped in by tests/settings_swapped.py."""

from django.db import models


class Contact(models.Model):
    full_name = models.CharField(max_length=200)
    email_address = models.EmailField(blank=True)
    account_number = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["full_name"]

    def __str__(self) -> str:
        return self.full_name
