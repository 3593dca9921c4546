"""Reading polled bodies: mention notifications, and the statuses an edit check re-fetched."""

from __future__ import annotations

import html as htmllib
from collections.abc import Mapping
from typing import Any

from socialcare.platforms.base import (
    ChannelConfig,
    Collector,
    Event,
    InboundIdentity,
    InboundPost,
    ParseError,
    PostEdit,
    load_json,
)
from socialcare.platforms.mastodon.common import (
    MAX_HTML_CHARS,
    PLATFORM,
    PUBLIC_VISIBILITIES,
    host,
    opt_int,
    timestamp,
)
from socialcare.platforms.mastodon.html import html_to_text, sanitize_html
from socialcare.platforms.shapes import field_obj as _obj
from socialcare.platforms.shapes import field_opt_str as _opt_str
from socialcare.platforms.shapes import field_str as _str
from socialcare.platforms.shapes import short as _short


def is_status(item: Mapping[str, Any]) -> bool:
    """A Status entity (``GET /api/v1/statuses``), not a Notification: it has a ``uri`` and no
    ``type``."""
    return "type" not in item and "uri" in item


class ReadingMixin:
    def parse(self, body: bytes, channel: ChannelConfig) -> list[Event]:
        """Mentions in a JSON list of notifications (other notification types are ignored), or
        edits in a JSON list of statuses (an edit check's answer: each status with an
        ``edited_at`` is a ``PostEdit``; one never edited says nothing new)."""
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
                if is_status(item):
                    found.add(self._edit(item, channel, f"Mastodon status #{index}"))
                    continue
                kind = _str(item, "type", where)
                if kind != "mention":
                    continue
                where = f"Mastodon notification {_short(item.get('id'))}"
                status = _obj(item, "status", where)
                found.add(self._post(status, item.get("account"), channel, f"{where} status", item))
        return found.result()

    def _edit(self, status: Mapping[str, Any], channel: ChannelConfig, where: str) -> Event | None:
        edited = _opt_str(status, "edited_at", where)
        if not edited:
            return None
        post = self._post(status, None, channel, where, status)
        return PostEdit(post=post, edited_at=timestamp(status, "edited_at", where))

    def _post(
        self,
        status: Mapping[str, Any],
        account: Any,
        channel: ChannelConfig,
        where: str,
        raw: Mapping[str, Any],
    ) -> InboundPost:
        """``status`` as a post; ``account`` is the notification's, used when the status has
        none."""
        local_id = _str(status, "id", where)
        uri = _str(status, "uri", where)
        account = status.get("account") or account
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
            posted_at=timestamp(status, "created_at", where),
            direction=direction,
            url=_opt_str(status, "url", where) or uri,
            in_reply_to=in_reply_to,
            local_id=local_id,
            language=_opt_str(status, "language", where),
            attachments=self._attachments(status, where),
            raw=raw,
        )

    def _identity(
        self, account: Mapping[str, Any], channel: ChannelConfig, where: str
    ) -> InboundIdentity:
        acct = _str(account, "acct", where)
        url = _opt_str(account, "url", where)
        if "@" not in acct.lstrip("@"):
            # A local account: qualify it with its server so handles are unique platform-wide.
            domain = host(url) or host(channel.base_url)
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
            followers_count=opt_int(account, "followers_count", where),
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
