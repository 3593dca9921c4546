"""Serializers of customers, social identities, teams, SLA policies and webhook subscriptions."""

from __future__ import annotations

from typing import Any

from django.core.validators import URLValidator
from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from socialcare.adapter import get_customer_adapter
from socialcare.api.case_serializers import CaseEventSerializer, PageListSerializer, context_viewer
from socialcare.models import (
    EVENT_TYPES,
    Case,
    CaseEvent,
    CustomerMerge,
    Post,
    SLAPolicy,
    SocialIdentity,
    Team,
    TeamMembership,
    WebhookSubscription,
    get_customer_model,
)
from socialcare.models.case import UNMERGED_CUSTOMERS
from socialcare.models.fields import has_field
from socialcare.services import customers as customer_services
from socialcare.services import outbound, url_safety
from socialcare.services.events import user_label

# Identities -------------------------------------------------------------------------------------


def blank_url() -> serializers.URLField:
    """A read-only URL that may be empty (ModelSerializer drops ``allow_blank`` from read-only
    fields, and the schema would then say every value is a URI)."""
    return serializers.URLField(read_only=True, allow_blank=True)


class IdentityBriefSerializer(serializers.ModelSerializer):
    """A social identity as nested in a customer."""

    profile_url = blank_url()

    class Meta:
        model = SocialIdentity
        fields = [
            "id",
            "platform",
            "external_id",
            "handle",
            "display_name",
            "profile_url",
            "followers_count",
            "platform_verified",
            "owner_verified_at",
            "last_seen_at",
        ]
        read_only_fields = fields


class IdentitySerializer(serializers.ModelSerializer):
    """A social identity. Owner verification comes from signing in with the account (OAuth), so
    it is read-only here; the customer changes through ``link`` and ``unlink``."""

    avatar_url = blank_url()

    class Meta:
        model = SocialIdentity
        fields = [
            "id",
            "platform",
            "external_id",
            "handle",
            "display_name",
            "profile_url",
            "avatar_url",
            "followers_count",
            "platform_verified",
            "owner_verified_at",
            "owner_verified_via",
            "customer",
            "first_seen_at",
            "last_seen_at",
        ]
        read_only_fields = [
            "avatar_url",
            "platform_verified",
            "owner_verified_at",
            "owner_verified_via",
            "customer",
            "first_seen_at",
            "last_seen_at",
        ]
        # The (platform, external_id) rule is checked in validate(), as an error on external_id.
        validators: list[Any] = []

    def validate_handle(self, value: str) -> str:
        return value.lstrip("@")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        platform = attrs.get("platform", getattr(self.instance, "platform", None))
        external_id = attrs.get("external_id", getattr(self.instance, "external_id", None))
        taken = SocialIdentity.objects.filter(platform=platform, external_id=external_id)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError(
                {"external_id": ["An identity with this platform and external id already exists."]}
            )
        return attrs


class CustomerChoiceField(serializers.PrimaryKeyRelatedField):
    """A customer by id. A record merged into another is offered in no choice list, but is
    still found, so the service answers why it cannot be used (409 for a merge) instead of
    "object does not exist"."""

    def get_choices(self, cutoff: int | None = None) -> dict[Any, str]:
        queryset = self.get_queryset()
        self.queryset = queryset.complex_filter(UNMERGED_CUSTOMERS)
        try:
            return super().get_choices(cutoff)
        finally:
            self.queryset = queryset


class CustomerChoiceMixin:
    """A ``customer`` / ``into`` field over the active customer model, built per instance."""

    customer_field_name = "customer"
    customer_help_text = ""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()  # type: ignore[misc]
        fields[self.customer_field_name] = CustomerChoiceField(
            queryset=get_customer_model()._default_manager.all(),
            help_text=self.customer_help_text,
        )
        return fields


class IdentityLinkSerializer(CustomerChoiceMixin, serializers.Serializer):
    customer_help_text = "Id of the customer to link the identity to."


# Customers --------------------------------------------------------------------------------------


class _CustomerMeta:
    """``CustomerSerializer.Meta``, read when a serializer is built: the customer model is
    swappable, so its model and fields are known only at run time."""

    @property
    def model(self) -> type[models.Model]:
        return get_customer_model()

    @property
    def read_only_fields(self) -> list[str]:
        model = self.model
        return [
            name for name in ("created_at", "updated_at", "merged_into") if has_field(model, name)
        ]

    @property
    def fields(self) -> list[str]:
        return ["id", "name", "email", *self.read_only_fields, "identities", "open_cases"]


class _CustomerText(serializers.CharField):
    """A customer's ``name`` or ``email``, read and written through the customer adapter
    (``SOCIALCARE["CUSTOMER_ADAPTER"]``), whatever the model calls or computes them."""

    def __init__(self, what: str, **kwargs: Any) -> None:
        self.what = what
        super().__init__(source="*", required=False, allow_blank=True, **kwargs)

    def to_representation(self, customer: Any) -> str:
        adapter = get_customer_adapter()
        return adapter.get_name(customer) if self.what == "name" else adapter.get_email(customer)

    def run_validation(self, data: Any = empty) -> Any:
        # A blank value skips to_internal_value (DRF), and with source="*" it would be dropped:
        # "" clears the e-mail, or is refused by the model for a required name.
        value = super().run_validation(data)
        return value if isinstance(value, dict) else {self.what: value}

    def to_internal_value(self, data: Any) -> dict[str, str]:
        value = super().to_internal_value(data)
        if self.what == "email" and value:
            value = serializers.EmailField().run_validation(value)
        return {self.what: value}


class CustomerSerializer(serializers.ModelSerializer):
    """A customer with their social identities. ``name`` and ``email`` are read and written
    through the customer adapter (docs/integration.md); they are the only writable fields. A
    write is validated with the model's own ``full_clean()``: a field the host's model requires
    is named in the 400 answer."""

    name = _CustomerText("name", max_length=1000, help_text="The customer's name.")
    email = _CustomerText("email", max_length=254, help_text="The customer's e-mail address.")
    identities = IdentityBriefSerializer(source="social_identities", many=True, read_only=True)
    open_cases = serializers.IntegerField(
        source="socialcare_open_cases", read_only=True, help_text="Cases not yet resolved."
    )

    Meta = _CustomerMeta()

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        ordered = {key: fields.pop(key) for key in ("id", "name", "email")}
        return {**ordered, **fields}

    def create(self, validated_data: dict[str, Any]) -> Any:
        return customer_services.save_customer(None, **validated_data)

    def update(self, instance: Any, validated_data: dict[str, Any]) -> Any:
        return customer_services.save_customer(instance, **validated_data)


class MergeRequestSerializer(CustomerChoiceMixin, serializers.Serializer):
    customer_field_name = "into"
    customer_help_text = "Id of the customer to keep; this customer is merged into it."


class CustomerMergeSerializer(serializers.ModelSerializer):
    """The audit record of a merge; ``source_snapshot`` holds the merged record's fields,
    ``relations`` what the merge did with the host's own data."""

    relations = serializers.JSONField(
        read_only=True,
        help_text=(
            '`moved` and `left` (`[{"relation": "app.Model.field", "count": 2, "reason": ...}]`): '
            "the host's rows moved to the kept customer, and those left on the merged record "
            "with the reason; `filled`: fields of the kept customer filled from the merged one."
        ),
    )

    class Meta:
        model = CustomerMerge
        fields = [
            "id",
            "source_id",
            "source_snapshot",
            "target",
            "target_ref",
            "merged_by",
            "merged_at",
            "identities_moved",
            "cases_moved",
            "relations",
        ]
        read_only_fields = fields


class MergeResultSerializer(serializers.Serializer):
    """What a merge answers: the kept customer and the merge record."""

    customer = CustomerSerializer(read_only=True)
    merge = CustomerMergeSerializer(read_only=True)


# A customer's history ---------------------------------------------------------------------------


class HistoryEventSerializer(serializers.ModelSerializer):
    summary = serializers.SerializerMethodField()
    actor = serializers.SerializerMethodField(help_text="Who did it; null: the system.")

    class Meta:
        model = CaseEvent
        fields = ["id", "at", "kind", "summary", "actor", "post"]
        read_only_fields = fields
        list_serializer_class = PageListSerializer

    prepare_page = staticmethod(CaseEventSerializer.prepare_page)

    def get_summary(self, event: CaseEvent) -> str:
        return context_viewer(self.context).event_summary(event, event.summary())

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_actor(self, event: CaseEvent) -> str | None:
        return user_label(event.actor) if event.actor_id else None


class HistoryPostSerializer(serializers.ModelSerializer):
    author_handle = serializers.CharField(source="author.handle", default=None, allow_null=True)
    url = blank_url()
    send_status = serializers.ChoiceField(
        choices=Post.SendStatus.choices,
        allow_blank=True,
        read_only=True,
        help_text="Outbound posts only; empty for inbound.",
    )
    sent_by = serializers.SerializerMethodField()

    class Meta:
        model = Post
        fields = [
            "id",
            "platform",
            "direction",
            "kind",
            "visibility",
            "text",
            "url",
            "posted_at",
            "edited_at",
            "deleted_at",
            "author",
            "author_handle",
            "sent_by",
            "send_status",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_sent_by(self, post: Post) -> str | None:
        return user_label(post.sent_by) if post.sent_by_id else None


class HistoryCaseSerializer(serializers.ModelSerializer):
    """One case of a customer with its whole timeline (events) and posts, oldest first."""

    events = HistoryEventSerializer(many=True, read_only=True)
    posts = HistoryPostSerializer(many=True, read_only=True)

    class Meta:
        model = Case
        fields = [
            "id",
            "reference",
            "subject",
            "status",
            "priority",
            "visibility",
            "identity",
            "channel",
            "team",
            "assignee",
            "merged_into",
            "created_at",
            "updated_at",
            "first_responded_at",
            "resolved_at",
            "closed_at",
            "events",
            "posts",
        ]
        read_only_fields = fields


# Teams and SLA policies -------------------------------------------------------------------------


class TeamMemberSerializer(serializers.ModelSerializer):
    username = serializers.SerializerMethodField()
    name = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField(help_text="online, away or offline.")

    class Meta:
        model = TeamMembership
        fields = [
            "user", "username", "name", "on_duty", "capacity", "languages", "platforms", "status",
        ]  # fmt: skip
        read_only_fields = fields

    def get_status(self, membership: TeamMembership) -> str:
        found = getattr(membership.user, "socialcare_status", None)
        return found.status if found else "offline"

    def get_username(self, membership: TeamMembership) -> str:
        return membership.user.get_username()

    def get_name(self, membership: TeamMembership) -> str:
        return user_label(membership.user)


class TeamSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(read_only=True, allow_blank=True)
    members = TeamMemberSerializer(source="memberships", many=True, read_only=True)

    class Meta:
        model = Team
        fields = ["id", "name", "email", "calendar", "auto_assign", "queue_wait_limit", "members"]
        read_only_fields = fields


class SLAPolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = SLAPolicy
        fields = [
            "id",
            "name",
            "order",
            "is_active",
            "priority",
            "platform",
            "visibility",
            "channel",
            "first_response_minutes",
            "next_response_minutes",
            "resolution_minutes",
            "calendar",
        ]


# Webhook subscriptions --------------------------------------------------------------------------


@extend_schema_field(
    {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}, "uniqueItems": True}
)
class EventTypesField(serializers.Field):
    """A list of ``EVENT_TYPES`` names, duplicates dropped. Its errors are one flat list of
    messages, like every other field's."""

    default_error_messages = {
        "not_a_list": "Expected a list of event type names.",
        "unknown": "Unknown event types: {unknown}. Known: {known}.",
    }

    def to_internal_value(self, data: Any) -> list[str]:
        if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
            self.fail("not_a_list")
        unknown = [item for item in data if item not in EVENT_TYPES]
        if unknown:
            self.fail("unknown", unknown=", ".join(unknown), known=", ".join(EVENT_TYPES))
        return list(dict.fromkeys(data))

    def to_representation(self, value: Any) -> list[str]:
        return list(value or [])


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    """An outbound webhook. The signing ``secret`` is write-only: send one or let socialcare
    generate it; it is returned once, in the answer to the create request."""

    secret = serializers.CharField(
        write_only=True,
        required=False,
        min_length=16,
        max_length=200,
        help_text="HMAC-SHA256 signing secret. Omit on create to have one generated "
        "(`whsec_…`); send on update to rotate it.",
    )
    event_types = EventTypesField(
        required=False, help_text="Events to receive; empty: every event."
    )

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "name",
            "url",
            "event_types",
            "is_active",
            "secret",
            "created_at",
            "consecutive_failures",
            "last_success_at",
            "disabled_at",
            "disabled_reason",
        ]
        read_only_fields = [
            "created_at",
            "consecutive_failures",
            "last_success_at",
            "disabled_at",
            "disabled_reason",
        ]
        extra_kwargs = {"url": {"validators": [URLValidator(schemes=["http", "https"])]}}

    def validate_url(self, value: str) -> str:
        # SSRF: https, and no private/loopback/link-local address (checked again at send).
        try:
            url_safety.validate_subscription_url(value)
        except url_safety.UnsafeUrl as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value

    def create(self, validated_data: dict[str, Any]) -> WebhookSubscription:
        secret = validated_data.pop("secret", None) or outbound.generate_secret()
        return WebhookSubscription.objects.create(**validated_data, secrets={"secret": secret})

    def update(
        self, instance: WebhookSubscription, validated_data: dict[str, Any]
    ) -> WebhookSubscription:
        secret = validated_data.pop("secret", None)
        if secret:
            instance.secrets = {**instance.secrets, "secret": secret}
        # Switching a subscription back on goes through the service: it clears the automatic
        # disabling and sends the deliveries that waited.
        reenable = validated_data.get("is_active") is True and not instance.is_active
        if reenable:
            validated_data.pop("is_active")
        instance = super().update(instance, validated_data)
        return outbound.reenable(instance) if reenable else instance


class WebhookSubscriptionCreatedSerializer(WebhookSubscriptionSerializer):
    """The answer to a create: the subscription and, this once, its signing secret."""

    secret = serializers.CharField(
        read_only=True, help_text="The signing secret. Store it now: it is never shown again."
    )
