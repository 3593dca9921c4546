"""The CRM's admin, on its own site: contacts (with socialcare's identity inline and merge
action), companies, tags and deals. socialcare registers itself on the same site through
``SOCIALCARE["ADMIN_SITE"]``."""

from __future__ import annotations

from django.contrib import admin

from socialcare.admin import SocialIdentityInline
from socialcare.admin.customers import merge_customers
from tests.hosts.splitname.models import Company, Contact, Deal, Tag
from tests.hosts.splitname.sites import crm_site


class DealInline(admin.TabularInline):
    model = Deal
    extra = 0


@admin.register(Contact, site=crm_site)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["__str__", "email", "company"]
    list_filter = ["company", "tags"]
    search_fields = ["first_name", "last_name", "email"]
    filter_horizontal = ["tags"]
    inlines = [DealInline, SocialIdentityInline]
    actions = [merge_customers]


@admin.register(Company, site=crm_site)
class CompanyAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(Tag, site=crm_site)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(Deal, site=crm_site)
class DealAdmin(admin.ModelAdmin):
    list_display = ["title", "contact"]
