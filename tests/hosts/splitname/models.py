"""The CRM's contacts: a name in three parts, a company every contact must belong to, tags, and
deals. ``Contact`` is the customer model (``tests.hosts.settings_splitname``)."""

from __future__ import annotations

from django.db import models


class Company(models.Model):
    name = models.CharField(max_length=200, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "companies"

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    first_name = models.CharField(max_length=100)
    middle_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True)
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="contacts")
    tags = models.ManyToManyField(Tag, blank=True, related_name="contacts")

    class Meta:
        ordering = ["last_name", "first_name", "pk"]

    def __str__(self) -> str:
        # The CRM's own lists sort and show "Last, First Middle"; socialcare shows full_name.
        given = " ".join(part for part in (self.first_name, self.middle_name) if part)
        return f"{self.last_name}, {given}" if self.last_name else given

    @property
    def full_name(self) -> str:
        return " ".join(
            part for part in (self.first_name, self.middle_name, self.last_name) if part
        )


class Deal(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="deals")
    title = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.title
