"""Privacy in the API: a customer's data export and erasure, and the audit list.

- ``GET|POST /api/v1/customers/{id}/export/``: the export JSON (``?notes=0`` leaves internal
  notes out), streamed; needs ``socialcare.export_customer_data``.
- ``POST /api/v1/customers/{id}/erase/`` with ``{"reason": "..."}``: erases, answers the audit
  record; needs ``socialcare.erase_customer_data``.
- ``GET /api/v1/privacy-requests/``: the audit list (``view_privacyrequest``), filterable.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import StreamingHttpResponse
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter
from rest_framework.views import APIView

from socialcare.api.base import ApiMixin, ReadOnlyViewSet
from socialcare.api.filtering import DateTimeFilter
from socialcare.api.pagination import NewestFirstPagination
from socialcare.api.people_docs import errors
from socialcare.api.permissions import KeyScope, StaffOnly
from socialcare.api.schema import extend_schema
from socialcare.models import PrivacyRequest, get_customer_model
from socialcare.services import privacy


class PrivacyRequestSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = PrivacyRequest
        fields = [
            "id",
            "kind",
            "customer_id",
            "customer_pseudonym",
            "actor",
            "source",
            "reason",
            "counts",
            "created_at",
        ]
        read_only_fields = fields

    def get_actor(self, obj: PrivacyRequest) -> str | None:
        return obj.actor.get_username() if obj.actor_id and obj.actor else None


class EraseRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=2000, trim_whitespace=True, help_text="Why (recorded on the audit row)."
    )


class HasPerm(permissions.BasePermission):
    """The one permission named by the view's ``required_perm``."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.has_perm(view.required_perm))


class CustomerPrivacyView(ApiMixin, APIView):
    permission_classes = [StaffOnly, KeyScope, HasPerm]
    pagination_class = None
    filter_backends: list[Any] = []

    def customer(self, pk: str) -> Any:
        Customer = get_customer_model()
        try:
            customer = Customer._default_manager.filter(pk=pk).first()
        except (ValueError, TypeError, DjangoValidationError):
            customer = None
        if customer is None:
            raise exceptions.NotFound(f"No customer with id {pk!r}.")
        return customer


NOTES = OpenApiParameter(
    "notes",
    OpenApiTypes.BOOL,
    description="Include internal notes (default true; see docs/privacy.md).",
)


class CustomerExportView(CustomerPrivacyView):
    required_perm = "socialcare.export_customer_data"

    @extend_schema(
        operation_id="customers_export",
        summary="Export a customer's data",
        description=(
            "Everything socialcare holds about the customer as one JSON document: identities, "
            "posts (theirs and the brand's replies), cases, case events, identity "
            "verifications. Streamed. Recorded as a privacy request."
        ),
        parameters=[NOTES],
        request=None,
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT), **errors(401, 403, 404, 429)},
        tags=["customers"],
    )
    def get(self, request: Request, pk: str) -> StreamingHttpResponse:
        customer = self.customer(pk)
        notes = str(request.query_params.get("notes", "true")).lower()
        if notes not in ("1", "0", "true", "false", "yes", "no"):
            raise exceptions.ValidationError({"notes": ["Use true or false."]})
        response = StreamingHttpResponse(
            privacy.stream_customer_export(
                customer,
                actor=request.user,
                source=PrivacyRequest.Source.API,
                include_notes=notes in ("1", "true", "yes"),
            ),
            content_type="application/json; charset=utf-8",
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{privacy.export_filename(customer)}"'
        )
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(
        operation_id="customers_export_create",
        summary="Export a customer's data (POST)",
        description="The same as GET, for clients that keep exports out of URLs and logs.",
        parameters=[NOTES],
        request=None,
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT), **errors(401, 403, 404, 429)},
        tags=["customers"],
    )
    def post(self, request: Request, pk: str) -> StreamingHttpResponse:
        return self.get(request, pk)


class CustomerEraseView(CustomerPrivacyView):
    required_perm = "socialcare.erase_customer_data"

    @extend_schema(
        operation_id="customers_erase",
        summary="Erase a customer's personal data",
        description=(
            "Anonymises the customer's identities and removes the text, media and raw payloads "
            "of their posts and the words in their cases; case statistics stay. Idempotent. "
            "Answers the audit record."
        ),
        request=EraseRequestSerializer,
        responses={200: PrivacyRequestSerializer, **errors(400, 401, 403, 404, 415, 429)},
        tags=["customers"],
    )
    def post(self, request: Request, pk: str) -> Response:
        customer = self.customer(pk)
        serializer = EraseRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record = privacy.erase_customer(
            customer,
            actor=request.user,
            reason=serializer.validated_data["reason"],
            source=PrivacyRequest.Source.API,
        )
        return Response(PrivacyRequestSerializer(record).data)


class PrivacyRequestFilter(filters.FilterSet):
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = PrivacyRequest
        fields = ["kind", "source", "customer_id"]


@extend_schema(tags=["privacy"])
class PrivacyRequestViewSet(ReadOnlyViewSet):
    """Exports, erasures and retention purges: who, when, why and counts (never the data)."""

    queryset = PrivacyRequest.objects.select_related("actor")
    serializer_class = PrivacyRequestSerializer
    filterset_class = PrivacyRequestFilter
    pagination_class = NewestFirstPagination
    search_fields = ["customer_pseudonym", "reason"]
    ordering_fields: list[str] = []


def register(router: BaseRouter) -> None:
    router.register("privacy-requests", PrivacyRequestViewSet, basename="privacy-request")
