"""Availability and the team queue in the API (docs/assignment.md):

- ``GET/PUT/PATCH api/v1/me/status/``: the caller's own status (online, away, offline). Keys
  need ``teams:read`` to read it and ``cases:write`` to change it (it decides who gets cases).
- ``GET api/v1/queue/``: the cases waiting for an agent, in the inbox's triage order, each with
  its team and since when it waits; ``?team=<id>`` for one team. The team rule applies; keys
  need ``cases:read``; the user ``socialcare.view_case``.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import F, QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import exceptions, mixins, permissions, serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from socialcare.api.base import ApiMixin, GenericViewSet
from socialcare.api.filtering import IdFilter
from socialcare.api.people_docs import LIST_ERRORS, errors
from socialcare.api.permissions import KeyScope, StaffOnly
from socialcare.api.schema import extend_schema
from socialcare.exceptions import SocialCareError
from socialcare.models import AgentStatus, AssignmentWait
from socialcare.services.access import case_filter
from socialcare.services.routing import record_activity, set_status, status_of
from socialcare.services.routing.queue import response_due

STATUS_EXAMPLE = {
    "status": "online",
    "changed_at": "2026-12-07T09:00:00Z",
    "last_activity_at": "2026-12-07T09:12:30Z",
    "set_by_system": "",
}
QUEUE_EXAMPLE = {
    "id": 88,
    "case": 17,
    "case_reference": "SC-000017",
    "subject": "Refund please",
    "priority": "high",
    "status": "new",
    "team": 2,
    "queued_at": "2026-12-07T09:00:00Z",
    "waiting_seconds": 754,
    "response_due_at": "2026-12-07T10:00:00Z",
    "supervisor_notified_at": None,
}


class StatusSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=AgentStatus.Status.choices)
    set_by_system = serializers.CharField(
        source="changed_by_system",
        read_only=True,
        help_text='"inactivity" when the system set the agent offline; "" when they chose.',
    )

    class Meta:
        model = AgentStatus
        fields = ["status", "changed_at", "last_activity_at", "set_by_system"]
        read_only_fields = ["changed_at", "last_activity_at", "set_by_system"]


class MyStatusView(ApiMixin, APIView):
    permission_classes = [StaffOnly, KeyScope]
    pagination_class = None
    filter_backends: list[Any] = []

    @extend_schema(
        operation_id="me_status_retrieve",
        summary="My status",
        description="The caller's availability: `online` agents get cases automatically in "
        "teams with auto-assignment; `away` and `offline` do not. An agent with no activity "
        "for `AGENT_IDLE_TIMEOUT` goes offline. Needs `teams:read`.",
        request=None,
        responses={
            200: OpenApiResponse(
                StatusSerializer,
                examples=[OpenApiExample("Online", STATUS_EXAMPLE, response_only=True)],
            ),
            **errors(401, 403, 429),
        },
        tags=["availability"],
    )
    def get(self, request: Request) -> Response:
        record_activity(request.user)
        return Response(StatusSerializer(status_of(request.user)).data)

    @extend_schema(
        operation_id="me_status_update",
        summary="Set my status",
        description="Set the caller's status. Going online hands them waiting cases of their "
        "teams. Needs `cases:write`.",
        request=StatusSerializer,
        responses={
            200: OpenApiResponse(
                StatusSerializer,
                examples=[OpenApiExample("Online", STATUS_EXAMPLE, response_only=True)],
            ),
            **errors(400, 401, 403, 415, 429),
        },
        examples=[OpenApiExample("Go online", {"status": "online"}, request_only=True)],
        tags=["availability"],
    )
    def put(self, request: Request) -> Response:
        body = StatusSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            row = set_status(request.user, body.validated_data["status"], actor=request.user)
        except SocialCareError as exc:
            raise exceptions.ValidationError({"status": [str(exc)]}) from None
        return Response(StatusSerializer(row).data)

    @extend_schema(
        operation_id="me_status_partial_update",
        summary="Set my status",
        request=StatusSerializer,
        responses={200: StatusSerializer, **errors(400, 401, 403, 415, 429)},
        tags=["availability"],
    )
    def patch(self, request: Request) -> Response:
        return self.put(request)


class QueueItemSerializer(serializers.ModelSerializer):
    case_reference = serializers.CharField(source="case.reference", read_only=True)
    subject = serializers.CharField(source="case.subject", read_only=True)
    priority = serializers.CharField(source="case.priority", read_only=True)
    status = serializers.CharField(source="case.status", read_only=True)
    waiting_seconds = serializers.SerializerMethodField()
    response_due_at = serializers.DateTimeField(
        source="queue_due", read_only=True, allow_null=True, help_text="The next answer's due time."
    )
    supervisor_notified_at = serializers.DateTimeField(
        source="notified_at", read_only=True, allow_null=True
    )

    class Meta:
        model = AssignmentWait
        fields = [
            "id",
            "case",
            "case_reference",
            "subject",
            "priority",
            "status",
            "team",
            "queued_at",
            "waiting_seconds",
            "response_due_at",
            "supervisor_notified_at",
        ]
        read_only_fields = fields

    def get_waiting_seconds(self, wait: AssignmentWait) -> int:
        return max(0, int((timezone.now() - wait.queued_at).total_seconds()))


class QueueFilter(django_filters.FilterSet):
    team = IdFilter(field_name="team_id", help_text="Only this team's queue.")

    class Meta:
        model = AssignmentWait
        fields: list[str] = []


class ViewsCases(permissions.BasePermission):
    message = "You need the socialcare.view_case permission."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.has_perm("socialcare.view_case"))


class QueuePagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200


@extend_schema(
    summary="The team queue",
    description="Cases waiting for an agent in teams with auto-assignment, in the inbox's "
    "triage order (the answer due soonest first, the most overdue at the top; then newest "
    "first). Only cases the caller may see (the team rule). Needs `cases:read`.",
    responses={200: QueueItemSerializer(many=True), **errors(*LIST_ERRORS)},
    examples=[
        OpenApiExample(
            "A page",
            {"count": 1, "next": None, "previous": None, "results": [QUEUE_EXAMPLE]},
            response_only=True,
        )
    ],
    tags=["availability"],
)
class QueueViewSet(mixins.ListModelMixin, GenericViewSet):
    serializer_class = QueueItemSerializer
    permission_classes = [StaffOnly, KeyScope, ViewsCases]
    pagination_class = QueuePagination
    filterset_class = QueueFilter
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend]
    queryset = AssignmentWait.objects.none()

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return AssignmentWait.objects.none()
        return (
            AssignmentWait.objects.filter(ended_at__isnull=True)
            .filter(case_filter(self.request.user, "case__"))
            .select_related("case")
            .annotate(queue_due=response_due("case__"))
            .order_by(F("queue_due").asc(nulls_last=True), "-case__created_at", "-case_id")
        )


def register(router: Any) -> None:
    router.register("queue", QueueViewSet, basename="team-queue")
