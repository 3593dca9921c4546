"""Case admin: every edit goes through the case services, so each one lands in the timeline."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from socialcare.admin.case_view import CaseWorkspaceMixin
from socialcare.admin.merge import merge_action
from socialcare.conf import app_settings
from socialcare.models import Case
from socialcare.services import cases as case_services


@admin.register(Case)
class CaseAdmin(CaseWorkspaceMixin, admin.ModelAdmin):
    list_display = [
        "reference",
        "subject",
        "who",
        "channel",
        "status",
        "priority",
        "team",
        "assignee",
        "first_response_due_at",
        "created_at",
    ]
    list_display_links = ["reference", "subject"]
    list_filter = [
        "status",
        "priority",
        "visibility",
        "channel__platform",
        "team",
        "incident",
        "tags",
    ]
    list_select_related = ["customer", "identity", "channel", "team", "assignee"]
    ordering = ["-created_at", "-pk"]
    show_full_result_count = False
    list_per_page = 50
    actions = [
        "assign_to_me",
        "mark_open",
        "mark_waiting",
        "mark_resolved",
        "mark_closed",
        "open_incident",
        "merge_selected",
    ]

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return [
            "=reference",
            "subject",
            "identity__handle",
            "identity__display_name",
            f"customer__{app_settings.CUSTOMER_NAME_FIELD}",
            f"customer__{app_settings.CUSTOMER_EMAIL_FIELD}",
        ]

    @admin.display(description="customer")
    def who(self, obj: Case) -> str:
        if obj.customer_id:
            return str(obj.customer)
        return str(obj.identity) if obj.identity_id else "—"

    # Actions -----------------------------------------------------------------------------------

    def _each(self, request: HttpRequest, queryset: QuerySet, fn: Any, done: str) -> None:
        ok = 0
        for case in queryset:
            try:
                fn(case)
                ok += 1
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.WARNING)
        if ok:
            self.message_user(request, f"{ok} case(s) {done}.", messages.SUCCESS)

    @admin.action(description="Assign selected cases to me", permissions=["change"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(
            request,
            queryset,
            lambda c: case_services.assign_case(c, request.user, actor=request.user),
            "assigned to you",
        )

    def _status_action(self, request: HttpRequest, queryset: QuerySet, status: str) -> None:
        self._each(
            request,
            queryset,
            lambda c: case_services.change_status(c, status, actor=request.user),
            f"marked {Case.Status(status).label.lower()}",
        )

    @admin.action(description="Mark selected cases open", permissions=["change"])
    def mark_open(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._status_action(request, queryset, Case.Status.OPEN)

    @admin.action(description="Mark selected cases waiting on customer", permissions=["change"])
    def mark_waiting(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._status_action(request, queryset, Case.Status.WAITING_ON_CUSTOMER)

    @admin.action(description="Mark selected cases resolved", permissions=["change"])
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._status_action(request, queryset, Case.Status.RESOLVED)

    @admin.action(description="Mark selected cases closed", permissions=["change"])
    def mark_closed(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._status_action(request, queryset, Case.Status.CLOSED)

    @admin.action(description="Open an incident for the selected cases", permissions=["change"])
    def open_incident(self, request: HttpRequest, queryset: QuerySet) -> None:
        from socialcare.services.incidents import link_cases, open_incident_from_case

        cases = list(queryset.filter(merged_into__isnull=True))
        if not cases:
            return
        incident = open_incident_from_case(cases[0], actor=request.user)
        link_cases(incident, cases[1:], actor=request.user, move=True)
        self.message_user(
            request, f"Incident #{incident.pk} opened with {len(cases)} case(s).", messages.SUCCESS
        )

    merge_selected = merge_action(
        case_services.merge_cases, description="Merge selected cases", permission="merge"
    )

    def has_merge_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("socialcare.merge_case")
