"""Channels over the API: list, read, create and change the brand accounts socialcare receives
posts for, with the platform app that delivers their events (docs/api.md, "Channels";
docs/ingestion.md, "One webhook per app").

Secrets are write-only (``webhook_secret``, ``verify_token``, ``access_token``,
``access_token_secret``, ``refresh_token``): stored encrypted, shown redacted in
``stored_secrets``; omitted, they are kept; an empty string clears one. ``app`` takes the app's
id or its URL key and must serve the channel's platform (``Channel.clean``, as in admin).

Creating a channel, making it active, or changing its platform, account id or app routes the
deliveries that waited for its account (``services.channel_routing.channel_saved``).

Signed-in staff only, with the ``channel`` model permissions (view, add, change): API keys are
refused, as for platform apps (a channel's secrets decide what its URL accepts and what replies
may do). No delete: switch ``is_active`` off (its posts and deliveries keep it).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.urls import path
from django_filters import rest_framework as filters
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiExample, extend_schema_view
from rest_framework import mixins, serializers

from socialcare.api import case_docs as docs
from socialcare.api.base import GenericViewSet
from socialcare.api.case_filters import MAX_ID, IdFilter
from socialcare.api.pagination import NewestFirstPagination
from socialcare.api.permissions import KeyScope, ModelPermissions, StaffOnly
from socialcare.api.schema import extend_schema
from socialcare.models import SECRET_NAMES, Channel, PlatformApp
from socialcare.services import channel_routing

APP_HELP = (
    "The X or Meta app whose one webhook URL delivers this account's events: its id, or its URL "
    "key when writing; null for none. It must serve the channel's platform (an X app for `x`, "
    "a Meta app for `facebook` and `instagram`); other platforms have none."
)


class AppField(serializers.Field):
    """A platform app by id or by URL key; rendered as its id."""

    default_error_messages = {
        "unknown": "No platform app has the id or key {value!r}.",
        "invalid": "Give the app's id (a number) or its URL key (text).",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_representation(self, value: PlatformApp) -> int:
        return value.pk

    def to_internal_value(self, data: Any) -> PlatformApp:
        if isinstance(data, bool) or not isinstance(data, int | str) or data == "":
            self.fail("invalid")
        found = None
        if (isinstance(data, int) or data.isdigit()) and 0 < int(data) <= MAX_ID:
            found = PlatformApp.objects.filter(pk=int(data)).first()
        if found is None and isinstance(data, str):
            found = PlatformApp.objects.filter(key=data).first()
        if found is None:
            self.fail("unknown", value=data)
        return found


class AppFieldSchema(OpenApiSerializerFieldExtension):
    """Read as an id; written as an id or a URL key."""

    target_class = AppField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        if direction == "response":
            return {"type": "integer", "nullable": True}
        return {
            "oneOf": [{"type": "integer"}, {"type": "string", "minLength": 1}],
            "nullable": True,
        }


def _secret(label: str) -> serializers.CharField:
    return serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=4000,
        help_text=f"{label}. Write-only; omit to keep, empty to clear.",
    )


class ChannelSerializer(serializers.ModelSerializer):
    app = AppField(help_text=APP_HELP)
    # One write-only field per ``SECRET_NAMES`` slot (a test checks they are the same).
    webhook_secret = _secret("Webhook signing secret (X consumer secret, Meta app secret)")
    verify_token = _secret("Webhook verify token (Meta)")
    access_token = _secret("Access token (a Page access token on Facebook and Instagram)")
    access_token_secret = _secret("Access token secret (X OAuth 1.0a)")
    refresh_token = _secret("Refresh token")
    stored_secrets = serializers.SerializerMethodField(
        help_text="Which secrets are set, redacted (last 4 characters at most)."
    )

    class Meta:
        model = Channel
        fields = [
            "id",
            "name",
            "platform",
            "account_id",
            "handle",
            "base_url",
            "app",
            "is_active",
            "can_reply_public",
            "can_message_private",
            "human_agent_tag",
            "csat_mode",
            "default_team",
            "sla_policy",
            "polling_enabled",
            "out_of_hours_ack",
            "out_of_hours_template",
            "out_of_hours_public",
            *SECRET_NAMES,
            "stored_secrets",
            "last_polled_at",
            "last_poll_error",
            "created_at",
        ]
        read_only_fields = ["id", "last_polled_at", "last_poll_error", "created_at"]

    def get_stored_secrets(self, channel: Channel) -> dict[str, str]:
        return channel.redacted_secrets()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The model's own checks (``Channel.clean``: the app serves the platform; one channel
        per platform account), as in admin: a 400 per field, never a database error."""
        channel = self._apply(self.instance or Channel(), attrs)
        try:
            channel.full_clean(exclude=["secrets"])
        except DjangoValidationError as exc:
            raise serializers.ValidationError(
                {
                    k if k != "__all__" else "non_field_errors": v
                    for k, v in exc.message_dict.items()
                }
            ) from exc
        return attrs

    @staticmethod
    def _apply(channel: Channel, attrs: dict[str, Any]) -> Channel:
        for name, value in attrs.items():
            if name in SECRET_NAMES:
                channel.set_secret(name, value)
            else:
                setattr(channel, name, value)
        return channel

    def create(self, validated_data: dict[str, Any]) -> Channel:
        channel = self._apply(Channel(), validated_data)
        channel.save()
        return channel

    def update(self, instance: Channel, validated_data: dict[str, Any]) -> Channel:
        self._apply(instance, validated_data)
        instance.save()
        return instance


class ChannelFilter(filters.FilterSet):
    app = IdFilter(field_name="app_id", help_text="Platform app id.")
    has_app = filters.BooleanFilter(
        field_name="app", lookup_expr="isnull", exclude=True, help_text="true: has an app."
    )

    class Meta:
        model = Channel
        fields = ["platform", "is_active"]


CHANNEL_EXAMPLE = OpenApiExample(
    "A channel",
    response_only=True,
    value={
        "id": 3,
        "name": "Acme Travel on X",
        "platform": "x",
        "account_id": "4444444444444444444",
        "handle": "acmetravel",
        "base_url": "",
        "app": 1,
        "is_active": True,
        "can_reply_public": True,
        "can_message_private": True,
        "human_agent_tag": False,
        "csat_mode": "dm",
        "default_team": 2,
        "sla_policy": None,
        "polling_enabled": True,
        "out_of_hours_ack": True,
        "out_of_hours_template": 12,
        "out_of_hours_public": False,
        "stored_secrets": {"access_token": "••••9f3a"},
        "last_polled_at": None,
        "last_poll_error": "",
        "created_at": "2026-03-04T09:15:00Z",
    },
)
CREATE_EXAMPLE = OpenApiExample(
    "On an app's URL",
    request_only=True,
    value={
        "name": "Acme Travel on X",
        "platform": "x",
        "account_id": "4444444444444444444",
        "handle": "acmetravel",
        "app": "acme-x",
        "access_token": "user-access-token",
    },
)
UPDATE_EXAMPLE = OpenApiExample("Move to an app", request_only=True, value={"app": 1})
WRITE_NOTE = (
    " Needs `socialcare.{perm}_channel`; staff sessions only (API keys are refused: a channel's "
    "secrets decide what its webhook URL accepts). `app` takes an id or a URL key and must "
    "serve the channel's platform, else a 400 on `app`; a second channel for the same platform "
    "account is a 400. Deliveries that waited for the account at an app's URL are routed to "
    "the channel and queued once it is saved (created, made active, or its platform, account "
    "id or app changed)."
)


@extend_schema_view(
    list=extend_schema(
        summary="List channels",
        description="The brand accounts posts arrive for, with their platform app. Staff "
        "sessions with `socialcare.view_channel`.",
        responses={200: ChannelSerializer(many=True), **docs.error_responses(400, 401, 403, 429)},
        examples=[CHANNEL_EXAMPLE],
    ),
    retrieve=extend_schema(
        summary="Get a channel",
        description="One channel; its secrets only redacted.",
        responses={200: ChannelSerializer, **docs.error_responses(401, 403, 404, 429)},
        examples=[CHANNEL_EXAMPLE],
    ),
    create=extend_schema(
        summary="Add a channel",
        description="Add a brand account." + WRITE_NOTE.format(perm="add"),
        responses={201: ChannelSerializer, **docs.error_responses(400, 401, 403, 429)},
        examples=[CREATE_EXAMPLE, CHANNEL_EXAMPLE],
    ),
    update=extend_schema(
        summary="Replace a channel",
        description="Change every field." + WRITE_NOTE.format(perm="change"),
        responses={200: ChannelSerializer, **docs.error_responses(400, 401, 403, 404, 429)},
        examples=[CREATE_EXAMPLE, CHANNEL_EXAMPLE],
    ),
    partial_update=extend_schema(
        summary="Change a channel",
        description="Change the fields sent." + WRITE_NOTE.format(perm="change"),
        responses={200: ChannelSerializer, **docs.error_responses(400, 401, 403, 404, 429)},
        examples=[UPDATE_EXAMPLE, CHANNEL_EXAMPLE],
    ),
)
class ChannelViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    GenericViewSet,
):
    """Brand accounts on each platform, and the app that delivers their events."""

    permission_classes = [StaffOnly, KeyScope, ModelPermissions]
    queryset = Channel.objects.all()
    serializer_class = ChannelSerializer
    filterset_class = ChannelFilter
    pagination_class = NewestFirstPagination
    search_fields = ["name", "handle", "account_id"]
    ordering_fields = ["id", "name", "created_at"]

    def get_queryset(self) -> QuerySet:
        return Channel.objects.select_related("app").order_by("name", "pk")

    def perform_create(self, serializer: ChannelSerializer) -> None:
        channel = serializer.save()
        channel_routing.channel_saved(channel, created=True)

    def perform_update(self, serializer: ChannelSerializer) -> None:
        # Read before validation applied the changes to the instance.
        stored = Channel.objects.filter(pk=serializer.instance.pk).values(*ROUTED_COLUMNS).get()
        channel = serializer.save()
        changed = [
            name.removesuffix("_id")
            for name in ROUTED_COLUMNS
            if getattr(channel, name) != stored[name]
        ]
        channel_routing.channel_saved(channel, changed)


#: The columns of ``channel_routing.ROUTING_FIELDS``.
ROUTED_COLUMNS = ("platform", "account_id", "app_id", "is_active")


_list = ChannelViewSet.as_view({"get": "list", "post": "create"})
_detail = ChannelViewSet.as_view({"get": "retrieve", "put": "update", "patch": "partial_update"})

#: Included by ``api/urls.py`` under ``v1/``.
urlpatterns = [
    path("channels/", _list, name="channel-list"),
    path("channels/<int:pk>/", _detail, name="channel-detail"),
]
