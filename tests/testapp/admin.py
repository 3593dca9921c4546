"""The host CRM's own admin for its Contact, with socialcare's identity inline attached."""

from django.conf import settings
from django.contrib import admin

from socialcare.admin import SocialIdentityInline
from tests.testapp.models import Contact


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["full_name", "email_address", "account_number"]
    search_fields = ["full_name", "email_address"]
    inlines = (
        [SocialIdentityInline]
        if getattr(settings, "SOCIALCARE_CUSTOMER_MODEL", "") == "testapp.Contact"
        else []
    )
