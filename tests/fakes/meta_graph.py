"""The Messenger Platform Send API (``POST /me/messages``) as Meta enforces it.

Sources (docs/replies.md): a message may go within 24 hours of the person's last message
(``messaging_type: RESPONSE``); past that only with ``messaging_type: MESSAGE_TAG`` and
``tag: HUMAN_AGENT``, within 7 days, by an app Meta granted the Human Agent permission. Outside
the window Meta answers error code 10, subcode 2018278 "This message is sent outside of allowed
window." (Send API error codes). The recipient is ``{"id": <PSID or IGSID>}``; a person who never
wrote to the Page is "No matching user found" (code 100, subcode 2018001).

::

    graph = MetaGraphFake(platform_server, human_agent=True)
    graph.user_wrote("3424692677644577", at=now - dt.timedelta(hours=23))
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

from tests.platform_server import Answer, PlatformServer, Recorded

STANDARD_WINDOW = dt.timedelta(hours=24)
HUMAN_AGENT_WINDOW = dt.timedelta(days=7)
MESSAGING_TYPES = frozenset({"RESPONSE", "UPDATE", "MESSAGE_TAG"})
#: Tags the Send API knows; only HUMAN_AGENT is played here (the others need their own use cases).
TAGS = frozenset(
    {"HUMAN_AGENT", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE"}
)


def graph_error(message: str, code: int, subcode: int | None = None, status: int = 400) -> Answer:
    """Meta's error answer: ``{"error": {"message", "type", "code", "error_subcode", ...}}``."""
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEfGhIjK",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return Answer(status, {"error": error})


def outside_window() -> Answer:
    return graph_error("(#10) This message is sent outside of allowed window.", 10, 2018278)


class MetaGraphFake:
    """Serves ``POST /me/messages`` on ``server`` and keeps what it accepted in ``sent``."""

    def __init__(
        self,
        server: PlatformServer,
        *,
        human_agent: bool = False,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.human_agent = human_agent
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.last_message: dict[str, dt.datetime] = {}
        self.sent: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        server.route("POST", "/me/messages", self.send)

    def user_wrote(self, user_id: str, at: dt.datetime) -> None:
        """The person ``user_id`` (PSID or IGSID) last wrote to the Page at ``at``."""
        self.last_message[user_id] = at

    def send(self, request: Recorded) -> Answer:
        try:
            body = request.json()
        except ValueError:
            return graph_error("(#100) The parameter recipient is required", 100)
        if not isinstance(body, dict):
            return graph_error("(#100) The parameter recipient is required", 100)
        recipient = body.get("recipient")
        if (
            not isinstance(recipient, dict)
            or set(recipient) != {"id"}
            or not isinstance(recipient["id"], str)
            or not recipient["id"].isdigit()
        ):
            return graph_error("(#100) Param recipient[id] must be a valid ID string", 100)
        messaging_type = body.get("messaging_type")
        if messaging_type not in MESSAGING_TYPES:
            return graph_error("(#100) Param messaging_type must be one of {RESPONSE, ...}", 100)
        tag = body.get("tag")
        if messaging_type == "MESSAGE_TAG" and tag not in TAGS:
            return graph_error("(#100) Param tag must be a valid message tag", 100)
        message = body.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("text"), str):
            return graph_error("(#100) The parameter message is required", 100)
        user = recipient["id"]
        last = self.last_message.get(user)
        if last is None:
            return graph_error("(#100) No matching user found", 100, 2018001)
        age = self.clock() - last
        if messaging_type == "MESSAGE_TAG":
            if tag != "HUMAN_AGENT" or not self.human_agent:
                return graph_error("(#10) Application does not have permission for this action", 10)
            if age > HUMAN_AGENT_WINDOW:
                return outside_window()
        elif age > STANDARD_WINDOW:
            return outside_window()
        message_id = f"m_fake_{next(self._ids)}"
        self.sent.append({**body, "message_id": message_id})
        return Answer(200, {"recipient_id": user, "message_id": message_id})
