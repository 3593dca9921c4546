"""The host CRM's own admin for its Contact, with socialcare's identity inline and customer merge
action attached when Contact is the customer model."""

from django.conf import settings
from django.contrib import admin

from socialcare.admin import SocialIdentityInline
from socialcare.admin.customers import merge_customers
from tests.testapp.models import Contact

IS_CUSTOMER = getattr(settings, "SOCIALCARE_CUSTOMER_MODEL", "") == "testapp.Contact"


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["full_name", "email_address", "account_number"]
    search_fields = ["full_name", "email_address"]
    inlines = [SocialIdentityInline] if IS_CUSTOMER else []
    actions = [merge_customers] if IS_CUSTOMER else []
