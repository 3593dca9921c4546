"""The API side of the collision guard: ``POST cases/{id}/replies/`` with ``if_unchanged_since``
answers 409 with what was recorded on the case since (``socialcare.services.collision``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers, status
from rest_framework.response import Response

from socialcare.api.case_serializers import ReplySerializer, choice_field
from socialcare.services.collision import Changes

IF_UNCHANGED_SINCE_HELP = (
    "Optional ISO 8601 date-time: when you last read the case (e.g. the case's `updated_at`, or "
    "your clock when you fetched its timeline). If the customer posted, or a reply or an internal "
    "note was recorded on the case after it, nothing is sent and the answer is 409 with what "
    "changed. Omitted: sent whatever happened."
)


class GuardedReplySerializer(ReplySerializer):
    if_unchanged_since = serializers.DateTimeField(
        required=False, allow_null=True, help_text=IF_UNCHANGED_SINCE_HELP
    )


class ChangeSerializer(serializers.Serializer):
    kind = choice_field(
        "ConversationChangeKind",
        [
            ("post", "The customer's post"),
            ("reply", "A reply to the customer (an agent's, or automatic)"),
            ("note", "An internal note"),
        ],
    )
    at = serializers.DateTimeField(help_text="When socialcare recorded it.")
    by = serializers.CharField(help_text="The customer's name or handle, the agent, or system.")
    text = serializers.CharField()
    post = serializers.IntegerField(allow_null=True, help_text="The post's id (posts, replies).")
    event = serializers.IntegerField(allow_null=True, help_text="The note's timeline event id.")
    status = serializers.CharField(help_text="A reply's send status; empty otherwise.")


class ConversationChangedSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="`conversation_changed`")
    detail = serializers.CharField()
    since = serializers.DateTimeField(help_text="The `if_unchanged_since` you sent.")
    count = serializers.IntegerField(help_text="How many changes there were in all.")
    changes = ChangeSerializer(many=True, help_text="Oldest first; at most the newest 20.")


GUARDED_REPLY_EXAMPLE = OpenApiExample(
    "Only if nothing changed",
    request_only=True,
    value={
        "text": "Sorry about that, Ada! We sent you a DM.",
        "visibility": "public",
        "if_unchanged_since": "2025-03-04T09:15:00Z",
    },
)
CHANGED_EXAMPLE = OpenApiExample(
    "Someone replied first",
    response_only=True,
    status_codes=[409],
    value={
        "code": "conversation_changed",
        "detail": "The case changed after 2025-03-04T09:15:00Z: 1 new change (posts, replies or "
        "notes). Nothing was sent; read them and send again (with a later if_unchanged_since, or "
        "without).",
        "since": "2025-03-04T09:15:00Z",
        "count": 1,
        "changes": [
            {
                "kind": "reply",
                "at": "2025-03-04T09:16:12Z",
                "by": "Maya Okafor",
                "text": "Hi Ada, so sorry! Could you DM us your order number?",
                "post": 315,
                "event": None,
                "status": "queued",
            }
        ],
    },
)
CONFLICT_RESPONSE = OpenApiResponse(
    ConversationChangedSerializer,
    description="`if_unchanged_since` was given and the case changed after it; nothing was sent.",
)


def conflict_response(changes: Changes) -> Response:
    """The 409 answer: the one error shape (``code``, ``detail``) plus what changed."""
    moment = serializers.DateTimeField()
    noun = "change" if changes.count == 1 else "changes"
    return Response(
        {
            "code": "conversation_changed",
            "detail": f"The case changed after {moment.to_representation(changes.since)}: "
            f"{changes.count} new {noun} (posts, replies or notes). Nothing was sent; read them "
            "and send again (with a later if_unchanged_since, or without).",
            "since": moment.to_representation(changes.since),
            "count": changes.count,
            "changes": [
                {**change.as_dict(), "at": moment.to_representation(change.at)}
                for change in changes.items
            ],
        },
        status=status.HTTP_409_CONFLICT,
    )
