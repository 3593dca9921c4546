"""Platform apps over the API: list, read, create, change, delete, and route the deliveries
that wait for a channel (docs/ingestion.md, "One webhook per app").

Secrets are write-only: ``webhook_secret`` (X consumer secret, Meta app secret) and
``verify_token`` (Meta) are stored encrypted and shown redacted in ``stored_secrets``; omitted,
they are kept; an empty string clears one.

Signed-in staff only, with the ``platformapp`` model permissions: API keys are refused here,
as for channels (an app's secret decides what every inbound delivery may claim). These routes
are therefore not on the router, whose every route names the key scopes it takes
(``api/permissions.ROUTE_SCOPES``); to open them to keys, add a scope there and register the
viewset on the router.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.urls import path, reverse
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema_field
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from socialcare.api.base import GenericViewSet
from socialcare.api.pagination import NewestFirstPagination
from socialcare.api.permissions import KeyScope, ModelPermissions, StaffOnly
from socialcare.api.schema import extend_schema
from socialcare.models import APP_SECRET_NAMES, Channel, PlatformApp
from socialcare.services import account_routing


class AppPermissions(ModelPermissions):
    """Model permissions; routing waiting deliveries changes the app's state: ``change``."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if getattr(view, "action", None) == "route_waiting":
            return bool(request.user and request.user.has_perm("socialcare.change_platformapp"))
        return super().has_permission(request, view)


@extend_schema_field(
    {
        "type": "string",
        "enum": list(PlatformApp.Platform.values),
        "description": "`x`: an X app; `meta`: a Meta app (Facebook Pages, Instagram).",
    },
    component_name="PlatformAppKind",
)
class PlatformAppKindField(serializers.ChoiceField):
    """The app's platform, as its own schema component: a channel's ``platform`` is another set
    of values, and two enums of one field name would make drf-spectacular rename both."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=PlatformApp.Platform.choices, **kwargs)


class PlatformAppSerializer(serializers.ModelSerializer):
    platform = PlatformAppKindField()
    webhook_urls = serializers.SerializerMethodField(
        help_text="The URL to register with the platform, per object type (X: `x`; Meta: "
        "`facebook` for the Page object, `instagram` for the Instagram object)."
    )
    webhook_secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="X consumer secret (API secret key) or Meta app secret. Write-only; omit to "
        "keep, empty to clear.",
    )
    verify_token = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="Meta's webhook verify token. Write-only; omit to keep, empty to clear.",
    )
    stored_secrets = serializers.SerializerMethodField(
        help_text="Which secrets are set, redacted (last 4 characters at most)."
    )
    channels = serializers.PrimaryKeyRelatedField(
        many=True,
        required=False,
        queryset=Channel.objects.all(),
        help_text="Ids of the channels (brand accounts) this app delivers for.",
    )
    waiting_deliveries = serializers.IntegerField(
        read_only=True,
        source="unrouted_count",
        default=0,
        help_text="Deliveries kept for accounts that have no active channel yet.",
    )

    class Meta:
        model = PlatformApp
        fields = [
            "id",
            "name",
            "platform",
            "key",
            "app_id",
            "is_active",
            "webhook_urls",
            "webhook_secret",
            "verify_token",
            "stored_secrets",
            "channels",
            "waiting_deliveries",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {"key": {"required": False}}

    def get_webhook_urls(self, app: PlatformApp) -> dict[str, str]:
        request = self.context.get("request")
        urls = {}
        for platform in app.channel_platforms:
            url = reverse("socialcare:app-webhook", args=[platform, app.key])
            urls[platform] = request.build_absolute_uri(url) if request is not None else url
        return urls

    def get_stored_secrets(self, app: PlatformApp) -> dict[str, str]:
        return app.redacted_secrets()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        platform = attrs.get("platform") or getattr(self.instance, "platform", "")
        served = PlatformApp.CHANNEL_PLATFORMS.get(platform, ())
        wrong = [c.pk for c in attrs.get("channels") or [] if c.platform not in served]
        if wrong:
            raise serializers.ValidationError(
                {"channels": [f"Not accounts of this app's platform: {wrong}."]}
            )
        return attrs

    def _save(self, app: PlatformApp, attrs: dict[str, Any]) -> PlatformApp:
        channels = attrs.pop("channels", None)
        for name in APP_SECRET_NAMES:
            if name in attrs:
                app.set_secret(name, attrs.pop(name))
        for field, value in attrs.items():
            setattr(app, field, value)
        app.save()
        if channels is not None:
            chosen = [c.pk for c in channels]
            Channel.objects.filter(app=app).exclude(pk__in=chosen).update(app=None)
            Channel.objects.filter(pk__in=chosen).update(app=app)
        return app

    def create(self, validated_data: dict[str, Any]) -> PlatformApp:
        return self._save(PlatformApp(), validated_data)

    def update(self, instance: PlatformApp, validated_data: dict[str, Any]) -> PlatformApp:
        return self._save(instance, validated_data)


class RoutedSerializer(serializers.Serializer):
    queued = serializers.ListField(
        child=serializers.IntegerField(), help_text="Ids of the deliveries routed and queued."
    )


class PlatformAppFilter(filters.FilterSet):
    platform = filters.ChoiceFilter(choices=PlatformApp.Platform.choices)
    waiting = filters.BooleanFilter(
        method="filter_waiting",
        help_text="true: apps with deliveries waiting for a channel; false: none waiting.",
    )

    class Meta:
        model = PlatformApp
        fields = ["platform", "is_active"]

    def filter_waiting(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        return queryset.filter(unrouted_count__gt=0) if value else queryset.filter(unrouted_count=0)


class PlatformAppViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    GenericViewSet,
):
    """X and Meta apps whose one webhook URL serves all their brand accounts."""

    permission_classes = [StaffOnly, KeyScope, AppPermissions]
    queryset = PlatformApp.objects.all()  # the model; ``get_queryset`` adds what is shown
    serializer_class = PlatformAppSerializer
    filterset_class = PlatformAppFilter
    pagination_class = NewestFirstPagination
    search_fields = ["name", "key", "app_id"]
    ordering_fields = ["id", "name", "created_at"]

    def get_queryset(self) -> QuerySet:
        return (
            PlatformApp.objects.with_unrouted_count()
            .prefetch_related("channels")
            .order_by("name", "pk")
        )

    @extend_schema(request=None, responses={200: RoutedSerializer})
    @action(detail=True, methods=["post"], url_path="route-waiting", filter_backends=[])
    def route_waiting(self, request: Request, pk: str | None = None) -> Response:
        """Hand this app's deliveries that wait for a channel to the active channels of their
        accounts (added since they came), and queue them for processing."""
        return Response({"queued": account_routing.route_waiting(app=self.get_object())})


_list = PlatformAppViewSet.as_view({"get": "list", "post": "create"})
_detail = PlatformAppViewSet.as_view(
    {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
)
_route = PlatformAppViewSet.as_view({"post": "route_waiting"})

#: Included by ``api/urls.py`` under ``v1/``.
urlpatterns = [
    path("platform-apps/", _list, name="platform-app-list"),
    path("platform-apps/<int:pk>/", _detail, name="platform-app-detail"),
    path("platform-apps/<int:pk>/route-waiting/", _route, name="platform-app-route-waiting"),
]
