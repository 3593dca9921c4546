"""Sending replies and direct messages as statuses (``POST /api/v1/statuses``)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from socialcare.platforms.base import (
    ChannelConfig,
    OutboundMessage,
    ParseError,
    SendError,
    SentPost,
    TransientSendError,
    load_json,
)
from socialcare.platforms.mastodon.common import auth_headers, base_url, request, timestamp
from socialcare.platforms.shapes import field_opt_str as _opt_str
from socialcare.platforms.shapes import field_str as _str


def addressed_text(text: str, handle: str) -> str:
    """``text`` as it is posted: starting with ``@handle `` (the recipient's ``user@domain``)
    unless it already starts with that mention. Mastodon delivers a direct status only to the
    accounts it mentions, and a public reply notifies the customer through the mention."""
    handle = handle.strip().lstrip("@")
    if handle and not re.match(rf"@{re.escape(handle)}(?![\w@.-])", text, re.IGNORECASE):
        return f"@{handle} {text}"
    return text


class SendingMixin:
    def send(
        self, channel: ChannelConfig, message: OutboundMessage, client: httpx.Client
    ) -> SentPost:
        """Post a status. A direct message starts with the recipient's ``@acct`` (Mastodon
        delivers a direct status to the accounts it mentions); so does a public reply when the
        recipient's handle is known, so that the customer is notified."""
        base = base_url(channel, "send")
        direct = message.visibility != "public"
        handle = message.recipient_handle.strip().lstrip("@")
        if direct and not handle:
            raise SendError(
                "A Mastodon direct message needs the recipient's handle (user@domain): "
                "Mastodon delivers a direct status only to the accounts it mentions."
            )
        payload: dict[str, Any] = {
            "status": addressed_text(message.text, handle),
            "visibility": "direct" if direct else "public",
        }
        if message.in_reply_to_local_id:
            payload["in_reply_to_id"] = message.in_reply_to_local_id
        headers = auth_headers(channel)
        if message.idempotency_key:
            headers["Idempotency-Key"] = message.idempotency_key
        response = request(
            client,
            "POST",
            f"{base}/api/v1/statuses",
            "Mastodon POST /api/v1/statuses",
            json=payload,
            headers=headers,
        )
        try:
            data = load_json(response.content)
            if not isinstance(data, dict):
                raise ParseError(f"expected an object, got {type(data).__name__}")
            uri = _str(data, "uri", "status")
            local_id = _str(data, "id", "status")
            url = _opt_str(data, "url", "status") or uri
            posted_at = timestamp(data, "created_at", "status") if data.get("created_at") else None
        except ParseError as exc:
            # The status may exist: with an Idempotency-Key a retry returns it instead of
            # posting twice, so retrying is safe; without one it is not.
            error = TransientSendError if message.idempotency_key else SendError
            raise error(f"Mastodon answered the post with an unexpected body: {exc}") from None
        return SentPost(external_id=uri, url=url, local_id=local_id, posted_at=posted_at)
