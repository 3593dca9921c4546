"""Serializers of cases, their timeline and posts, the requests that change them, and the one
error shape (``ErrorSerializer``) every socialcare endpoint documents."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.utils import timezone, translation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.settings import ISO_8601, api_settings

from socialcare.api.csat_fields import CaseCsatSerializer, case_csat
from socialcare.models import (
    Case,
    CaseEvent,
    Channel,
    Post,
    Priority,
    ReplyTemplate,
    SocialIdentity,
    Team,
    Visibility,
    customer_display_name,
    customer_email,
    get_customer_model,
)
from socialcare.services.access import Viewer, visible_cases, visible_posts
from socialcare.services.events import user_label
from socialcare.services.outbound_payloads import channel_data
from socialcare.services.private_replies import private_reply_state
from socialcare.services.reply_window import reply_window
from socialcare.services.sla_state import SLA_STATES, sla_state

# The one error shape -----------------------------------------------------------------------


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "object"}]
        },
    }
)
class FieldErrorsField(serializers.DictField):
    pass


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="Machine-readable reason: `invalid`, `parse_error`, `not_authenticated`, "
        "`authentication_failed`, `permission_denied`, `not_found`, `method_not_allowed`, "
        "`unsupported_media_type`, `throttled`, `illegal_transition`, `merge_refused`."
    )
    detail = serializers.CharField(help_text="A sentence for people.")
    errors = FieldErrorsField(
        required=False,
        help_text="On 400: field name (or `non_field_errors`) → messages; for the items of a "
        "list or the fields of an object, the same again by index or name.",
    )


class StrictSerializer(serializers.Serializer):
    """A request body: unknown and read-only field names are errors, not silently ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(str(name) for name in data if name not in writable)
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown or read-only field."] for name in unknown}
                )
        return super().to_internal_value(data)


_CHOICE_FIELDS: dict[str, type[serializers.ChoiceField]] = {}


def choice_field(component: str, choices: Any, **kwargs: Any) -> serializers.ChoiceField:
    """A ChoiceField whose enum is the named OpenAPI component ``component``, so choice sets of
    equal field names (a post's and an event's ``kind``) never collide in the schema."""
    if component not in _CHOICE_FIELDS:
        blank = [""] if kwargs.get("allow_blank") else []
        schema = {"type": "string", "enum": [value for value, _ in choices] + blank}
        field_class = type(f"{component}Field", (serializers.ChoiceField,), {})
        _CHOICE_FIELDS[component] = extend_schema_field(schema, component_name=component)(
            field_class
        )
    return _CHOICE_FIELDS[component](choices=choices, **kwargs)


# Hand-written rendering of the hot read paths ----------------------------------------------

#: The annotation ``socialcare.api.cases.case_queryset`` leaves a case's tag names in.
TAG_NAMES = "tag_names_json"
#
# The case list, a case, the post list and the timeline render their rows here rather than field
# by field through DRF (a page of 50 cases is ~2,500 field objects' get_attribute and
# to_representation calls; DRF took more time than the queries). The output is exactly what the
# declared fields render (``tests/test_api_fast_render.py`` compares both on every shape), and
# the declared fields still describe it in the OpenAPI schema.

_DATETIME = serializers.DateTimeField()


def context_viewer(context: Mapping[str, Any]) -> Viewer:
    """The reader of this rendering (``services.access.Viewer``), made once per request and
    kept in the serializers' shared context, so a page asks who may see what once."""
    viewer = context.get("viewer") if isinstance(context, dict) else None
    if viewer is None:
        request = context.get("request")
        viewer = Viewer(getattr(request, "user", None))
        if isinstance(context, dict):
            context["viewer"] = viewer
    return viewer


def _zone() -> dt.tzinfo | None:
    """The zone ``_when`` converts to for one row, looked up once per row rather than once per
    datetime as DRF does; None when DRF must render (a host's own ``DATETIME_FORMAT``, or
    ``USE_TZ`` off)."""
    output_format = api_settings.DATETIME_FORMAT
    if not settings.USE_TZ or not isinstance(output_format, str):
        return None
    if output_format.lower() != ISO_8601:
        return None
    return timezone.get_current_timezone()


def _when(value: Any, zone: dt.tzinfo | None = None) -> str | None:
    """A datetime as ``serializers.DateTimeField`` renders it (ISO 8601 in the current zone,
    ``Z`` for UTC). With ``zone`` (``_zone()``), an aware datetime takes the same steps here:
    a page renders ~1,000 of them, and DRF's generic path is most of their cost."""
    if value is None:
        return None
    if zone is None or not isinstance(value, dt.datetime) or value.tzinfo is None:
        return _DATETIME.to_representation(value)
    try:
        text = value.astimezone(zone).isoformat()
    except OverflowError:
        return _DATETIME.to_representation(value)  # DRF's own error
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _count(value: Any) -> int | None:
    return None if value is None else int(value)


def _user(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "username": user.get_username(), "name": user_label(user)}


def _customer(customer: Any) -> dict[str, Any] | None:
    if customer is None:
        return None
    return {
        "id": customer.pk,
        "name": customer_display_name(customer),
        "email": customer_email(customer),
    }


def _identity(
    identity: SocialIdentity | None, zone: dt.tzinfo | None = None
) -> dict[str, Any] | None:
    if identity is None:
        return None
    return {
        "id": identity.pk,
        "platform": identity.platform,
        "handle": identity.handle,
        "display_name": identity.display_name,
        "profile_url": str(identity.profile_url),
        "followers_count": int(identity.followers_count),
        "platform_verified": bool(identity.platform_verified),
        "owner_verified_at": _when(identity.owner_verified_at, zone),
    }


def _case_channel(case: Case) -> dict[str, Any] | None:
    """The case's channel, from the columns the views' queryset annotates when it did."""
    if case.channel_id is None:
        return None
    if not hasattr(case, "channel_name"):
        return channel_data(case.channel)
    return {
        "id": case.channel_id,
        "name": case.channel_name,
        "platform": case.channel_platform,
        "handle": case.channel_handle,
    }


def _tag_names(case: Case) -> list[str]:
    """The case's tag names in name order: from ``TAG_NAMES`` (a JSON array) when the views'
    queryset annotated it (``socialcare.api.cases.TagNames``), else its tags."""
    names = getattr(case, TAG_NAMES, None)
    if names is None:
        return [tag.name for tag in case.tags.all()]
    loaded = json.loads(names)
    # PostgreSQL sorted them in its collation; SQLite's ORDER BY compares code points.
    return (
        loaded
        if connections[case._state.db or "default"].vendor == "postgresql"
        else sorted(loaded)
    )


def _case_team(case: Case) -> dict[str, Any] | None:
    if case.team_id is None:
        return None
    name = case.team_name if hasattr(case, "team_name") else case.team.name
    return {"id": case.team_id, "name": name}


# Summaries of related objects --------------------------------------------------------------


class UserSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk", read_only=True)
    username = serializers.CharField(source="get_username", read_only=True)
    name = serializers.SerializerMethodField()

    def get_name(self, user: Any) -> str:
        return user_label(user)


class CustomerPkField(serializers.ReadOnlyField):
    """The customer's primary key as the (possibly swapped) model has it (its schema:
    ``socialcare.api.schema.CustomerPkFieldExtension``, the model's primary key type)."""


class CustomerSummarySerializer(serializers.Serializer):
    id = CustomerPkField(source="pk")
    name = serializers.SerializerMethodField()
    email = serializers.SerializerMethodField()

    def get_name(self, customer: Any) -> str:
        return customer_display_name(customer)

    def get_email(self, customer: Any) -> str:
        return customer_email(customer)


class IdentitySummarySerializer(serializers.ModelSerializer):
    # A CharField: an empty URL is no valid `format: uri`.
    profile_url = serializers.CharField(read_only=True, help_text="Empty when unknown.")

    class Meta:
        model = SocialIdentity
        fields = [
            "id",
            "platform",
            "handle",
            "display_name",
            "profile_url",
            "followers_count",
            "platform_verified",
            "owner_verified_at",
        ]
        read_only_fields = fields


class ChannelSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Channel
        fields = ["id", "name", "platform", "handle"]
        read_only_fields = fields


class TeamSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name"]
        read_only_fields = fields


class IncidentRefSerializer(serializers.Serializer):
    """The crisis incident a case is linked to (see ``incidents/``)."""

    id = serializers.IntegerField(read_only=True)
    title = serializers.CharField(read_only=True)


class PrivateReplySerializer(serializers.Serializer):
    """The one private message Meta lets the brand send a Facebook or Instagram commenter: a
    private reply to their comment, within 7 days of it (docs/replies.md, "Private replies")."""

    possible = serializers.BooleanField(
        read_only=True,
        help_text="A private reply to `comment` may go now: none was queued or sent to it, and "
        "it is less than 7 days old.",
    )
    until = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When Meta stops accepting one: 7 days after the comment (past or not).",
    )
    comment = serializers.IntegerField(
        read_only=True,
        help_text="The post id of the comment it answers: the customer's latest visible public "
        "comment on the case (`GET /posts/{id}/`).",
    )
    reason = serializers.CharField(
        read_only=True,
        help_text="Why it cannot go (one was already sent or is queued; the comment is 7 days "
        "old or more); empty when it can.",
    )


class ReplyWindowSerializer(serializers.Serializer):
    """Whether a private message may reach the customer now, and on what terms (Meta's 24-hour
    window, 7 days with the HUMAN_AGENT tag; no window on other platforms). docs/replies.md."""

    open = serializers.BooleanField(read_only=True, help_text="A private message may go now.")
    kind = choice_field(
        "ReplyWindowKind",
        [
            ("none", "The platform has no window"),
            ("standard", "Meta's 24-hour window"),
            ("human_agent", "Meta's 7-day Human Agent window"),
            ("closed", "Closed"),
        ],
        read_only=True,
    )
    until = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When the current window closes."
    )
    since = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="The customer's last private message, which opened the window.",
    )
    messaging_type = serializers.CharField(
        read_only=True, help_text="Meta's messaging_type for a message sent now (RESPONSE, ...)."
    )
    tag = serializers.CharField(read_only=True, help_text="Meta's message tag (HUMAN_AGENT).")
    reason = serializers.CharField(read_only=True, help_text="Why it is closed, or which rule.")
    alternatives = serializers.ListField(
        child=serializers.ChoiceField(choices=["public reply", "email"]),
        read_only=True,
        help_text="What is left when it is closed.",
    )
    private_reply = PrivateReplySerializer(
        read_only=True,
        allow_null=True,
        help_text="Facebook and Instagram: the one private reply Meta allows to the customer's "
        "latest comment; a private reply (`visibility: private`) sent while the window is "
        "closed goes as this. Null when the case has no comment to answer (other platforms, "
        "direct messages only, visitor posts, mentions).",
    )


# Cases --------------------------------------------------------------------------------------


class PageListSerializer(serializers.ListSerializer):
    """A page of rows whose reader is prepared once for the whole page (the child's
    ``prepare_page(viewer, rows)``: who may see the cases and incidents the rows name), not
    once per row."""

    def to_representation(self, data: Any) -> list[Any]:
        rows = list(data.all() if hasattr(data, "all") else data)
        self.child.prepare_page(context_viewer(self.context), rows)
        return super().to_representation(rows)


class CaseSerializer(serializers.ModelSerializer):
    """A case with what a CRM shows beside it. Every value is owned by the services."""

    status = choice_field("CaseStatus", Case.Status.choices, read_only=True)
    handed_off_to = choice_field(
        "CaseHandOff", Case.HandOff.choices, read_only=True, allow_blank=True
    )
    customer = CustomerSummarySerializer(read_only=True, allow_null=True)
    identity = IdentitySummarySerializer(read_only=True, allow_null=True)
    channel = ChannelSummarySerializer(read_only=True, allow_null=True)
    team = TeamSummarySerializer(read_only=True, allow_null=True)
    assignee = UserSummarySerializer(read_only=True, allow_null=True)
    tags = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")
    sla_state = serializers.SerializerMethodField()
    merged_into_reference = serializers.SerializerMethodField(
        help_text="Null when not merged, or merged into a case the caller may not see."
    )
    incident = serializers.SerializerMethodField()
    post_count = serializers.IntegerField(read_only=True)
    inbound_count = serializers.IntegerField(read_only=True)
    outbound_count = serializers.IntegerField(read_only=True)
    note_count = serializers.IntegerField(read_only=True)
    reply_window = serializers.SerializerMethodField(
        help_text="Whether a private message may reach the customer now. Null in lists (it "
        "costs a query per case): read it on the case."
    )
    csat = serializers.SerializerMethodField(
        help_text="The case's satisfaction survey and answer (docs/csat.md); null when none "
        "was sent."
    )

    class Meta:
        model = Case
        fields = [
            "id",
            "reference",
            "subject",
            "status",
            "priority",
            "visibility",
            "customer",
            "identity",
            "channel",
            "team",
            "assignee",
            "tags",
            "sla_state",
            "first_response_due_at",
            "next_response_due_at",
            "resolution_due_at",
            "first_responded_at",
            "last_inbound_at",
            "last_outbound_at",
            "from_history",
            "sla_started_at",
            "resolved_at",
            "closed_at",
            "handed_off_to",
            "merged_into",
            "merged_into_reference",
            "incident",
            "post_count",
            "inbound_count",
            "outbound_count",
            "note_count",
            "reply_window",
            "csat",
            "created_at",
            "updated_at",
            "change_seq",
        ]
        read_only_fields = fields
        list_serializer_class = PageListSerializer

    @staticmethod
    def prepare_page(viewer: Viewer, cases: list[Case]) -> None:
        """The incidents and merge targets of a page of cases, in two queries."""
        if not viewer.sees_all:
            viewer.learn_incidents({c.incident_id for c in cases if c.incident_id is not None})
            viewer.learn(getattr(c, "merged_into_reference", None) for c in cases)

    @extend_schema_field(serializers.ChoiceField(choices=SLA_STATES, allow_null=True))
    def get_sla_state(self, case: Case) -> str | None:
        return sla_state(case, self.context.get("now"))

    @extend_schema_field(IncidentRefSerializer(allow_null=True))
    def get_incident(self, case: Case) -> dict[str, Any] | None:
        """The incident's id and title; the title comes annotated (``incident_title``) by the
        views' querysets, so a page reads no incident rows."""
        if case.incident_id is None:
            return None
        viewer = context_viewer(self.context)
        if not viewer.sees_all:  # the title may be made from another team's case
            viewer.learn_incidents([case.incident_id])
            return {"id": case.incident_id, "title": viewer.incident_titles[case.incident_id]}
        title = getattr(case, "incident_title", None)
        if title is None:
            title = case.incident.title
        return {"id": case.incident_id, "title": title}

    @extend_schema_field(ReplyWindowSerializer(allow_null=True))
    def get_reply_window(self, case: Case) -> dict[str, Any] | None:
        if isinstance(self.parent, serializers.ListSerializer):
            return None
        now = self.context.get("now")
        window = reply_window(case, now=now).as_dict()
        chance = private_reply_state(case, now=now)
        zone = _zone()
        return {
            **window,
            "until": _when(window["until"], zone),
            "since": _when(window["since"], zone),
            "private_reply": None
            if chance is None
            else {**chance.as_dict(), "until": _when(chance.until, zone)},
        }

    def get_merged_into_reference(self, case: Case) -> str | None:
        reference = _text(getattr(case, "merged_into_reference", None))
        if reference and not context_viewer(self.context).sees_reference(reference):
            return None
        return reference

    @extend_schema_field(CaseCsatSerializer(allow_null=True))
    def get_csat(self, case: Case) -> dict[str, Any] | None:
        zone = _zone()
        return case_csat(case, lambda at: _when(at, zone))

    def to_representation(self, case: Case) -> dict[str, Any]:
        """The fields above, rendered by hand (see "Hand-written rendering")."""
        zone = _zone()
        return {
            "id": case.pk,
            "reference": case.reference,
            "subject": case.subject,
            "status": case.status,
            "priority": case.priority,
            "visibility": case.visibility,
            "customer": _customer(case.customer) if case.customer_id is not None else None,
            "identity": _identity(case.identity, zone) if case.identity_id is not None else None,
            "channel": _case_channel(case),
            "team": _case_team(case),
            "assignee": _user(case.assignee) if case.assignee_id is not None else None,
            "tags": _tag_names(case),
            "sla_state": self.get_sla_state(case),
            "first_response_due_at": _when(case.first_response_due_at, zone),
            "next_response_due_at": _when(case.next_response_due_at, zone),
            "resolution_due_at": _when(case.resolution_due_at, zone),
            "first_responded_at": _when(case.first_responded_at, zone),
            "last_inbound_at": _when(case.last_inbound_at, zone),
            "last_outbound_at": _when(case.last_outbound_at, zone),
            "from_history": bool(case.from_history),
            "sla_started_at": _when(case.sla_started_at, zone),
            "resolved_at": _when(case.resolved_at, zone),
            "closed_at": _when(case.closed_at, zone),
            "handed_off_to": case.handed_off_to,
            "merged_into": case.merged_into_id,
            "merged_into_reference": self.get_merged_into_reference(case),
            "incident": self.get_incident(case),
            "post_count": _count(getattr(case, "post_count", None)),
            "inbound_count": _count(getattr(case, "inbound_count", None)),
            "outbound_count": _count(getattr(case, "outbound_count", None)),
            "note_count": _count(getattr(case, "note_count", None)),
            "reply_window": self.get_reply_window(case),
            "csat": self.get_csat(case),
            "created_at": _when(case.created_at, zone),
            "updated_at": _when(case.updated_at, zone),
            "change_seq": case.change_seq,
        }


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}]})
class CustomerField(serializers.PrimaryKeyRelatedField):
    """A customer of the active (possibly swapped) model, by primary key."""

    def get_queryset(self) -> Any:
        return get_customer_model()._default_manager.all()


@extend_schema_field(OpenApiTypes.INT)
class VisiblePostField(serializers.PrimaryKeyRelatedField):
    """A post the caller may see (posts of their teams' cases)."""

    def get_queryset(self) -> Any:
        return visible_posts(self.context["request"].user, Post.objects.all())


@extend_schema_field(OpenApiTypes.INT)
class VisibleCaseField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self) -> Any:
        return visible_cases(self.context["request"].user, Case.objects.all())


@extend_schema_field(OpenApiTypes.INT)
class CasePostField(serializers.PrimaryKeyRelatedField):
    """A post of the case the request is about."""

    def get_queryset(self) -> Any:
        return Post.objects.filter(case=self.context["case"])


@extend_schema_field(OpenApiTypes.INT)
class ActiveUserField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self) -> Any:
        return get_user_model()._default_manager.filter(is_active=True)


class CaseCreateSerializer(StrictSerializer):
    post = VisiblePostField(
        required=False,
        help_text="Open the case for this post (one that has no case yet): channel, author and "
        "visibility come from it. Leave out channel, identity and customer then.",
    )
    channel = serializers.PrimaryKeyRelatedField(
        queryset=Channel.objects.all(), required=False, allow_null=True
    )
    identity = serializers.PrimaryKeyRelatedField(
        queryset=SocialIdentity.objects.all(), required=False, allow_null=True
    )
    customer = CustomerField(
        required=False, allow_null=True, help_text="Default: the identity's customer."
    )
    subject = serializers.CharField(max_length=200, required=False, allow_blank=True)
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.NORMAL)
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(),
        required=False,
        allow_null=True,
        help_text="Default: the channel's default team.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        post = attrs.get("post")
        direct = [name for name in ("channel", "identity", "customer") if attrs.get(name)]
        if post is not None:
            if direct:
                raise serializers.ValidationError(
                    {name: ["Comes from the post; leave it out."] for name in direct}
                )
            if post.case_id is not None:
                raise serializers.ValidationError(
                    {"post": ["This post already belongs to a case."]}
                )
        elif not direct:
            raise serializers.ValidationError(
                "Give a post, or at least one of channel, identity and customer."
            )
        return attrs


class CaseUpdateSerializer(StrictSerializer):
    """A PATCH: only the fields sent change, each through its service (and leaves its event)."""

    status = choice_field("CaseStatus", Case.Status.choices, required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    subject = serializers.CharField(max_length=200, required=False, allow_blank=True)
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(), required=False, allow_null=True
    )
    assignee = ActiveUserField(required=False, allow_null=True, help_text="An active user's id.")
    customer = CustomerField(required=False, allow_null=True)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50),
        required=False,
        max_length=100,
        help_text="Replaces the tags; names are matched case-insensitively.",
    )


# Posts and the timeline -----------------------------------------------------------------------


#: What the brand did to a customer's comment on the platform ("": nothing, or shown again).
MODERATION_CHOICES = [(value, label) for value, label in Post.Moderation.choices if value]


class PostSerializer(serializers.ModelSerializer):
    url = serializers.CharField(read_only=True, help_text="Empty until the platform has one.")
    kind = choice_field("PostKind", Post.Kind.choices, read_only=True)
    send_status = choice_field(
        "SendStatus", Post.SendStatus.choices, read_only=True, allow_blank=True
    )
    channel = ChannelSummarySerializer(read_only=True, allow_null=True)
    author = IdentitySummarySerializer(read_only=True, allow_null=True)
    sent_by = UserSummarySerializer(read_only=True, allow_null=True)
    case_reference = serializers.CharField(read_only=True, allow_null=True)
    moderation = choice_field(
        "PostModeration",
        MODERATION_CHOICES,
        read_only=True,
        allow_blank=True,
        help_text="The brand's moderation on the platform: `hidden`, `deleted`, or empty "
        "(visible: never moderated, or shown again). The post is kept either way.",
    )
    moderated_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When it was last hidden, shown or deleted."
    )
    moderated_by = UserSummarySerializer(
        read_only=True,
        allow_null=True,
        help_text="Who did it; null with `moderated_at` set: the system (a playbook step).",
    )
    moderation_answer = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="The platform's answer to that request, shortened (null: never moderated).",
    )

    class Meta:
        model = Post
        fields = [
            "id",
            "platform",
            "external_id",
            "channel",
            "case",
            "case_reference",
            "direction",
            "kind",
            "visibility",
            "author",
            "text",
            "html",
            "url",
            "in_reply_to_external_id",
            "parent",
            "conversation_id",
            "language",
            "posted_at",
            "received_at",
            "edited_at",
            "deleted_at",
            "from_history",
            "sentiment",
            "reach",
            "attachments",
            "sent_by",
            "send_status",
            "send_error",
            "send_attempts",
            "moderation",
            "moderated_at",
            "moderated_by",
            "moderation_answer",
        ]
        read_only_fields = fields

    def to_representation(self, post: Post) -> dict[str, Any]:
        """The fields above, rendered by hand (see "Hand-written rendering")."""
        zone = _zone()
        return {
            "id": post.pk,
            "platform": post.platform,
            "external_id": _text(post.external_id),
            "channel": channel_data(post.channel) if post.channel_id is not None else None,
            "case": post.case_id,
            "case_reference": _text(getattr(post, "case_reference", None)),
            "direction": post.direction,
            "kind": post.kind,
            "visibility": post.visibility,
            "author": _identity(post.author, zone) if post.author_id is not None else None,
            "text": post.text,
            "html": post.html,
            "url": str(post.url),
            "in_reply_to_external_id": post.in_reply_to_external_id,
            "parent": post.parent_id,
            "conversation_id": post.conversation_id,
            "language": post.language,
            "posted_at": _when(post.posted_at, zone),
            "received_at": _when(post.received_at, zone),
            "edited_at": _when(post.edited_at, zone),
            "deleted_at": _when(post.deleted_at, zone),
            "from_history": bool(post.from_history),
            "sentiment": None if post.sentiment is None else float(post.sentiment),
            "reach": int(post.reach),
            "attachments": post.attachments,
            "sent_by": _user(post.sent_by) if post.sent_by_id is not None else None,
            "send_status": post.send_status,
            "send_error": post.send_error,
            "send_attempts": int(post.send_attempts),
            "moderation": post.moderation,
            "moderated_at": _when(post.moderated_at, zone),
            "moderated_by": _user(post.moderated_by) if post.moderated_by_id is not None else None,
            "moderation_answer": _text(getattr(post, "moderation_answer", None)),
        }


class TimelinePostSerializer(serializers.ModelSerializer):
    kind = choice_field("PostKind", Post.Kind.choices, read_only=True)
    send_status = choice_field(
        "SendStatus", Post.SendStatus.choices, read_only=True, allow_blank=True
    )
    author_handle = serializers.CharField(source="author.handle", read_only=True, default="")
    url = serializers.CharField(read_only=True, help_text="Empty until the platform has one.")

    class Meta:
        model = Post
        fields = [
            "id",
            "direction",
            "kind",
            "visibility",
            "author_handle",
            "text",
            "url",
            "send_status",
            "send_error",
            "posted_at",
            "deleted_at",
        ]
        read_only_fields = fields


def _timeline_post(post: Post, zone: dt.tzinfo | None = None) -> dict[str, Any]:
    """``TimelinePostSerializer``'s fields, rendered by hand."""
    author = post.author if post.author_id is not None else None
    return {
        "id": post.pk,
        "direction": post.direction,
        "kind": post.kind,
        "visibility": post.visibility,
        "author_handle": "" if author is None else str(author.handle),
        "text": post.text,
        "url": str(post.url),
        "send_status": post.send_status,
        "send_error": post.send_error,
        "posted_at": _when(post.posted_at, zone),
        "deleted_at": _when(post.deleted_at, zone),
    }


def _event_kind_labels() -> dict[str, str]:
    """Event kind -> its label in the active language."""
    return _event_kind_labels_in(translation.get_language())


@lru_cache(maxsize=64)
def _event_kind_labels_in(language: str | None) -> dict[str, str]:
    return {value: str(label) for value, label in CaseEvent.Kind.choices}


class CaseEventSerializer(serializers.ModelSerializer):
    kind = choice_field("CaseEventKind", CaseEvent.Kind.choices, read_only=True)
    case_reference = serializers.CharField(read_only=True)
    actor = UserSummarySerializer(read_only=True, allow_null=True, help_text="Null: the system.")
    summary = serializers.SerializerMethodField(
        help_text="One line; a case the caller may not see reads 'a case in another team'."
    )
    data = serializers.SerializerMethodField(
        help_text="Details; their keys depend on kind. Other teams' cases are not named."
    )
    post = TimelinePostSerializer(read_only=True, allow_null=True)

    class Meta:
        model = CaseEvent
        fields = ["id", "case", "case_reference", "at", "kind", "summary", "actor", "data", "post"]
        read_only_fields = fields
        list_serializer_class = PageListSerializer

    @staticmethod
    def prepare_page(viewer: Viewer, events: list[CaseEvent]) -> None:
        viewer.learn_events(events)

    def get_summary(self, event: CaseEvent) -> str:
        # ``Model.get_FOO_display`` hashes the whole choice list (lazy translations) on every
        # call: a tenth of a millisecond per event. The label of a kind is looked up in a dict.
        labels = _event_kind_labels()
        event.get_kind_display = lambda: labels.get(event.kind, event.kind)
        try:
            summary = event.summary()
        finally:
            del event.get_kind_display
        return context_viewer(self.context).event_summary(event, summary)

    @extend_schema_field(serializers.DictField())
    def get_data(self, event: CaseEvent) -> dict[str, Any] | None:
        if event.data is None:
            return None
        return context_viewer(self.context).event_data(event)

    def to_representation(self, event: CaseEvent) -> dict[str, Any]:
        """The fields above, rendered by hand (see "Hand-written rendering")."""
        post = event.post if event.post_id is not None else None
        zone = _zone()
        return {
            "id": event.pk,
            "case": event.case_id,
            "case_reference": _text(getattr(event, "case_reference", None)),
            "at": _when(event.at, zone),
            "kind": event.kind,
            "summary": self.get_summary(event),
            "actor": _user(event.actor) if event.actor_id is not None else None,
            "data": self.get_data(event),
            "post": None if post is None else _timeline_post(post, zone),
        }


# Requests of the case actions --------------------------------------------------------------


class TimelineQuerySerializer(serializers.Serializer):
    include_merged = serializers.BooleanField(default=False)


class ReplySerializer(StrictSerializer):
    text = serializers.CharField(
        required=False, allow_blank=True, max_length=10000, help_text="Or a template."
    )
    template = serializers.PrimaryKeyRelatedField(
        queryset=ReplyTemplate.objects.active(),
        required=False,
        allow_null=True,
        help_text="A reply template's id, rendered for this case when no text is given.",
    )
    visibility = serializers.ChoiceField(
        choices=Visibility.choices,
        default=Visibility.PUBLIC,
        help_text="`public`: a threaded reply; `private`: a direct message (or an email).",
    )
    in_reply_to = CasePostField(
        required=False,
        allow_null=True,
        help_text="The post of this case to answer; default: the latest public customer post.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not (attrs.get("text") or "").strip() and attrs.get("template") is None:
            raise serializers.ValidationError({"text": ["Write a text or choose a template."]})
        return attrs


class NoteSerializer(StrictSerializer):
    text = serializers.CharField(max_length=10000, help_text="Internal; never sent.")


class MergeSerializer(StrictSerializer):
    into = VisibleCaseField(help_text="The case to keep; this one is closed into it.")
