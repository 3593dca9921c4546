"""Identity verification links: serializers, docs and the read-only list of links.

Creating a link is an action of the case (``POST /cases/{id}/verification-links/``, in
``socialcare.api.cases``): it needs ``socialcare.change_case`` and a case the caller may see, and
a key needs the ``verification:write`` scope (``verification:read`` to list them, here or on the
case): links are their own resource, whatever route serves them (``permissions.ACTION_SCOPES``).
The URL is in that answer only; no read shows it again (the database keeps only its hash).
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema_view
from rest_framework import serializers
from rest_framework.routers import BaseRouter

from socialcare.api import case_docs
from socialcare.api.base import ReadOnlyViewSet
from socialcare.api.pagination import NewestFirstPagination
from socialcare.api.schema import extend_schema
from socialcare.models import Case, IdentityVerification
from socialcare.services.access import visible_cases

CREATE = (
    "Create a link the customer opens to prove they own the case's social identity by signing "
    "in with the platform (X, Facebook, Instagram, Mastodon, or a provider the host adds). The "
    "link works once and expires after `VERIFICATION_LINK_MAX_AGE` (24 h by default). **`url` is "
    "in this answer only**: send it to the customer (e.g. in a private message); it is never "
    "shown again. On success the identity is marked owner-verified and linked to the case's "
    "customer, and the case history records it. Needs `socialcare.change_case` (and, with a key, "
    "the `verification:write` scope; not `cases:write`); a case with no identity, or whose "
    "platform has no sign-in service, is a 400."
)
LIST = (
    "Verification links of the cases the caller may see, newest first, with their outcome "
    "(`pending`, `verified`, `mismatch`: the customer signed in as another account, `denied`, "
    "`failed`) and `state` (`used`, `expired` or the outcome). Never the link itself. A key "
    "needs the `verification:read` scope, here and on `cases/{id}/verification-links/`."
)


class VerificationSerializer(serializers.ModelSerializer):
    case = serializers.IntegerField(source="case_id", read_only=True)
    case_reference = serializers.CharField(source="case.reference", read_only=True)
    identity = serializers.IntegerField(source="identity_id", read_only=True)
    identity_label = serializers.CharField(source="identity.__str__", read_only=True)
    created_by = serializers.SerializerMethodField()
    state = serializers.CharField(read_only=True)

    class Meta:
        model = IdentityVerification
        fields = [
            "id",
            "case",
            "case_reference",
            "identity",
            "identity_label",
            "provider",
            "outcome",
            "state",
            "attempts",
            "signed_in_as",
            "failure_reason",
            "created_by",
            "created_at",
            "expires_at",
            "used_at",
        ]
        read_only_fields = fields

    def get_created_by(self, obj: IdentityVerification) -> str | None:
        return obj.created_by.get_username() if obj.created_by_id else None


class VerificationCreatedSerializer(VerificationSerializer):
    url = serializers.URLField(
        read_only=True, help_text="The link to send to the customer. Shown only in this answer."
    )

    class Meta(VerificationSerializer.Meta):
        fields = [*VerificationSerializer.Meta.fields, "url"]
        read_only_fields = fields


EXAMPLE = {
    "id": 3,
    "case": 42,
    "case_reference": "SC-000042",
    "identity": 7,
    "identity_label": "@ada (X (Twitter))",
    "provider": "twitter-oauth2",
    "outcome": "pending",
    "state": "pending",
    "attempts": 0,
    "signed_in_as": "",
    "failure_reason": "",
    "created_by": "alice",
    "created_at": "2026-11-30T10:00:00Z",
    "expires_at": "2026-12-01T10:00:00Z",
    "used_at": None,
}
CREATED_EXAMPLE = OpenApiExample(
    "A new link",
    response_only=True,
    status_codes=["201"],
    value={**EXAMPLE, "url": "https://crm.example.com/socialcare/verify/eyJ2IjozLCJuIjoi…/"},
)
LIST_EXAMPLE = OpenApiExample("A link", response_only=True, value=EXAMPLE)


def verification_queryset(queryset: QuerySet) -> QuerySet:
    return queryset.select_related("case", "identity", "created_by")


@extend_schema_view(
    list=extend_schema(
        summary="List identity verification links",
        description=LIST,
        responses={
            200: VerificationSerializer(many=True),
            **case_docs.error_responses(400, 401, 403, 429),
        },
        examples=[LIST_EXAMPLE],
    ),
    retrieve=extend_schema(
        summary="Get an identity verification link",
        description="One link's outcome and state (never the link itself).",
        responses={
            200: VerificationSerializer,
            **case_docs.error_responses(401, 403, 404, 429),
        },
        examples=[LIST_EXAMPLE],
    ),
)
class VerificationViewSet(ReadOnlyViewSet):
    queryset = IdentityVerification.objects.all()
    serializer_class = VerificationSerializer
    filter_backends: list = []
    pagination_class = NewestFirstPagination

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return IdentityVerification.objects.none()
        cases = visible_cases(self.request.user, Case.objects.all())
        return verification_queryset(IdentityVerification.objects.filter(case__in=cases))


def register(router: BaseRouter) -> None:
    router.register("verification-links", VerificationViewSet, basename="verification-link")
