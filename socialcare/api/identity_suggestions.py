"""``GET /identities/{id}/suggestions/``: the identities that may be the same person
(``services.identity_suggestions``), its serializer and its OpenAPI documentation. Linking one
is ``POST /identities/{id}/link/`` with the suggested identity's customer."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from socialcare.api.people_docs import DETAIL_ERRORS, errors
from socialcare.api.people_serializers import IdentityBriefSerializer
from socialcare.api.schema import extend_schema
from socialcare.services.identity_suggestions import PRIVATE_REPLY, SAME_HANDLE, SAME_NAME


class SuggestedIdentitySerializer(IdentityBriefSerializer):
    class Meta(IdentityBriefSerializer.Meta):
        fields = [*IdentityBriefSerializer.Meta.fields, "customer"]
        read_only_fields = fields


class SuggestionReasonSerializer(serializers.Serializer):
    code = serializers.ChoiceField(
        choices=[PRIVATE_REPLY, SAME_HANDLE, SAME_NAME],
        help_text="`private_reply`: one answered the private reply sent to the other's comment; "
        "`same_handle`; `same_name`.",
    )
    text = serializers.CharField(help_text="The reason, as the admin shows it.")


class SuggestionSerializer(serializers.Serializer):
    identity = SuggestedIdentitySerializer()
    reasons = SuggestionReasonSerializer(many=True, help_text="Strongest first.")


EXAMPLE: list[dict[str, Any]] = [
    {
        "identity": {
            "id": 8,
            "platform": "facebook",
            "external_id": "psid:103149398319188:3450429531722233",
            "handle": "",
            "display_name": "Susie Avellanosa",
            "profile_url": "",
            "followers_count": 0,
            "platform_verified": False,
            "owner_verified_at": None,
            "last_seen_at": "2026-03-04T17:40:00Z",
            "customer": 42,
        },
        "reasons": [
            {
                "code": "private_reply",
                "text": "Susie A. answered the private reply sent to Susie Avellanosa's comment "
                "on case SC-000012",
            },
            {"code": "same_name", "text": 'same name "Susie Avellanosa"'},
        ],
    }
]

SUGGESTIONS_DOCS = extend_schema(
    summary="Identities that may be the same person",
    description="Other identities an agent may want to link to this identity's customer, each "
    "with its reasons: `private_reply` (a Messenger / Instagram Direct sender answered the "
    "private reply sent to the other's comment), `same_handle`, `same_name` (same platform, or "
    "Facebook and Instagram). Never linked automatically: a PSID, an Instagram-scoped id and "
    "another Page's PSID are different people until someone says so. Identities already on the "
    "same customer, and those the caller may not see, are left out; at most 10. Link one with "
    "`POST /identities/{id}/link/` and its `customer`. Needs `view` on social identities.",
    responses={200: SuggestionSerializer(many=True), **errors(*DETAIL_ERRORS)},
    examples=[OpenApiExample("A suggestion", value=EXAMPLE, response_only=True)],
)
