"""The demo CRM's customer admin, with socialcare's identities attached (what a host CRM does)."""

from django.contrib import admin

from project.crm.models import Company, CustomerProfile
from socialcare.admin import CustomerAdmin, SocialIdentityInline
from socialcare.admin.inlines import CustomerCaseInline
from socialcare.models import get_customer_model


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ["name", "industry", "plan"]
    list_filter = ["plan"]
    search_fields = ["name"]


class CustomerProfileInline(admin.StackedInline):
    model = CustomerProfile
    can_delete = False
    autocomplete_fields = ["company"]


class CRMCustomerAdmin(CustomerAdmin):
    inlines = [CustomerProfileInline, SocialIdentityInline, CustomerCaseInline]


Customer = get_customer_model()
admin.site.unregister(Customer)
admin.site.register(Customer, CRMCustomerAdmin)
