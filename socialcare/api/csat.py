"""``GET api/v1/csat/``: the CSAT surveys of the cases the caller may see (the team rule), newest
first, with their answers; and the ``csat`` object of a case (``CaseSerializer``). The user needs
``socialcare.view_survey`` (an agent's role has it); a key needs the ``cases:read`` scope.
Surveys are sent and answered by the customers only: writing is a 405."""

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
from socialcare.conf import platform_choices
from socialcare.models import Survey
from socialcare.services.access import case_filter

EXAMPLE = {
    "id": 9,
    "case": 17,
    "case_reference": "SC-000017",
    "team": "Care",
    "identity": 7,
    "platform": "facebook",
    "mode": "dm",
    "language": "fr",
    "question": 311,
    "sent_at": "2026-12-07T09:10:00Z",
    "score": 4,
    "answer_text": "très bien",
    "answered_at": "2026-12-07T09:14:12Z",
    "answered_via": "dm",
    "answer_post": 315,
}


class SurveySerializer(serializers.ModelSerializer):
    case_reference = serializers.CharField(source="case.reference", read_only=True)
    team = serializers.CharField(
        source="case.team.name", read_only=True, allow_null=True, help_text="The case's team."
    )

    class Meta:
        model = Survey
        fields = [
            "id",
            "case",
            "case_reference",
            "team",
            "identity",
            "platform",
            "mode",
            "language",
            "question",
            "sent_at",
            "score",
            "answer_text",
            "answered_at",
            "answered_via",
            "answer_post",
        ]
        read_only_fields = fields


class SurveyFilter(django_filters.FilterSet):
    case = IdFilter(field_name="case_id", help_text="The case surveyed.")
    team = IdFilter(field_name="case__team_id", help_text="The case's team.")
    platform = django_filters.ChoiceFilter(choices=platform_choices, help_text="e.g. `x`.")
    mode = django_filters.ChoiceFilter(choices=Survey.Asked.choices)
    answered = django_filters.BooleanFilter(
        field_name="score", lookup_expr="isnull", exclude=True, help_text="Answered or not."
    )
    score = django_filters.NumberFilter(help_text="Exactly this score (1–5).")
    score_min = django_filters.NumberFilter(field_name="score", lookup_expr="gte")
    score_max = django_filters.NumberFilter(field_name="score", lookup_expr="lte")
    sent_after = DateTimeFilter(field_name="sent_at", lookup_expr="gte", help_text="ISO 8601.")
    sent_before = DateTimeFilter(field_name="sent_at", lookup_expr="lt", help_text="ISO 8601.")
    answered_after = DateTimeFilter(
        field_name="answered_at", lookup_expr="gte", help_text="ISO 8601."
    )
    answered_before = DateTimeFilter(
        field_name="answered_at", lookup_expr="lt", help_text="ISO 8601."
    )

    class Meta:
        model = Survey
        fields: list[str] = []


class SurveyPagination(NewestFirstPagination):
    ordering = ("-sent_at", "-id")


@extend_schema_view(
    list=extend_schema(
        summary="List CSAT surveys",
        description="The satisfaction surveys sent after cases were resolved (one per case at "
        "most), newest first, with the customer's answer: `score` 1–5 (null until answered), "
        "`answer_text` as written, `answered_via` `dm` (a message in the channel) or `link` "
        "(the survey page). Read-only; needs the `cases:read` scope.",
        responses={200: SurveySerializer(many=True), **errors(*LIST_ERRORS)},
        examples=[_example("An answered survey", EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="Get a CSAT survey",
        responses={200: SurveySerializer, **errors(*DETAIL_ERRORS)},
        examples=[_example("An answered survey", EXAMPLE, response_only=True)],
    ),
)
class SurveyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    queryset = Survey.objects.select_related("case__team")
    serializer_class = SurveySerializer
    permission_classes = [StaffOnly, KeyScope, ActionPermissions]  # a write is a 405, not a 403
    pagination_class = SurveyPagination
    filterset_class = SurveyFilter
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend]

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return Survey.objects.none()
        return super().get_queryset().filter(case_filter(self.request.user, "case__"))


def register(router: BaseRouter) -> None:
    router.register("csat", SurveyViewSet, basename="csat-survey")
