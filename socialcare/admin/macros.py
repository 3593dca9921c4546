"""Macros in admin: a macro and its ordered actions, one inline row per action (no JSON).

Admins (``add/change/delete_macro``) edit them; agents and supervisors see the macros they may
run (``services.macros.usable_macros``), read-only, and run them from a case page or the inbox.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from socialcare.admin.deletion import TeamRuleDeletionMixin
from socialcare.models import MacroAction
from socialcare.services.macros import usable_macros


class MacroActionInline(admin.TabularInline):
    model = MacroAction
    extra = 1
    ordering = ["position", "pk"]
    fields = [
        "position",
        "kind",
        "template",
        "visibility",
        "status",
        "priority",
        "tags",
        "team",
        "assignee",
        "text",
    ]
    raw_id_fields = ["assignee"]
    verbose_name_plural = "actions (run in order; fill in the field the action needs)"


class MacroAdmin(TeamRuleDeletionMixin, admin.ModelAdmin):
    list_display = ["name", "is_active", "action_count", "team_list", "updated_at"]
    list_filter = ["is_active", "teams", "groups"]
    search_fields = ["name", "description"]
    filter_horizontal = ["teams", "groups"]
    fields = ["name", "description", "is_active", "teams", "groups"]
    inlines = [MacroActionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request).annotate(n_actions=Count("actions"))
        if not request.user.has_perm("socialcare.change_macro"):
            # Who may only run macros sees the ones offered to them, not other teams' macros.
            queryset = queryset.filter(pk__in=usable_macros(request.user).values("pk"))
        return queryset.prefetch_related("teams")

    @admin.display(description="actions", ordering="n_actions")
    def action_count(self, obj: Any) -> int:
        return obj.n_actions

    @admin.display(description="teams")
    def team_list(self, obj: Any) -> str:
        return ", ".join(t.name for t in obj.teams.all()) or "all"
