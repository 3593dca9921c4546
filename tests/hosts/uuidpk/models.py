"""The CRM's people, keyed by UUID, and what the CRM logs about them. ``Person`` is the customer
model (``tests.hosts.settings_uuidpk``)."""

from __future__ import annotations

import uuid

from django.db import models


class Person(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    display_name = models.CharField(max_length=200)
    primary_email = models.EmailField(blank=True)
    x_handle = models.CharField("X handle", max_length=50, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["display_name", "id"]
        verbose_name_plural = "people"

    def __str__(self) -> str:
        return self.display_name


class Activity(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="activities")
    summary = models.CharField(max_length=200)

    class Meta:
        verbose_name_plural = "activities"

    def __str__(self) -> str:
        return self.summary
