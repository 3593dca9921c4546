"""Reading Meta webhook deliveries: Page feed changes, Instagram comments and mentions, and
Messenger / Instagram Direct messages (see the package docstring)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from socialcare.platforms.base import (
    ChannelConfig,
    Event,
    InboundIdentity,
    InboundPost,
    ParseError,
    PostDeletion,
    PostEdit,
    SendError,
    from_epoch_ms,
    from_epoch_s,
    from_iso,
    load_json,
)
from socialcare.platforms.meta.graph import DEFAULT_BASE_URL, FACEBOOK_WEB_URL, graph_base
from socialcare.platforms.meta.ids import scoped_id, space_for
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

FEED_ITEMS = frozenset({"comment", "post", "status", "photo", "video"})
ADD_VERBS = frozenset({"add"})
EDIT_VERBS = frozenset({"edited", "edit"})
REMOVE_VERBS = frozenset({"remove", "delete"})


def graph_time(value: Any, what: str) -> dt.datetime:
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


def load_object(body: bytes) -> dict[str, Any]:
    if not isinstance(body, bytes | bytearray | memoryview):
        raise ParseError(f"Body is {type(body).__name__}, not bytes.")
    try:
        data = load_json(bytes(body))
    except ValueError as exc:  # e.g. an integer longer than Python's int-conversion limit
        raise ParseError(f"Body is not usable JSON: {exc}") from exc
    return _obj(data, "The body")


def graph_url_of(channel: ChannelConfig) -> str:
    """The channel's Graph API base (``graph.graph_base``); a malformed configured version is
    a ``ParseError`` here, so the delivery fails with the reason instead of an odd URL."""
    try:
        return graph_base(channel)
    except SendError as exc:
        raise ParseError(str(exc)) from exc


class Entry:
    """Reads the changes and messages of one entry (one account, one notification time)."""

    def __init__(
        self, platform: str, account: str, time: Any, what: str, *, graph_url: str = ""
    ) -> None:
        self.platform = platform
        self.account = account
        self.time = time
        self.what = what
        self.graph_url = graph_url or DEFAULT_BASE_URL  # the channel's (``graph_url_of``)

    def person(self, user_id: str) -> str:
        """How an author id of this entry is stored: the brand's own account as it is, anyone
        else scoped to this Page or Instagram account (``meta.ids``); unknown stays ""."""
        if not user_id or user_id == self.account:
            return user_id
        try:
            return scoped_id(space_for(self.platform), self.account, user_id)
        except ValueError as exc:  # e.g. an id with a colon: not one Meta would send
            raise ParseError(f"{self.what}: {exc}") from None

    def entry_time(self, fallback: Any = None) -> dt.datetime:
        if self.time is not None:
            return graph_time(self.time, f"{self.what}.time")
        return graph_time(fallback, f"{self.what}.time")

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
            external_id=self.person(author_id),
            # ``from.id`` is a PSID (or a Page id): facebook.com/<id> would not open a profile.
            display_name=_text(author.get("name"), f"{what} from.name"),
        )
        if value.get("created_time") is not None:
            posted_at = graph_time(value.get("created_time"), f"{what} created_time")
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
                external_id=self.person(author_id),
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
            url=f"{self.graph_url}/{quote(media_id, safe='')}",
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
            at = graph_time(item.get("timestamp"), f"{what} timestamp")
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
            # An IGSID / PSID: scoped; the DM conversation keeps the raw id (what Meta names).
            author=InboundIdentity(platform=self.platform, external_id=self.person(sender)),
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
