"""Macros in the API (issue #20; ``services.macros``).

- ``GET macros/``, ``GET macros/{id}/``: the macros the caller may run (``view_macro``); a user
  who may edit macros (``change_macro``) sees every macro, inactive ones too. Editing is admin's.
- ``POST cases/{case_id}/macros/{id}/apply/``: run a macro on one case, all or nothing.
- ``POST macros/{id}/apply/`` with ``{"cases": [ids]}``: run it on several cases, each on its
  own; the answer lists the cases done and, per refused case, why.

Applying needs ``change_case`` and ``apply_macro``, a case the caller may see (the team rule)
and a macro offered to them; a key needs ``cases:write``, and ``replies:write`` too when the
macro sends a reply.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from django.urls import path
from drf_spectacular.utils import OpenApiExample, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from socialcare.api.base import GenericViewSet
from socialcare.api.cases import ActionPermissions
from socialcare.api.filtering import IdFilter
from socialcare.api.pagination import NewestFirstPagination
from socialcare.api.people_docs import DETAIL_ERRORS, LIST_ERRORS, _example, errors
from socialcare.api.permissions import KeyScope, StaffOnly
from socialcare.api.schema import extend_schema
from socialcare.models import ApiKey, Macro, MacroAction
from socialcare.services import macros as macro_services
from socialcare.services.access import visible_cases

APPLY_PERMS = ["socialcare.change_case", macro_services.APPLY_PERMISSION]
#: Most cases one bulk request changes.
MAX_BULK = 100
#: The largest id a database key holds (a bigger one is no such object, never a 500).
MAX_ID = 2**63 - 1

EXAMPLE = {
    "id": 3,
    "name": "Refund issued",
    "description": "Tell the customer the refund is on its way and resolve the case.",
    "is_active": True,
    "teams": [2],
    "roles": [],
    "sends_reply": True,
    "actions": [
        {
            "position": 1,
            "kind": "reply",
            "summary": "Reply (as the case) with “Refund issued”",
            "template": 4,
            "visibility": "",
            "status": "",
            "priority": "",
            "tags": [],
            "team": None,
            "assignee": None,
            "text": "",
        },
        {
            "position": 2,
            "kind": "status",
            "summary": "Status → Resolved",
            "template": None,
            "visibility": "",
            "status": "resolved",
            "priority": "",
            "tags": [],
            "team": None,
            "assignee": None,
            "text": "",
        },
    ],
    "created_at": "2026-12-07T09:00:00Z",
    "updated_at": "2026-12-07T09:00:00Z",
}
APPLIED_EXAMPLE = {
    "case": 17,
    "reference": "SC-000017",
    "macro": 3,
    "event": 912,
    "done": ["private reply “Refund issued” queued", "status → resolved"],
}
BULK_EXAMPLE = {
    "applied": [{"case": 17, "reference": "SC-000017"}],
    "refused": [
        "SC-000018: macro “Refund issued” not applied, nothing changed. Step 1 (Reply (as the "
        "case) with “Refund issued”) was refused: The 24-hour messaging window closed."
    ],
}


class MacroActionSerializer(serializers.ModelSerializer):
    summary = serializers.CharField(source="describe", read_only=True)
    tags = serializers.ListField(source="tag_names", child=serializers.CharField(), read_only=True)
    # Plain strings ("" when the action does not use them), not enums: the empty value is
    # valid here, and the case's status and priority enums keep their names.
    visibility = serializers.CharField(
        read_only=True, help_text="For a reply: `public`, `private`, or empty (as the case is)."
    )
    status = serializers.CharField(read_only=True, help_text="For `status`: the case status set.")
    priority = serializers.CharField(read_only=True, help_text="For `priority`: the priority set.")

    class Meta:
        model = MacroAction
        fields = [
            "position",
            "kind",
            "summary",
            "template",
            "visibility",
            "status",
            "priority",
            "tags",
            "team",
            "assignee",
            "text",
        ]
        read_only_fields = fields


class MacroSerializer(serializers.ModelSerializer):
    actions = MacroActionSerializer(many=True, read_only=True)
    roles = serializers.SlugRelatedField(
        source="groups", slug_field="name", many=True, read_only=True
    )
    sends_reply = serializers.SerializerMethodField()

    class Meta:
        model = Macro
        fields = [
            "id",
            "name",
            "description",
            "is_active",
            "teams",
            "roles",
            "sends_reply",
            "actions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_sends_reply(self, obj: Macro) -> bool:
        return any(a.kind == MacroAction.Kind.REPLY for a in obj.actions.all())


class MacroFilter(django_filters.FilterSet):
    is_active = django_filters.BooleanFilter(help_text="Active (offered) or not.")
    team = IdFilter(
        method="filter_team",
        help_text="Macros offered to this team's members: limited to it, or to no team.",
    )
    kind = django_filters.ChoiceFilter(
        choices=MacroAction.Kind.choices,
        method="filter_kind",
        help_text="Macros with an action of this kind, e.g. `reply`.",
    )
    search = django_filters.CharFilter(
        method="filter_search", help_text="Words in the name or description."
    )

    class Meta:
        model = Macro
        fields: list[str] = []

    def filter_team(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        ids = Macro.objects.filter(Q(teams__isnull=True) | Q(teams=value)).values("pk")
        return queryset.filter(pk__in=ids)

    def filter_kind(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(pk__in=MacroAction.objects.filter(kind=value).values("macro"))

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))


class ApplyResultSerializer(serializers.Serializer):
    case = serializers.IntegerField()
    reference = serializers.CharField()
    macro = serializers.IntegerField()
    event = serializers.IntegerField(help_text="The one `macro_applied` timeline event.")
    done = serializers.ListField(child=serializers.CharField(), help_text="Per action, in order.")


class BulkApplySerializer(serializers.Serializer):
    cases = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        min_length=1,
        max_length=MAX_BULK,
        help_text=f"Ids of the cases to run the macro on (at most {MAX_BULK}).",
    )


class BulkResultSerializer(serializers.Serializer):
    applied = serializers.ListField(child=serializers.DictField())
    refused = serializers.ListField(child=serializers.CharField())


def macro_queryset(user: Any) -> QuerySet[Macro]:
    """What the caller may list: every macro for who edits them, else those offered to them."""
    macros = Macro.objects.all()
    if not user.has_perm("socialcare.change_macro"):
        macros = macros.filter(pk__in=macro_services.usable_macros(user).values("pk"))
    return macros.prefetch_related("actions__template", "groups", "teams")


def usable_macro(user: Any, pk: Any) -> Macro:
    """A macro ``user`` may run, or a 404 (one not offered to them does not exist for them)."""
    if not str(pk).isdigit() or int(pk) > MAX_ID:
        raise NotFound("No such macro, or it is not offered to you.")
    macro = macro_services.usable_macros(user).filter(pk=int(pk)).first()
    if macro is None:
        raise NotFound("No such macro, or it is not offered to you.")
    return macro


def check_reply_scope(request: Request, macro: Macro) -> None:
    """A key runs a macro that sends a reply only with ``replies:write`` too."""
    key = request.auth
    sends = macro.actions.filter(kind=MacroAction.Kind.REPLY).exists()
    if isinstance(key, ApiKey) and sends and not key.has_scope("replies:write"):
        raise PermissionDenied(
            "This API key lacks the scope replies:write: the macro sends a reply."
        )


def applied(result: macro_services.MacroResult) -> dict[str, Any]:
    return {
        "case": result.case.pk,
        "reference": result.case.reference,
        "macro": result.macro.pk,
        "event": result.event.pk if result.event else None,
        "done": result.done,
    }


@extend_schema_view(
    list=extend_schema(
        summary="List macros",
        description="The macros the caller may run (active, offered to their teams and role), "
        "newest first; a user who may edit macros sees every macro. Needs `view_macro` and, for "
        "a key, `cases:read`. Macros are edited in admin.",
        responses={200: MacroSerializer(many=True), **errors(*LIST_ERRORS)},
        examples=[_example("A macro", EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="Get a macro",
        responses={200: MacroSerializer, **errors(*DETAIL_ERRORS)},
        examples=[_example("A macro", EXAMPLE, response_only=True)],
    ),
)
class MacroViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    queryset = Macro.objects.all()
    serializer_class = MacroSerializer
    permission_classes = [StaffOnly, KeyScope, ActionPermissions]
    action_perms = {"apply": APPLY_PERMS}
    pagination_class = NewestFirstPagination
    filterset_class = MacroFilter
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend]

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return Macro.objects.none()
        return macro_queryset(self.request.user)

    @extend_schema(
        summary="Run a macro on several cases",
        description="Runs the macro on each case on its own (all or nothing per case): the "
        "answer lists the cases done and, per case refused, the step and the reason. A case "
        "the caller may not see is refused as not found. Needs `change_case` and `apply_macro`; "
        "a key `cases:write` (and `replies:write` when the macro sends a reply).",
        request=BulkApplySerializer,
        responses={200: BulkResultSerializer, **errors(400, 401, 403, 404, 429)},
        examples=[
            OpenApiExample("Cases", value={"cases": [17, 18]}, request_only=True),
            OpenApiExample("Result", value=BULK_EXAMPLE, response_only=True),
        ],
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def apply(self, request: Request, pk: str | None = None) -> Response:
        macro = usable_macro(request.user, pk)
        check_reply_scope(request, macro)
        body = BulkApplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        wanted = list(dict.fromkeys(body.validated_data["cases"]))
        found = {c.pk: c for c in visible_cases(request.user).filter(pk__in=wanted)}
        out: dict[str, list] = {"applied": [], "refused": []}
        for pk_ in wanted:
            case = found.get(pk_)
            if case is None:
                out["refused"].append(f"Case {pk_}: no such case.")
                continue
            result = macro_services.apply_macro_to_cases([case], macro, actor=request.user)
            if result.changed:
                out["applied"].append({"case": case.pk, "reference": case.reference})
            out["refused"].extend(result.skipped)
        return Response(out)


class CaseMacroApplyView(GenericViewSet):
    """``POST cases/{case_id}/macros/{id}/apply/``."""

    queryset = Macro.objects.all()  # ``{id}`` names a macro (read per request: usable_macro)
    permission_classes = [StaffOnly, KeyScope, ActionPermissions]
    action_perms = {"apply": APPLY_PERMS}
    serializer_class = ApplyResultSerializer
    pagination_class = None
    filter_backends: list = []

    @extend_schema(
        summary="Run a macro on a case",
        description="Runs every action of the macro on the case, in order, in one transaction, "
        "and records one `macro_applied` event listing what each did. When one action is "
        "refused (a private reply outside the messaging window, a status the workflow does "
        "not allow), nothing is changed and the answer is a 400 `macro_refused` naming the "
        "step and the reason. Needs `change_case` and `apply_macro`, a case the caller may see "
        "and a macro offered to them (else 404); a key `cases:write`, and `replies:write` when "
        "the macro sends a reply.",
        request=None,
        responses={200: ApplyResultSerializer, **errors(400, 401, 403, 404, 429)},
        examples=[OpenApiExample("Applied", value=APPLIED_EXAMPLE, response_only=True)],
    )
    def apply(self, request: Request, case_id: int, pk: int) -> Response:
        case = visible_cases(request.user).filter(pk=case_id).first() if case_id <= MAX_ID else None
        if case is None:
            raise NotFound("No such case.")
        macro = usable_macro(request.user, pk)
        check_reply_scope(request, macro)
        result = macro_services.apply_macro(case, macro, actor=request.user)
        return Response(applied(result), status=status.HTTP_200_OK)


def register(router: BaseRouter) -> None:
    router.register("macros", MacroViewSet, basename="macro")


#: Included by ``api/urls.py`` under ``v1/``.
urlpatterns = [
    path(
        "cases/<int:case_id>/macros/<int:pk>/apply/",
        CaseMacroApplyView.as_view({"post": "apply"}),
        name="case-macro-apply",
    )
]
