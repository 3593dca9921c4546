"""What a support lead configures: teams, SLA policies, business hours, reply templates, tags."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from socialcare.admin.deletion import TeamRuleDeletionMixin
from socialcare.admin.inlines import TeamMembershipInline
from socialcare.models import BusinessHours
from socialcare.services.access import case_filter, visible_tags


class TeamAdmin(TeamRuleDeletionMixin, admin.ModelAdmin):
    ordering = ["name", "pk"]  # its counts group rows: Meta.ordering no longer applies
    list_display = ["name", "email", "member_count", "calendar", "auto_assign"]
    search_fields = ["name"]
    inlines = [TeamMembershipInline]
    autocomplete_fields = ["calendar"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(n_members=Count("memberships"))

    @admin.display(description="members", ordering="n_members")
    def member_count(self, obj: Any) -> int:
        return obj.n_members


class BusinessHoursInline(admin.TabularInline):
    model = BusinessHours
    extra = 1


class BusinessCalendarAdmin(TeamRuleDeletionMixin, admin.ModelAdmin):
    list_display = ["name", "timezone", "holiday_country", "holiday_subdivision"]
    search_fields = ["name"]
    inlines = [BusinessHoursInline]


class SLAPolicyAdmin(TeamRuleDeletionMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "order",
        "is_active",
        "priority",
        "platform",
        "visibility",
        "channel",
        "first_response_minutes",
        "next_response_minutes",
        "resolution_minutes",
        "calendar",
    ]
    list_editable = ["order", "is_active"]
    list_filter = ["is_active", "priority", "platform", "visibility"]
    search_fields = ["name"]
    autocomplete_fields = ["channel", "calendar"]
    fieldsets = [
        (None, {"fields": ["name", "order", "is_active"]}),
        (
            "Applies when (empty: any)",
            {"fields": ["priority", "platform", "visibility", "channel"]},
        ),
        (
            "Targets",
            {
                "fields": [
                    "first_response_minutes",
                    "next_response_minutes",
                    "resolution_minutes",
                    "calendar",
                ]
            },
        ),
    ]


class ReplyTemplateAdmin(TeamRuleDeletionMixin, admin.ModelAdmin):
    list_display = ["name", "shortcut", "visibility", "platform", "language", "is_active"]
    list_filter = ["is_active", "visibility", "platform", "language"]
    search_fields = ["name", "shortcut", "text"]


class TagAdmin(TeamRuleDeletionMixin, admin.ModelAdmin):
    ordering = ["name", "pk"]  # its counts group rows: Meta.ordering no longer applies
    list_display = ["name", "case_count"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # A tag only other teams use is theirs; the count is of the cases the reader may see.
        user = request.user
        return visible_tags(user, super().get_queryset(request)).annotate(
            n_cases=Count("cases", filter=case_filter(user, "cases__"), distinct=True)
        )

    @admin.display(description="cases", ordering="n_cases")
    def case_count(self, obj: Any) -> int:
        return obj.n_cases
