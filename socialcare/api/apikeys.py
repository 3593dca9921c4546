"""API keys over the API: list, issue (the plain key in the answer, once), read, revoke.

A key issued here acts as the caller; issued with a key, it never outlives or outranks that key
(``issued_by``): none of the scopes it lacks, read-only when it is, expiring when it does at the
latest, revoked with it. Hashes are never shown.
"""

from __future__ import annotations

from typing import Any

from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from socialcare.api.base import GenericViewSet
from socialcare.api.pagination import NewestFirstPagination
from socialcare.api.schema import extend_schema
from socialcare.models import ApiKey
from socialcare.services.apikeys import SCOPES, ApiKeyError, create_api_key, revoke_api_key


class ApiKeySerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.get_username", read_only=True)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=list(SCOPES)), required=False
    )
    state = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="When the key stops working; none: until revoked. A key issued with a key "
        "expires when that key does at the latest: a later expiry, or none, becomes that one.",
    )
    issued_by = serializers.IntegerField(
        source="issued_by_id",
        read_only=True,
        allow_null=True,
        help_text="The key that issued this one through the API (revoking it revokes this "
        "one); null: issued in admin or by a signed-in user.",
    )

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "user",
            "read_only",
            "scopes",
            "state",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "issued_by",
        ]
        read_only_fields = [
            "id",
            "prefix",
            "user",
            "created_at",
            "last_used_at",
            "revoked_at",
            "issued_by",
        ]

    def get_state(self, key: ApiKey) -> str:
        if key.revoked_at:
            return "revoked"
        return "active" if key.is_usable else "expired"


class IssuedApiKeySerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The plain key: shown this once.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    """The caller's own keys (all keys for holders of ``socialcare.change_apikey``)."""

    serializer_class = ApiKeySerializer
    pagination_class = NewestFirstPagination
    queryset = ApiKey.objects.select_related("user").order_by("created_at", "pk")
    search_fields = ["name", "prefix"]
    filterset_fields = ["read_only"]

    def get_queryset(self) -> Any:
        queryset = super().get_queryset()
        if self.request.user.has_perm("socialcare.change_apikey"):
            return queryset
        return queryset.filter(user=self.request.user)

    @extend_schema(request=ApiKeySerializer, responses={201: IssuedApiKeySerializer})
    def create(self, request: Request) -> Response:
        incoming = ApiKeySerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        within = request.auth if isinstance(request.auth, ApiKey) else None
        try:
            key, plain = create_api_key(
                request.user,
                data["name"],
                read_only=data.get("read_only", False),
                expires_at=data.get("expires_at"),
                scopes=data.get("scopes"),
                within=within,
            )
        except ApiKeyError as exc:
            raise serializers.ValidationError({exc.field: exc.messages}) from exc
        key.key = plain
        return Response(IssuedApiKeySerializer(key).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ApiKeySerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        """Revoke the key now, with every key it issued (and theirs): their next request is a
        401."""
        key = revoke_api_key(self.get_object())
        return Response(ApiKeySerializer(key).data)


def register(router: BaseRouter) -> None:
    router.register("api-keys", ApiKeyViewSet, basename="api-key")
