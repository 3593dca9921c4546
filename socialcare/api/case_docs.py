"""OpenAPI descriptions and examples of the case and post endpoints, and the documented error
responses (``error_responses()``) any socialcare endpoint may use."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from socialcare.api.case_serializers import ErrorSerializer

CASE_LIST = (
    "Cases the caller may see: their teams' cases, cases assigned to them and cases no team owns "
    "yet (everything with `socialcare.view_all_cases`). Filters combine with AND; repeat "
    "`status` or `priority` for several values. For incremental sync, pass `changed_after` (the "
    "largest `change_seq` of your last sync) and follow `next`: the default order (`change_seq`, "
    "oldest change first) skips nothing while cases change; a case changed between two pages "
    "comes again later."
)
CASE_CREATE = (
    "Open a case, either for a post that has no case yet (`post`; its channel, author and "
    "visibility are used) or from `channel`, `identity` and/or `customer`. The reference, team, "
    "SLA policy and due times are set as for an incoming post; the timeline records it."
)
CASE_UPDATE = (
    "Change status, priority, subject, team, assignee, customer or tags. Only the fields sent "
    "change, all or nothing, each leaving its event in the timeline. A status change the "
    "workflow does not allow (new → open → waiting_on_customer → resolved → closed; resolved "
    "may reopen; closed is final) is a 409."
)
TIMELINE = (
    "The case history: its events in the order they happened, each with its post (direction, "
    "author handle, text, visibility, send status, URL) when it has one. Every post of the case "
    "is here, as its `post_added` (the customer's) or `replied` (the brand's, also one made on "
    "the platform) event: the same list, in the same order, as the admin case page and the "
    "customer export. Ordered by `at`; at equal times `created` first, then posts, then what "
    "they caused, then by `id`. Cursor-paginated, oldest first."
)
REPLY = (
    "Queue a reply: public (threaded to `in_reply_to`, by default the customer's latest public "
    "post) or private (a direct message, or an email on email channels). The reply is sent by a "
    "worker; follow its `send_status`. Needs `socialcare.change_case`."
)
MERGE = (
    "Merge this case into `into`: posts and tags move there, the higher priority and earlier due "
    "times are kept, this case is closed with `merged_into` set. Returns the kept case. Needs "
    "`socialcare.merge_case`; cases of different customers, or already merged, are a 409."
)
POST_LIST = (
    "Posts of the cases the caller may see, inbound and outbound. They sync in the order they "
    "arrived (`received_at`); `updated_since` also finds posts edited, deleted, sent or "
    "moderated since. `moderation` says what the brand did to a customer's comment on the "
    "platform (`hidden`, `deleted`, empty: visible), with `moderated_at`, `moderated_by` and the "
    "platform's `moderation_answer`; filter with `moderation` and `moderated_after`."
)

CASE_EXAMPLE = OpenApiExample(
    "A case",
    response_only=True,
    value={
        "id": 42,
        "reference": "SC-000042",
        "subject": "My order never arrived",
        "status": "open",
        "priority": "high",
        "visibility": "public",
        "customer": {"id": 7, "name": "Ada Lovelace", "email": "ada@example.com"},
        "identity": {
            "id": 11,
            "platform": "x",
            "handle": "ada",
            "display_name": "Ada L.",
            "profile_url": "https://x.com/ada",
            "followers_count": 1520,
            "platform_verified": False,
            "owner_verified_at": None,
        },
        "channel": {"id": 1, "name": "Acme on X", "platform": "x", "handle": "acme"},
        "team": {"id": 2, "name": "Care"},
        "assignee": {"id": 5, "username": "alice", "name": "Alice Agent"},
        "tags": ["delivery"],
        "sla_state": "due_soon",
        "first_response_due_at": "2025-03-04T10:15:00Z",
        "next_response_due_at": None,
        "resolution_due_at": None,
        "first_responded_at": None,
        "last_inbound_at": "2025-03-04T09:15:00Z",
        "last_outbound_at": None,
        "from_history": False,
        "sla_started_at": "2025-03-04T09:15:00Z",
        "resolved_at": None,
        "closed_at": None,
        "handed_off_to": "",
        "merged_into": None,
        "merged_into_reference": None,
        "incident": {"id": 3, "title": "Negative surge on X"},
        "post_count": 2,
        "inbound_count": 2,
        "outbound_count": 0,
        "note_count": 1,
        "created_at": "2025-03-04T09:15:00Z",
        "updated_at": "2025-03-04T09:20:31Z",
        "change_seq": 1042,
    },
)
CREATE_FROM_POST = OpenApiExample(
    "For a post", request_only=True, value={"post": 314, "priority": "high"}
)
CREATE_PLAIN = OpenApiExample(
    "From an identity",
    request_only=True,
    value={"identity": 11, "subject": "Call-back about invoice 1009", "visibility": "private"},
)
UPDATE_EXAMPLE = OpenApiExample(
    "Assign and tag",
    request_only=True,
    value={"status": "waiting_on_customer", "assignee": 5, "tags": ["delivery", "refund"]},
)
POST_EXAMPLE = OpenApiExample(
    "A post",
    response_only=True,
    value={
        "id": 315,
        "platform": "x",
        "external_id": None,
        "channel": {"id": 1, "name": "Acme on X", "platform": "x", "handle": "acme"},
        "case": 42,
        "case_reference": "SC-000042",
        "direction": "outbound",
        "kind": "reply",
        "visibility": "public",
        "author": None,
        "text": "Sorry about that, Ada! We sent you a DM.",
        "html": "",
        "url": "",
        "in_reply_to_external_id": "1893345",
        "parent": 314,
        "conversation_id": "1893345",
        "language": "",
        "posted_at": "2025-03-04T09:21:00Z",
        "received_at": "2025-03-04T09:21:00Z",
        "edited_at": None,
        "deleted_at": None,
        "from_history": False,
        "sentiment": None,
        "reach": 0,
        "attachments": [],
        "sent_by": {"id": 5, "username": "alice", "name": "Alice Agent"},
        "send_status": "queued",
        "send_error": "",
        "send_attempts": 0,
        "moderation": "",
        "moderated_at": None,
        "moderated_by": None,
        "moderation_answer": None,
    },
)
HIDDEN_COMMENT_EXAMPLE = OpenApiExample(
    "A comment the brand hid",
    response_only=True,
    value={
        **POST_EXAMPLE.value,
        "id": 316,
        "platform": "facebook",
        "external_id": "407298303721999_408074750310001",
        "channel": {"id": 2, "name": "Acme on Facebook", "platform": "facebook", "handle": ""},
        "direction": "inbound",
        "kind": "comment",
        "author": {
            "id": 12,
            "platform": "facebook",
            "handle": "",
            "display_name": "Sam Troll",
            "profile_url": "",
            "followers_count": 0,
            "platform_verified": False,
            "owner_verified_at": None,
        },
        "text": "You are all crooks",
        "in_reply_to_external_id": "407298303721999",
        "parent": None,
        "conversation_id": "407298303721999",
        "sent_by": None,
        "send_status": "",
        "moderation": "hidden",
        "moderated_at": "2025-03-04T09:30:00Z",
        "moderated_by": {"id": 5, "username": "alice", "name": "Alice Agent"},
        "moderation_answer": '{"success":true}',
    },
)
EVENT_EXAMPLE = OpenApiExample(
    "An event",
    response_only=True,
    value={
        "id": 901,
        "case": 42,
        "case_reference": "SC-000042",
        "at": "2025-03-04T09:15:00Z",
        "kind": "post_added",
        "summary": "Post added",
        "actor": None,
        "data": {"text": "@acme my order never arrived", "author": "@ada (X (Twitter))"},
        "post": {
            "id": 314,
            "direction": "inbound",
            "kind": "mention",
            "visibility": "public",
            "author_handle": "ada",
            "text": "@acme my order never arrived",
            "url": "https://x.com/ada/status/1893345",
            "send_status": "",
            "send_error": "",
            "posted_at": "2025-03-04T09:15:00Z",
            "deleted_at": None,
        },
    },
)
REPLY_EXAMPLE = OpenApiExample(
    "A public reply",
    request_only=True,
    value={"text": "Sorry about that, Ada! We sent you a DM.", "visibility": "public"},
)
NOTE_EXAMPLE = OpenApiExample(
    "A note", request_only=True, value={"text": "Customer called; refund approved by Sam."}
)
MERGE_EXAMPLE = OpenApiExample("Into another case", request_only=True, value={"into": 40})


_ERRORS: dict[int, tuple[str, dict[str, Any]]] = {
    400: (
        "Invalid input; `errors` names the fields.",
        {
            "code": "invalid",
            "detail": '"later" is not a valid choice.',
            "errors": {"status": ['"later" is not a valid choice.']},
        },
    ),
    401: (
        "No credentials, or an unknown, revoked or expired API key.",
        {"code": "not_authenticated", "detail": "Authentication credentials were not provided."},
    ),
    403: (
        "Not a staff user, a missing permission, or a read-only key that writes.",
        {"code": "permission_denied", "detail": "This API key is read-only."},
    ),
    404: (
        "No such object, or one the caller's teams may not see (the same answer on purpose).",
        {"code": "not_found", "detail": "Not found."},
    ),
    409: (
        "The case workflow refuses the change (status transition or merge).",
        {
            "code": "illegal_transition",
            "detail": "Case SC-000042 cannot go from Closed to Open (allowed: none).",
        },
    ),
    429: (
        "Too many requests for this key; retry after `Retry-After` seconds.",
        {"code": "throttled", "detail": "Request was throttled. Expected available in 12 seconds."},
    ),
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses in the one error shape, with an example each, for ``@extend_schema``."""
    return {
        status: OpenApiResponse(
            ErrorSerializer,
            description=_ERRORS[status][0],
            examples=[OpenApiExample(f"Error {status}", _ERRORS[status][1], status_codes=[status])],
        )
        for status in statuses
    }
