"""The incident console: the incident's page (evidence, linked cases, the playbook checklist, a
holding reply to every linked case, contain / resolve, the timeline). ``IncidentAdmin`` in
``socialcare.admin.crisis`` inherits ``IncidentConsoleMixin``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from socialcare.admin.viewer import viewer_for
from socialcare.exceptions import SocialCareError
from socialcare.models import (
    Incident,
    IncidentEvent,
    IncidentStep,
    ReplyTemplate,
    customer_display_name,
)
from socialcare.services import incidents as incident_services
from socialcare.services.access import Viewer, case_filter, visible_cases
from socialcare.services.holding_replies import send_holding_replies
from socialcare.services.playbook_steps import kind_choices
from socialcare.services.redaction import incident_label, shown_incident
from socialcare.services.sla_state import sla_state

CASES_SHOWN = 200
EVENTS_SHOWN = 200
EVIDENCE_LABELS = {
    "detector": "Detector",
    "summary": "Summary",
    "count": "Count in the window",
    "baseline": "Usual count per window (baseline)",
    "threshold": "Threshold",
    "window_minutes": "Window (minutes)",
    "followers": "Followers",
    "sentiment": "Sentiment",
    "words": "Watch words",
    "source_case": "Opened from",
    "samples_in_other_teams": "Sample posts from other teams' cases (not shown)",
}


def evidence_items(evidence: dict) -> list[tuple[str, str]]:
    """The evidence's scalar facts as (label, text); sample posts are shown on their own."""
    items = []
    for key, value in (evidence or {}).items():
        if key == "sample_posts" or value in (None, "", [], {}):
            continue
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, int) and not isinstance(value, bool):
            value = f"{value:,}"
        items.append((EVIDENCE_LABELS.get(key, key.replace("_", " ").capitalize()), str(value)))
    return items


def sample_posts(evidence: dict) -> list[dict]:
    """Sample posts with a link only when it is an http(s) URL (never ``javascript:``)."""
    samples = []
    for sample in (evidence or {}).get("sample_posts") or []:
        if not isinstance(sample, dict):
            continue
        url = str(sample.get("url") or "")
        samples.append(
            {
                "author": str(sample.get("author") or ""),
                "text": str(sample.get("text") or ""),
                "url": url if url.startswith(("https://", "http://")) else "",
            }
        )
    return samples


def event_text(
    event: IncidentEvent, viewer: Viewer, hidden_summary: tuple[Any, Any] | None = None
) -> str:
    """One line for the incident timeline from an event's data, as ``viewer`` may read it:
    what came from another team's case is left out (its samples counted, its references not
    named). ``hidden_summary``: the incident's summary and what the viewer reads instead,
    when it was made from a case they may not see (the "opened" event repeats it without
    saying where it came from)."""
    raw = event.data or {}
    data = viewer.incident_evidence(raw)
    if hidden_summary is not None and raw.get("summary") == hidden_summary[0]:
        data["summary"] = hidden_summary[1]
    parts = []
    for key in ("summary", "step", "result", "comment", "note", "from", "to", "count"):
        if data.get(key) not in (None, "", []):
            parts.append(f"{key}: {data[key]}")
    if raw.get("cases"):
        named = [str(c) for c in data.get("cases") or []]
        parts.append("cases: " + ", ".join(named[:20]) if named else "cases: none of yours")
    for key in ("sent", "held", "skipped", "template", "samples_in_other_teams"):
        if data.get(key) not in (None, ""):
            parts.append(f"{key.replace('_', ' ')}: {data[key]}")
    return " · ".join(parts)


class HoldingReplyForm(forms.Form):
    text = forms.CharField(required=False, widget=forms.Textarea)
    template = forms.ModelChoiceField(queryset=ReplyTemplate.objects.active(), required=False)


class IncidentConsoleMixin(admin.ModelAdmin):
    """The incident's change page as a console: evidence, linked cases, the playbook checklist,
    a holding reply to every linked case, contain / resolve and the timeline. Each action is a
    POST to its own URL (CSRF-protected, permission-checked) that redirects back to the page."""

    change_form_template = "socialcare/admin/incident/change_form.html"

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/console/steps/<int:step_id>/",
                wrap(require_POST(self.step_view)),
                name="socialcare_incident_step",
            ),
            path(
                "<path:object_id>/console/holding-reply/",
                wrap(require_POST(self.holding_reply_view)),
                name="socialcare_incident_holding_reply",
            ),
            path(
                "<path:object_id>/console/status/",
                wrap(require_POST(self.status_view)),
                name="socialcare_incident_status",
            ),
            *super().get_urls(),
        ]

    # Permissions ------------------------------------------------------------------------------
    def has_step_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("socialcare.change_incidentstep")

    def has_holding_reply_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_change_permission(request, obj) and request.user.has_perm(
            "socialcare.change_case"
        )

    # The page ---------------------------------------------------------------------------------
    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        incident = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if incident is not None:  # also when an invalid edit re-renders the page
            context.update(self.console_context(request, incident))
            viewer = viewer_for(request)
            if not viewer.sees_all:
                # The page's title and breadcrumbs name the incident as this reader reads it.
                context["subtitle"] = incident_label(viewer, incident)
                context["original"] = shown_incident(viewer, incident)
        return super().change_view(request, object_id, form_url, context)

    def console_context(self, request: HttpRequest, incident: Incident) -> dict:
        user = request.user
        viewer = viewer_for(request)
        now = timezone.now()
        kinds = dict(kind_choices())
        steps = list(incident.steps.select_related("done_by").order_by("order", "pk"))
        for step in steps:
            step.kind_label = kinds.get(step.kind, step.kind)
            step.actionable = step.status in (
                IncidentStep.Status.PENDING,
                IncidentStep.Status.FAILED,
            )
            step.overdue = bool(
                step.status == IncidentStep.Status.PENDING and step.due_at and step.due_at < now
            )
        linked = incident.cases.filter(merged_into__isnull=True)
        shown = visible_cases(user, linked)
        cases = list(
            shown.select_related("customer", "identity", "assignee", "team").order_by(
                "created_at", "pk"
            )[:CASES_SHOWN]
        )
        for case in cases:
            case.sla = sla_state(case, now) or "none"
            case.customer_name = customer_display_name(case.customer)
        counts = linked.aggregate(total=Count("pk"), visible=Count("pk", filter=case_filter(user)))
        events = list(incident.events.select_related("actor").order_by("-at", "-pk")[:EVENTS_SHOWN])
        # What the page names: one query for its case references, one for its sample posts.
        viewer.learn_data([{"": incident.title}, incident.evidence, *(e.data for e in events)])
        evidence = viewer.incident_evidence(incident.evidence)
        hidden = None
        if viewer.source_hidden(incident.evidence or {}):
            hidden = ((incident.evidence or {}).get("summary"), evidence.get("summary"))
        for event in events:
            event.text = event_text(event, viewer, hidden)
            event.label = event.kind.replace("_", " ").capitalize()
        for step in steps:
            step.shown_result = viewer.text(step.result)
            step.shown_comment = viewer.text(step.comment)
        return {
            "incident": incident,
            "incident_title": viewer.incident_title(incident),
            "evidence": evidence_items(evidence),
            "samples": sample_posts(evidence),
            "steps": steps,
            "cases": cases,
            "case_total": counts["total"],
            "case_visible": counts["visible"],
            "case_hidden": counts["total"] - counts["visible"],
            "events": events[::-1],
            "events_more": len(events) == EVENTS_SHOWN,
            "reply_templates": ReplyTemplate.objects.active().order_by("name"),
            "can_change_incident": self.has_change_permission(request, incident),
            "can_change_steps": self.has_step_permission(request),
            "can_send_holding": self.has_holding_reply_permission(request, incident),
            "transitions": [
                (to, Incident.Status(to).label)
                for to in (
                    Incident.Status.OPEN,
                    Incident.Status.CONTAINED,
                    Incident.Status.RESOLVED,
                )
                if to in incident_services.INCIDENT_TRANSITIONS[incident.status]
            ],
        }

    # Actions ----------------------------------------------------------------------------------
    def _incident_or_404(self, request: HttpRequest, object_id: str) -> Incident:
        incident = self.get_object(request, unquote(object_id))
        if incident is None:
            raise Http404("No such incident.")
        return incident

    def _back(self, incident: Incident, anchor: str = "") -> HttpResponseRedirect:
        url = reverse(
            "admin:socialcare_incident_change",
            args=[incident.pk],
            current_app=self.admin_site.name,
        )
        return HttpResponseRedirect(f"{url}#{anchor}" if anchor else url)

    def step_view(self, request: HttpRequest, object_id: str, step_id: int) -> HttpResponse:
        incident = self._incident_or_404(request, object_id)
        if not (self.has_view_permission(request, incident) and self.has_step_permission(request)):
            raise PermissionDenied
        step = incident.steps.filter(pk=step_id).first()
        if step is None:
            raise Http404("No such step in this incident.")
        action = request.POST.get("action", "")
        comment = request.POST.get("comment", "").strip()
        try:
            if action == "done":
                step = incident_services.complete_step(step, actor=request.user, comment=comment)
            elif action == "retry":
                if step.status != IncidentStep.Status.FAILED:
                    raise SocialCareError(f"Step '{step.title}' has not failed; nothing to retry.")
                step = incident_services.run_step(step, actor=request.user, comment=comment)
            elif action == "skip":
                step = incident_services.skip_step(step, actor=request.user, comment=comment)
            else:
                raise SocialCareError("Choose done, skip or retry.")
        except SocialCareError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return self._back(incident, f"sc-step-{step.pk}")
        shown = viewer_for(request).text(step.result)
        if step.status == IncidentStep.Status.FAILED:
            self.message_user(request, f"{step.title}: failed — {shown}", messages.WARNING)
        else:
            result = f" — {shown}" if step.result and step.result != "skipped" else ""
            self.message_user(
                request,
                f"{step.title}: {step.get_status_display().lower()}{result}.",
                messages.SUCCESS,
            )
        return self._back(incident, f"sc-step-{step.pk}")

    def holding_reply_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        incident = self._incident_or_404(request, object_id)
        if not self.has_holding_reply_permission(request, incident):
            raise PermissionDenied
        form = HoldingReplyForm(request.POST)
        if not form.is_valid():
            self.message_user(
                request,
                "That canned reply is not available any more; choose another.",
                messages.ERROR,
            )
            return self._back(incident, "sc-holding")
        try:
            result = send_holding_replies(
                incident,
                actor=request.user,
                text=form.cleaned_data["text"],
                template=form.cleaned_data["template"],
            )
        except SocialCareError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return self._back(incident, "sc-holding")
        level = messages.SUCCESS if not result.skipped else messages.WARNING
        # The summary names the cases it skipped: not those of other teams.
        self.message_user(request, viewer_for(request).text(result.summary()), level)
        return self._back(incident, "sc-holding")

    def status_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        incident = self._incident_or_404(request, object_id)
        if not self.has_change_permission(request, incident):
            raise PermissionDenied
        to = request.POST.get("to", "")
        note = request.POST.get("note", "").strip()
        try:
            incident = incident_services.change_incident_status(
                incident, to, actor=request.user, note=note
            )
        except SocialCareError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return self._back(incident)
        label = incident_label(viewer_for(request), incident)
        self.message_user(
            request, f"{label}: now {incident.get_status_display().lower()}.", messages.SUCCESS
        )
        return self._back(incident)
