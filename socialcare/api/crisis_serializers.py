"""Serializers of playbooks, detectors and incidents, and of the requests that run an incident
(tick or skip a step, change its status, link cases, open one from a case)."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from socialcare.api.case_filters import MAX_ID
from socialcare.api.case_serializers import (
    ChannelSummarySerializer,
    PageListSerializer,
    StrictSerializer,
    UserSummarySerializer,
    VisibleCaseField,
    choice_field,
    context_viewer,
)
from socialcare.models import (
    Case,
    Detector,
    Incident,
    IncidentStep,
    Playbook,
    PlaybookStep,
    Severity,
)
from socialcare.services.access import Viewer
from socialcare.services.warm_up import warm_up

#: Linked cases an incident shows (those the caller may see); ``cases/?incident=`` has them all.
CASES_SHOWN = 25
#: Cases one ``incidents/{id}/cases/`` request may link.
MAX_LINK = 100

_SLUG = re.compile(r"[-a-zA-Z0-9_]+")


# Summaries ------------------------------------------------------------------------------------


class PlaybookSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Playbook
        fields = ["id", "slug", "name"]
        read_only_fields = fields


class DetectorSummarySerializer(serializers.ModelSerializer):
    kind = choice_field("DetectorKind", Detector.Kind.choices, read_only=True)

    class Meta:
        model = Detector
        fields = ["id", "name", "kind"]
        read_only_fields = fields


class IncidentCaseSerializer(serializers.ModelSerializer):
    """A linked case, as a reference: read it whole at ``cases/{id}/``."""

    status = choice_field("CaseStatus", Case.Status.choices, read_only=True)

    class Meta:
        model = Case
        fields = ["id", "reference", "subject", "status", "priority"]
        read_only_fields = fields


# Playbooks and detectors ----------------------------------------------------------------------


class PlaybookStepSerializer(serializers.ModelSerializer):
    config = serializers.DictField(read_only=True, help_text="The step's settings; see its kind.")

    class Meta:
        model = PlaybookStep
        fields = ["id", "order", "title", "kind", "automatic", "due_after_minutes", "config"]
        read_only_fields = fields


class PlaybookSerializer(serializers.ModelSerializer):
    severity = choice_field("Severity", Severity.choices, read_only=True)
    steps = PlaybookStepSerializer(many=True, read_only=True, help_text="In the order they run.")

    class Meta:
        model = Playbook
        fields = ["id", "slug", "name", "description", "severity", "is_active", "steps"]
        read_only_fields = fields


class DetectorSerializer(serializers.ModelSerializer):
    kind = choice_field("DetectorKind", Detector.Kind.choices, read_only=True)
    platform = serializers.CharField(read_only=True, help_text="Only this platform; empty: all.")
    channel = ChannelSummarySerializer(
        read_only=True, allow_null=True, help_text="Only this channel; null: every channel."
    )
    watch_words = serializers.ListField(
        child=serializers.CharField(),
        source="words",
        read_only=True,
        help_text="Watch words: the words and phrases it looks for.",
    )
    playbook = PlaybookSummarySerializer(
        read_only=True, allow_null=True, help_text="The playbook it starts."
    )
    counting_since = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="Since when its counters hold the post stream; null: nothing counted yet.",
    )
    ready = serializers.SerializerMethodField(
        help_text="Whether only its threshold keeps it from firing (false while it warms up)."
    )
    readiness = serializers.SerializerMethodField(
        help_text="In a sentence: ready, or warming up until when (docs/crisis.md)."
    )

    class Meta:
        model = Detector
        fields = [
            "id",
            "name",
            "kind",
            "is_active",
            "platform",
            "channel",
            "window_minutes",
            "threshold",
            "spike_factor",
            "baseline_hours",
            "negative_below",
            "watch_words",
            "cooldown_minutes",
            "playbook",
            "last_fired_at",
            "counting_since",
            "ready",
            "readiness",
        ]
        read_only_fields = fields

    def get_ready(self, detector: Detector) -> bool:
        return warm_up(detector, self.context.get("now")).ready

    def get_readiness(self, detector: Detector) -> str:
        return warm_up(detector, self.context.get("now")).summary


# Incidents ------------------------------------------------------------------------------------


class IncidentStepSerializer(serializers.ModelSerializer):
    status = choice_field("IncidentStepStatus", IncidentStep.Status.choices, read_only=True)
    done_by = UserSummarySerializer(
        read_only=True, allow_null=True, help_text="Who ticked or skipped it; null: the system."
    )
    result = serializers.SerializerMethodField(help_text="What running it did, or why it failed.")
    comment = serializers.SerializerMethodField(help_text="Why it was skipped, or a note.")

    class Meta:
        model = IncidentStep
        fields = [
            "id",
            "order",
            "title",
            "kind",
            "automatic",
            "status",
            "due_at",
            "done_by",
            "done_at",
            "comment",
            "result",
        ]
        read_only_fields = fields

    def get_result(self, step: IncidentStep) -> str:
        return context_viewer(self.context).text(step.result)

    def get_comment(self, step: IncidentStep) -> str:
        return context_viewer(self.context).text(step.comment)


class IncidentSerializer(serializers.ModelSerializer):
    """An incident with its steps and the linked cases the caller may see. Every value is owned by
    the services; the view annotates the counts and ``changed_at``."""

    status = choice_field("IncidentStatus", Incident.Status.choices, read_only=True)
    severity = choice_field("Severity", Severity.choices, read_only=True)
    playbook = PlaybookSummarySerializer(read_only=True, allow_null=True)
    detector = DetectorSummarySerializer(
        read_only=True, allow_null=True, help_text="The detector that opened it; null: by hand."
    )
    title = serializers.SerializerMethodField(
        help_text="Made from a case the caller may not see (escalated from it, an influencer's "
        "post on it), it reads without that case's content."
    )
    evidence = serializers.SerializerMethodField(
        help_text="What triggered it: `summary`, and for a detector counts, baseline, threshold "
        "and `sample_posts`. Samples from cases the caller may not see are left out and counted "
        "in `samples_in_other_teams`."
    )
    commander = UserSummarySerializer(read_only=True, allow_null=True)
    opened_by = UserSummarySerializer(
        read_only=True, allow_null=True, help_text="Null: a detector opened it."
    )
    updated_at = serializers.DateTimeField(
        source="changed_at",
        read_only=True,
        help_text="Its last change: status, a step, a linked case, new evidence.",
    )
    steps = IncidentStepSerializer(many=True, read_only=True, help_text="In playbook order.")
    case_count = serializers.IntegerField(read_only=True, help_text="All linked cases.")
    visible_case_count = serializers.IntegerField(
        read_only=True, help_text="Linked cases the caller may see."
    )
    cases = IncidentCaseSerializer(
        source="shown_cases",
        many=True,
        read_only=True,
        help_text=f"The first {CASES_SHOWN} linked cases the caller may see, oldest first; "
        "`GET cases/?incident={id}` lists them all.",
    )

    class Meta:
        model = Incident
        fields = [
            "id",
            "title",
            "status",
            "severity",
            "scope",
            "playbook",
            "detector",
            "evidence",
            "requires_approval",
            "commander",
            "opened_by",
            "opened_at",
            "contained_at",
            "resolved_at",
            "updated_at",
            "steps",
            "case_count",
            "visible_case_count",
            "cases",
        ]
        read_only_fields = fields
        list_serializer_class = PageListSerializer

    @staticmethod
    def prepare_page(viewer: Viewer, incidents: list[Incident]) -> None:
        """Titles and evidence of a page of incidents, in two queries."""
        viewer.prepare_incidents(incidents)

    def get_title(self, incident: Incident) -> str:
        return context_viewer(self.context).incident_title(incident)

    @extend_schema_field(serializers.DictField())
    def get_evidence(self, incident: Incident) -> dict[str, Any]:
        return context_viewer(self.context).incident_evidence(incident.evidence)


# Requests -------------------------------------------------------------------------------------


class StepActionSerializer(StrictSerializer):
    action = serializers.ChoiceField(
        choices=[("done", "Carry the step out (or tick it) now"), ("skip", "Skip it")],
        help_text="`done`: run the step now (a checklist item is just ticked; a failed step is "
        "tried again); `skip`: skip it, saying why in `comment`.",
    )
    comment = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="Required to skip.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["action"] == "skip" and not attrs.get("comment", "").strip():
            raise serializers.ValidationError({"comment": ["Say why the step is skipped."]})
        return attrs


class IncidentStatusChangeSerializer(StrictSerializer):
    status = choice_field("IncidentStatus", Incident.Status.choices)
    note = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="Why; kept in the incident's timeline.",
    )


class LinkableCaseField(VisibleCaseField):
    """A case the caller may see, not merged into another."""

    def to_internal_value(self, data: Any) -> Case:
        case = super().to_internal_value(data)
        if case.merged_into_id is not None:
            raise serializers.ValidationError(
                "This case was merged into another; link the case it was merged into."
            )
        return case


class LinkCasesSerializer(StrictSerializer):
    cases = serializers.ListField(
        child=LinkableCaseField(),
        min_length=1,
        max_length=MAX_LINK,
        help_text=f"Ids of cases you may see (at most {MAX_LINK}). A case linked to another "
        "incident moves to this one; the case-wide steps already done apply to each.",
    )


@extend_schema_field(
    {
        "oneOf": [{"type": "integer"}, {"type": "string"}],
        "description": "An active playbook's id or slug (`product-defect`).",
    }
)
class PlaybookRefField(serializers.Field):
    """An active playbook, by id or slug."""

    default_error_messages = {
        "invalid": "Give a playbook id or slug.",
        "does_not_exist": "No active playbook has this id or slug.",
    }

    def to_internal_value(self, data: Any) -> Playbook:
        if isinstance(data, int) and not isinstance(data, bool):
            lookup: dict[str, Any] = {"pk": data}
        elif isinstance(data, str) and data.isascii() and data.isdigit():
            lookup = {"pk": int(data)}
        elif isinstance(data, str) and _SLUG.fullmatch(data):
            lookup = {"slug": data}
        else:
            self.fail("invalid")
        if "pk" in lookup and not 0 < lookup["pk"] <= MAX_ID:
            self.fail("does_not_exist")
        playbook = Playbook.objects.filter(is_active=True, **lookup).first()
        if playbook is None:
            self.fail("does_not_exist")
        return playbook

    def to_representation(self, value: Playbook) -> Any:
        return value.pk


class OpenFromCaseSerializer(StrictSerializer):
    case = LinkableCaseField(help_text="The case to escalate (one you may see).")
    playbook = PlaybookRefField(
        required=False,
        allow_null=True,
        help_text="The playbook to run; its automatic steps run at once. When an incident of "
        "this playbook opened by hand is still active, the case joins it instead. None: an "
        "incident without steps.",
    )
    title = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="Default: `Escalated from <reference>: <subject>`.",
    )
    severity = choice_field(
        "Severity",
        Severity.choices,
        required=False,
        help_text="Default: the playbook's (high without one).",
    )
