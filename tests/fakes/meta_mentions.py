"""Instagram @mentions on the Graph API, as Meta documents them (docs/ingestion.md, "Instagram
mentions", has each source):

- ``GET /<ig-user-id>?fields=mentioned_media.media_id(<id>){fields}`` answers
  ``{"mentioned_media": {...}, "id": "<ig-user-id>"}``; ``mentioned_comment.comment_id(<id>)``
  likewise. The fields are IG Media / IG Comment fields; the mentioned media's author is its
  ``username`` (``owner`` only for the app user's own media). With ``listed_fields_only`` the fake
  serves only the fields the reference tables list and refuses others as Graph refuses a field
  a node lacks (code 100, "Tried accessing nonexisting field").
- A media or comment that does not mention the account (unknown, deleted, private) and a comment
  on media whose comments are disabled are refused with Graph's "object does not exist, cannot
  be loaded due to missing permissions" error (code 100, subcode 33, ``GraphMethodException``):
  the references say an error comes, not which; this is Graph's generic one.
- ``POST /<ig-user-id>/mentions`` takes ``media_id`` (required), ``comment_id`` (for a comment
  mention) and ``message`` (required), as form or query parameters, and answers ``{"id": ...}``.
- ``POST /<mention id>/replies`` is the comment-reply edge of the account's *own* media: on a
  mention (someone else's media or comment) Graph refuses it ("Unsupported post request",
  code 100, subcode 33).
- A token other than the channel's is refused (code 190, ``OAuthException``). The references ask
  for a User token; the fake cannot tell a User token from a Page token (opaque strings).

::

    mentions = InstagramMentionsFake(platform_server, account_id=IG_ACCOUNT)
    mentions.caption_mention("17918195224117851", caption="...", username="ada.l")
"""

from __future__ import annotations

import itertools
import re
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.meta_graph import graph_error
from tests.platform_server import Answer, PlatformServer, Recorded

#: IG Media and IG Comment fields (their node references); ``*_LISTED``: the fields the
#: mentioned-media / mentioned-comment tables list.
MEDIA_FIELDS = frozenset(
    {
        "id", "caption", "comments", "comments_count", "like_count", "media_type", "media_url",
        "owner", "permalink", "timestamp", "username", "media_product_type", "shortcode",
    }
)  # fmt: skip
MEDIA_LISTED = frozenset(
    {
        "id", "caption", "comments", "comments_count", "like_count", "media_type", "media_url",
        "owner", "timestamp", "username",
    }
)  # fmt: skip
COMMENT_FIELDS = frozenset(
    {"id", "text", "timestamp", "like_count", "media", "username", "from", "parent_id", "hidden"}
)
COMMENT_LISTED = frozenset({"id", "text", "timestamp", "like_count", "media"})
#: The media fields the mentioned-comment reference's field-expansion example asks for.
EXPANSION_LISTED = frozenset({"id", "media_url"})
EDGE = re.compile(r"^mentioned_(media|comment)\.(media_id|comment_id)\(([^()]*)\)\{(.*)\}$")


def no_such_object(object_id: str, verb: str = "get") -> Answer:
    answer = graph_error(
        f"Unsupported {verb} request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation. Please read the "
        "Graph API documentation at https://developers.facebook.com/docs/graph-api",
        100,
        33,
    )
    answer.body["error"]["type"] = "GraphMethodException"
    return answer


def split_fields(spec: str) -> list[tuple[str, str]]:
    """``"id,media{id,permalink}"`` -> ``[("id", ""), ("media", "id,permalink")]``."""
    found, depth, start = [], 0, 0
    for index, char in enumerate(spec + ","):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            part = spec[start:index].strip()
            start = index + 1
            if part:
                name, _, sub = part.partition("{")
                found.append((name, sub[:-1] if sub else ""))
    return found


class InstagramMentionsFake:
    """Serves the mention reads and answers of the Instagram account ``account_id`` on
    ``server``; keeps the answers it accepted in ``answered``."""

    def __init__(
        self,
        server: PlatformServer,
        *,
        account_id: str,
        token: str = "test-token",
        listed_fields_only: bool = False,
    ) -> None:
        self.server = server
        self.account_id = account_id
        self.token = token
        self.listed_fields_only = listed_fields_only
        self.media: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, dict[str, Any]] = {}
        self.comments_disabled: set[str] = set()
        self.answered: list[dict[str, str]] = []
        self.reads: list[str] = []
        self._ids = itertools.count(17846319838228163)
        server.route("GET", f"/{account_id}", self.read)
        server.route("POST", f"/{account_id}/mentions", self.answer)

    # What exists on Instagram ---------------------------------------------------------------
    def caption_mention(
        self,
        media_id: str,
        *,
        caption: str,
        username: str,
        timestamp: str = "2026-03-02T09:15:00+0000",
        media_type: str = "IMAGE",
    ) -> None:
        """Someone (``username``) mentioned the account in the caption of their ``media_id``."""
        self.media[media_id] = {
            "id": media_id,
            "caption": caption,
            "username": username,
            "timestamp": timestamp,
            "media_type": media_type,
            "permalink": f"https://www.instagram.com/p/{media_id[-6:]}/",
            "mentions_account": True,
        }
        self._refuse_replies_on(media_id)

    def comment_mention(
        self,
        comment_id: str,
        *,
        media_id: str,
        text: str,
        username: str,
        timestamp: str = "2026-03-02T09:20:00+0000",
    ) -> None:
        """``username`` mentioned the account in comment ``comment_id`` on ``media_id``."""
        self.media.setdefault(
            media_id,
            {
                "id": media_id,
                "caption": "",
                "username": "someone.else",
                "timestamp": timestamp,
                "media_type": "IMAGE",
                "permalink": f"https://www.instagram.com/p/{media_id[-6:]}/",
                "mentions_account": False,
            },
        )
        self.comments[comment_id] = {
            "id": comment_id,
            "text": text,
            "username": username,
            "timestamp": timestamp,
            "media_id": media_id,
        }
        self._refuse_replies_on(comment_id)

    def delete(self, object_id: str) -> None:
        """The author deleted the media or comment (or made their account private)."""
        self.media.pop(object_id, None)
        self.comments.pop(object_id, None)

    def _refuse_replies_on(self, object_id: str) -> None:
        self.server.route(
            "POST", f"/{object_id}/replies", lambda request: no_such_object(object_id, "post")
        )

    # GET /<ig-user-id>?fields=mentioned_... ----------------------------------------------------
    def read(self, request: Recorded) -> Answer:
        refused = self._token_refused(request)
        if refused:
            return refused
        spec = (request.query.get("fields") or [""])[0]
        self.reads.append(spec)
        match = EDGE.match(spec)
        if not match:
            return Answer(200, {"id": self.account_id})  # the account's own default fields
        kind, param, object_id, fields = match.groups()
        if (kind == "media") != (param == "media_id"):
            return graph_error(f"(#100) Unknown parameter {param} on mentioned_{kind}", 100)
        if kind == "media":
            media = self.media.get(object_id)
            if media is None or not media["mentions_account"]:
                return no_such_object(object_id)
            allowed = MEDIA_LISTED if self.listed_fields_only else MEDIA_FIELDS
            node = self._node(media, fields, allowed, "IGMedia")
        else:
            comment = self.comments.get(object_id)
            if comment is None or comment["media_id"] in self.comments_disabled:
                return no_such_object(object_id)
            allowed = COMMENT_LISTED if self.listed_fields_only else COMMENT_FIELDS
            node = self._node(comment, fields, allowed, "IGComment")
        if isinstance(node, Answer):
            return node
        return Answer(200, {f"mentioned_{kind}": node, "id": self.account_id})

    def _node(
        self, item: dict[str, Any], fields: str, allowed: frozenset[str], node_type: str
    ) -> dict[str, Any] | Answer:
        node: dict[str, Any] = {}
        for name, sub in split_fields(fields) or [("id", "")]:
            if name not in allowed:
                return graph_error(
                    f"(#100) Tried accessing nonexisting field ({name}) on node type ({node_type})",
                    100,
                )
            if name == "media" and node_type == "IGComment":
                media = self.media[item["media_id"]]
                allowed = EXPANSION_LISTED if self.listed_fields_only else MEDIA_FIELDS
                expanded = self._node(media, sub or "id", allowed, "IGMedia")
                if isinstance(expanded, Answer):
                    return expanded
                node["media"] = expanded
            elif name in item and item[name] != "":
                node[name] = item[name]
        return node

    # POST /<ig-user-id>/mentions -----------------------------------------------------------------
    def answer(self, request: Recorded) -> Answer:
        refused = self._token_refused(request)
        if refused:
            return refused
        params = {k: v[0] for k, v in request.query.items()}
        params.update({k: v[0] for k, v in parse_qs(request.body.decode()).items()})
        media_id = params.get("media_id", "")
        comment_id = params.get("comment_id", "")
        message = params.get("message", "")
        if not media_id:
            return graph_error("(#100) The parameter media_id is required", 100)
        if not message:
            return graph_error("(#100) The parameter message is required", 100)
        if comment_id:
            comment = self.comments.get(comment_id)
            if comment is None or comment["media_id"] != media_id:
                return no_such_object(comment_id, "post")
        else:
            media = self.media.get(media_id)
            if media is None or not media["mentions_account"]:
                return no_such_object(media_id, "post")
        new_id = str(next(self._ids))
        self.answered.append(
            {"media_id": media_id, "comment_id": comment_id, "message": message, "id": new_id}
        )
        return Answer(200, {"id": new_id})

    def _token_refused(self, request: Recorded) -> Answer | None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        token = token or (request.query.get("access_token") or [""])[0]
        if token == self.token:
            return None
        return graph_error("Invalid OAuth access token - Cannot parse access token", 190)
