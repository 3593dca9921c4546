"""Customers, social identities, teams, SLA policies, webhook subscriptions.

Who may do what: Django model permissions (``view_*`` to read; the customer model's own
permissions for customers, so a swapped model uses its app's). Merging customers and linking
identities need ``change``; a customer's history also needs ``socialcare.view_case`` and shows only
the cases the user may see under the team rule (``socialcare.services.access``), as in admin.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from socialcare.adapter import get_customer_adapter
from socialcare.api import identity_suggestions as suggestion_api
from socialcare.api import people_docs as docs
from socialcare.api.base import ApiMixin
from socialcare.api.pagination import SyncCursorPagination
from socialcare.api.people_filters import (
    IdentityFilter,
    SLAPolicyFilter,
    WebhookSubscriptionFilter,
    customer_filterset,
    has_field,
)
from socialcare.api.people_serializers import (
    CustomerSerializer,
    HistoryCaseSerializer,
    IdentityLinkSerializer,
    IdentitySerializer,
    MergeRequestSerializer,
    MergeResultSerializer,
    SLAPolicySerializer,
    TeamSerializer,
    WebhookSubscriptionCreatedSerializer,
    WebhookSubscriptionSerializer,
)
from socialcare.api.permissions import KeyScope, ModelPermissions, StaffOnly
from socialcare.models import (
    Case,
    CaseEvent,
    Post,
    SLAPolicy,
    Team,
    TeamMembership,
    WebhookSubscription,
    get_customer_model,
)
from socialcare.services import customers as customer_services
from socialcare.services import timeline
from socialcare.services.access import visible_cases, visible_identities
from socialcare.services.identity_suggestions import possibly_same_person


class HistoryPagination(SyncCursorPagination):
    """A customer's cases, oldest first, a few per page (each carries its whole timeline)."""

    page_size = 20
    max_page_size = 100

    def get_ordering(self, request: Request, queryset: QuerySet, view: Any) -> tuple[str, ...]:
        return ("created_at", "id")


class ActionPermissions(ModelPermissions):
    """Model permissions, with custom actions mapped to what they need (``view.action_perms``)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        needed = getattr(view, "action_perms", {}).get(getattr(view, "action", None))
        if needed is None:
            return super().has_permission(request, view)
        if not request.user or not request.user.is_authenticated:
            return False
        opts = view.get_queryset().model._meta
        perms = [
            perm % {"app_label": opts.app_label, "model_name": opts.model_name} for perm in needed
        ]
        return request.user.has_perms(perms)


class PeopleViewSet(ApiMixin, viewsets.GenericViewSet):
    permission_classes = [StaffOnly, KeyScope, ActionPermissions]
    action_perms: dict[str, list[str]] = {}

    def respond(self, instance: Any, *, code: int = status.HTTP_200_OK) -> Response:
        """The answer to a write: the row read back through ``get_queryset`` (annotations too)."""
        fresh = self.get_queryset().get(pk=instance.pk)
        return Response(self.get_serializer(fresh).data, status=code)


# Customers --------------------------------------------------------------------------------------


@docs.CUSTOMER_DOCS
class CustomerViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, PeopleViewSet
):
    serializer_class = CustomerSerializer
    action_perms = {
        "merge": ["%(app_label)s.change_%(model_name)s"],
        "history": ["%(app_label)s.view_%(model_name)s", "socialcare.view_case"],
    }

    def get_queryset(self) -> QuerySet:
        # Customers are the CRM's shared records; what is counted or listed of their cases and
        # identities is what the caller may see (services.access).
        user = self.request.user
        open_cases = (
            visible_cases(user, Case.objects.open())
            .filter(customer=OuterRef("pk"))
            .order_by()
            .values("customer")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            get_customer_model()
            ._default_manager.annotate(
                socialcare_open_cases=Coalesce(Subquery(open_cases, output_field=IntegerField()), 0)
            )
            .prefetch_related(
                Prefetch(
                    "social_identities",
                    queryset=visible_identities(user).order_by("platform", "handle", "pk"),
                )
            )
        )

    # The customer model is swappable: what it can be sorted, searched and filtered by is read
    # from it (and from settings) when a request comes, never at import time.
    @property
    def ordering(self) -> tuple[str, ...]:
        return ("updated_at", "id") if has_field(get_customer_model(), "updated_at") else ("id",)

    @property
    def ordering_fields(self) -> list[str]:
        model = get_customer_model()
        return ["id", *(name for name in ("created_at", "updated_at") if has_field(model, name))]

    @property
    def search_fields(self) -> list[str]:
        return [*get_customer_adapter().get_search_fields(), "social_identities__handle"]

    @property
    def filterset_class(self) -> type:
        return customer_filterset(get_customer_model())

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action == "merge":
            return MergeRequestSerializer
        if self.action == "history":
            return HistoryCaseSerializer
        return CustomerSerializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self.respond(serializer.save(), code=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        return self.respond(serializer.save())

    @action(detail=True, methods=["post"])
    def merge(self, request: Request, pk: Any = None) -> Response:
        source = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        target = serializer.validated_data["into"]
        merge = customer_services.merge_customers(source, target, actor=request.user)
        kept = self.get_queryset().get(pk=target.pk)
        result = MergeResultSerializer(
            {"customer": kept, "merge": merge}, context=self.get_serializer_context()
        )
        return Response(result.data)

    @action(detail=True, methods=["get"], pagination_class=HistoryPagination, filter_backends=[])
    def history(self, request: Request, pk: Any = None) -> Response:
        customer = self.get_object()
        cases = visible_cases(
            request.user, Case.objects.filter(customer=customer)
        ).prefetch_related(
            Prefetch(
                "events",
                # The one timeline's order (services.timeline): "Case opened" first at a tie.
                queryset=timeline.ordered(
                    timeline.with_order_keys(CaseEvent.objects.select_related("actor"))
                ),
            ),
            Prefetch(
                "posts",
                queryset=Post.objects.select_related("author", "sent_by").order_by(
                    "posted_at", "pk"
                ),
            ),
        )
        page = self.paginate_queryset(cases)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


# Social identities ------------------------------------------------------------------------------


@docs.IDENTITY_DOCS
class IdentityViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, PeopleViewSet
):
    serializer_class = IdentitySerializer
    filterset_class = IdentityFilter
    ordering = ("last_seen_at", "id")
    ordering_fields = ["id", "first_seen_at", "last_seen_at"]
    search_fields = ["handle", "display_name", "external_id"]
    action_perms = {
        "link": ["%(app_label)s.change_%(model_name)s"],
        "unlink": ["%(app_label)s.change_%(model_name)s"],
        "suggestions": ["%(app_label)s.view_%(model_name)s"],
    }

    def get_queryset(self) -> QuerySet:
        return visible_identities(self.request.user)

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action == "link":
            return IdentityLinkSerializer
        return IdentitySerializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                identity = serializer.save()
        except IntegrityError as exc:  # created by a concurrent request since validate()
            raise serializers.ValidationError(
                {"external_id": ["An identity with this platform and external id already exists."]}
            ) from exc
        return Response(IdentitySerializer(identity).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def link(self, request: Request, pk: Any = None) -> Response:
        identity = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = serializer.validated_data["customer"]
        identity = customer_services.link_identity(identity, customer, actor=request.user)
        return Response(IdentitySerializer(identity).data)

    @action(detail=True, methods=["post"])
    def unlink(self, request: Request, pk: Any = None) -> Response:
        identity = customer_services.unlink_identity(self.get_object(), actor=request.user)
        return Response(IdentitySerializer(identity).data)

    @suggestion_api.SUGGESTIONS_DOCS
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def suggestions(self, request: Request, pk: Any = None) -> Response:
        found = possibly_same_person(self.get_object(), user=request.user)
        return Response(suggestion_api.SuggestionSerializer(found, many=True).data)


# Teams, SLA policies ----------------------------------------------------------------------------


@docs.TEAM_DOCS
class TeamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PeopleViewSet):
    queryset = Team.objects.prefetch_related(
        Prefetch(
            "memberships",
            queryset=TeamMembership.objects.select_related(
                "user", "user__socialcare_status"
            ).order_by("pk"),
        )
    )
    serializer_class = TeamSerializer
    ordering = ("name",)
    ordering_fields = ["id", "name"]
    search_fields = ["name"]


@docs.SLA_DOCS
class SLAPolicyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    PeopleViewSet,
):
    queryset = SLAPolicy.objects.all()
    serializer_class = SLAPolicySerializer
    filterset_class = SLAPolicyFilter
    ordering = ("order", "id")
    ordering_fields = ["id", "order", "name"]
    search_fields = ["name"]


# Webhook subscriptions --------------------------------------------------------------------------


@docs.WEBHOOK_DOCS
class WebhookSubscriptionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    PeopleViewSet,
):
    # Secrets are decrypted only when a write needs them, never for reading.
    queryset = WebhookSubscription.objects.defer("secrets")
    serializer_class = WebhookSubscriptionSerializer
    filterset_class = WebhookSubscriptionFilter
    ordering = ("created_at", "id")
    ordering_fields = ["id", "created_at", "name"]
    search_fields = ["name", "url"]

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscription = serializer.save()
        created = WebhookSubscriptionCreatedSerializer(
            subscription, context=self.get_serializer_context()
        )
        return Response(created.data, status=status.HTTP_201_CREATED)


def register(router: BaseRouter) -> None:
    """Add this module's viewsets to the API router."""
    router.register("customers", CustomerViewSet, basename="customer")
    router.register("identities", IdentityViewSet, basename="identity")
    router.register("teams", TeamViewSet, basename="team")
    router.register("sla-policies", SLAPolicyViewSet, basename="sla-policy")
    router.register(
        "webhook-subscriptions", WebhookSubscriptionViewSet, basename="webhook-subscription"
    )
