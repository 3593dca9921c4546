"""``GET api/v1/events/``: the event feed (socialcare.services.event_feed; docs/api.md, "The
event feed"). Keys need the ``cases:read`` scope (the feed carries the same cases and posts as
the case list and timelines) and the user ``socialcare.view_case``; the team rule applies."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from socialcare.api.base import ApiMixin
from socialcare.api.case_docs import error_responses
from socialcare.api.permissions import KeyScope, StaffOnly
from socialcare.api.schema import extend_schema
from socialcare.models import CaseEvent
from socialcare.services import event_feed

DESCRIPTION = (
    "Every case event the caller may see (the team rule), oldest first, each as the outbound "
    "webhook for the same change carries it: `event` is the webhook's type (`case.created`, "
    "`case.status_changed`, `case.updated`, `case.sla_warning`, `case.sla_breached`, "
    "`post.created`, `post.moderated`) or, for changes no webhook announces, `case.<kind>` "
    "(`case.note`, `case.replied`, `case.merged`, …; `data` then has `case`, `post`, `actor` and "
    "`details`, the timeline's `data`). `data.case` and `data.post` are as they are now. Store "
    "`next` and poll it: it is always present; `has_more` says whether to fetch it at once. An "
    "event committed late (a concurrent transaction) comes on a later page, possibly after "
    "events with higher ids: upsert by `id`. Needs the `cases:read` scope."
)

ITEM_EXAMPLE = {
    "id": 1842,
    "event": "case.status_changed",
    "at": "2026-12-07T09:00:00.508Z",
    "case": 17,
    "kind": "status_changed",
    "data": {
        "case": {"id": 17, "reference": "SC-000017", "status": "open", "...": "..."},
        "from": "new",
        "to": "open",
        "actor": {"id": 3, "username": "alice", "name": "Alice Agent"},
    },
}


class FeedQuerySerializer(serializers.Serializer):
    after = serializers.CharField(required=False, allow_blank=True)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=event_feed.MAX_LIMIT)
    case = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)
    kind = serializers.ListField(
        child=serializers.ChoiceField(choices=CaseEvent.Kind.choices), required=False
    )

    def validate_after(self, value: str) -> event_feed.FeedCursor | None:
        if not value:
            return None
        try:
            return event_feed.decode_cursor(value)
        except event_feed.InvalidCursor as exc:
            raise serializers.ValidationError(str(exc)) from None


class FeedItemSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The case event's id (as in timelines).")
    event = serializers.CharField(
        help_text="The outbound webhook event type, or `case.<kind>` for feed-only changes."
    )
    at = serializers.DateTimeField(help_text="When it happened (ISO 8601, UTC).")
    case = serializers.IntegerField(help_text="The case's id.")
    kind = serializers.CharField(help_text="The timeline event's kind.")
    data = serializers.DictField(help_text="The webhook's `data` for this change.")


class FeedPageSerializer(serializers.Serializer):
    results = FeedItemSerializer(many=True)
    next = serializers.URLField(help_text="Where to read on: always present; store it, poll it.")
    has_more = serializers.BooleanField(help_text="False: caught up, poll `next` later.")


class ViewsCases(permissions.BasePermission):
    message = "You need the socialcare.view_case permission."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.has_perm("socialcare.view_case"))


class EventFeedView(ApiMixin, APIView):
    permission_classes = [StaffOnly, KeyScope, ViewsCases]
    pagination_class = None
    filter_backends: list[Any] = []

    @extend_schema(
        operation_id="events_list",
        summary="The event feed",
        description=DESCRIPTION,
        parameters=[
            OpenApiParameter(
                "after",
                OpenApiTypes.STR,
                description="A cursor from `next` (none: from the first event). A cursor not "
                "issued by this server is a 400.",
            ),
            OpenApiParameter(
                "limit",
                OpenApiTypes.INT,
                description=f"Events per page, 1–{event_feed.MAX_LIMIT} "
                f"(default {event_feed.DEFAULT_LIMIT}).",
            ),
            OpenApiParameter(
                "case", OpenApiTypes.INT, many=True, description="Only these cases' events."
            ),
            OpenApiParameter(
                "kind",
                OpenApiTypes.STR,
                many=True,
                enum=CaseEvent.Kind.values,
                description="Only events of these timeline kinds.",
            ),
        ],
        request=None,
        responses={
            200: OpenApiResponse(
                FeedPageSerializer,
                examples=[
                    OpenApiExample(
                        "A page",
                        {
                            "results": [ITEM_EXAMPLE],
                            "next": "https://crm.example.com/socialcare/api/v1/events/?after=…",
                            "has_more": False,
                        },
                        response_only=True,
                    )
                ],
            ),
            **error_responses(400, 401, 403, 429),
        },
        tags=["events"],
    )
    def get(self, request: Request) -> Response:
        query = FeedQuerySerializer(
            data={
                "after": request.query_params.get("after", ""),
                "limit": request.query_params.get("limit", event_feed.DEFAULT_LIMIT),
                "case": request.query_params.getlist("case"),
                "kind": request.query_params.getlist("kind"),
            }
        )
        if not query.is_valid():
            raise exceptions.ValidationError(query.errors)
        params = query.validated_data
        page = event_feed.read_feed(
            request.user,
            params.get("after"),
            limit=params["limit"],
            cases=params.get("case", []),
            kinds=params.get("kind", []),
        )
        cursor = event_feed.encode_cursor(page.cursor)
        url = replace_query_param(request.build_absolute_uri(), "after", cursor)
        return Response({"results": page.items, "next": url, "has_more": page.has_more})
