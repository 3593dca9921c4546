"""The case page's forms and fields: adding a case by hand, the details form, and the read-only
history fields, of which those naming another case or an incident are rendered for the page's
reader (``services.access.Viewer``): a case of another team is neither named nor linked."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils.html import format_html

from socialcare.admin.viewer import viewer_of
from socialcare.models import Case
from socialcare.models.case import UNMERGED_CUSTOMERS
from socialcare.services.access import OTHER_TEAM_CASE


class CaseForm(forms.ModelForm):
    """Adding a case by hand: who, where, and the first work settings."""

    tag_names = forms.CharField(
        label="Tags", required=False, help_text="Comma-separated, e.g. billing, outage."
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
        if "status" in self.fields:
            self.fields["status"].choices = [(Case.Status.NEW, Case.Status.NEW.label)]
        if "assignee" in self.fields:
            self.fields["assignee"].queryset = get_user_model().objects.filter(is_active=True)
        if "customer" in self.fields:  # a record merged into another is no choice
            customers = self.fields["customer"].queryset
            self.fields["customer"].queryset = customers.complex_filter(UNMERGED_CUSTOMERS)

    def clean_tag_names(self) -> list[str]:
        raw = self.cleaned_data.get("tag_names") or ""
        return [name.strip() for name in raw.split(",") if name.strip()]


class CaseDetailsForm(CaseForm):
    """The case page's details form. Status, priority and assignee live in the work form, notes
    and replies in their own forms; identity, channel and visibility follow the conversation."""

    class Meta(CaseForm.Meta):
        fields = ["subject", "customer", "team"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["note"]
        if self.instance.pk:
            self.fields["tag_names"].initial = ", ".join(t.name for t in self.instance.tags.all())


ADD_FIELDSETS = [
    (None, {"fields": ["subject", "customer", "identity", "channel", "visibility"]}),
    ("Work", {"fields": ["status", "priority", "team", "assignee", "tag_names", "note"]}),
]
CHANGE_FIELDSETS = [
    (
        None,
        {
            "fields": [
                "reference",
                "subject",
                "customer",
                "team",
                "tag_names",
                "identity",
                "channel",
                "visibility",
            ]
        },
    ),
    (
        "History",
        {
            "classes": ["collapse"],
            "fields": [
                "sla_policy",
                "from_history",
                "sla_started_at",
                "first_responded_at",
                "last_inbound_at",
                "last_outbound_at",
                "resolved_at",
                "closed_at",
                "sla_paused_at",
                "handed_off_to",
                "merged_into_link",
                "incident_link",
                "created_at",
                "updated_at",
            ],
        },
    ),
]
CHANGE_READONLY = [
    "reference",
    "identity",
    "channel",
    "visibility",
    *CHANGE_FIELDSETS[1][1]["fields"],
]


class CaseHistoryFieldsMixin:
    """The read-only fields of the case's page that name another case or an incident."""

    @admin.display(description="merged into")
    def merged_into_link(self, obj: Case) -> str:
        target = obj.merged_into if obj.merged_into_id else None
        if target is None:
            return "-"
        viewer = viewer_of(obj)
        if viewer is None or not viewer.sees_reference(target.reference):
            return OTHER_TEAM_CASE
        url = reverse(
            "admin:socialcare_case_change", args=[target.pk], current_app=self.admin_site.name
        )
        return format_html('<a href="{}">{}</a>', url, target)

    @admin.display(description="incident")
    def incident_link(self, obj: Case) -> str:
        incident = obj.incident if obj.incident_id else None
        if incident is None:
            return "-"
        viewer = viewer_of(obj)
        title = viewer.incident_title(incident) if viewer is not None else ""
        url = reverse(
            "admin:socialcare_incident_change",
            args=[incident.pk],
            current_app=self.admin_site.name,
        )
        return format_html('<a href="{}">#{} {}</a>', url, incident.pk, title)
