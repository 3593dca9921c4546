"""Reading polled notifications into posts (see the package docstring)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from socialcare.platforms.base import (
    ChannelConfig,
    Collector,
    Event,
    InboundIdentity,
    InboundPost,
    ParseError,
    load_json,
)
from socialcare.platforms.bluesky.common import (
    CDN,
    PLATFORM,
    POST_COLLECTION,
    REASONS,
    WEB,
    handle_or_did,
    nonneg_int,
    parse_timestamp,
    post_url,
    split_at_uri,
)
from socialcare.platforms.shapes import field_obj as _obj
from socialcare.platforms.shapes import field_opt_str as _opt_str
from socialcare.platforms.shapes import field_str as _str
from socialcare.platforms.shapes import short as _short


class ReadingMixin:
    def parse(self, body: bytes, channel: ChannelConfig) -> list[Event]:
        data = load_json(body)  # NUL and lone surrogates made storable
        if not isinstance(data, dict):
            raise ParseError(
                f"Bluesky notifications must be a JSON object, got {type(data).__name__}."
            )
        notifications = data.get("notifications")
        if not isinstance(notifications, list):
            raise ParseError(
                f"Bluesky body: `notifications` must be a list, got {_short(notifications)}."
            )
        profiles = data.get("profiles", [])
        if not isinstance(profiles, list):
            raise ParseError(f"Bluesky body: `profiles` must be a list, got {_short(profiles)}.")
        found = Collector()
        by_did: dict[str, Mapping[str, Any]] = {}
        for index, profile in enumerate(profiles):
            with found.item():  # a bad profile costs its follower count, not the posts
                if not isinstance(profile, dict):
                    raise ParseError(
                        f"Bluesky profile #{index} is not an object: {_short(profile)}."
                    )
                by_did[_str(profile, "did", f"Bluesky profile #{index}")] = profile

        for index, item in enumerate(notifications):
            with found.item():
                where = f"Bluesky notification #{index}"
                if not isinstance(item, dict):
                    raise ParseError(f"{where} is not an object: {_short(item)}.")
                reason = _str(item, "reason", where)
                if reason not in REASONS:
                    continue
                found.add(self._post(item, reason, by_did, channel, where))
        return found.result()

    def _post(
        self,
        item: Mapping[str, Any],
        reason: str,
        profiles: Mapping[str, Mapping[str, Any]],
        channel: ChannelConfig,
        where: str,
    ) -> InboundPost:
        uri = _str(item, "uri", where)
        try:
            _, collection, _ = split_at_uri(uri)
        except ParseError as exc:
            raise ParseError(f"{where}: `uri`: {exc}") from None
        if collection != POST_COLLECTION:
            raise ParseError(f"{where}: `uri` is not a post ({collection}).")
        _str(item, "cid", where)  # needed to reply: refuse a notification without it
        author = self._identity(_obj(item, "author", where), profiles, f"{where} author")
        record = _obj(item, "record", where)
        text = record.get("text")
        if not isinstance(text, str):
            raise ParseError(f"{where} record: `text` must be a string, got {_short(text)}.")
        posted_at = parse_timestamp(record.get("createdAt"), f"{where} record `createdAt`")

        in_reply_to, conversation_id = "", uri
        reply = record.get("reply")
        if reply is not None:
            reply_where = f"{where} record reply"
            if not isinstance(reply, dict):
                raise ParseError(f"{reply_where} must be an object, got {_short(reply)}.")
            in_reply_to = _str(_obj(reply, "parent", reply_where), "uri", f"{reply_where} parent")
            conversation_id = _str(_obj(reply, "root", reply_where), "uri", f"{reply_where} root")

        langs = record.get("langs")
        language = (
            langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else ""
        )
        return InboundPost(
            platform=PLATFORM,
            external_id=uri,
            author=author,
            kind="reply" if reason == "reply" else "mention",
            visibility="public",
            text=text.replace("\x00", ""),
            posted_at=posted_at,
            direction="outbound"
            if channel.account_id and author.external_id == channel.account_id
            else "inbound",
            url=post_url(handle_or_did(author.handle, author.external_id), uri),
            in_reply_to=in_reply_to,
            conversation_id=conversation_id,
            language=language[:16],
            attachments=self._attachments(text, record, author.external_id),
            raw=item,
        )

    def _identity(
        self,
        author: Mapping[str, Any],
        profiles: Mapping[str, Mapping[str, Any]],
        where: str,
    ) -> InboundIdentity:
        did = _str(author, "did", where)
        if not did.startswith("did:"):
            raise ParseError(f"{where}: `did` is not a DID: {_short(did)}.")
        profile = profiles.get(did, {})
        handle = _opt_str(author, "handle", where) or _opt_str(profile, "handle", where)
        verification = author.get("verification") or profile.get("verification")
        verified = None
        if isinstance(verification, dict) and verification.get("verifiedStatus") == "valid":
            verified = True
        return InboundIdentity(
            platform=PLATFORM,
            external_id=did,
            handle=handle,
            display_name=_opt_str(author, "displayName", where)
            or _opt_str(profile, "displayName", where),
            profile_url=f"{WEB}/profile/{handle_or_did(handle, did)}",
            avatar_url=_opt_str(author, "avatar", where) or _opt_str(profile, "avatar", where),
            followers_count=nonneg_int(profile.get("followersCount")),
            platform_verified=verified,
        )

    def _attachments(
        self, text: str, record: Mapping[str, Any], did: str
    ) -> tuple[dict[str, Any], ...]:
        """Links (full URIs from link facets: the text often shows them shortened), images and
        quoted posts. Decoration only: malformed facets or embeds are skipped, not fatal."""
        attachments: list[dict[str, Any]] = []
        seen: set[str] = set()

        def add(kind: str, url: Any, **extra: Any) -> None:
            if isinstance(url, str) and url and url not in seen:
                seen.add(url)
                attachments.append({"type": kind, "url": url, **extra})

        encoded = text.encode("utf-8")
        facets = record.get("facets")
        for facet in facets if isinstance(facets, list) else ():
            if not isinstance(facet, dict):
                continue
            index, features = facet.get("index"), facet.get("features")
            if not isinstance(index, dict) or not isinstance(features, list):
                continue
            start, end = index.get("byteStart"), index.get("byteEnd")
            anchor = ""
            if (
                isinstance(start, int)
                and isinstance(end, int)
                and not isinstance(start, bool)
                and not isinstance(end, bool)
                and 0 <= start < end <= len(encoded)
            ):  # facet offsets count UTF-8 bytes, not characters
                anchor = encoded[start:end].decode("utf-8", errors="replace")
            for feature in features:
                if isinstance(feature, dict) and feature.get("$type") == (
                    "app.bsky.richtext.facet#link"
                ):
                    add("link", feature.get("uri"), text=anchor)

        self._embed(record.get("embed"), did, add)
        return tuple(attachments)

    def _embed(self, embed: Any, did: str, add: Any) -> None:
        if not isinstance(embed, dict):
            return
        kind = embed.get("$type")
        if kind == "app.bsky.embed.images":
            images = embed.get("images")
            for image in images if isinstance(images, list) else ():
                if not isinstance(image, dict) or not isinstance(image.get("image"), dict):
                    continue
                blob = image["image"]
                ref = blob.get("ref")
                cid = ref.get("$link") if isinstance(ref, dict) else blob.get("cid")
                if isinstance(cid, str) and cid:
                    alt = image.get("alt")
                    add("image", f"{CDN}/{did}/{cid}@jpeg", alt=alt if isinstance(alt, str) else "")
        elif kind == "app.bsky.embed.external":
            external = embed.get("external")
            if isinstance(external, dict):
                title = external.get("title")
                add("link", external.get("uri"), text=title if isinstance(title, str) else "")
        elif kind == "app.bsky.embed.record":
            quoted = embed.get("record")
            if isinstance(quoted, dict):
                add("quote", quoted.get("uri"))
        elif kind == "app.bsky.embed.recordWithMedia":
            self._embed(embed.get("media"), did, add)
            record = embed.get("record")
            if isinstance(record, dict):
                self._embed({"$type": "app.bsky.embed.record", **record}, did, add)
