"""OpenAPI documentation of the people endpoints (``people.py``): summaries, descriptions,
examples and error answers. Documentation only; no behaviour."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers

# The one 4xx shape, documented once for the whole API.
from socialcare.api.case_serializers import ErrorSerializer
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
from socialcare.api.schema import extend_schema

_ERRORS: dict[int, tuple[str, dict[str, Any]]] = {
    400: (
        "Invalid input (body, filter or `cursor`): `errors` names each field and its messages.",
        {
            "code": "invalid",
            "detail": "This field is required.",
            "errors": {"external_id": ["This field is required."]},
        },
    ),
    401: (
        "No credentials, or an unknown, revoked or expired API key.",
        {"code": "not_authenticated", "detail": "Authentication credentials were not provided."},
    ),
    403: (
        "Not staff, a read-only key writing, or a missing model permission.",
        {"code": "permission_denied", "detail": "This API key is read-only."},
    ),
    404: (
        "No such object.",
        {"code": "not_found", "detail": "No Customer matches the given query."},
    ),
    409: (
        "The merge was refused.",
        {"code": "merge_refused", "detail": "A customer cannot be merged into itself."},
    ),
    415: (
        "The body is not JSON.",
        {"code": "unsupported_media_type", "detail": 'Unsupported media type "text/plain".'},
    ),
    429: (
        "Too many requests for this key; retry after `Retry-After` seconds.",
        {"code": "throttled", "detail": "Request was throttled. Expected available in 12 seconds."},
    ),
}

LIST_ERRORS = (400, 401, 403, 429)
DETAIL_ERRORS = (401, 403, 404, 429)
CREATE_ERRORS = (400, 401, 403, 415, 429)
UPDATE_ERRORS = (400, 401, 403, 404, 415, 429)


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """Documented error answers: all share ``ErrorSerializer``'s shape."""
    return {
        code: OpenApiResponse(
            ErrorSerializer,
            description=_ERRORS[code][0],
            examples=[OpenApiExample(f"Error {code}", value=_ERRORS[code][1], status_codes=[code])],
        )
        for code in codes
    }


def _example(name: str, value: Any, **kwargs: Any) -> OpenApiExample:
    return OpenApiExample(name, value=value, **kwargs)


IDENTITY_EXAMPLE = {
    "id": 7,
    "platform": "x",
    "external_id": "1450098211",
    "handle": "ada",
    "display_name": "Ada L.",
    "profile_url": "https://x.com/ada",
    "avatar_url": "",
    "followers_count": 1520,
    "platform_verified": False,
    "owner_verified_at": None,
    "owner_verified_via": "",
    "customer": 42,
    "first_seen_at": "2026-03-01T09:12:00Z",
    "last_seen_at": "2026-03-04T17:40:00Z",
}
CUSTOMER_EXAMPLE = {
    "id": 42,
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "created_at": "2026-03-01T09:12:00Z",
    "updated_at": "2026-03-04T17:41:00Z",
    "merged_into": None,
    "identities": [
        {
            key: IDENTITY_EXAMPLE[key]
            for key in (
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
            )
        }
    ],
    "open_cases": 1,
}
HISTORY_EXAMPLE = {
    "id": 123,
    "reference": "SC-000123",
    "subject": "Refund please",
    "status": "resolved",
    "priority": "high",
    "visibility": "public",
    "identity": 7,
    "channel": 1,
    "team": 2,
    "assignee": 5,
    "merged_into": None,
    "created_at": "2026-03-04T17:40:00Z",
    "updated_at": "2026-03-04T18:20:00Z",
    "first_responded_at": "2026-03-04T17:52:00Z",
    "resolved_at": "2026-03-04T18:20:00Z",
    "closed_at": None,
    "events": [
        {
            "id": 900,
            "at": "2026-03-04T17:40:00Z",
            "kind": "created",
            "summary": "Case opened",
            "actor": None,
            "post": 501,
        },
        {
            "id": 903,
            "at": "2026-03-04T17:52:00Z",
            "kind": "replied",
            "summary": "Sorry about that! We've sent you a DM.",
            "actor": "Alice Agent",
            "post": 502,
        },
    ],
    "posts": [
        {
            "id": 501,
            "platform": "x",
            "direction": "inbound",
            "kind": "mention",
            "visibility": "public",
            "text": "@acme my order never arrived, I want a refund",
            "url": "https://x.com/ada/status/1",
            "posted_at": "2026-03-04T17:40:00Z",
            "edited_at": None,
            "deleted_at": None,
            "author": 7,
            "author_handle": "ada",
            "sent_by": None,
            "send_status": "",
        }
    ],
}
MERGE_EXAMPLE = {
    "customer": CUSTOMER_EXAMPLE,
    "merge": {
        "id": 3,
        "source_id": "57",
        "source_snapshot": {"id": 57, "name": "A. Lovelace", "email": ""},
        "target": 42,
        "target_ref": "42",
        "merged_by": 5,
        "merged_at": "2026-03-05T08:00:00Z",
        "identities_moved": 1,
        "cases_moved": 2,
        "relations": {
            "moved": [{"relation": "crm.Deal.contact", "count": 3}],
            "left": [
                {
                    "relation": "crm.CustomerProfile.customer",
                    "count": 1,
                    "reason": "one per customer (one-to-one): the merge hook of the customer "
                    "adapter decides",
                }
            ],
            "filled": ["email"],
        },
    },
}
TEAM_EXAMPLE = {
    "id": 2,
    "name": "Care",
    "email": "care@example.com",
    "calendar": None,
    "auto_assign": True,
    "queue_wait_limit": "00:15:00",
    "members": [
        {
            "user": 5,
            "username": "alice",
            "name": "Alice Agent",
            "on_duty": True,
            "capacity": 5,
            "languages": ["en", "fr"],
            "platforms": [],
            "status": "online",
        },
        {
            "user": 6,
            "username": "bob",
            "name": "Bob Backup",
            "on_duty": False,
            "capacity": 3,
            "languages": [],
            "platforms": ["x"],
            "status": "offline",
        },
    ],
}
SLA_EXAMPLE = {
    "id": 1,
    "name": "Urgent on X",
    "order": 10,
    "is_active": True,
    "priority": "urgent",
    "platform": "x",
    "visibility": "",
    "channel": None,
    "first_response_minutes": 15,
    "next_response_minutes": 60,
    "resolution_minutes": 480,
    "calendar": None,
}
WEBHOOK_EXAMPLE = {
    "id": 4,
    "name": "CRM sync",
    "url": "https://crm.example.com/hooks/socialcare",
    "event_types": ["case.created", "case.status_changed"],
    "is_active": True,
    "created_at": "2026-03-01T09:00:00Z",
    "consecutive_failures": 0,
    "last_success_at": "2026-03-04T17:40:02Z",
    "disabled_at": None,
    "disabled_reason": "",
}

HISTORY_PAGE = inline_serializer(
    "CustomerHistoryPage",
    {
        "next": serializers.URLField(allow_null=True, help_text="The next page; null: the end."),
        "previous": serializers.URLField(allow_null=True),
        "results": HistoryCaseSerializer(many=True),
    },
)
PAGE_PARAMETERS = [
    OpenApiParameter("cursor", OpenApiTypes.STR, description="From `next` or `previous`."),
    OpenApiParameter("page_size", OpenApiTypes.INT, description="Cases per page (at most 100)."),
]

CUSTOMER_DOCS = extend_schema_view(
    list=extend_schema(
        summary="List customers",
        description="Oldest change first (cursor pagination: follow `next`). `search` matches "
        "name, email and identity handles.",
        responses={200: CustomerSerializer(many=True), **errors(*LIST_ERRORS)},
        examples=[_example("A customer", CUSTOMER_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="A customer with their social identities",
        responses={200: CustomerSerializer, **errors(*DETAIL_ERRORS)},
        examples=[_example("A customer", CUSTOMER_EXAMPLE, response_only=True)],
    ),
    create=extend_schema(
        summary="Create a customer",
        responses={201: CustomerSerializer, **errors(*CREATE_ERRORS)},
        examples=[
            _example(
                "New customer",
                {"name": "Ada Lovelace", "email": "ada@example.com"},
                request_only=True,
            ),
            _example("Created", CUSTOMER_EXAMPLE, response_only=True, status_codes=[201]),
        ],
    ),
    partial_update=extend_schema(
        summary="Change a customer's name or email",
        responses={200: CustomerSerializer, **errors(*UPDATE_ERRORS)},
        examples=[
            _example("New email", {"email": "ada@lovelace.example"}, request_only=True),
            _example("Changed", CUSTOMER_EXAMPLE, response_only=True),
        ],
    ),
    merge=extend_schema(
        summary="Merge this customer into another",
        description="Identities and cases move to `into`, which is kept, with the CRM's own "
        "data that points at this customer where that is safe (`merge.relations` says what moved "
        "and what was left, and why); blank text fields on it are filled from this customer. "
        "This record stays, marked merged by the merge record (and `merged_into` when the model "
        "has that field), which keeps a snapshot of it. 409 `merge_refused`, with the reason: a "
        "customer merged before cannot be merged again nor be merged into (a repeat, reverse or "
        "cyclic merge). Needs the customer model's `change` permission.",
        request=MergeRequestSerializer,
        responses={200: MergeResultSerializer, **errors(400, 401, 403, 404, 409, 415, 429)},
        examples=[
            _example("Merge into 42", {"into": 42}, request_only=True),
            _example("Merged", MERGE_EXAMPLE, response_only=True),
        ],
    ),
    history=extend_schema(
        summary="A customer's full history",
        description="The customer's cases, oldest first, each with its timeline (`events`) and "
        "its `posts` in order. Only cases the user may see (team rule); needs "
        "`socialcare.view_case` too. Paginated: follow `next`.",
        parameters=PAGE_PARAMETERS,
        responses={200: HISTORY_PAGE, **errors(*DETAIL_ERRORS)},
        examples=[
            _example(
                "One case",
                {"next": None, "previous": None, "results": [HISTORY_EXAMPLE]},
                response_only=True,
            )
        ],
    ),
)

IDENTITY_DOCS = extend_schema_view(
    list=extend_schema(
        summary="List social identities",
        description="Oldest `last_seen_at` first (cursor pagination: follow `next`).",
        responses={200: IdentitySerializer(many=True), **errors(*LIST_ERRORS)},
        examples=[_example("An identity", IDENTITY_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="A social identity",
        responses={200: IdentitySerializer, **errors(*DETAIL_ERRORS)},
        examples=[_example("An identity", IDENTITY_EXAMPLE, response_only=True)],
    ),
    create=extend_schema(
        summary="Record a social identity",
        description="`platform` + `external_id` (the platform's stable user id) are unique. "
        "Owner verification is read-only: it comes from the customer signing in with the account.",
        responses={201: IdentitySerializer, **errors(*CREATE_ERRORS)},
        examples=[
            _example(
                "New identity",
                {
                    "platform": "x",
                    "external_id": "1450098211",
                    "handle": "ada",
                    "display_name": "Ada L.",
                    "profile_url": "https://x.com/ada",
                    "followers_count": 1520,
                },
                request_only=True,
            ),
            _example("Created", IDENTITY_EXAMPLE, response_only=True, status_codes=[201]),
        ],
    ),
    link=extend_schema(
        summary="Link the identity to a customer",
        description="Moves it off its previous customer, if any; its cases of that customer (or "
        "of nobody) follow it.",
        request=IdentityLinkSerializer,
        responses={200: IdentitySerializer, **errors(*UPDATE_ERRORS)},
        examples=[
            _example("Link to 42", {"customer": 42}, request_only=True),
            _example("Linked", IDENTITY_EXAMPLE, response_only=True),
        ],
    ),
    unlink=extend_schema(
        summary="Unlink the identity from its customer",
        description="Its past cases keep their customer. 400 when it is not linked.",
        request=None,
        responses={200: IdentitySerializer, **errors(*UPDATE_ERRORS)},
        examples=[_example("Unlinked", {**IDENTITY_EXAMPLE, "customer": None}, response_only=True)],
    ),
)

TEAM_DOCS = extend_schema_view(
    list=extend_schema(
        summary="List teams and their members",
        responses={200: TeamSerializer(many=True), **errors(*LIST_ERRORS)},
        examples=[_example("A team", TEAM_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="A team and its members",
        responses={200: TeamSerializer, **errors(*DETAIL_ERRORS)},
        examples=[_example("A team", TEAM_EXAMPLE, response_only=True)],
    ),
)

SLA_DOCS = extend_schema_view(
    list=extend_schema(
        summary="List SLA policies",
        description="In evaluation order: the first active policy whose conditions match a case "
        "wins. Empty conditions match anything.",
        responses={200: SLAPolicySerializer(many=True), **errors(*LIST_ERRORS)},
        examples=[_example("A policy", SLA_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="An SLA policy",
        responses={200: SLAPolicySerializer, **errors(*DETAIL_ERRORS)},
        examples=[_example("A policy", SLA_EXAMPLE, response_only=True)],
    ),
    create=extend_schema(
        summary="Create an SLA policy",
        description="Needs `socialcare.add_slapolicy`.",
        responses={201: SLAPolicySerializer, **errors(*CREATE_ERRORS)},
        examples=[
            _example(
                "Urgent on X",
                {key: value for key, value in SLA_EXAMPLE.items() if key != "id"},
                request_only=True,
            ),
            _example("Created", SLA_EXAMPLE, response_only=True, status_codes=[201]),
        ],
    ),
    update=extend_schema(
        summary="Replace an SLA policy",
        description="Needs `socialcare.change_slapolicy`. Cases keep the due times they have.",
        responses={200: SLAPolicySerializer, **errors(*UPDATE_ERRORS)},
        examples=[_example("Updated", SLA_EXAMPLE, response_only=True)],
    ),
    partial_update=extend_schema(
        summary="Change an SLA policy",
        description="Needs `socialcare.change_slapolicy`. Cases keep the due times they have.",
        responses={200: SLAPolicySerializer, **errors(*UPDATE_ERRORS)},
        examples=[
            _example("Tighter target", {"first_response_minutes": 10}, request_only=True),
            _example("Changed", SLA_EXAMPLE, response_only=True),
        ],
    ),
)

WEBHOOK_DOCS = extend_schema_view(
    list=extend_schema(
        summary="List webhook subscriptions",
        description="Signing secrets are never listed.",
        responses={200: WebhookSubscriptionSerializer(many=True), **errors(*LIST_ERRORS)},
        examples=[_example("A subscription", WEBHOOK_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="A webhook subscription",
        responses={200: WebhookSubscriptionSerializer, **errors(*DETAIL_ERRORS)},
        examples=[_example("A subscription", WEBHOOK_EXAMPLE, response_only=True)],
    ),
    create=extend_schema(
        summary="Subscribe a URL to events",
        description="Omit `secret` to have one generated. The answer carries the secret this "
        "once: store it to verify the `X-Socialcare-Signature` of each delivery.",
        responses={201: WebhookSubscriptionCreatedSerializer, **errors(*CREATE_ERRORS)},
        examples=[
            _example(
                "New subscription",
                {
                    "name": "CRM sync",
                    "url": "https://crm.example.com/hooks/socialcare",
                    "event_types": ["case.created", "case.status_changed"],
                },
                request_only=True,
            ),
            _example(
                "Created",
                {**WEBHOOK_EXAMPLE, "secret": "whsec_q0sX4fVb0pQ0m9kq6Yx3Rk2…"},
                response_only=True,
                status_codes=[201],
            ),
        ],
    ),
    update=extend_schema(
        summary="Replace a webhook subscription",
        description="Send `secret` to rotate it. Setting `is_active` back to true clears an "
        "automatic disabling.",
        responses={200: WebhookSubscriptionSerializer, **errors(*UPDATE_ERRORS)},
        examples=[_example("Updated", WEBHOOK_EXAMPLE, response_only=True)],
    ),
    partial_update=extend_schema(
        summary="Change a webhook subscription",
        description="Send `secret` to rotate it. Setting `is_active` back to true clears an "
        "automatic disabling.",
        responses={200: WebhookSubscriptionSerializer, **errors(*UPDATE_ERRORS)},
        examples=[
            _example("Re-enable", {"is_active": True}, request_only=True),
            _example("Changed", WEBHOOK_EXAMPLE, response_only=True),
        ],
    ),
    destroy=extend_schema(
        summary="Delete a webhook subscription",
        description="Its delivery log goes with it.",
        responses={204: None, **errors(*DETAIL_ERRORS)},
    ),
)
