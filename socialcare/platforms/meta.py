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
  (for a mention in a comment) ``comment_id``. The post made from it has no text and no known
  author (an identity with an empty ``external_id``); its ``url`` is the Graph API URL of the
  media. **The text, author and permalink need a Graph fetch**
  (``GET /<ig-user-id>?fields=mentioned_comment.comment_id(<id>){text,username,timestamp}`` or
  ``mentioned_media.media_id(<id>){caption,username,permalink,timestamp}``).
* ``messaging`` (Messenger and Instagram Direct): messages, echoes of the brand's own messages
  (``is_echo``: outbound), unsent messages (``is_deleted``: ``PostDeletion``) and message edits
  (``message_edit``: ``PostEdit``). Delivery and read receipts, reactions, postbacks, referrals
  and other non-message events are skipped.

Facebook omits ``from`` on comments by people who have not authorised the app in some setups:
such a post's author has an empty ``external_id`` (unknown), never a made-up one.

Outbound (channel secret ``access_token``, a Page access token, sent as a Bearer token):
``POST /<comment id>/comments`` (Facebook), ``POST /<comment id>/replies`` (Instagram) with a
``message`` form field, and ``POST /me/messages`` for private messages, with the
``messaging_type`` (``RESPONSE`` within 24 hours of the customer's last message,
``MESSAGE_TAG`` with ``tag: HUMAN_AGENT`` up to 7 days) that ``services.reply_window`` chose.
Meta's "outside of allowed window" refusal (code 10, subcode 2018278; 2534022 on Instagram)
is a final ``SendError`` that says so.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from socialcare.platforms.base import (
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
    from_epoch_ms,
    from_epoch_s,
    from_iso,
    header,
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

DEFAULT_BASE_URL = "https://graph.facebook.com/v21.0"
SIGNATURE_HEADER = "X-Hub-Signature-256"
FACEBOOK_WEB_URL = "https://www.facebook.com"

FEED_ITEMS = frozenset({"comment", "post", "status", "photo", "video"})
ADD_VERBS = frozenset({"add"})
EDIT_VERBS = frozenset({"edited", "edit"})
REMOVE_VERBS = frozenset({"remove", "delete"})

#: Graph API error codes that mean "throttled" (application, user, page, custom and business
#: use case rate limits). Graph answers them with HTTP 400/403, not 429.
THROTTLING_CODES = frozenset({4, 17, 32, 613, *range(80001, 80015)})
#: Graph API error codes documented as temporary ("unknown error", "service unavailable").
TRANSIENT_CODES = frozenset({1, 2})
#: Send API subcodes of code 10 for a message outside the allowed messaging window (Messenger,
#: Instagram).
WINDOW_SUBCODES = frozenset({2018278, 2534022})


def _time(value: Any, what: str) -> dt.datetime:
    """Graph timestamps: epoch seconds or milliseconds (told apart by size), or ISO-8601."""
    if isinstance(value, bool) or value is None:
        raise ParseError(f"{what} is missing or not a timestamp ({value!r}).")
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        try:
            number = float(value)
        except (ValueError, OverflowError) as exc:
            raise ParseError(f"{what} is not a timestamp ({value!r}).") from exc
        if number > 10**11:  # 10**11 s is the year 5138; 10**11 ms is 1973.
            return from_epoch_ms(value)
        return from_epoch_s(value)
    if isinstance(value, str):
        return from_iso(value.replace("+0000", "+00:00"))
    raise ParseError(f"{what} is not a timestamp ({value!r}).")


def _load_object(body: bytes) -> dict[str, Any]:
    if not isinstance(body, bytes | bytearray | memoryview):
        raise ParseError(f"Body is {type(body).__name__}, not bytes.")
    try:
        data = load_json(bytes(body))
    except ValueError as exc:  # e.g. an integer longer than Python's int-conversion limit
        raise ParseError(f"Body is not usable JSON: {exc}") from exc
    return _obj(data, "The body")


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
        data = _load_object(body)
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
        context = _Entry(platform, account, entry.get("time"), f"entry[{index}]")
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
        token = channel.secret("access_token")
        if not token:
            raise SendError(f"The {channel.platform} channel has no access_token.")
        base = (channel.base_url or DEFAULT_BASE_URL).rstrip("/")
        auth = {"Authorization": f"Bearer {token}"}

        if message.visibility == "private":
            recipient = message.recipient or _dm_customer(message.conversation_id)
            if not recipient:
                raise SendError("A private message needs a recipient id.")
            payload: dict[str, Any] = {
                "recipient": {"id": recipient},
                "messaging_type": message.messaging_type or "RESPONSE",
                "message": {"text": message.text},
            }
            if message.tag:
                payload["tag"] = message.tag
            answer = _post(client, f"{base}/me/messages", auth, json_body=payload)
            message_id = _id(answer.get("message_id"), "message_id", required=False)
            if not message_id:
                raise SendError(f"Meta accepted the message but named no id: {answer!r:.300}")
            return SentPost(external_id=message_id)

        target = message.in_reply_to
        if not target:
            raise SendError("A public reply on Facebook or Instagram needs a post to answer.")
        if channel.platform == "instagram":
            # Instagram threads are one level deep: answering a reply means replying to its
            # top-level comment (named by the stored reply's parent_id).
            parent_of_parent = message.parent_raw.get("parent_id")
            if isinstance(parent_of_parent, str) and parent_of_parent:
                target = parent_of_parent
            path = f"/{quote(target, safe='')}/replies"
        else:
            path = f"/{quote(target, safe='')}/comments"
        answer = _post(client, base + path, auth, form_body={"message": message.text})
        comment_id = _id(answer.get("id"), "comment id", required=False)
        if not comment_id:
            raise SendError(f"Meta accepted the comment but named no id: {answer!r:.300}")
        url = f"{FACEBOOK_WEB_URL}/{comment_id}" if channel.platform != "instagram" else ""
        return SentPost(external_id=comment_id, url=url)


class _Entry:
    """Reads the changes and messages of one entry (one account, one notification time)."""

    def __init__(self, platform: str, account: str, time: Any, what: str) -> None:
        self.platform = platform
        self.account = account
        self.time = time
        self.what = what

    def entry_time(self, fallback: Any = None) -> dt.datetime:
        if self.time is not None:
            return _time(self.time, f"{self.what}.time")
        return _time(fallback, f"{self.what}.time")

    # changes ----------------------------------------------------------------------------------
    def change(self, change: dict[str, Any], what: str) -> list[Event]:
        field = change.get("field")
        if field == "feed":
            value = _obj(change.get("value"), f"{what}.value")
            return self.feed(value, what)
        if self.platform == "instagram" and field in ("comments", "live_comments"):
            value = _obj(change.get("value"), f"{what}.value")
            return [self.instagram_comment(value, what)]
        if self.platform == "instagram" and field == "mentions":
            value = _obj(change.get("value"), f"{what}.value")
            return [self.instagram_mention(value, what)]
        return []

    def feed(self, value: dict[str, Any], what: str) -> list[Event]:
        item = value.get("item")
        verb = value.get("verb")
        if not isinstance(item, str) or not isinstance(verb, str):
            return []
        if item not in FEED_ITEMS or verb not in ADD_VERBS | EDIT_VERBS | REMOVE_VERBS:
            return []
        post_id = _id(value.get("post_id"), f"{what} post_id")
        is_comment = item == "comment"
        external_id = _id(value.get("comment_id"), f"{what} comment_id") if is_comment else post_id
        if verb in REMOVE_VERBS:
            return [
                PostDeletion(
                    platform=self.platform,
                    external_id=external_id,
                    deleted_at=self.entry_time(value.get("created_time")),
                )
            ]

        author = _opt_obj(value.get("from"), f"{what} from")
        author_id = _id(author.get("id"), f"{what} from.id", required=False)
        identity = InboundIdentity(
            platform=self.platform,
            external_id=author_id,
            # ``from.id`` is page- or app-scoped: facebook.com/<id> would not open a profile.
            display_name=_text(author.get("name"), f"{what} from.name"),
        )
        if value.get("created_time") is not None:
            posted_at = _time(value.get("created_time"), f"{what} created_time")
        else:
            posted_at = self.entry_time()
        parent = _opt_obj(value.get("post"), f"{what} post")
        permalink = _text(parent.get("permalink_url"), f"{what} post.permalink_url")
        if is_comment:
            base = permalink or f"{FACEBOOK_WEB_URL}/{post_id}"
            url = f"{base}{'&' if '?' in base else '?'}comment_id={quote(external_id, safe='')}"
            in_reply_to = _id(value.get("parent_id"), f"{what} parent_id", required=False)
        else:
            url = _text(value.get("permalink_url"), f"{what} permalink_url") or (
                f"{FACEBOOK_WEB_URL}/{post_id}"
            )
            in_reply_to = ""
        post = InboundPost(
            platform=self.platform,
            external_id=external_id,
            author=identity,
            kind="comment" if is_comment else "mention",
            visibility="public",
            text=_text(value.get("message"), f"{what} message"),
            posted_at=posted_at,
            direction="outbound" if author_id == self.account else "inbound",
            url=url,
            in_reply_to=in_reply_to,
            conversation_id=post_id,
            attachments=self.feed_attachments(value, item, what),
            raw=value,
        )
        if verb in EDIT_VERBS:
            return [PostEdit(post=post, edited_at=self.entry_time(value.get("created_time")))]
        return [post]

    @staticmethod
    def feed_attachments(value: dict[str, Any], item: Any, what: str) -> tuple[dict[str, Any], ...]:
        found: list[dict[str, Any]] = []
        for key, kind in (("photo", "image"), ("video", "video"), ("link", "link")):
            url = value.get(key)
            if isinstance(url, str) and url:
                found.append({"type": item if item in ("photo", "video") else kind, "url": url})
        for url in _opt_list(value.get("photos"), f"{what} photos"):
            found.append({"type": "image", "url": _text(url, f"{what} photos[]")})
        return tuple(found)

    def instagram_comment(self, value: dict[str, Any], what: str) -> InboundPost:
        comment_id = _id(value.get("id"), f"{what} comment id")
        author = _opt_obj(value.get("from"), f"{what} from")
        author_id = _id(author.get("id"), f"{what} from.id", required=False)
        handle = _text(author.get("username"), f"{what} from.username")
        media = _opt_obj(value.get("media"), f"{what} media")
        media_id = _id(media.get("id"), f"{what} media.id", required=False)
        parent_id = _id(value.get("parent_id"), f"{what} parent_id", required=False)
        return InboundPost(
            platform=self.platform,
            external_id=comment_id,
            author=InboundIdentity(
                platform=self.platform,
                external_id=author_id,
                handle=handle,
                profile_url=f"https://www.instagram.com/{handle}/" if handle else "",
            ),
            kind="comment",
            visibility="public",
            text=_text(value.get("text"), f"{what} text"),
            posted_at=self.entry_time(value.get("timestamp")),
            direction="outbound" if author_id and author_id == self.account else "inbound",
            in_reply_to=parent_id or media_id,
            conversation_id=media_id,
            raw=value,
        )

    def instagram_mention(self, value: dict[str, Any], what: str) -> InboundPost:
        """A mention names only ids; the text and author need a Graph fetch (module doc)."""
        media_id = _id(value.get("media_id"), f"{what} media_id")
        comment_id = _id(value.get("comment_id"), f"{what} comment_id", required=False)
        return InboundPost(
            platform=self.platform,
            external_id=comment_id or media_id,
            author=InboundIdentity(platform=self.platform, external_id=""),
            kind="mention",
            visibility="public",
            text="",
            posted_at=self.entry_time(),
            url=f"{DEFAULT_BASE_URL}/{quote(media_id, safe='')}",
            in_reply_to=media_id if comment_id else "",
            conversation_id=media_id,
            raw=value,
        )

    # messaging --------------------------------------------------------------------------------
    def messaging(self, item: dict[str, Any], what: str) -> Event | None:
        if "message" in item:
            message = _obj(item.get("message"), f"{what}.message")
            edit = False
        elif "message_edit" in item:
            message = _obj(item.get("message_edit"), f"{what}.message_edit")
            edit = True
        else:
            return None  # delivery, read, reaction, postback, referral, optin, ...
        mid = _id(message.get("mid"), f"{what} message.mid")
        sender = _id(_obj(item.get("sender"), f"{what}.sender").get("id"), f"{what} sender.id")
        recipient = _id(
            _obj(item.get("recipient"), f"{what}.recipient").get("id"), f"{what} recipient.id"
        )
        if item.get("timestamp") is not None:
            at = _time(item.get("timestamp"), f"{what} timestamp")
        else:
            at = self.entry_time()
        if message.get("is_deleted") is True:
            return PostDeletion(platform=self.platform, external_id=mid, deleted_at=at)

        outbound = message.get("is_echo") is True or sender == self.account
        attachments: list[dict[str, Any]] = []
        for position, raw in enumerate(
            _opt_list(message.get("attachments"), f"{what} attachments")
        ):
            attachment = _obj(raw, f"{what} attachments[{position}]")
            payload = _opt_obj(attachment.get("payload"), f"{what} attachments[{position}].payload")
            attachments.append(
                {
                    "type": _text(attachment.get("type"), f"{what} attachment type") or "file",
                    "url": _text(payload.get("url"), f"{what} attachment url"),
                }
            )
        reply_to = _opt_obj(message.get("reply_to"), f"{what} reply_to")
        story = _opt_obj(reply_to.get("story"), f"{what} reply_to.story")
        if story:
            attachments.append({"type": "story", "url": _text(story.get("url"), f"{what} story")})
        post = InboundPost(
            platform=self.platform,
            external_id=mid,
            author=InboundIdentity(platform=self.platform, external_id=sender),
            kind="direct_message",
            visibility="private",
            text=_text(message.get("text"), f"{what} message.text"),
            posted_at=at,
            direction="outbound" if outbound else "inbound",
            in_reply_to=_id(reply_to.get("mid"), f"{what} reply_to.mid", required=False),
            conversation_id=f"dm:{recipient if outbound else sender}",
            attachments=tuple(attachments),
            raw=item,
        )
        if edit:
            return PostEdit(post=post, edited_at=at)
        return post


def _dm_customer(conversation_id: str) -> str:
    return conversation_id[3:] if conversation_id.startswith("dm:") else ""


def _graph_error(response: httpx.Response) -> None:
    """Graph reports throttling as 400/403 with an error code, not 429: map it first."""
    if response.status_code < 400:
        return
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict):
        code = error.get("code")
        code = code if isinstance(code, int) and not isinstance(code, bool) else None
        text = str(error.get("message") or "")[:300]
        if code in THROTTLING_CODES:
            raise RateLimited(
                f"Rate limited by Meta (code {code}): {text}",
                retry_after=_regain_access_seconds(response) or retry_after_seconds(response),
            )
        if error.get("is_transient") is True or code in TRANSIENT_CODES:
            raise TransientSendError(
                f"Temporary Meta error (code {code}): {text}",
                retry_after=retry_after_seconds(response, 30),
            )
        if code == 10 and error.get("error_subcode") in WINDOW_SUBCODES:
            raise SendError(
                f"Meta refused the message ({response.status_code}): the customer's messaging "
                f"window is closed (code 10, subcode {error.get('error_subcode')}): {text}"
            )


def _regain_access_seconds(response: httpx.Response) -> float | None:
    """``estimated_time_to_regain_access`` (minutes) from Meta's business-use-case header."""
    raw = response.headers.get("x-business-use-case-usage")
    if not raw:
        return None
    try:
        usage = json.loads(raw)
        minutes = [
            float(item.get("estimated_time_to_regain_access") or 0)
            for items in usage.values()
            for item in items
        ]
    except (ValueError, TypeError, AttributeError):
        return None
    longest = max(minutes, default=0.0)
    return longest * 60 if longest > 0 else None


def _post(
    client: httpx.Client,
    url: str,
    headers: dict[str, str],
    *,
    json_body: dict[str, Any] | None = None,
    form_body: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST to the Graph API and return its JSON object, mapping failures to send errors. A 2xx
    answer that cannot be read is a ``SendError``: the reply may be out, a retry could double it."""
    try:
        response = client.post(url, headers=headers, json=json_body, data=form_body)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise SendError(f"Bad Graph API URL {url!r}: {exc}") from exc
    except httpx.TransportError as exc:
        raise TransientSendError(f"Could not reach Meta: {exc!r}") from exc
    _graph_error(response)
    raise_for_send_status(response)
    try:
        answer = response.json()
    except ValueError as exc:
        raise SendError(f"Meta answered {response.status_code} with non-JSON: {exc}") from exc
    if not isinstance(answer, dict):
        raise SendError(f"Meta answered {response.status_code} with {answer!r:.300}")
    return answer
