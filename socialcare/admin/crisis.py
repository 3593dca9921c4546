"""Crisis escalation in admin: playbooks and their steps, detectors, incidents (their page is the
console in ``socialcare.admin.incident_console``), incident steps, SLA alerts."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from socialcare.admin.deletion import TeamRuleDeletionMixin
from socialcare.admin.incident_console import IncidentConsoleMixin
from socialcare.admin.viewer import (
    ViewerAdminMixin,
    attach,
    hidden_text,
    viewer_for,
    viewer_of,
)
from socialcare.models import (
    Detector,
    Incident,
    IncidentStep,
    PlaybookStep,
)
from socialcare.services import incidents as incident_services
from socialcare.services.access import Viewer, case_filter
from socialcare.services.playbook_steps import kind_choices
from socialcare.services.redaction import (
    incident_label,
    incidents_titled,
    shown_incident,
)
from socialcare.services.warm_up import warm_up


class PlaybookStepForm(forms.ModelForm):
    class Meta:
        model = PlaybookStep
        fields = ["order", "title", "kind", "automatic", "due_after_minutes", "config"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"] = forms.ChoiceField(choices=kind_choices(), label="What it does")


class PlaybookStepInline(admin.TabularInline):
    model = PlaybookStep
    form = PlaybookStepForm
    extra = 1


class PlaybookAdmin(TeamRuleDeletionMixin, admin.ModelAdmin):
    ordering = ["name", "pk"]  # its counts group rows: Meta.ordering no longer applies
    list_display = ["name", "severity", "is_active", "step_count"]
    list_filter = ["severity", "is_active"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [PlaybookStepInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(n_steps=Count("steps"))

    @admin.display(description="steps", ordering="n_steps")
    def step_count(self, obj: Any) -> int:
        return obj.n_steps


class DetectorAdmin(TeamRuleDeletionMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "is_active",
        "threshold",
        "window_minutes",
        "playbook",
        "last_fired_at",
        "readiness",
    ]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "watch_words"]
    autocomplete_fields = ["channel", "playbook"]
    readonly_fields = ["last_fired_at", "counting_since", "readiness"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "is_active", "playbook"]}),
        ("Scope", {"fields": ["platform", "channel"]}),
        (
            "When it fires",
            {
                "fields": [
                    "threshold",
                    "window_minutes",
                    "spike_factor",
                    "baseline_hours",
                    "negative_below",
                    "watch_words",
                    "cooldown_minutes",
                    "last_fired_at",
                ]
            },
        ),
        ("Warm-up", {"fields": ["counting_since", "readiness"]}),
    ]

    @admin.display(description="can fire")
    def readiness(self, obj: Detector) -> str:
        """Ready, or warming up until when (docs/crisis.md, "Warm-up")."""
        return warm_up(obj).summary if obj.pk else "—"


def _incident_title(obj: Incident) -> str:
    """The incident's title as the reader of the page may read it (``services.access``)."""
    viewer = viewer_of(obj)
    return viewer.incident_title(obj) if viewer is not None else f"Incident #{obj.pk}"


class IncidentAdmin(
    TeamRuleDeletionMixin, ViewerAdminMixin, IncidentConsoleMixin, admin.ModelAdmin
):
    """Incidents are shared by every team, but what in them comes from a case (the title of an
    incident escalated from a case, its evidence, its timeline) is shown per reader: a reader
    who does not see every case reads the title as ``services.access.Viewer`` renders it, in
    the list, the page, its title and breadcrumbs, and cannot edit it."""

    list_display = [
        "__str__",
        "severity",
        "status",
        "playbook",
        "case_count",
        "requires_approval",
        "opened_at",
    ]
    list_filter = ["status", "severity", "playbook"]
    search_fields = ["title"]
    # The model's ordering, said again: the list's COUNT annotation (a GROUP BY) drops it.
    ordering = ["-opened_at", "-pk"]
    raw_id_fields = ["commander"]
    readonly_fields = [
        "playbook",
        "detector",
        "scope",
        "requires_approval",
        "opened_by",
        "opened_at",
        "contained_at",
        "resolved_at",
    ]
    fields = ["title", "severity", "commander", *readonly_fields]
    actions = ["mark_contained", "mark_resolved"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .select_related("playbook", "detector", "opened_by")
            .annotate(n_cases=Count("cases"))
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # incidents open from detectors or from a case

    # What a reader who does not see every case reads -------------------------------------------
    def prepare_rows(self, viewer: Viewer, rows: list[Any]) -> list[Any]:
        """The list's rows carry the title this reader reads (``__str__``: the first column,
        the checkboxes' labels)."""
        rows = super().prepare_rows(viewer, viewer.prepare_incidents(rows))
        return [shown_incident(viewer, row) for row in rows]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list:
        fields = list(super().get_fields(request, obj))
        if viewer_for(request).sees_all:
            return fields
        return ["shown_title" if f == "title" else f for f in fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list:
        fields = list(super().get_readonly_fields(request, obj))
        return fields if viewer_for(request).sees_all else ["shown_title", *fields]

    @admin.display(description="title")
    def shown_title(self, obj: Incident) -> str:
        return _incident_title(obj)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        viewer = viewer_for(request)
        # Django's autocomplete names each result with str(): it lists only the incidents
        # whose title this reader reads as it is.
        autocomplete = getattr(request.resolver_match, "url_name", "") == "autocomplete"
        if viewer.sees_all or not (search_term.strip() or autocomplete):
            return super().get_search_results(request, queryset, search_term)
        # The title as this reader reads it: a hidden case's words do not find its incident.
        found = incidents_titled(viewer, search_term, queryset, unredacted=autocomplete)
        return queryset.filter(pk__in=found), False

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        viewer = viewer_for(request)
        incident = None if viewer.sees_all else self.get_object(request, unquote(object_id))
        if incident is not None:
            label = incident_label(viewer, incident)
            extra_context = {
                "title": f"Change history: {label}",
                "object": shown_incident(viewer, incident),
                **(extra_context or {}),
            }
        return super().history_view(request, object_id, extra_context)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        viewer = viewer_for(request)
        incident = None if viewer.sees_all else self.get_object(request, unquote(object_id))
        if incident is not None:
            extra_context = {
                "object": shown_incident(viewer, incident),
                # Django 6.1's page names the object by this one.
                "escaped_object": incident_label(viewer, incident),
                **(extra_context or {}),
            }
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request: HttpRequest, obj: Incident) -> None:
        # For the message that says it was deleted (``response_delete``).
        request.socialcare_deleted = incident_label(viewer_for(request), obj)  # type: ignore[attr-defined]
        super().delete_model(request, obj)

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: Any) -> HttpResponse:
        shown = getattr(request, "socialcare_deleted", obj_display)
        return super().response_delete(request, shown, obj_id)

    def response_change(self, request: HttpRequest, obj: Incident) -> HttpResponse:
        # "The incident “…” was changed successfully." names it as the reader reads it.
        return super().response_change(request, shown_incident(viewer_for(request), obj))

    # The admin's log names the incident too ("Recent actions").
    def log_change(self, request: HttpRequest, obj: Incident, message: Any) -> Any:
        return super().log_change(request, shown_incident(viewer_for(request), obj), message)

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        viewer = viewer_for(request)
        if viewer.sees_all:
            return super().log_deletions(request, queryset)
        incidents = viewer.prepare_incidents(queryset)
        return super().log_deletions(request, [shown_incident(viewer, i) for i in incidents])

    @admin.display(description="cases", ordering="n_cases")
    def case_count(self, obj: Any) -> int:
        return obj.n_cases

    def _move(self, request: HttpRequest, queryset: QuerySet, to: str) -> None:
        viewer = viewer_for(request)
        for incident in queryset:
            try:
                incident_services.change_incident_status(incident, to, actor=request.user)
                self.message_user(
                    request,
                    f"{incident_label(viewer, incident)}: {Incident.Status(to).label.lower()}.",
                    messages.SUCCESS,
                )
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.WARNING)

    @admin.action(description="Mark selected incidents contained", permissions=["change"])
    def mark_contained(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._move(request, queryset, Incident.Status.CONTAINED)

    @admin.action(description="Mark selected incidents resolved", permissions=["change"])
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._move(request, queryset, Incident.Status.RESOLVED)


class IncidentStepForm(forms.ModelForm):
    decision = forms.ChoiceField(
        label="Mark as",
        required=False,
        choices=[
            ("", "— leave as it is —"),
            ("done", "Done (runs the step's effect)"),
            ("skip", "Skipped"),
        ],
    )

    class Meta:
        model = IncidentStep
        fields = ["comment"]

    def clean(self) -> dict:
        data = super().clean()
        if data.get("decision") == "skip" and not (data.get("comment") or "").strip():
            self.add_error("comment", "Say why the step is skipped.")
        return data


class IncidentStepAdmin(TeamRuleDeletionMixin, ViewerAdminMixin, admin.ModelAdmin):
    """The checklist across incidents: tick or skip steps (with a comment). Each step's
    incident, and its result (which may name cases), are shown as the reader may read them."""

    form = IncidentStepForm

    list_display = [
        "title",
        "incident",
        "kind",
        "automatic",
        "status",
        "due_at",
        "done_by",
        "done_at",
    ]
    list_filter = ["status", "automatic", "kind"]
    list_select_related = ["incident", "done_by"]
    search_fields = ["title", "incident__title"]
    readonly_fields = [
        "incident_link",
        "order",
        "title",
        "kind",
        "automatic",
        "config",
        "status",
        "due_at",
        "done_by",
        "done_at",
        "shown_result",
    ]
    fields = [*readonly_fields, "decision", "comment"]
    actions = ["mark_done"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def prepare_rows(self, viewer: Viewer, rows: list[Any]) -> list[Any]:
        """The list's incident column shows the incident's title as this reader reads it."""
        viewer.prepare_incidents({row.incident_id: row.incident for row in rows}.values())
        for row in rows:  # rows of a list page, never saved
            row.incident = shown_incident(viewer, row.incident)
        return super().prepare_rows(viewer, rows)

    @admin.display(description="incident")
    def incident_link(self, obj: IncidentStep) -> str:
        incident = obj.incident
        url = reverse(
            "admin:socialcare_incident_change",
            args=[incident.pk],
            current_app=self.admin_site.name,
        )
        return format_html('<a href="{}">#{} {}</a>', url, incident.pk, _incident_title(incident))

    @admin.display(description="result")
    def shown_result(self, obj: IncidentStep) -> str:
        return hidden_text(obj, obj.result)

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        step = super().get_object(request, object_id, from_field)
        if step is not None:
            viewer = viewer_for(request)
            attach(viewer, viewer.prepare_incidents([step.incident]))
        return step

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        fields = list(super().get_search_fields(request))
        if viewer_for(request).sees_all:
            return fields
        return [f for f in fields if f != "incident__title"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        found, duplicates = super().get_search_results(request, queryset, search_term)
        viewer = viewer_for(request)
        if viewer.sees_all or not search_term.strip():
            return found, duplicates
        # The incident's title as this reader reads it (``IncidentAdmin.get_search_results``).
        titled = incidents_titled(viewer, search_term)
        return queryset.filter(Q(pk__in=found.values("pk")) | Q(incident__in=titled)), duplicates

    def save_model(self, request: HttpRequest, obj: IncidentStep, form: Any, change: bool) -> None:
        comment = form.cleaned_data.get("comment", "")
        action = form.cleaned_data.get("decision", "")
        try:
            if action == "done":
                incident_services.complete_step(obj, actor=request.user, comment=comment)
            elif action == "skip":
                incident_services.skip_step(obj, actor=request.user, comment=comment)
            else:
                IncidentStep.objects.filter(pk=obj.pk).update(comment=comment)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)

    @admin.action(
        description="Mark selected steps done (runs their effect)", permissions=["change"]
    )
    def mark_done(self, request: HttpRequest, queryset: QuerySet) -> None:
        viewer = viewer_for(request)
        for step in queryset:
            try:
                step = incident_services.complete_step(step, actor=request.user)
                level = (
                    messages.SUCCESS
                    if step.status == IncidentStep.Status.DONE
                    else messages.WARNING
                )
                result = viewer.text(step.result)
                self.message_user(
                    request, f"{step.title}: {step.get_status_display()} — {result}", level
                )
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.WARNING)


class SLAAlertAdmin(TeamRuleDeletionMixin, admin.ModelAdmin):
    list_display = ["case", "target", "level", "due_at", "created_at"]
    list_filter = ["level", "target"]
    list_select_related = ["case"]
    search_fields = ["=case__reference"]
    raw_id_fields = ["case"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """The alerts of the cases the user may see (``services.access``)."""
        return super().get_queryset(request).filter(case_filter(request.user, "case__"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
