"""The CRM's admin for people, on Django's default site, with socialcare's identity inline and
merge action."""

from __future__ import annotations

from django.contrib import admin

from socialcare.admin import SocialIdentityInline
from socialcare.admin.customers import merge_customers
from tests.hosts.uuidpk.models import Activity, Person


class ActivityInline(admin.TabularInline):
    model = Activity
    extra = 0


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ["display_name", "primary_email", "x_handle"]
    search_fields = ["display_name", "primary_email", "x_handle"]
    inlines = [ActivityInline, SocialIdentityInline]
    actions = [merge_customers]
