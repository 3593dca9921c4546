"""``GET api/v1/automatic-messages/``: the ledger of automatic customer-facing messages (issue
#25; ``socialcare.services.automatic_messages``), read-only, newest first. The user needs
``socialcare.view_automaticmessage`` (an agent's role has it) and sees the messages of the cases
they may see (the team rule); a key needs the ``cases:read`` scope. Writing is a 405: the ledger
is written by the playbooks only."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.routers import BaseRouter

from socialcare.api.base import GenericViewSet
from socialcare.api.cases import ActionPermissions
from socialcare.api.filtering import DateTimeFilter, IdFilter
from socialcare.api.pagination import NewestFirstPagination
from socialcare.api.people_docs import DETAIL_ERRORS, LIST_ERRORS, _example, errors
from socialcare.api.permissions import KeyScope, StaffOnly
from socialcare.api.schema import extend_schema
from socialcare.models import AutomaticMessage
from socialcare.services.access import case_filter

EXAMPLE = {
    "id": 41,
    "purpose": "incident:12:holding_reply",
    "conversation": "*",
    "identity": 7,
    "case": 17,
    "case_reference": "SC-000017",
    "incident": 12,
    "incident_step": 88,
    "status": "sent",
    "post": 311,
    "created_at": "2026-12-07T09:00:00Z",
    "due_at": "2026-12-07T09:00:05Z",
    "done_at": "2026-12-07T09:00:05.4Z",
    "reason": "",
}


class AutomaticMessageSerializer(serializers.ModelSerializer):
    case_reference = serializers.CharField(source="case.reference", read_only=True)
    incident = serializers.IntegerField(
        source="incident_step.incident_id",
        read_only=True,
        allow_null=True,
        help_text="The incident whose playbook sent it.",
    )

    class Meta:
        model = AutomaticMessage
        fields = [
            "id",
            "purpose",
            "conversation",
            "identity",
            "case",
            "case_reference",
            "incident",
            "incident_step",
            "status",
            "post",
            "created_at",
            "due_at",
            "done_at",
            "reason",
        ]
        read_only_fields = fields


class AutomaticMessageFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=AutomaticMessage.Status.choices,
        help_text="Repeat for several: `status=pending&status=sent`.",
    )
    case = IdFilter(field_name="case_id", help_text="The case it was (or is to be) sent on.")
    identity = IdFilter(field_name="identity_id", help_text="The customer identity it went to.")
    incident = IdFilter(
        field_name="incident_step__incident_id", help_text="The incident whose playbook sent it."
    )
    purpose = django_filters.CharFilter(help_text='Exactly, e.g. "incident:12:holding_reply".')
    created_after = DateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Decided at or after (ISO 8601)."
    )
    created_before = DateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Decided before (ISO 8601)."
    )

    class Meta:
        model = AutomaticMessage
        fields: list[str] = []


@extend_schema_view(
    list=extend_schema(
        summary="List automatic messages",
        description="The messages playbooks sent (or hold for their settle window) to customers, "
        "newest first: each at most once per customer identity, purpose and conversation "
        '(`conversation` `"*"`: once per customer). `status`: `pending` (waiting for the settle '
        "window), `sent`, `cancelled` (the case was merged into a thread that already had it, "
        "closed, or left the incident; `reason` says which) or `failed`. Read-only; needs the "
        "`cases:read` scope.",
        responses={200: AutomaticMessageSerializer(many=True), **errors(*LIST_ERRORS)},
        examples=[_example("A holding reply", EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="Get an automatic message",
        responses={200: AutomaticMessageSerializer, **errors(*DETAIL_ERRORS)},
        examples=[_example("A holding reply", EXAMPLE, response_only=True)],
    ),
)
class AutomaticMessageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    queryset = AutomaticMessage.objects.select_related("case", "incident_step")
    serializer_class = AutomaticMessageSerializer
    permission_classes = [StaffOnly, KeyScope, ActionPermissions]  # a write is a 405, not a 403
    pagination_class = NewestFirstPagination
    filterset_class = AutomaticMessageFilter
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend]

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return AutomaticMessage.objects.none()
        return super().get_queryset().filter(case_filter(self.request.user, "case__"))


def register(router: BaseRouter) -> None:
    router.register("automatic-messages", AutomaticMessageViewSet, basename="automatic-message")
