"""Crisis escalation in admin: playbooks and their steps, detectors, incidents (their page is the
console in ``socialcare.admin.incident_console``), incident steps, SLA alerts."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from socialcare.admin.incident_console import IncidentConsoleMixin
from socialcare.models import (
    Detector,
    Incident,
    IncidentStep,
    Playbook,
    PlaybookStep,
    SLAAlert,
)
from socialcare.services import incidents as incident_services
from socialcare.services.playbook_steps import kind_choices


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


@admin.register(Playbook)
class PlaybookAdmin(admin.ModelAdmin):
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


@admin.register(Detector)
class DetectorAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "is_active",
        "threshold",
        "window_minutes",
        "playbook",
        "last_fired_at",
    ]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "watch_words"]
    autocomplete_fields = ["channel", "playbook"]
    readonly_fields = ["last_fired_at"]
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
    ]


@admin.register(Incident)
class IncidentAdmin(IncidentConsoleMixin, admin.ModelAdmin):
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

    @admin.display(description="cases", ordering="n_cases")
    def case_count(self, obj: Any) -> int:
        return obj.n_cases

    def _move(self, request: HttpRequest, queryset: QuerySet, to: str) -> None:
        for incident in queryset:
            try:
                incident_services.change_incident_status(incident, to, actor=request.user)
                self.message_user(
                    request, f"{incident}: {Incident.Status(to).label.lower()}.", messages.SUCCESS
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


@admin.register(IncidentStep)
class IncidentStepAdmin(admin.ModelAdmin):
    """The checklist across incidents: tick or skip steps (with a comment)."""

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
        "incident",
        "order",
        "title",
        "kind",
        "automatic",
        "config",
        "status",
        "due_at",
        "done_by",
        "done_at",
        "result",
    ]
    fields = [*readonly_fields, "decision", "comment"]
    actions = ["mark_done"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

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
        for step in queryset:
            try:
                step = incident_services.complete_step(step, actor=request.user)
                level = (
                    messages.SUCCESS
                    if step.status == IncidentStep.Status.DONE
                    else messages.WARNING
                )
                self.message_user(
                    request, f"{step.title}: {step.get_status_display()} — {step.result}", level
                )
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.WARNING)


@admin.register(SLAAlert)
class SLAAlertAdmin(admin.ModelAdmin):
    list_display = ["case", "target", "level", "due_at", "created_at"]
    list_filter = ["level", "target"]
    list_select_related = ["case"]
    search_fields = ["=case__reference"]
    raw_id_fields = ["case"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
