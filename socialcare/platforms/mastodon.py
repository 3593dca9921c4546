"""Mastodon: mentions are polled from ``GET /api/v1/notifications``; replies are statuses.

Identifiers on Mastodon are local to a server. A status' global id is its ``uri`` (the
ActivityPub id), so that is the post's ``external_id``; its ``id`` is only unique on the brand's
server and is kept as ``local_id`` because replies name their parent by it (``in_reply_to_id``).
An account's stable global id is its ``url`` (present on every Mastodon version and on the
Mastodon-compatible servers); its handle is the fully qualified ``user@domain``.

Polling walks forwards with ``min_id``: the channel cursor is the highest notification id seen.
Mastodon answers ``min_id`` with the page *immediately* newer than that id (newest first inside
the page), so a full page means more newer pages remain. The ``Link`` header is not needed: its
``rel="prev"`` link is present on every non-empty page and says nothing about whether more exist.
"""

from __future__ import annotations

import datetime as dt
import html as htmllib
import re
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
import nh3

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
    SendError,
    SentPost,
    TransientSendError,
    from_iso,
    load_json,
    raise_for_send_status,
)
from socialcare.platforms.shapes import (
    field_obj as _obj,
)
from socialcare.platforms.shapes import (
    field_opt_str as _opt_str,
)
from socialcare.platforms.shapes import (
    field_str as _str,
)
from socialcare.platforms.shapes import (
    short as _short,
)

PLATFORM = "mastodon"
#: Notifications per page: Mastodon >= 4.1 defaults to 40 (max 80); older servers cap at 30,
#: which only means a backlog takes one more poll to drain.
PAGE_LIMIT = 40

# Sanitizing: what Mastodon itself lets through in status HTML, minus anything executable.
ALLOWED_TAGS = {
    "p", "br", "a", "span", "b", "strong", "i", "em", "u", "del", "s",
    "pre", "code", "blockquote", "ul", "ol", "li",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href"}, "ol": {"start", "reversed"}, "li": {"value"}}
ALLOWED_CLASSES = {
    "a": {"u-url", "mention", "hashtag", "status-link", "unhandled-link"},
    "span": {"h-card", "invisible", "ellipsis"},
}
LINK_REL = "nofollow noopener noreferrer"
URL_SCHEMES = {"http", "https", "mailto"}

#: Status HTML longer than this is cut before it is sanitized (the raw payload keeps all of it).
#: Mastodon's own limit is 500 characters; other fediverse servers allow more, but sanitizing
#: and reading tens of thousands of nested tags costs seconds of worker time per post.
MAX_HTML_CHARS = 50_000

PRIVATE_VISIBILITIES = {"direct", "private"}
PUBLIC_VISIBILITIES = {"public", "unlisted", "local"}


# HTML --------------------------------------------------------------------------------------------
def sanitize_html(content: str) -> str:
    """Status HTML safe to show an agent: no scripts, no event handlers, no relative or
    ``javascript:`` links; links get ``rel="nofollow noopener noreferrer"``."""
    return nh3.clean(
        content,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        allowed_classes=ALLOWED_CLASSES,
        link_rel=LINK_REL,
        url_schemes=URL_SCHEMES,
        url_relative="deny",
    )


class _TextExtractor(HTMLParser):
    BLOCKS: ClassVar[set[str]] = {"p", "blockquote", "pre", "ul", "ol"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "li"):
            self.parts.append("\n")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(content: str) -> str:
    """Plain text of (sanitized) status HTML: paragraphs become blank lines, ``<br>`` newlines,
    entities are unescaped, mentions stay as written (``@acmehelp``)."""
    extractor = _TextExtractor()
    extractor.feed(content)
    extractor.close()
    text = "".join(extractor.parts).replace("\r\n", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# Field access with readable errors ----------------------------------------------------------------
def _opt_int(container: Mapping[str, Any], key: str, where: str) -> int | None:
    value = container.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParseError(f"{where}: `{key}` must be an integer or null, got {_short(value)}.")
    return value


def _timestamp(container: Mapping[str, Any], key: str, where: str) -> dt.datetime:
    value = _str(container, key, where)
    try:
        return from_iso(value)
    except ParseError as exc:
        raise ParseError(f"{where}: `{key}`: {exc}") from None
    except OverflowError:
        raise ParseError(f"{where}: `{key}` is out of range: {_short(value)}.") from None


def _id_key(value: str) -> tuple[int, str]:
    """Mastodon ids are decimal strings (snowflakes): compare by length, then text."""
    return (len(value), value)


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


# HTTP ---------------------------------------------------------------------------------------------
def _request(
    client: httpx.Client, method: str, url: str, what: str, **kwargs: Any
) -> httpx.Response:
    """One HTTP call with the adapter error mapping: 429 → ``RateLimited``, 5xx and network
    failures → ``TransientSendError``, other refusals → ``SendError``."""
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise TransientSendError(f"{what}: timed out ({exc}).", retry_after=30) from exc
    except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as exc:
        raise TransientSendError(f"{what}: connection failed ({exc}).", retry_after=30) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise SendError(f"{what}: cannot make the request ({exc}).") from exc
    try:
        raise_for_send_status(response)
    except TransientSendError as exc:  # RateLimited included: keep the class and the delay
        raise type(exc)(f"{what}: {exc}", retry_after=exc.retry_after) from None
    except SendError as exc:
        raise SendError(f"{what}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise SendError(f"{what}: unexpected HTTP {response.status_code}.")
    return response


class MastodonAdapter:
    platforms: ClassVar[tuple[str, ...]] = (PLATFORM,)
    receives_webhooks: ClassVar[bool] = False

    # Webhooks: Mastodon is polled ------------------------------------------------------------
    def verify_signature(
        self, body: bytes, headers: Mapping[str, str], channel: ChannelConfig
    ) -> bool:
        return False

    def answer_challenge(
        self, params: Mapping[str, str], channel: ChannelConfig
    ) -> Challenge | None:
        return None

    # Polling -----------------------------------------------------------------------------------
    def poll(self, channel: ChannelConfig, client: httpx.Client) -> PollPage:
        """The mentions newer than ``channel.cursor`` (the highest notification id seen).

        First run (empty cursor): the latest page only, no backfill. Afterwards ``min_id`` pages
        forwards from the cursor; ``has_more`` is true when the page was full.
        """
        base = self._base_url(channel, "poll")
        params: list[tuple[str, str | int]] = [("types[]", "mention"), ("limit", PAGE_LIMIT)]
        cursor = channel.cursor.strip()
        if cursor:
            params.append(("min_id", cursor))
        response = _request(
            client,
            "GET",
            f"{base}/api/v1/notifications",
            "Mastodon GET /api/v1/notifications",
            params=params,
            headers=self._auth(channel),
        )
        items = load_json(response.content)
        if not isinstance(items, list):
            raise ParseError(
                f"Mastodon notifications: expected a JSON list, got {type(items).__name__}."
            )
        ids = [
            item["id"]
            for item in items
            if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]
        ]
        newer = [i for i in ids if not cursor or _id_key(i) > _id_key(cursor)]
        new_cursor = max(newer, key=_id_key) if newer else cursor
        return PollPage(
            body=response.content,
            cursor=new_cursor,
            has_more=bool(cursor) and bool(newer) and len(items) >= PAGE_LIMIT,
        )

    # Parsing -----------------------------------------------------------------------------------
    def parse(self, body: bytes, channel: ChannelConfig) -> list[Event]:
        """Mentions in a JSON list of notifications; other notification types are ignored."""
        data = load_json(body)  # NUL and lone surrogates made storable
        if not isinstance(data, list):
            raise ParseError(
                f"Mastodon notifications must be a JSON list, got {type(data).__name__}."
            )
        found = Collector()
        for index, item in enumerate(data):
            with found.item():
                where = f"Mastodon notification #{index}"
                if not isinstance(item, dict):
                    raise ParseError(f"{where} is not an object: {_short(item)}.")
                kind = _str(item, "type", where)
                if kind != "mention":
                    continue
                where = f"Mastodon notification {_short(item.get('id'))}"
                found.add(self._post(item, channel, where))
        return found.result()

    def _post(
        self, notification: Mapping[str, Any], channel: ChannelConfig, where: str
    ) -> InboundPost:
        status = _obj(notification, "status", where)
        where = f"{where} status"
        local_id = _str(status, "id", where)
        uri = _str(status, "uri", where)
        account = status.get("account") or notification.get("account")
        if not isinstance(account, dict):
            raise ParseError(f"{where}: `account` must be an object, got {_short(account)}.")
        author = self._identity(account, channel, f"{where} account")
        visibility = _str(status, "visibility", where)
        in_reply_to = _opt_str(status, "in_reply_to_id", where)
        if visibility in PUBLIC_VISIBILITIES:
            post_visibility, kind = "public", ("reply" if in_reply_to else "mention")
        else:  # direct, private (followers only) and unknown: never answer those in public
            post_visibility, kind = "private", "direct_message"

        content = _opt_str(status, "content", where)
        html = sanitize_html(content[:MAX_HTML_CHARS]) if content else ""
        text = html_to_text(html)
        spoiler = _opt_str(status, "spoiler_text", where).strip()
        if spoiler:  # the content warning is part of what the customer wrote
            text = f"CW: {spoiler}\n\n{text}".strip()
            html = f"<p>CW: {htmllib.escape(spoiler)}</p>{html}"

        account_id = _opt_str(account, "id", f"{where} account")
        direction = (
            "outbound" if channel.account_id and account_id == channel.account_id else "inbound"
        )
        return InboundPost(
            platform=PLATFORM,
            external_id=uri,
            author=author,
            kind=kind,
            visibility=post_visibility,
            text=text.replace("\x00", ""),
            html=html.replace("\x00", ""),
            posted_at=_timestamp(status, "created_at", where),
            direction=direction,
            url=_opt_str(status, "url", where) or uri,
            in_reply_to=in_reply_to,
            local_id=local_id,
            language=_opt_str(status, "language", where),
            attachments=self._attachments(status, where),
            raw=notification,
        )

    def _identity(
        self, account: Mapping[str, Any], channel: ChannelConfig, where: str
    ) -> InboundIdentity:
        acct = _str(account, "acct", where)
        url = _opt_str(account, "url", where)
        if "@" not in acct.lstrip("@"):
            # A local account: qualify it with its server so handles are unique platform-wide.
            domain = _host(url) or _host(channel.base_url)
            handle = f"{acct.lstrip('@')}@{domain}" if domain else acct.lstrip("@")
        else:
            handle = acct.lstrip("@")
        return InboundIdentity(
            platform=PLATFORM,
            external_id=url or f"acct:{handle}",
            handle=handle,
            display_name=_opt_str(account, "display_name", where)
            or _opt_str(account, "username", where),
            profile_url=url,
            avatar_url=_opt_str(account, "avatar", where),
            followers_count=_opt_int(account, "followers_count", where),
        )

    def _attachments(self, status: Mapping[str, Any], where: str) -> tuple[dict[str, Any], ...]:
        media = status.get("media_attachments")
        if media is None:
            return ()
        if not isinstance(media, list):
            raise ParseError(f"{where}: `media_attachments` must be a list, got {_short(media)}.")
        attachments = []
        for index, item in enumerate(media):
            item_where = f"{where} media #{index}"
            if not isinstance(item, dict):
                raise ParseError(f"{item_where} is not an object: {_short(item)}.")
            attachment = {
                "type": _opt_str(item, "type", item_where) or "unknown",
                "url": _opt_str(item, "url", item_where)
                or _opt_str(item, "remote_url", item_where),
            }
            description = _opt_str(item, "description", item_where)
            if description:
                attachment["description"] = description
            attachments.append(attachment)
        return tuple(attachments)

    # Sending -------------------------------------------------------------------------------------
    def send(
        self, channel: ChannelConfig, message: OutboundMessage, client: httpx.Client
    ) -> SentPost:
        """Post a status. A direct message starts with the recipient's ``@acct`` (Mastodon
        delivers a direct status to the accounts it mentions); so does a public reply when the
        recipient's handle is known, so that the customer is notified."""
        base = self._base_url(channel, "send")
        direct = message.visibility != "public"
        handle = message.recipient_handle.strip().lstrip("@")
        if direct and not handle:
            raise SendError(
                "A Mastodon direct message needs the recipient's handle (user@domain): "
                "Mastodon delivers a direct status only to the accounts it mentions."
            )
        text = message.text
        if handle and not re.match(rf"@{re.escape(handle)}(?![\w@.-])", text, re.IGNORECASE):
            text = f"@{handle} {text}"
        payload: dict[str, Any] = {"status": text, "visibility": "direct" if direct else "public"}
        if message.in_reply_to_local_id:
            payload["in_reply_to_id"] = message.in_reply_to_local_id
        headers = self._auth(channel)
        if message.idempotency_key:
            headers["Idempotency-Key"] = message.idempotency_key
        response = _request(
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
            posted_at = _timestamp(data, "created_at", "status") if data.get("created_at") else None
        except ParseError as exc:
            # The status may exist: with an Idempotency-Key a retry returns it instead of
            # posting twice, so retrying is safe; without one it is not.
            error = TransientSendError if message.idempotency_key else SendError
            raise error(f"Mastodon answered the post with an unexpected body: {exc}") from None
        return SentPost(external_id=uri, url=url, local_id=local_id, posted_at=posted_at)

    # Helpers ---------------------------------------------------------------------------------------
    @staticmethod
    def _base_url(channel: ChannelConfig, action: str) -> str:
        base = channel.base_url.strip().rstrip("/")
        if not base:
            raise SendError(f"Mastodon {action}: the channel has no base URL (its server).")
        return base

    @staticmethod
    def _auth(channel: ChannelConfig) -> dict[str, str]:
        token = channel.secret("access_token")
        if not token:
            raise SendError("Mastodon: the channel has no `access_token` secret.")
        return {"Authorization": f"Bearer {token}", "Accept": "application/json"}
