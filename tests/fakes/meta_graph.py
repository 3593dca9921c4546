"""The Messenger Platform Send API (``POST /me/messages``, ``POST /{page-id}/messages``) as Meta
enforces it, Private Replies included.

Sources (docs/replies.md):

- Messages: a message may go within 24 hours of the person's last message (``messaging_type:
  RESPONSE``); past that only with ``messaging_type: MESSAGE_TAG`` and ``tag: HUMAN_AGENT``,
  within 7 days, by an app Meta granted the Human Agent permission. Outside the window Meta
  answers error code 10, subcode 2018278 "This message is sent outside of allowed window."
  (Send API error codes). The recipient is ``{"id": <PSID or IGSID>}``; a person who never
  wrote to the Page is "No matching user found" (code 100, subcode 2018001).
- Private Replies: ``recipient: {"comment_id": ...}`` (or ``{"post_id": ...}`` for a visitor
  post), one message per comment, within 7 days of the comment; it does not open the 24-hour
  window (the person must answer first). Meta answers ``{"recipient_id", "message_id"}``. The
  Page Messages reference documents "(#10900) Activity already replied to" and "(#10903) This
  user cant reply to this activity" (played for a second reply and for a comment past its 7
  days); an unknown comment is answered "(#100) Invalid comment_id parameter" (code 100,
  subcode 2018292, as Meta answers it to integrators). ``recipient`` must name exactly one of
  ``id``, ``comment_id``, ``post_id``; anything else is "(#100) Invalid parameter".
- Tokens: the Send API takes a Page access token. A user access token is refused "(#210) A page
  access token is required to request this resource" (code 210, Graph's 200-299 permission
  range); an unknown or missing one "Invalid OAuth access token." (code 190).

::

    graph = MetaGraphFake(platform_server, human_agent=True)
    graph.user_wrote("3424692677644577", at=now - dt.timedelta(hours=23))
    graph.commented("407298303721936_408074750310958", "7000000000000001", at=now)
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable
from typing import Any

from tests.platform_server import Answer, PlatformServer, Recorded

STANDARD_WINDOW = dt.timedelta(hours=24)
HUMAN_AGENT_WINDOW = dt.timedelta(days=7)
PRIVATE_REPLY_WINDOW = dt.timedelta(days=7)
MESSAGING_TYPES = frozenset({"RESPONSE", "UPDATE", "MESSAGE_TAG"})
#: Tags the Send API knows; only HUMAN_AGENT is played here (the others need their own use cases).
TAGS = frozenset(
    {"HUMAN_AGENT", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE"}
)
#: What ``recipient`` may name: a person, or the comment / visitor post a private reply answers.
RECIPIENT_KEYS = frozenset({"id", "comment_id", "post_id"})
#: The Page token every channel of ``tests/ingest_helpers.make_channels`` stores.
PAGE_TOKENS = ("test-token",)
USER_TOKENS = ("user-token",)
#: The Page and the Instagram account the fixtures are addressed to (their ``/{id}/messages``).
ACCOUNTS = ("103149398319188", "17841405309211844")


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


def already_replied() -> Answer:
    return graph_error("(#10900) Activity already replied to", 10900)


def cannot_reply() -> Answer:
    return graph_error("(#10903) This user cant reply to this activity", 10903)


def unknown_comment() -> Answer:
    return graph_error("(#100) Invalid comment_id parameter", 100, 2018292)


def wrong_recipient() -> Answer:
    return graph_error("(#100) Invalid parameter", 100)


def user_token() -> Answer:
    return graph_error("(#210) A page access token is required to request this resource", 210)


def invalid_token() -> Answer:
    return graph_error("Invalid OAuth access token.", 190)


class MetaGraphFake:
    """Serves ``POST /me/messages`` and ``POST /{account}/messages`` on ``server`` and keeps what
    it accepted in ``sent``. ``page_tokens``: the tokens it takes for Page tokens;
    ``user_tokens``: user access tokens it knows (refused with code 210)."""

    def __init__(
        self,
        server: PlatformServer,
        *,
        human_agent: bool = False,
        clock: Callable[[], dt.datetime] | None = None,
        page_tokens: Iterable[str] = PAGE_TOKENS,
        user_tokens: Iterable[str] = USER_TOKENS,
        accounts: Iterable[str] = ACCOUNTS,
    ) -> None:
        self.human_agent = human_agent
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.page_tokens = frozenset(page_tokens)
        self.user_tokens = frozenset(user_tokens)
        self.last_message: dict[str, dt.datetime] = {}
        #: comment (or visitor post) id -> (its author's page-scoped id, when it was made)
        self.comments: dict[str, tuple[str, dt.datetime]] = {}
        #: comment id -> the message id of the private reply it got
        self.private_replies: dict[str, str] = {}
        #: page-scoped ids that got a private reply: they may now message the Page
        self.may_answer: set[str] = set()
        self.sent: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        server.route("POST", "/me/messages", self.send)
        for account in accounts:
            server.route("POST", f"/{account}/messages", self.send)

    def user_wrote(self, user_id: str, at: dt.datetime) -> None:
        """The person ``user_id`` (PSID or IGSID) last wrote to the Page at ``at``."""
        self.last_message[user_id] = at

    def commented(self, comment_id: str, user_id: str, at: dt.datetime) -> None:
        """The person ``user_id`` (the page-scoped id Meta answers a private reply with) made the
        comment (or visitor post) ``comment_id`` at ``at``."""
        self.comments[comment_id] = (user_id, at)

    def answered(self, user_id: str, at: dt.datetime) -> None:
        """The person answered the private reply they got: their window opens like any
        message's. Only someone who got a private reply may (this fake's Page has no other way
        in for commenters)."""
        if user_id not in self.may_answer:
            raise AssertionError(f"{user_id} got no private reply to answer.")
        self.user_wrote(user_id, at)

    def send(self, request: Recorded) -> Answer:
        refused = self._token(request)
        if refused is not None:
            return refused
        try:
            body = request.json()
        except ValueError:
            return graph_error("(#100) The parameter recipient is required", 100)
        if not isinstance(body, dict):
            return graph_error("(#100) The parameter recipient is required", 100)
        recipient = body.get("recipient")
        if recipient is None:
            return graph_error("(#100) The parameter recipient is required", 100)
        if (
            not isinstance(recipient, dict)
            or len(recipient) != 1
            or not set(recipient) <= RECIPIENT_KEYS
            or not isinstance(next(iter(recipient.values())), str)
            or not next(iter(recipient.values()))
        ):
            return wrong_recipient()
        messaging_type = body.get("messaging_type")
        private_reply = "id" not in recipient
        if not (private_reply and messaging_type is None) and messaging_type not in MESSAGING_TYPES:
            return graph_error("(#100) Param messaging_type must be one of {RESPONSE, ...}", 100)
        tag = body.get("tag")
        if messaging_type == "MESSAGE_TAG" and tag not in TAGS:
            return graph_error("(#100) Param tag must be a valid message tag", 100)
        message = body.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("text"), str):
            return graph_error("(#100) The parameter message is required", 100)
        if private_reply:
            return self._private_reply(next(iter(recipient.values())), body, request)
        if not recipient["id"].isdigit():
            return graph_error("(#100) Param recipient[id] must be a valid ID string", 100)
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
        return self._accept(user, body, request)

    def _private_reply(self, comment_id: str, body: dict[str, Any], request: Recorded) -> Answer:
        known = self.comments.get(comment_id)
        if known is None:
            return unknown_comment()
        if comment_id in self.private_replies:
            return already_replied()
        user, at = known
        if self.clock() - at > PRIVATE_REPLY_WINDOW:
            return cannot_reply()
        answer = self._accept(user, body, request)
        self.private_replies[comment_id] = answer.body["message_id"]
        self.may_answer.add(user)
        return answer

    def _accept(self, user: str, body: dict[str, Any], request: Recorded) -> Answer:
        message_id = f"m_fake_{next(self._ids)}"
        self.sent.append({**body, "message_id": message_id, "path": request.path})
        return Answer(200, {"recipient_id": user, "message_id": message_id})

    def _token(self, request: Recorded) -> Answer | None:
        """Meta's refusal of the request's access token, None for a Page token."""
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        token = token or (request.query.get("access_token") or [""])[0]
        if token in self.page_tokens:
            return None
        if token in self.user_tokens:
            return user_token()
        return invalid_token()
