"""Sending replies (``app.bsky.feed.post`` records) and chat messages (``chat.bsky.convo``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from socialcare.platforms.base import (
    ChannelConfig,
    OutboundMessage,
    ParseError,
    SendError,
    SentPost,
    from_iso,
)
from socialcare.platforms.bluesky.common import (
    CHAT_PROXY,
    POST_COLLECTION,
    URL_RE,
    WEB,
    NoChatAccess,
    XrpcRefused,
    byte_span,
    handle_or_did,
    json_object,
    maybe_timestamp,
    now_iso,
    post_url,
    xrpc_request,
)
from socialcare.platforms.bluesky.session import (
    Session,
)
from socialcare.platforms.shapes import short as _short

#: The chat service's refusals of a conversation with the customer (the errors of
#: ``chat.bsky.convo.getConvoForMembers``, lexicons/chat/bsky/convo/getConvoForMembers.json), with
#: the reason an agent reads. The customer's ``allowIncoming`` choice (``chat.bsky.actor.
#: declaration``: all / following / none) decides the first two.
CHAT_REFUSALS: dict[str, str] = {
    "MessagesDisabled": "they accept direct messages from no one",
    "NotFollowedBySender": "they allow messages only from people they follow",
    "BlockedActor": "one of the two accounts blocks the other",
    "BlockedSubject": "one of the two accounts blocks the other",
    "RecipientNotFound": "Bluesky's chat service does not know their account",
    "AccountSuspended": "an account of the conversation is suspended from chat",
}
#: A refusal the profile cannot explain (a block, a moderation decision).
UNEXPLAINED = "Unexplained"
#: Refusals that are the customer's own choice.
CUSTOMER_CHOICE = frozenset({"MessagesDisabled", "NotFollowedBySender"})


@dataclass(frozen=True)
class ChatAvailability:
    """The chat service's answer: ``can_chat``, else the refusal's ``code`` (an XRPC error name,
    ``NoChatAccess`` or ``Unexplained``) and the ``reason`` for the agent. ``channel_problem``:
    the channel, not the customer, is at fault (app password without direct-message access)."""

    can_chat: bool
    code: str = ""
    reason: str = ""
    channel_problem: bool = False


def chat_refusal_reason(code: str, brand: str) -> str:
    """ "The customer does not accept direct messages from @brand on Bluesky (they allow messages
    only from people they follow)." """
    why = CHAT_REFUSALS.get(code, "a block, or their chat settings")
    verb = "does not accept" if code in CUSTOMER_CHOICE else "cannot receive"
    return f"The customer {verb} direct messages from @{brand.lstrip('@')} on Bluesky ({why})."


def explain_refusal(profile: Mapping[str, Any]) -> str:
    """Why ``canChat`` was false, from the customer's ``profileViewDetailed``: their
    ``associated.chat.allowIncoming`` (unset reads as ``following``, as the Bluesky app reads it)
    and ``viewer.followedBy`` (they follow the brand)."""
    associated = profile.get("associated")
    chat = associated.get("chat") if isinstance(associated, dict) else None
    allow = chat.get("allowIncoming") if isinstance(chat, dict) else None
    viewer = profile.get("viewer")
    followed_by = isinstance(viewer, dict) and bool(viewer.get("followedBy"))
    if not profile:
        return UNEXPLAINED
    if allow == "none":
        return "MessagesDisabled"
    if allow in (None, "following") and not followed_by:
        return "NotFollowedBySender"
    return UNEXPLAINED


class SendingMixin:
    def send(
        self, channel: ChannelConfig, message: OutboundMessage, client: httpx.Client
    ) -> SentPost:
        """A public reply (a post record under the parent) or a private chat message."""
        if message.visibility == "public":
            parent, root = self._reply_refs(message.parent_raw)
            return self._with_session(
                channel, client, lambda s: self._send_reply(s, message, parent, root, client)
            )
        if not message.recipient.startswith("did:"):
            raise SendError(
                "A Bluesky private message needs the recipient's DID, got "
                f"{_short(message.recipient)}."
            )
        return self._with_session(channel, client, lambda s: self._send_chat(s, message, client))

    @staticmethod
    def _reply_refs(parent_raw: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
        """The strong refs (uri + cid) of the parent and of the thread root, from the parent's
        stored raw notification; the parent is its own root when it is not a reply."""
        uri, cid = parent_raw.get("uri"), parent_raw.get("cid")
        if not (isinstance(uri, str) and uri.startswith("at://") and isinstance(cid, str) and cid):
            raise SendError(
                "A Bluesky reply needs the parent post's at-URI and CID (its stored raw "
                "notification); they are missing, so the reply cannot be threaded."
            )
        parent = {"uri": uri, "cid": cid}
        record = parent_raw.get("record")
        reply = record.get("reply") if isinstance(record, dict) else None
        root = reply.get("root") if isinstance(reply, dict) else None
        if isinstance(root, dict):
            root_uri, root_cid = root.get("uri"), root.get("cid")
            if isinstance(root_uri, str) and root_uri and isinstance(root_cid, str) and root_cid:
                return parent, {"uri": root_uri, "cid": root_cid}
            raise SendError("The parent post's raw record has a reply root without uri/cid.")
        return parent, dict(parent)

    def _facets(self, message: OutboundMessage) -> list[dict[str, Any]]:
        """Link facets for URLs in the text and a mention facet for the recipient's handle, with
        UTF-8 byte offsets (without facets Bluesky shows neither as a link)."""
        text, facets = message.text, []
        for match in URL_RE.finditer(text):
            url = match.group().rstrip(".,;:!?)]}'")
            facets.append(
                {
                    "index": byte_span(text, match.start(), match.start() + len(url)),
                    "features": [{"$type": "app.bsky.richtext.facet#link", "uri": url}],
                }
            )
        handle = message.recipient_handle.strip().lstrip("@")
        if handle and message.recipient.startswith("did:"):
            match = re.search(rf"(?<![\w.])@{re.escape(handle)}(?![\w.-])", text, re.IGNORECASE)
            if match:
                facets.append(
                    {
                        "index": byte_span(text, match.start(), match.end()),
                        "features": [
                            {"$type": "app.bsky.richtext.facet#mention", "did": message.recipient}
                        ],
                    }
                )
        return facets

    def _send_reply(
        self,
        session: Session,
        message: OutboundMessage,
        parent: dict[str, str],
        root: dict[str, str],
        client: httpx.Client,
    ) -> SentPost:
        created_at = now_iso()
        record: dict[str, Any] = {
            "$type": POST_COLLECTION,
            "text": message.text,
            "createdAt": created_at,
            "reply": {"root": root, "parent": parent},
        }
        facets = self._facets(message)
        if facets:
            record["facets"] = facets
        what = "Bluesky com.atproto.repo.createRecord"
        response = xrpc_request(
            client,
            "POST",
            session.url("com.atproto.repo.createRecord"),
            what,
            json={"repo": session.did, "collection": POST_COLLECTION, "record": record},
            headers=session.headers,
        )
        uri = json_object(response, what).get("uri")
        if not isinstance(uri, str) or not uri.startswith("at://"):
            # No idempotency on createRecord: the post may exist, so never retry blindly.
            raise SendError(f"{what}: the answer has no at-URI; the post may have been created.")
        try:
            url = post_url(handle_or_did(session.handle, session.did), uri)
        except ParseError:
            url = ""
        return SentPost(external_id=uri, url=url, posted_at=from_iso(created_at))

    def _send_chat(
        self, session: Session, message: OutboundMessage, client: httpx.Client
    ) -> SentPost:
        """Through the chat service (``atproto-proxy``). A customer who does not accept the
        brand's messages (``MessagesDisabled``, ``NotFollowedBySender``, ...) is a final
        ``SendError`` that tells the agent why and what to do instead."""
        headers = {**session.headers, "atproto-proxy": CHAT_PROXY}
        what = "Bluesky chat.bsky.convo.getConvoForMembers"
        try:
            response = xrpc_request(
                client,
                "GET",
                session.url("chat.bsky.convo.getConvoForMembers"),
                what,
                params=[("members", session.did), ("members", message.recipient)],
                headers=headers,
            )
        except NoChatAccess:
            raise
        except XrpcRefused as exc:
            if exc.error in CHAT_REFUSALS:
                brand = handle_or_did(session.handle, session.did)
                reason = chat_refusal_reason(exc.error, brand)
                raise SendError(f"{reason} Reply publicly or by e-mail.") from exc
            raise
        convo = json_object(response, what).get("convo")
        convo_id = convo.get("id") if isinstance(convo, dict) else None
        if not isinstance(convo_id, str) or not convo_id:
            raise SendError(f"{what}: the answer has no conversation id.")
        text_message: dict[str, Any] = {"text": message.text}
        facets = [f for f in self._facets(message) if "link" in f["features"][0]["$type"]]
        if facets:
            text_message["facets"] = facets
        what = "Bluesky chat.bsky.convo.sendMessage"
        response = xrpc_request(
            client,
            "POST",
            session.url("chat.bsky.convo.sendMessage"),
            what,
            json={"convoId": convo_id, "message": text_message},
            headers=headers,
        )
        sent = json_object(response, what)
        message_id = sent.get("id")
        if not isinstance(message_id, str) or not message_id:
            raise SendError(f"{what}: the answer has no message id; it may have been sent.")
        return SentPost(
            external_id=f"bsky-chat:{convo_id}/{message_id}",
            url=f"{WEB}/messages/{convo_id}",
            local_id=message_id,
            posted_at=maybe_timestamp(sent.get("sentAt")),
        )

    # Before promising a private conversation ----------------------------------------------------
    def chat_availability(
        self, channel: ChannelConfig, recipient: str, client: httpx.Client
    ) -> ChatAvailability:
        """Whether the brand can start (or continue) a chat with ``recipient`` (a DID), asked of
        the chat service with ``chat.bsky.convo.getConvoAvailability`` (it creates nothing);
        when it cannot, why, from the customer's profile (``associated.chat.allowIncoming`` and
        whether they follow the brand). An app password without direct-message access is
        reported as such (``channel_problem``). Other failures raise as ``send`` does."""
        if not recipient.startswith("did:"):
            raise SendError(f"A Bluesky chat needs the customer's DID, got {_short(recipient)}.")
        return self._with_session(
            channel, client, lambda s: self._chat_availability(s, recipient, client)
        )

    def _chat_availability(
        self, session: Session, recipient: str, client: httpx.Client
    ) -> ChatAvailability:
        brand = handle_or_did(session.handle, session.did)
        what = "Bluesky chat.bsky.convo.getConvoAvailability"
        try:
            response = xrpc_request(
                client,
                "GET",
                session.url("chat.bsky.convo.getConvoAvailability"),
                what,
                params=[("members", recipient)],
                headers={**session.headers, "atproto-proxy": CHAT_PROXY},
            )
        except NoChatAccess as exc:
            return ChatAvailability(False, "NoChatAccess", str(exc), channel_problem=True)
        except XrpcRefused as exc:
            if exc.error not in CHAT_REFUSALS:
                raise
            return ChatAvailability(False, exc.error, chat_refusal_reason(exc.error, brand))
        if json_object(response, what).get("canChat") is True:
            return ChatAvailability(True)
        what = "Bluesky app.bsky.actor.getProfile"
        try:
            profile = json_object(
                xrpc_request(
                    client,
                    "GET",
                    session.url("app.bsky.actor.getProfile"),
                    what,
                    params={"actor": recipient},
                    headers=session.headers,
                ),
                what,
            )
        except SendError:  # the reason is a courtesy: the answer stands without it
            profile = {}
        code = explain_refusal(profile)
        return ChatAvailability(False, code, chat_refusal_reason(code, brand))
