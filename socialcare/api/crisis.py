"""Crisis incidents (read, tick or skip steps, change status, link cases, open from a case),
playbooks and detectors (read-only).

Incidents are brand-wide: ``socialcare.view_incident`` reads every one, and acting on one needs
``socialcare.change_incident``. The linked cases an incident shows follow the team rule
(``socialcare.services.access``): only cases the caller may see. Querysets are eager-loaded, so a
page costs the same number of queries whatever its size. Every change goes through
``socialcare.services.incidents``.
"""

from __future__ import annotations

import re
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import (
    Count,
    DateTimeField,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Greatest
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_field
from rest_framework import filters, mixins
from rest_framework import status as http_status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from socialcare.api import crisis_docs as docs
from socialcare.api.base import GenericViewSet
from socialcare.api.case_filters import MAX_ID, StableOrdering
from socialcare.api.cases import ActionPermissions
from socialcare.api.crisis_serializers import (
    CASES_SHOWN,
    DetectorSerializer,
    IncidentSerializer,
    IncidentStatusChangeSerializer,
    LinkCasesSerializer,
    OpenFromCaseSerializer,
    PlaybookSerializer,
    StepActionSerializer,
)
from socialcare.api.filtering import DateTimeFilter, IdFilter
from socialcare.api.pagination import SyncCursorPagination
from socialcare.api.permissions import KeyScope, StaffOnly
from socialcare.models import (
    Case,
    Detector,
    Incident,
    IncidentEvent,
    IncidentStep,
    Playbook,
    PlaybookStep,
    Severity,
)
from socialcare.services import incidents as incident_services
from socialcare.services.access import Viewer, visible_cases
from socialcare.services.redaction import incidents_titled

_SLUG = re.compile(r"[-a-zA-Z0-9_]+")

# Querysets ----------------------------------------------------------------------------------


def _count(queryset: QuerySet) -> Coalesce:
    """A correlated COUNT subquery: one query for a whole page, and no row multiplication."""
    counted = queryset.order_by().values("incident").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def with_changed_at(queryset: QuerySet) -> QuerySet:
    """Annotate ``changed_at``: the incident's last change. Ticking a step or linking a case
    leaves the incident row as it is but always records an ``IncidentEvent``, so the latest of
    ``updated_at`` and the newest event is when anything about the incident last changed."""
    last_event = (
        IncidentEvent.objects.filter(incident=OuterRef("pk"))
        .order_by()
        .values("incident")
        .annotate(at=Max("at"))
        .values("at")
    )
    return queryset.annotate(
        changed_at=Greatest(
            "updated_at",
            Coalesce(Subquery(last_event, output_field=DateTimeField()), "updated_at"),
            output_field=DateTimeField(),
        )
    )


def incident_queryset(queryset: QuerySet, user: Any) -> QuerySet:
    """Incidents with everything ``IncidentSerializer`` reads for ``user``: one query for the page,
    one for the steps, one for the linked cases ``user`` may see (at most ``CASES_SHOWN`` each)."""
    linked = Case.objects.filter(incident=OuterRef("pk"))
    shown = visible_cases(user, Case.objects.all()).order_by("created_at", "pk")
    return with_changed_at(
        queryset.select_related("playbook", "detector", "commander", "opened_by")
        .prefetch_related(
            Prefetch(
                "steps",
                queryset=IncidentStep.objects.select_related("done_by").order_by("order", "pk"),
            ),
            Prefetch(
                "cases",
                queryset=shown.only(
                    "pk", "incident", "reference", "subject", "status", "priority", "created_at"
                )[:CASES_SHOWN],
                to_attr="shown_cases",
            ),
        )
        .annotate(
            case_count=_count(linked),
            visible_case_count=_count(visible_cases(user, linked)),
        )
    )


# Filters ------------------------------------------------------------------------------------


class PlaybookRefFormField(forms.CharField):
    """A playbook id, or its slug."""

    def to_python(self, value: Any) -> Any:
        value = (super().to_python(value) or "").strip()
        if not value:
            return ""
        if value.isascii() and value.isdigit():
            if not 0 < int(value) <= MAX_ID:
                raise ValidationError("Enter a playbook id or slug.", code="invalid")
            return int(value)
        if not _SLUG.fullmatch(value):
            raise ValidationError("Enter a playbook id or slug.", code="invalid")
        return value


@extend_schema_field({"type": "string", "description": "A playbook's id or slug."})
class PlaybookRefFilter(django_filters.Filter):
    field_class = PlaybookRefFormField

    def filter(self, qs: QuerySet, value: Any) -> QuerySet:
        if value in ("", None):
            return qs
        if isinstance(value, int):
            return qs.filter(playbook_id=value)
        return qs.filter(playbook__slug=value)


class IncidentFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=Incident.Status.choices,
        help_text="Repeat for several: `status=open&status=contained`.",
    )
    severity = django_filters.MultipleChoiceFilter(
        choices=Severity.choices, help_text="Repeat for several."
    )
    playbook = PlaybookRefFilter(help_text="The playbook it runs: id or slug.")
    detector = IdFilter(field_name="detector_id", help_text="The detector that opened it.")
    opened_after = DateTimeFilter(
        field_name="opened_at", lookup_expr="gte", help_text="Opened at or after (ISO 8601)."
    )
    opened_before = DateTimeFilter(
        field_name="opened_at", lookup_expr="lt", help_text="Opened before (ISO 8601)."
    )
    updated_since = DateTimeFilter(
        field_name="changed_at",
        lookup_expr="gte",
        help_text="Changed at or after (ISO 8601), steps and linked cases included: "
        "incremental sync.",
    )

    class Meta:
        model = Incident
        fields: list[str] = []


class PlaybookFilter(django_filters.FilterSet):
    severity = django_filters.MultipleChoiceFilter(
        choices=Severity.choices, help_text="Repeat for several."
    )

    class Meta:
        model = Playbook
        fields = ["is_active"]


class DetectorFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(
        choices=Detector.Kind.choices, help_text="Repeat for several."
    )
    playbook = PlaybookRefFilter(help_text="The playbook it starts: id or slug.")

    class Meta:
        model = Detector
        fields = ["is_active"]


class IncidentOrdering(StableOrdering):
    aliases = {"updated_at": "changed_at"}


class IncidentPagination(SyncCursorPagination):
    """Oldest change first (a ticked step or a linked case is a change too)."""

    ordering = ("changed_at", "id")


class ByName(StableOrdering):
    """Playbooks and detectors: by name (unique) unless asked otherwise."""

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["description"] = (
                "Sort by this field, `-` first for descending; ties keep the id order. "
                "Default: by name."
            )
        return parameters


class NamePagination(SyncCursorPagination):
    ordering = ("name", "id")


# Views --------------------------------------------------------------------------------------


@docs.INCIDENT_DOCS
class IncidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    queryset = Incident.objects.all()
    serializer_class = IncidentSerializer
    permission_classes = [StaffOnly, KeyScope, ActionPermissions]
    action_perms = {
        "step": ["socialcare.change_incident"],
        "status": ["socialcare.change_incident"],
        "cases": ["socialcare.change_incident"],
        "open_from_case": ["socialcare.change_incident"],
    }
    pagination_class = IncidentPagination
    filter_backends = [DjangoFilterBackend, filters.SearchFilter, IncidentOrdering]
    filterset_class = IncidentFilter
    search_fields = ["title"]
    ordering_fields = ["opened_at", "updated_at"]

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return Incident.objects.none()
        # Actions reload the incident as they answer: only reads need the eager loading.
        if self.action in ("list", "retrieve"):
            incidents = Incident.objects.all()
            term = self.request.query_params.get("search", "")
            viewer = Viewer(self.request.user)
            if self.action == "list" and term and not viewer.sees_all:
                # Searched as the reader reads the titles: a hidden case's words find nothing.
                incidents = incidents.filter(pk__in=incidents_titled(viewer, term))
            return incident_queryset(incidents, self.request.user)
        return Incident.objects.all()

    def _incident(self, incident: Incident, code: int = http_status.HTTP_200_OK) -> Response:
        """``incident`` as the list shows it (reloaded: the services changed it)."""
        fresh = incident_queryset(Incident.objects.filter(pk=incident.pk), self.request.user).get()
        return Response(IncidentSerializer(fresh, context=self.get_serializer_context()).data, code)

    def _body(self, serializer_class: type) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @action(
        detail=True,
        methods=["post"],
        url_path=r"steps/(?P<step_id>[^/.]+)",
        filter_backends=[],
    )
    def step(self, request: Request, pk: str | None = None, step_id: str = "") -> Response:
        incident = self.get_object()
        if not (step_id.isascii() and step_id.isdigit() and 0 < int(step_id) <= MAX_ID):
            step_id = "0"  # no such step: a 404 like any other
        step = get_object_or_404(IncidentStep, pk=int(step_id), incident=incident)
        data = self._body(StepActionSerializer)
        if data["action"] == "skip":
            incident_services.skip_step(step, actor=request.user, comment=data["comment"])
        else:
            incident_services.complete_step(step, actor=request.user, comment=data["comment"])
        return self._incident(incident)

    @action(detail=True, methods=["post"], filter_backends=[])
    def status(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        data = self._body(IncidentStatusChangeSerializer)
        incident_services.change_incident_status(
            incident, data["status"], actor=request.user, note=data["note"]
        )
        return self._incident(incident)

    @action(detail=True, methods=["post"], filter_backends=[])
    def cases(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        cases = self._body(LinkCasesSerializer)["cases"]
        incident_services.link_cases(incident, cases, actor=request.user, move=True)
        return self._incident(incident)

    @action(detail=False, methods=["post"], url_path="open-from-case", filter_backends=[])
    def open_from_case(self, request: Request) -> Response:
        data = self._body(OpenFromCaseSerializer)
        playbook = data.get("playbook")
        joined = incident_services.active_incident(playbook, "manual")
        incident = incident_services.open_incident_from_case(
            data["case"],
            actor=request.user,
            title=data.get("title", ""),
            playbook=playbook,
            severity=data.get("severity") or None,
        )
        opened = joined is None or joined.pk != incident.pk
        return self._incident(
            incident, http_status.HTTP_201_CREATED if opened else http_status.HTTP_200_OK
        )


@docs.PLAYBOOK_DOCS
class PlaybookViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    queryset = Playbook.objects.prefetch_related(
        Prefetch("steps", queryset=PlaybookStep.objects.order_by("order", "pk"))
    )
    serializer_class = PlaybookSerializer
    permission_classes = [StaffOnly, KeyScope, ActionPermissions]  # a write is a 405, not a 403
    pagination_class = NamePagination
    filter_backends = [DjangoFilterBackend, filters.SearchFilter, ByName]
    filterset_class = PlaybookFilter
    search_fields = ["name", "slug", "description"]
    ordering_fields = ["name", "id"]


@docs.DETECTOR_DOCS
class DetectorViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    queryset = Detector.objects.select_related("channel", "playbook").defer("channel__secrets")
    serializer_class = DetectorSerializer
    permission_classes = [StaffOnly, KeyScope, ActionPermissions]
    pagination_class = NamePagination
    filter_backends = [DjangoFilterBackend, filters.SearchFilter, ByName]
    filterset_class = DetectorFilter
    search_fields = ["name"]
    ordering_fields = ["name", "id"]


def register(router: BaseRouter) -> None:
    """Add this module's viewsets to the API router."""
    router.register("incidents", IncidentViewSet, basename="incident")
    router.register("playbooks", PlaybookViewSet, basename="playbook")
    router.register("detectors", DetectorViewSet, basename="detector")
