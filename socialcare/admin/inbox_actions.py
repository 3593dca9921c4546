"""The inbox's bulk actions. Each one changes case by case through the services, reports how many
changed and, per case, why the others did not. Actions that need a choice (whom, which team, which
incident) first show a confirmation page, like Django's "delete selected"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from socialcare.admin.viewer import viewer_for
from socialcare.exceptions import SocialCareError
from socialcare.models import Case, Incident, Priority
from socialcare.services import assignment
from socialcare.services import cases as case_services
from socialcare.services.access import Viewer
from socialcare.services.assignment import BulkResult
from socialcare.services.events import user_label
from socialcare.services.incidents import link_cases

#: Most cases one bulk action changes (each one is a transaction with its timeline events).
MAX_BULK = 500
#: Per-case "not changed" messages shown before summing up the rest.
SHOWN_REASONS = 20


def selected_cases(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> list[Case] | None:
    """The selected cases, oldest first; None (with an error message) when there are too many."""
    pks = list(queryset.order_by().values_list("pk", flat=True)[: MAX_BULK + 1])
    if len(pks) > MAX_BULK:
        modeladmin.message_user(
            request,
            f"A bulk action changes at most {MAX_BULK} cases at once; narrow the list with "
            "filters or search first.",
            messages.ERROR,
        )
        return None
    return list(Case.objects.filter(pk__in=pks).select_related("assignee").order_by("pk"))


def report(
    modeladmin: admin.ModelAdmin, request: HttpRequest, result: BulkResult, done: str
) -> None:
    """One success message with the count, and one warning per case left unchanged."""
    if result.changed:
        modeladmin.message_user(request, f"{len(result.changed)} case(s) {done}.", messages.SUCCESS)
    else:
        modeladmin.message_user(request, "No case was changed.", messages.WARNING)
    for reason in result.skipped[:SHOWN_REASONS]:
        modeladmin.message_user(request, reason, messages.WARNING)
    if len(result.skipped) > SHOWN_REASONS:
        more = len(result.skipped) - SHOWN_REASONS
        modeladmin.message_user(request, f"…and {more} more case(s) not changed.", messages.WARNING)


def each(
    cases: list[Case], change: Callable[[Case], Any], skip: Callable[[Case], str | None]
) -> BulkResult:
    """Apply ``change`` to each case ``skip`` has no reason to leave; collect refusals."""
    result = BulkResult()
    for case in cases:
        reason = skip(case)
        if reason:
            result.skipped.append(reason)
            continue
        try:
            change(case)
        except ValidationError as exc:  # SocialCareError and its kin: the refusal, worded
            result.skipped.append(" ".join(exc.messages))
        else:
            result.changed.append(case)
    return result


def confirmation_page(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    cases: list[Case],
    form: forms.Form,
    *,
    title: str,
    intro: str,
    submit: str,
) -> TemplateResponse:
    """The intermediate page: the choice to make, the cases it applies to, confirm or cancel."""
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        "submit_label": submit,
        "opts": opts,
        "form": form,
        "cases": cases[:50],
        "more": max(len(cases) - 50, 0),
        "total": len(cases),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "action_name": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "cancel_url": request.get_full_path(),
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "socialcare/admin/case_bulk_confirm.html", context)


def _merged(case: Case) -> str | None:
    if case.merged_into_id:
        return f"{case.reference} was merged into another case; work on that one."
    return None


# Assignment --------------------------------------------------------------------------------


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        full = user_label(obj)
        username = obj.get_username()
        return full if full == username else f"{full} ({username})"


class AssigneeForm(forms.Form):
    required_css_class = "required"

    assignee = UserChoiceField(
        queryset=None, label="Assign to", help_text="Active members of your teams."
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignment.assignable_users(user)


class TeamForm(forms.Form):
    required_css_class = "required"

    team = forms.ModelChoiceField(
        queryset=None,
        label="Team",
        help_text="Each case goes to the member on duty with the fewest open cases; ties take "
        "turns. The cases move to this team.",
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = assignment.round_robin_teams(user)


class IncidentChoiceField(forms.ModelChoiceField):
    """Incidents labelled ``#pk title`` with the title the reader reads (``services.access``):
    ``viewer`` is set by the form."""

    viewer: Viewer | None = None

    def label_from_instance(self, obj: Any) -> str:
        viewer = self.viewer or Viewer(None)
        if viewer.sees_all:
            return str(obj)
        if obj.pk not in viewer.incident_titles:
            # The first option asks for them all: a fixed number of queries.
            viewer.prepare_incidents(self.queryset.only("pk", "title", "evidence"))
        return f"#{obj.pk} {viewer.incident_titles.get(obj.pk) or viewer.incident_title(obj)}"


class IncidentForm(forms.Form):
    required_css_class = "required"

    incident = IncidentChoiceField(
        queryset=Incident.objects.exclude(status=Incident.Status.RESOLVED).order_by("-opened_at"),
        label="Incident",
        help_text="Open or contained incidents. Cases in another incident move to this one.",
    )

    def __init__(self, *args: Any, viewer: Viewer | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["incident"].viewer = viewer


def _bound(form_class: type[forms.Form], request: HttpRequest, **kwargs: Any) -> forms.Form:
    data = request.POST if request.POST.get("confirm") == "yes" else None
    return form_class(data, **kwargs)


@admin.action(description="Assign selected cases to me", permissions=["change"])
def assign_to_me(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    cases = selected_cases(modeladmin, request, queryset)
    if cases is not None:
        result = assignment.assign_cases(cases, request.user, actor=request.user)
        report(modeladmin, request, result, "assigned to you")


@admin.action(description="Assign selected cases to a team member…", permissions=["change"])
def assign_to_member(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> HttpResponse | None:
    cases = selected_cases(modeladmin, request, queryset)
    if cases is None:
        return None
    form = _bound(AssigneeForm, request, user=request.user)
    if not form.fields["assignee"].queryset.exists():
        modeladmin.message_user(
            request,
            "Nobody in your teams can take cases: add members to a team first.",
            messages.ERROR,
        )
        return None
    if form.is_bound and form.is_valid():
        assignee = form.cleaned_data["assignee"]
        result = assignment.assign_cases(cases, assignee, actor=request.user)
        report(modeladmin, request, result, f"assigned to {user_label(assignee)}")
        return None
    return confirmation_page(
        modeladmin,
        request,
        cases,
        form,
        title="Assign cases to a team member",
        intro="Choose who takes the selected cases. Each assignment is recorded in the case's "
        "timeline; a new case becomes open.",
        submit="Assign",
    )


@admin.action(description="Share selected cases round-robin in a team…", permissions=["change"])
def assign_round_robin(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> HttpResponse | None:
    cases = selected_cases(modeladmin, request, queryset)
    if cases is None:
        return None
    form = _bound(TeamForm, request, user=request.user)
    if not form.fields["team"].queryset.exists():
        modeladmin.message_user(request, "No team of yours has a member on duty.", messages.ERROR)
        return None
    if form.is_bound and form.is_valid():
        team = form.cleaned_data["team"]
        try:
            result = assignment.round_robin(cases, team, actor=request.user)
        except SocialCareError as exc:
            modeladmin.message_user(request, " ".join(exc.messages), messages.ERROR)
            return None
        report(modeladmin, request, result, f"shared among the members of {team}")
        return None
    return confirmation_page(
        modeladmin,
        request,
        cases,
        form,
        title="Share cases round-robin",
        intro="Choose the team whose members on duty share the selected open cases.",
        submit="Share",
    )


# Status and priority -----------------------------------------------------------------------


def status_action(status: str, name: str) -> Callable[..., None]:
    label = Case.Status(status).label

    @admin.action(description=f"Mark selected cases {label.lower()}", permissions=["change"])
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
        cases = selected_cases(modeladmin, request, queryset)
        if cases is None:
            return
        result = each(
            cases,
            lambda c: case_services.change_status(c, status, actor=request.user),
            skip=lambda c: None,  # the service explains every refusal (merged, same, illegal)
        )
        report(modeladmin, request, result, f"marked {label.lower()}")

    action.__name__ = name
    return action


def priority_action(priority: str) -> Callable[..., None]:
    label = Priority(priority).label.lower()

    def already(case: Case) -> str | None:
        if case.priority == priority:
            return f"{case.reference} already has {label} priority."
        return _merged(case)

    @admin.action(description=f"Set priority of selected cases: {label}", permissions=["change"])
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
        cases = selected_cases(modeladmin, request, queryset)
        if cases is None:
            return
        result = each(
            cases,
            lambda c: case_services.change_priority(c, priority, actor=request.user),
            skip=already,
        )
        report(modeladmin, request, result, f"set to {label} priority")

    action.__name__ = f"set_priority_{priority}"
    return action


# Incidents ---------------------------------------------------------------------------------


@admin.action(description="Link selected cases to an incident…", permissions=["change"])
def link_to_incident(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> HttpResponse | None:
    cases = selected_cases(modeladmin, request, queryset)
    if cases is None:
        return None
    form = _bound(IncidentForm, request, viewer=viewer_for(request))
    if not form.fields["incident"].queryset.exists():
        modeladmin.message_user(
            request,
            "There is no open incident. Use “Open an incident for the selected cases” instead.",
            messages.ERROR,
        )
        return None
    if form.is_bound and form.is_valid():
        incident = form.cleaned_data["incident"]
        result = BulkResult()
        wanted = []
        for case in cases:
            reason = _merged(case)
            if reason is None and case.incident_id == incident.pk:
                reason = f"{case.reference} is already linked to incident #{incident.pk}."
            if reason:
                result.skipped.append(reason)
            else:
                wanted.append(case)
        linked = link_cases(incident, wanted, actor=request.user, move=True)
        result.changed = linked
        done = {c.pk for c in linked}
        result.skipped += [
            f"{c.reference} was linked or merged meanwhile; not changed."
            for c in wanted
            if c.pk not in done
        ]
        report(modeladmin, request, result, f"linked to incident #{incident.pk}")
        return None
    return confirmation_page(
        modeladmin,
        request,
        cases,
        form,
        title="Link cases to an incident",
        intro="Choose the incident. Its playbook steps already done apply to the linked cases.",
        submit="Link",
    )


@admin.action(description="Open an incident for the selected cases", permissions=["change"])
def open_incident(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    from socialcare.services.incidents import open_incident_from_case

    cases = selected_cases(modeladmin, request, queryset)
    if not cases:
        return
    cases = [c for c in cases if not c.merged_into_id]
    if not cases:
        modeladmin.message_user(request, "Merged cases cannot open an incident.", messages.WARNING)
        return
    try:
        incident = open_incident_from_case(cases[0], actor=request.user)
        link_cases(incident, cases[1:], actor=request.user, move=True)
    except SocialCareError as exc:
        modeladmin.message_user(request, " ".join(exc.messages), messages.ERROR)
        return
    modeladmin.message_user(
        request, f"Incident #{incident.pk} opened with {len(cases)} case(s).", messages.SUCCESS
    )


INBOX_ACTIONS = [
    assign_to_me,
    assign_to_member,
    assign_round_robin,
    status_action(Case.Status.OPEN, "mark_open"),
    status_action(Case.Status.WAITING_ON_CUSTOMER, "mark_waiting"),
    status_action(Case.Status.RESOLVED, "mark_resolved"),
    status_action(Case.Status.CLOSED, "mark_closed"),
    *(priority_action(p) for p in reversed(Priority.values)),
    link_to_incident,
    open_incident,
]
