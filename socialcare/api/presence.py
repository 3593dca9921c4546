"""``GET/POST cases/{id}/presence/``: who else has a case open and who is typing a reply, for a
host's own agent UI (the admin's case page uses ``<case>/presence/``; docs/case-page.md)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample
from rest_framework import permissions, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from socialcare.api import case_docs as docs
from socialcare.api.case_serializers import StrictSerializer
from socialcare.api.permissions import KeyScope, StaffOnly
from socialcare.api.schema import extend_schema
from socialcare.services import presence

PRESENCE_DOC = (
    "Who else has this case open now, and who is typing a reply (the agents other than the "
    "caller, typing ones first). `POST` reports the caller as viewing (`typing: true` while "
    "typing, `leaving: true` when closing the case) and answers the same. A report counts as "
    "viewing for `PRESENCE_TIMEOUT` (20 s) and as typing for `PRESENCE_TYPING_TIMEOUT` (8 s): "
    "report every `poll_seconds`. Needs `socialcare.view_case` (or `change_case`) and the team "
    "rule; keys: `cases:read`."
)


class CanSeeCases(permissions.BasePermission):
    """The view or the change permission on cases, whatever the method."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(
            user
            and (user.has_perm("socialcare.view_case") or user.has_perm("socialcare.change_case"))
        )


class PresenceReportSerializer(StrictSerializer):
    typing = serializers.BooleanField(default=False, help_text="Typing a reply now.")
    leaving = serializers.BooleanField(default=False, help_text="Closing the case.")


class PresentAgentSerializer(serializers.Serializer):
    user = serializers.IntegerField(help_text="The agent's user id.")
    name = serializers.CharField(help_text="Full name, else username.")
    typing = serializers.BooleanField()
    viewing_at = serializers.DateTimeField(help_text="Their latest report.")


class PresenceSerializer(serializers.Serializer):
    others = PresentAgentSerializer(many=True)
    poll_seconds = serializers.IntegerField(help_text="How often to report and ask.")


PRESENCE_EXAMPLE = OpenApiExample(
    "Maya is typing",
    response_only=True,
    value={
        "others": [
            {"user": 7, "name": "Maya Okafor", "typing": True, "viewing_at": "2026-12-07T09:15:04Z"}
        ],
        "poll_seconds": 5,
    },
)
REPORT_EXAMPLE = OpenApiExample("Typing", request_only=True, value={"typing": True})


class CasePresenceActions:
    """The ``presence`` action of ``CaseViewSet``."""

    @extend_schema(
        methods=["GET"],
        summary="Who else is on a case",
        description=PRESENCE_DOC,
        request=None,
        responses={200: PresenceSerializer, **docs.error_responses(401, 403, 404, 429)},
        examples=[PRESENCE_EXAMPLE],
    )
    @extend_schema(
        methods=["POST"],
        summary="Report being on a case",
        description=PRESENCE_DOC,
        request=PresenceReportSerializer,
        responses={200: PresenceSerializer, **docs.error_responses(400, 401, 403, 404, 429)},
        examples=[REPORT_EXAMPLE, PRESENCE_EXAMPLE],
    )
    @action(
        detail=True,
        methods=["get", "post"],
        filter_backends=[],
        pagination_class=None,
        permission_classes=[StaffOnly, KeyScope, CanSeeCases],
    )
    def presence(self, request: Request, pk: str | None = None) -> Response:
        case = self.get_object()
        if request.method == "POST":
            report = PresenceReportSerializer(data=request.data)
            report.is_valid(raise_exception=True)
            if report.validated_data["leaving"]:
                presence.leave(case, request.user)
            else:
                presence.heartbeat(case, request.user, typing=report.validated_data["typing"])
        field = serializers.DateTimeField()
        others = [
            {**other.as_dict(), "viewing_at": field.to_representation(other.viewing_at)}
            for other in presence.others_on(case, request.user)
        ]
        return Response(
            {"others": others, "poll_seconds": presence.poll_interval_ms() // 1000},
        )
