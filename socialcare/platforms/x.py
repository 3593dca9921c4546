"""X (formerly Twitter): Account Activity API webhooks in, API v2 replies out.

Inbound, X pushes one JSON object per delivery, addressed to the brand account (``for_user_id``)
and signed with the app's consumer secret (channel secret ``webhook_secret``)::

    x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256(consumer secret, raw body)>

Before it delivers anything X checks the endpoint with ``GET ?crc_token=T``, answered with
``{"response_token": "sha256=<base64 HMAC-SHA256(consumer secret, T)>"}``.

The events read here are ``tweet_create_events`` (mentions, replies, quote tweets and the brand's
own tweets), ``direct_message_events`` (``message_create`` only) and ``tweet_delete_events``.
Every other event type (favorites, follows, typing indicators, read receipts, ...) is ignored.
Pure retweets are skipped too: they carry no words of their own, and a retweet of a brand tweet
is not a request for help. An edited post is a new post whose edit history names the original:
it is read as a ``PostEdit`` of the original, the new id kept as its ``local_id`` (``x_edits``).

Outbound, replies go through API v2 with an OAuth 2.0 user-context token (channel secret
``access_token``): ``POST /2/tweets`` for public replies and
``POST /2/dm_conversations/with/<participant id>/messages`` for direct messages.

Two rules of X decide before sending whether a public reply can go (docs/replies.md):
``summons`` (since 23 Feb 2026, self-serve plans may reply only to a post that @mentions the
brand or quotes one of its posts) and ``x_text.weighted_length`` (280 weighted characters). A reply X
refuses under the first rule fails with ``REPLY_RULE`` in its error.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any, ClassVar

import httpx

from socialcare.platforms import x_lookup
from socialcare.platforms.base import (
    MAX_RETRY_AFTER,
    Challenge,
    ChannelConfig,
    Collector,
    Event,
    InboundIdentity,
    InboundPost,
    OutboundMessage,
    ParseError,
    PollPage,
    PostDeletion,
    PostEdit,
    RateLimited,
    SendError,
    SentPost,
    TransientSendError,
    constant_time_equal,
    encode,
    from_epoch_ms,
    header,
    hmac_sha256,
    load_json,
    raise_for_send_status,
    retry_after_seconds,
)
from socialcare.platforms.shapes import (
    array as _list,
)
from socialcare.platforms.shapes import (
    obj as _obj,
)
from socialcare.platforms.shapes import (
    opt_array as _opt_list,
)
from socialcare.platforms.shapes import (
    opt_obj as _opt_obj,
)
from socialcare.platforms.shapes import (
    platform_id as _id,
)
from socialcare.platforms.shapes import (
    text as _text,
)
from socialcare.platforms.x_edits import snowflake_time, version_of

PLATFORM = "x"
DEFAULT_BASE_URL = "https://api.x.com"
SIGNATURE_HEADER = "x-twitter-webhooks-signature"
WEB_URL = "https://x.com"

#: What X's refusal of a reply under its reply rule says, and how we explain it.
REPLY_RULE_DETAIL = "not been mentioned or otherwise engaged by the author"
REPLY_RULE = (
    "X accepts a reply only to a post that @mentions the brand's account or quotes one of its "
    "posts (X API rule for self-serve plans since 23 Feb 2026)"
)

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}


def _count(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def summons(
    raw: Mapping[str, Any], text: str, brand_id: str, brand_handle: str = ""
) -> bool | None:
    """Whether a customer's post lets the brand reply through the API: it @mentions the brand's
    account (``brand_id``, or ``brand_handle``) or quotes one of its posts. Told from the stored
    payload (v1.1 ``entities.user_mentions`` and ``quoted_status``, v2 ``entities.mentions``);
    without one, from ``@handle`` in the text; None when neither can tell."""
    handle = brand_handle.lstrip("@").lower()
    payload = raw if isinstance(raw, Mapping) else {}
    for user_id, name in _mentioned(payload):
        if (brand_id and user_id == brand_id) or (handle and name.lower() == handle):
            return True
    quoted = payload.get("quoted_status")
    if isinstance(quoted, Mapping) and isinstance(quoted.get("user"), Mapping):
        user = quoted["user"]
        if brand_id and str(user.get("id_str") or user.get("id") or "") == brand_id:
            return True
        if handle and str(user.get("screen_name") or "").lower() == handle:
            return True
    if any(key in payload for key in ("entities", "text", "full_text", "extended_tweet")):
        return False
    if handle and re.search(rf"(?<![\w@])@{re.escape(handle)}(?!\w)", text, re.IGNORECASE):
        return True
    return None


def _mentioned(payload: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(user id, handle) of each account a stored tweet mentions."""
    extended = payload.get("extended_tweet")
    for holder in (payload, extended if isinstance(extended, Mapping) else {}):
        entities = holder.get("entities")
        if not isinstance(entities, Mapping):
            continue
        for key, name_key in (("user_mentions", "screen_name"), ("mentions", "username")):
            items = entities.get(key)
            for item in items if isinstance(items, list) else ():
                if isinstance(item, Mapping):
                    user_id = item.get("id_str") or item.get("id") or ""
                    yield str(user_id), str(item.get(name_key) or "")


def parse_created_at(value: Any) -> dt.datetime:
    """``Sat Nov 28 05:30:03 +0000 2020`` as an aware UTC datetime (locale-independent, unlike
    ``strptime`` with ``%a``/``%b``)."""
    if not isinstance(value, str):
        raise ParseError(f"Bad created_at {value!r}.")
    parts = value.split()
    try:
        _weekday, month, day, clock, offset, year = parts
        hour, minute, second = (int(p) for p in clock.split(":"))
        sign = -1 if offset[0] == "-" else 1
        if offset[0] not in "+-" or len(offset) != 5:
            raise ValueError(offset)
        delta = dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
        tz = dt.timezone(sign * delta)
        parsed = dt.datetime(
            int(year), _MONTHS[month.lower()], int(day), hour, minute, second, tzinfo=tz
        )
        return parsed.astimezone(dt.UTC)
    except (ValueError, KeyError, IndexError, OverflowError) as exc:
        raise ParseError(f"Bad created_at {value!r}.") from exc


def _load_object(body: bytes) -> dict[str, Any]:
    if not isinstance(body, bytes | bytearray | memoryview):
        raise ParseError(f"Body is {type(body).__name__}, not bytes.")
    try:
        data = load_json(bytes(body))
    except ValueError as exc:  # e.g. an integer longer than Python's int-conversion limit
        raise ParseError(f"Body is not usable JSON: {exc}") from exc
    return _obj(data, "The body")


class XAdapter:
    platforms: ClassVar[tuple[str, ...]] = ("x",)
    receives_webhooks: ClassVar[bool] = True

    # Webhook verification ------------------------------------------------------------------
    def signature_for(self, body: bytes, secret: str) -> str:
        """The ``x-twitter-webhooks-signature`` value X sends for ``body``."""
        return "sha256=" + base64.b64encode(hmac_sha256(secret, body)).decode("ascii")

    def verify_signature(
        self, body: bytes, headers: Mapping[str, str], channel: ChannelConfig
    ) -> bool:
        secret = channel.secret("webhook_secret")
        received = header(headers, SIGNATURE_HEADER).strip()
        if not secret or not received:
            return False
        return constant_time_equal(received, self.signature_for(bytes(body), secret))

    def answer_challenge(
        self, params: Mapping[str, str], channel: ChannelConfig
    ) -> Challenge | None:
        """The CRC check: ``GET ?crc_token=T`` answered with the HMAC of ``T``."""
        token = params.get("crc_token") or ""
        secret = channel.secret("webhook_secret")
        if not token or not secret:
            return None
        digest = base64.b64encode(hmac_sha256(secret, encode(token))).decode("ascii")
        return Challenge(
            body=json.dumps({"response_token": f"sha256={digest}"}),
            content_type="application/json",
        )

    # Parsing -------------------------------------------------------------------------------
    def parse(self, body: bytes, channel: ChannelConfig) -> list[Event]:
        data = _load_object(body)
        brand_id = _id(data.get("for_user_id"), "for_user_id")
        if brand_id != channel.account_id:
            raise ParseError(
                f"Delivery is for account {brand_id!r}, but this channel is account "
                f"{channel.account_id!r}."
            )
        users = _opt_obj(data.get("users"), "users")
        found = Collector()
        for key, value in data.items():
            if key == "tweet_create_events":
                for index, tweet in enumerate(_list(value, key)):
                    with found.item():
                        found.add(self._tweet(_obj(tweet, f"{key}[{index}]"), brand_id))
            elif key == "direct_message_events":
                for index, item in enumerate(_list(value, key)):
                    with found.item():
                        found.add(
                            self._direct_message(_obj(item, f"{key}[{index}]"), brand_id, users)
                        )
            elif key == "tweet_delete_events":
                for index, item in enumerate(_list(value, key)):
                    with found.item():
                        found.add(self._deletion(_obj(item, f"{key}[{index}]"), key, index))
        return found.result()

    def _author(self, user: dict[str, Any], what: str) -> InboundIdentity:
        user_id = _id(user.get("id_str") or user.get("id"), f"{what}.id")
        handle = _text(user.get("screen_name"), f"{what}.screen_name")
        return InboundIdentity(
            platform=PLATFORM,
            external_id=user_id,
            handle=handle,
            display_name=html.unescape(_text(user.get("name"), f"{what}.name")),
            profile_url=f"{WEB_URL}/{handle}" if handle else "",
            avatar_url=_text(user.get("profile_image_url_https"), f"{what}.profile_image_url"),
            followers_count=_count(user.get("followers_count")),
            platform_verified=_flag(user.get("verified")),
        )

    def _tweet(self, tweet: dict[str, Any], brand_id: str) -> InboundPost | PostEdit | None:
        if tweet.get("retweeted_status") is not None:
            return None
        tweet_id = _id(tweet.get("id_str") or tweet.get("id"), "tweet id")
        what = f"tweet {tweet_id}"
        author = self._author(_obj(tweet.get("user"), f"{what} user"), f"{what} user")

        extended = _opt_obj(tweet.get("extended_tweet"), f"{what} extended_tweet")
        text = _text(tweet.get("text"), f"{what} text")
        if extended.get("full_text") is not None:
            text = _text(extended.get("full_text"), f"{what} extended_tweet.full_text")
        elif tweet.get("full_text") is not None:
            text = _text(tweet.get("full_text"), f"{what} full_text")

        if tweet.get("timestamp_ms") is not None:
            posted_at = from_epoch_ms(tweet.get("timestamp_ms"))
        elif tweet.get("created_at") is not None:
            posted_at = parse_created_at(tweet.get("created_at"))
        else:
            raise ParseError(f"{what} has neither timestamp_ms nor created_at.")

        in_reply_to = _id(
            tweet.get("in_reply_to_status_id_str") or tweet.get("in_reply_to_status_id"),
            f"{what} in_reply_to_status_id",
            required=False,
        )
        media_holder = extended if "extended_entities" in extended else tweet
        entities = _opt_obj(media_holder.get("extended_entities"), f"{what} extended_entities")
        attachments = tuple(
            self._media(_obj(item, f"{what} media"))
            for item in _opt_list(entities.get("media"), f"{what} media")
        )
        lang = _text(tweet.get("lang"), f"{what} lang")
        post = InboundPost(
            platform=PLATFORM,
            external_id=tweet_id,
            author=author,
            kind="reply" if in_reply_to else "mention",
            visibility="public",
            text=html.unescape(text),
            posted_at=posted_at,
            direction="outbound" if author.external_id == brand_id else "inbound",
            url=f"{WEB_URL}/{author.handle or 'i/web'}/status/{tweet_id}",
            in_reply_to=in_reply_to,
            # A tweet that answers nothing starts its own conversation; for a reply the v1.1
            # payload does not name the root, so it is left to the parent chain.
            conversation_id="" if in_reply_to else tweet_id,
            language="" if lang == "und" else lang,
            attachments=attachments,
            raw=tweet,
        )
        original = version_of(tweet, tweet_id, what)
        if not original:
            return post
        # A later version of a post (x_edits): the original post with this version's text; the
        # version's id is kept as the alias replies to it name.
        return PostEdit(
            post=replace(
                post,
                external_id=original,
                local_id=tweet_id,
                posted_at=min(snowflake_time(original) or posted_at, posted_at),
                url=f"{WEB_URL}/{author.handle or 'i/web'}/status/{original}",
                conversation_id="" if in_reply_to else original,
            ),
            edited_at=posted_at,
        )

    @staticmethod
    def _media(item: dict[str, Any]) -> dict[str, Any]:
        media: dict[str, Any] = {
            "type": _text(item.get("type"), "media type") or "media",
            "url": _text(item.get("media_url_https") or item.get("media_url"), "media url"),
        }
        media_id = _id(item.get("id_str") or item.get("id"), "media id", required=False)
        if media_id:
            media["id"] = media_id
        return media

    def _direct_message(
        self, item: dict[str, Any], brand_id: str, users: dict[str, Any]
    ) -> InboundPost | None:
        if item.get("type") != "message_create":
            return None
        event_id = _id(item.get("id"), "direct message event id")
        what = f"direct message {event_id}"
        create = _obj(item.get("message_create"), f"{what} message_create")
        sender_id = _id(create.get("sender_id"), f"{what} sender_id")
        target = _obj(create.get("target"), f"{what} target")
        recipient_id = _id(target.get("recipient_id"), f"{what} recipient_id")
        data = _obj(create.get("message_data"), f"{what} message_data")

        user = users.get(sender_id)
        if user is not None:
            author = self._author(_obj(user, f"users[{sender_id}]"), f"users[{sender_id}]")
        else:
            author = InboundIdentity(platform=PLATFORM, external_id=sender_id)
        outbound = sender_id == brand_id
        customer_id = recipient_id if outbound else sender_id

        attachments: tuple[dict[str, Any], ...] = ()
        attachment = _opt_obj(data.get("attachment"), f"{what} attachment")
        if attachment:
            media = _opt_obj(attachment.get("media"), f"{what} attachment media")
            attachments = (
                self._media(media)
                if media
                else {"type": _text(attachment.get("type"), f"{what} attachment type"), "url": ""},
            )
        return InboundPost(
            platform=PLATFORM,
            external_id=event_id,
            author=author,
            kind="direct_message",
            visibility="private",
            text=html.unescape(_text(data.get("text"), f"{what} text")),
            posted_at=from_epoch_ms(item.get("created_timestamp")),
            direction="outbound" if outbound else "inbound",
            conversation_id=f"dm:{customer_id}",
            attachments=attachments,
            raw=item,
        )

    @staticmethod
    def _deletion(item: dict[str, Any], key: str, index: int) -> PostDeletion:
        status = _obj(item.get("status"), f"{key}[{index}].status")
        return PostDeletion(
            platform=PLATFORM,
            external_id=_id(status.get("id_str") or status.get("id"), f"{key}[{index}] id"),
            deleted_at=from_epoch_ms(item.get("timestamp_ms")),
        )

    # Polling (not used: X pushes) --------------------------------------------------------------
    def poll(self, channel: ChannelConfig, client: httpx.Client) -> PollPage:
        raise NotImplementedError("X delivers through the Account Activity webhook; no polling.")

    # Sending -------------------------------------------------------------------------------
    def send(
        self, channel: ChannelConfig, message: OutboundMessage, client: httpx.Client
    ) -> SentPost:
        token = channel.secret("access_token")
        if not token:
            raise SendError("The X channel has no access_token (OAuth 2.0 user context).")
        base = (channel.base_url or DEFAULT_BASE_URL).rstrip("/")
        if message.visibility == "private":
            recipient = message.recipient or _dm_customer(message.conversation_id)
            if not recipient:
                raise SendError("A direct message needs a recipient id.")
            path = f"/2/dm_conversations/with/{recipient}/messages"
            payload: dict[str, Any] = {"text": message.text}
        else:
            path = "/2/tweets"
            payload = {"text": message.text}
            if message.in_reply_to:
                payload["reply"] = {"in_reply_to_tweet_id": message.in_reply_to}

        data = _post_json(client, base + path, payload, token)
        if message.visibility == "private":
            event_id = _id(data.get("dm_event_id"), "dm_event_id", required=False)
            if not event_id:
                raise SendError(f"X accepted the message but named no dm_event_id: {data!r:.300}")
            return SentPost(external_id=event_id)
        tweet_id = _id(data.get("id"), "tweet id", required=False)
        if not tweet_id:
            raise SendError(f"X accepted the tweet but named no id: {data!r:.300}")
        handle = channel.handle.lstrip("@") or "i/web"
        return SentPost(external_id=tweet_id, url=f"{WEB_URL}/{handle}/status/{tweet_id}")

    #: An interrupted reply on X, or None (``socialcare.platforms.lookup``).
    find_published = staticmethod(x_lookup.find_published)


def rate_limited(response: httpx.Response) -> SendError | RateLimited:
    """X's 429. A usage cap (problem type ``usage-capped``: the plan's cap, not a window) is a
    ``SendError``. Otherwise ``RateLimited`` until the latest reset among the limits the answer
    says are used up (remaining 0): ``x-rate-limit-*`` (documented), ``x-user-limit-24hour-*``
    and ``x-app-limit-24hour-*`` (sent by X, not documented); else ``x-rate-limit-reset``."""
    if "usage-capped" in response.text:
        return SendError(f"X refused: the app's usage cap is exceeded (429). {response.text:.300}")
    resets: dict[str, float] = {}
    for prefix in ("x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour"):
        try:
            reset = float(response.headers.get(f"{prefix}-reset") or "")
        except ValueError:
            continue
        if response.headers.get(f"{prefix}-remaining", "").strip() in ("0", ""):
            resets[prefix] = reset
    if not resets:
        return RateLimited("Rate limited by X (429).", retry_after=retry_after_seconds(response))
    wait = min(max(max(resets.values()) - time.time(), 0.0), MAX_RETRY_AFTER)
    return RateLimited(f"Rate limited by X (429; {max(resets, key=resets.get)}).", wait)


def _dm_customer(conversation_id: str) -> str:
    return conversation_id[3:] if conversation_id.startswith("dm:") else ""


def _post_json(
    client: httpx.Client, url: str, payload: dict[str, Any], token: str
) -> dict[str, Any]:
    """POST ``payload`` and return the answer's ``data`` object, mapping failures to the
    send errors of ``base``. A 2xx answer that cannot be read is a ``SendError``: the post may
    be out, and retrying could publish it twice."""
    try:
        response = client.post(url, json=payload, headers={"Authorization": f"Bearer {token}"})
    except httpx.UnsupportedProtocol as exc:
        raise SendError(f"Bad X API URL {url!r}: {exc}") from exc
    except httpx.InvalidURL as exc:
        raise SendError(f"Bad X API URL {url!r}: {exc}") from exc
    except httpx.TransportError as exc:
        raise TransientSendError(f"Could not reach X: {exc!r}") from exc
    if response.status_code == 403 and REPLY_RULE_DETAIL in response.text:
        raise SendError(
            f"X refused the reply (403): {REPLY_RULE}. Send a direct message instead. "
            f"X said: {response.text[:300]}"
        )
    if response.status_code == 429:
        raise rate_limited(response)
    raise_for_send_status(response)
    try:
        answer = response.json()
    except ValueError as exc:
        raise SendError(f"X answered {response.status_code} with non-JSON: {exc}") from exc
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict):
        raise SendError(f"X answered {response.status_code} without data: {answer!r:.300}")
    return data
