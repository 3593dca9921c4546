"""The case page: the agent's workspace for one case (timeline, customer, reply composer, work
controls). Every action goes through the case, reply and hand-off services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from socialcare.admin.inlines import CaseEventInline, PostInline
from socialcare.models import Case, ReplyTemplate, Visibility
from socialcare.services import cases as case_services
from socialcare.services import replies as reply_services


class CaseForm(forms.ModelForm):
    tag_names = forms.CharField(
        label="Tags", required=False, help_text="Comma-separated, e.g. billing, outage."
    )
    reply = forms.CharField(
        label="Reply to the customer",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Sent through the case's channel: publicly as a reply to the latest customer "
        "post, or privately as a direct message (or email).",
    )
    reply_visibility = forms.ChoiceField(
        label="Send as",
        choices=Visibility.choices,
        initial=Visibility.PUBLIC,
        required=False,
    )
    reply_template = forms.ModelChoiceField(
        label="…or use a canned reply",
        queryset=ReplyTemplate.objects.active(),
        required=False,
        help_text="Used when the reply box is empty.",
    )
    note = forms.CharField(
        label="Add internal note",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Visible to agents only; added to the timeline.",
    )

    class Meta:
        model = Case
        fields = [
            "subject",
            "customer",
            "identity",
            "channel",
            "visibility",
            "status",
            "priority",
            "team",
            "assignee",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["tag_names"].initial = ", ".join(t.name for t in self.instance.tags.all())
            for name in ("identity", "channel", "visibility"):
                self.fields[name].disabled = True
        else:
            self.fields["status"].choices = [(Case.Status.NEW, Case.Status.NEW.label)]
        if "assignee" in self.fields:
            self.fields["assignee"].queryset = get_user_model().objects.filter(is_active=True)

    def clean_tag_names(self) -> list[str]:
        raw = self.cleaned_data.get("tag_names") or ""
        return [name.strip() for name in raw.split(",") if name.strip()]

    def clean_status(self) -> str:
        status = self.cleaned_data["status"]
        case = self.instance
        if case.pk and status != case.status:
            if case.merged_into_id:
                raise ValidationError("This case was merged into another case; work on that one.")
            if status not in case_services.TRANSITIONS[case.status]:
                allowed = ", ".join(
                    Case.Status(s).label for s in sorted(case_services.TRANSITIONS[case.status])
                )
                raise ValidationError(
                    f"A {case.get_status_display().lower()} case cannot become "
                    f"{Case.Status(status).label.lower()} (allowed: {allowed or 'none'})."
                )
        return status


class CaseWorkspaceMixin(admin.ModelAdmin):
    """The change view of ``CaseAdmin`` (the inbox lives in ``socialcare.admin.cases``)."""

    form = CaseForm
    raw_id_fields = ["customer", "identity", "assignee"]
    autocomplete_fields = ["channel", "team"]
    readonly_fields = [
        "reference",
        "sla_policy",
        "first_response_due_at",
        "next_response_due_at",
        "resolution_due_at",
        "first_responded_at",
        "last_inbound_at",
        "last_outbound_at",
        "resolved_at",
        "closed_at",
        "handed_off_to",
        "merged_into",
        "incident",
        "sla_paused_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (
            None,
            {"fields": ["reference", "subject", "customer", "identity", "channel", "visibility"]},
        ),
        ("Work", {"fields": ["status", "priority", "team", "assignee", "tag_names", "note"]}),
        ("Reply", {"fields": ["reply", "reply_visibility", "reply_template"]}),
        (
            "SLA",
            {
                "fields": [
                    "sla_policy",
                    "first_response_due_at",
                    "first_responded_at",
                    "next_response_due_at",
                    "resolution_due_at",
                    "sla_paused_at",
                ]
            },
        ),
        (
            "History",
            {
                "classes": ["collapse"],
                "fields": [
                    "last_inbound_at",
                    "last_outbound_at",
                    "resolved_at",
                    "closed_at",
                    "handed_off_to",
                    "merged_into",
                    "incident",
                    "created_at",
                    "updated_at",
                ],
            },
        ),
    ]
    inlines = [PostInline, CaseEventInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Case, form: CaseForm, change: bool) -> None:
        data = form.cleaned_data
        try:
            if not change:
                opened = case_services.open_case(
                    channel=data.get("channel"),
                    identity=data.get("identity"),
                    customer=data.get("customer"),
                    subject=data.get("subject", ""),
                    priority=data["priority"],
                    visibility=data["visibility"],
                    team=data.get("team"),
                    actor=request.user,
                )
                obj.pk = opened.pk
                obj.refresh_from_db()
                edits = {"assignee": data.get("assignee")} if data.get("assignee") else {}
            else:
                editable = {"subject", "customer", "status", "priority", "team", "assignee"}
                edits = {f: data[f] for f in form.changed_data if f in editable}
            if "tag_names" in form.changed_data:
                edits["tags"] = data["tag_names"]
            case_services.update_case(obj, actor=request.user, **edits)
            if data.get("note"):
                case_services.add_note(obj, data["note"], actor=request.user)
            if change and (data.get("reply") or data.get("reply_template")):
                reply = reply_services.send_reply(
                    obj,
                    data.get("reply") or "",
                    actor=request.user,
                    visibility=data.get("reply_visibility") or Visibility.PUBLIC,
                    template=data.get("reply_template"),
                )
                if reply.send_status == reply.SendStatus.AWAITING_APPROVAL:
                    self.message_user(
                        request,
                        "This case is part of an incident that requires approval: the reply is "
                        "held until another agent approves it.",
                        messages.WARNING,
                    )
                else:
                    self.message_user(request, "Reply queued for sending.", messages.SUCCESS)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        obj.refresh_from_db()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Tags were saved through set_tags() in save_model, so no form.save_m2m() here.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)
