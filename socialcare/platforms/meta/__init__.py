"""Meta: Facebook Pages, Messenger and Instagram (Graph API webhooks in, Graph API replies out).

Inbound, one delivery is ``{"object": "page" | "instagram", "entry": [...]}``, signed with the
app secret (channel secret ``webhook_secret``)::

    X-Hub-Signature-256: sha256=<lowercase hex HMAC-SHA256(app secret, raw body)>

Always verify the raw bytes: Meta escapes non-ASCII as ``\\uXXXX`` (emoji as surrogate pairs), so
re-serialized JSON would not match. The subscription check is
``GET ?hub.mode=subscribe&hub.verify_token=<channel verify_token>&hub.challenge=C``, answered
with ``C``.

Each entry belongs to one account (``entry.id``: the Page id, or the Instagram professional
account id) and must be this channel's. What is read:

* ``changes`` with field ``feed`` (Facebook Page): items ``comment``, ``post``, ``status``,
  ``photo`` and ``video``; verb ``add`` → ``InboundPost``, ``edited`` → ``PostEdit`` (with the
  whole post, its ``edited_at`` the entry's time), ``remove`` → ``PostDeletion``. Other items
  (reactions, likes, shares, ...) and verbs (hide, block, ...) are ignored.
* ``changes`` with field ``comments`` / ``live_comments`` (Instagram): comments on the account's
  media.
* ``changes`` with field ``mentions`` (Instagram): the webhook names only ``media_id`` and
  (for a mention in a comment) ``comment_id``. The post made from it has no text and no author
  (none: never a shared empty identity); its ``url`` is the Graph API URL of the media. After
  ingest, ``services.mention_details`` fetches the text, author (a username: Meta names no id),
  time and permalink through ``meta.mentions`` (``GET /<ig-user-id>?fields=mentioned_media...``
  / ``mentioned_comment...``), and an answer goes to ``POST /<ig-user-id>/mentions``, not
  ``/<id>/replies`` (``meta/mentions.py`` has the fields and shapes).
* ``messaging`` (Messenger and Instagram Direct): messages, echoes of the brand's own messages
  (``is_echo``: outbound), unsent messages (``is_deleted``: ``PostDeletion``) and message edits
  (``message_edit``: ``PostEdit``). Delivery and read receipts, reactions, postbacks, referrals
  and other non-message events are skipped.

Facebook omits ``from`` on comments by people who have not authorised the app in some setups:
such a post's author has an empty ``external_id`` (unknown), never a made-up one. Other authors'
ids are scoped to the entry's account (``ids``: ``psid:<page id>:<psid>``,
``igsid:<ig account id>:<igsid>``); the brand's own account keeps its global id.

Outbound (channel secret ``access_token``, a Page access token, sent as a Bearer token):
``POST /<comment id>/comments`` (Facebook), ``POST /<comment id>/replies`` (Instagram) with a
``message`` form field, and ``POST /me/messages`` for private messages, with the
``messaging_type`` (``RESPONSE`` within 24 hours of the customer's last message,
``MESSAGE_TAG`` with ``tag: HUMAN_AGENT`` up to 7 days) that ``services.reply_window`` chose.
Meta's "outside of allowed window" refusal (code 10, subcode 2018278; 2534022 on Instagram)
is a final ``SendError`` that says so.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from socialcare.platforms.base import (
    Challenge,
    ChannelConfig,
    Collector,
    Event,
    OutboundMessage,
    ParseError,
    PollPage,
    SentPost,
    constant_time_equal,
    header,
)
from socialcare.platforms.meta import send as _send
from socialcare.platforms.meta.graph import (
    DEFAULT_BASE_URL,
    FACEBOOK_WEB_URL,
    THROTTLING_CODES,
    TRANSIENT_CODES,
    WINDOW_SUBCODES,
    graph_base,
    graph_error,
)
from socialcare.platforms.meta.parse import Entry, graph_url_of, load_object
from socialcare.platforms.shapes import array as _list
from socialcare.platforms.shapes import obj as _obj
from socialcare.platforms.shapes import opt_array as _opt_list
from socialcare.platforms.shapes import platform_id as _id

__all__ = [
    "DEFAULT_BASE_URL",
    "FACEBOOK_WEB_URL",
    "SIGNATURE_HEADER",
    "THROTTLING_CODES",
    "TRANSIENT_CODES",
    "WINDOW_SUBCODES",
    "MetaAdapter",
    "graph_base",
    "graph_error",
]

SIGNATURE_HEADER = "X-Hub-Signature-256"


class MetaAdapter:
    platforms: ClassVar[tuple[str, ...]] = ("facebook", "instagram")
    receives_webhooks: ClassVar[bool] = True

    # Webhook verification ------------------------------------------------------------------
    def signature_for(self, body: bytes, secret: str) -> str:
        """The ``X-Hub-Signature-256`` value Meta sends for ``body``."""
        return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()

    def verify_signature(
        self, body: bytes, headers: Mapping[str, str], channel: ChannelConfig
    ) -> bool:
        secret = channel.secret("webhook_secret")
        received = header(headers, SIGNATURE_HEADER).strip().lower()
        if not secret or not received:
            return False
        return constant_time_equal(received, self.signature_for(bytes(body), secret))

    def answer_challenge(
        self, params: Mapping[str, str], channel: ChannelConfig
    ) -> Challenge | None:
        expected = channel.secret("verify_token")
        challenge = params.get("hub.challenge") or ""
        if (
            params.get("hub.mode") != "subscribe"
            or not expected
            or not challenge
            or not constant_time_equal(params.get("hub.verify_token") or "", expected)
        ):
            return None
        return Challenge(body=challenge)

    # Parsing -------------------------------------------------------------------------------
    def parse(self, body: bytes, channel: ChannelConfig) -> list[Event]:
        data = load_object(body)
        kind = data.get("object")
        if kind not in ("page", "instagram"):
            raise ParseError(f"Not a Page or Instagram delivery (object={kind!r}).")
        platform = "instagram" if kind == "instagram" else "facebook"
        found = Collector()
        for index, raw_entry in enumerate(_list(data.get("entry"), "entry")):
            with found.item():  # an entry for another account must not lose this one's
                self._entry(raw_entry, index, platform, channel, found)
        return found.result()

    @staticmethod
    def _entry(
        raw_entry: Any, index: int, platform: str, channel: ChannelConfig, found: Collector
    ) -> None:
        entry = _obj(raw_entry, f"entry[{index}]")
        account = _id(entry.get("id"), f"entry[{index}].id")
        if account != channel.account_id:
            raise ParseError(
                f"entry[{index}] is for account {account!r}, but this channel is account "
                f"{channel.account_id!r}."
            )
        context = Entry(
            platform, account, entry.get("time"), f"entry[{index}]", graph_url=graph_url_of(channel)
        )
        for position, raw_change in enumerate(
            _opt_list(entry.get("changes"), f"entry[{index}].changes")
        ):
            with found.item():
                change = _obj(raw_change, f"entry[{index}].changes[{position}]")
                for event in context.change(change, f"entry[{index}].changes[{position}]"):
                    found.add(event)
        for position, raw_item in enumerate(
            _opt_list(entry.get("messaging"), f"entry[{index}].messaging")
        ):
            with found.item():
                item = _obj(raw_item, f"entry[{index}].messaging[{position}]")
                found.add(context.messaging(item, f"entry[{index}].messaging[{position}]"))

    # Polling (not used: Meta pushes) -------------------------------------------------------
    def poll(self, channel: ChannelConfig, client: httpx.Client) -> PollPage:
        raise NotImplementedError("Meta delivers through webhooks; no polling.")

    # Sending -------------------------------------------------------------------------------
    def send(
        self, channel: ChannelConfig, message: OutboundMessage, client: httpx.Client
    ) -> SentPost:
        return _send.send(channel, message, client)

    def find_published(
        self, channel: ChannelConfig, message: OutboundMessage, since: Any, client: httpx.Client
    ) -> SentPost | None:
        """An interrupted comment reply on Meta, or None: ``platforms.meta.lookup``."""
        from socialcare.platforms.meta import lookup

        return lookup.find_published(channel, message, since, client)
