"""A host CRM's own models. ``Contact`` is the customer model swapped in by
tests/settings_swapped.py; the others are the CRM's data around it, of every kind a customer merge
or delete meets: many-to-many tags, a company it belongs to (deleting a company deletes its
contacts), deals and subscriptions pointing at it (one subscription per newsletter), a one-to-one
profile, campaigns listing it, generic notes."""

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    def __str__(self) -> str:
        return self.name


class Company(models.Model):
    name = models.CharField(max_length=200)

    class Meta:
        verbose_name_plural = "companies"

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    full_name = models.CharField(max_length=200)
    email_address = models.EmailField(blank=True)
    account_number = models.CharField(max_length=20, blank=True)
    phone = models.CharField(max_length=30, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="contacts")
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.CASCADE, related_name="contacts"
    )
    birthday = models.DateField(null=True, blank=True)
    credit = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    photo = models.FileField(upload_to="contacts/", blank=True)
    preferences = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["full_name"]

    def __str__(self) -> str:
        return self.full_name


class Deal(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="deals")
    title = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.title


class Subscription(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="subscriptions")
    newsletter = models.CharField(max_length=50)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "newsletter"], name="one_per_newsletter")
        ]

    def __str__(self) -> str:
        return self.newsletter


class ContactProfile(models.Model):
    contact = models.OneToOneField(Contact, on_delete=models.CASCADE, related_name="profile")
    tier = models.CharField(max_length=20, default="standard")

    def __str__(self) -> str:
        return f"profile of {self.contact}"


class Campaign(models.Model):
    name = models.CharField(max_length=100)
    contacts = models.ManyToManyField(Contact, blank=True, related_name="campaigns")

    def __str__(self) -> str:
        return self.name


class Note(models.Model):
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.CharField(max_length=64)
    subject = GenericForeignKey("content_type", "object_id")
    text = models.TextField()

    def __str__(self) -> str:
        return self.text
