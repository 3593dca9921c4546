"""Notifications of the polled platforms, as their APIs serve them: Mastodon mentions (with the
account and status) and Bluesky mentions (with the author's profile)."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
from typing import Any

from socialcare.simulator.crowd import _HASHTAG, Persona, _b32, _stable_int
from socialcare.simulator.targets import SimPost, Target, _Draft


class PolledPayloads:
    """The Mastodon and Bluesky builders of ``Simulator`` (which provides ``_tick`` and ``_post``)."""

    # Mastodon: notifications -------------------------------------------------------------------------
    def _mastodon_account(self, target: Target, persona: Persona) -> dict[str, Any]:
        username = persona.handle_on("mastodon")
        server = persona.server or target.home
        url = f"https://{server}/@{username}"
        return {
            "id": persona.user_id("mastodon"),
            "username": username,
            "acct": username if server == target.home else f"{username}@{server}",
            "display_name": persona.name,
            "locked": False,
            "bot": False,
            "discoverable": True,
            "group": False,
            "created_at": "2022-11-07T00:00:00.000Z",
            "note": "",
            "url": url,
            "uri": f"https://{server}/users/{username}",
            "avatar": f"https://{server}/avatars/original/missing.png",
            "avatar_static": f"https://{server}/avatars/original/missing.png",
            "header": f"https://{server}/headers/original/missing.png",
            "header_static": f"https://{server}/headers/original/missing.png",
            "followers_count": persona.followers,
            "following_count": _stable_int("following", persona.key, digits=3) % 700,
            "statuses_count": _stable_int("statuses", persona.key, digits=4),
            "last_status_at": None,
            "emojis": [],
            "fields": [],
        }

    def _mastodon(self, target: Target, draft: _Draft) -> tuple[SimPost, dict[str, Any]]:
        ms, seq = self._tick()
        notification_id = str((ms << 16) | (2 * seq % 65536))
        local_id = str((ms << 16) | ((2 * seq + 1) % 65536))
        persona = draft.persona
        account = self._mastodon_account(target, persona)
        server = persona.server or target.home
        username = account["username"]
        remote_id = (
            local_id
            if server == target.home
            else str(_stable_int("status", server, local_id, digits=18))
        )
        brand = target.brand_handle
        brand_url = f"https://{target.home}/@{brand}"
        parent = draft.parent.data if draft.parent else None

        mentions_html = [_h_card(brand_url, brand)]
        mentions = [{"id": target.account_id, "username": brand, "url": brand_url, "acct": brand}]
        if parent and parent["account_id"] != account["id"]:
            mentions_html.insert(0, _h_card(parent["url"], parent["username"]))
            mentions.insert(0, {"id": parent["account_id"], "username": parent["username"],
                                "url": parent["url"], "acct": parent["acct"]})  # fmt: skip
        body_html = _mastodon_html(draft.text, server)
        content = "<p>" + " ".join(mentions_html) + " " + body_html + "</p>"
        created = _iso_ms(ms - 150)
        status = {
            "id": local_id,
            "created_at": created,
            "in_reply_to_id": parent["local_id"] if parent else None,
            "in_reply_to_account_id": parent["account_id"] if parent else None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": "direct" if draft.private else "public",
            "language": persona.lang,
            "uri": f"https://{server}/users/{username}/statuses/{remote_id}",
            "url": f"https://{server}/@{username}/{remote_id}",
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "edited_at": None,
            "content": content,
            "reblog": None,
            "application": {"name": "Web", "website": None} if server == target.home else None,
            "account": account,
            "media_attachments": [],
            "mentions": mentions,
            "tags": [
                {"name": t.lower(), "url": f"https://{server}/tags/{t.lower()}"}
                for t in _HASHTAG.findall(draft.text)
            ],
            "emojis": [],
            "card": None,
            "poll": None,
        }
        item = {
            "id": notification_id,
            "type": "mention",
            "created_at": _iso_ms(ms),
            "account": account,
            "status": status,
        }
        kind = "direct_message" if draft.private else ("reply" if parent else "mention")
        post = self._post(
            target,
            draft,
            kind=kind,
            text=" ".join(f"@{m['username']}" for m in mentions) + " " + draft.text,
            external_id=status["uri"],
            item=item,
        )
        data = {"local_id": local_id, "account_id": account["id"], "username": username,
                "acct": account["acct"], "url": account["url"]}  # fmt: skip
        return post, data

    # Bluesky: notifications with profiles ----------------------------------------------------------------
    def _bluesky(self, target: Target, draft: _Draft) -> tuple[SimPost, dict[str, Any]]:
        ms, seq = self._tick()
        persona = draft.persona
        did, handle = persona.user_id("bluesky"), persona.handle_on("bluesky")
        tid = _tid(ms * 1000 + seq % 1000, _stable_int("clock", persona.key, digits=4) % 1024)
        uri = f"at://{did}/app.bsky.feed.post/{tid}"
        cid = "bafyrei" + _b32(hashlib.sha256(uri.encode()).digest())[:52]
        brand = target.brand_handle
        parent = draft.parent.data if draft.parent else None
        mention_names = []
        if parent and parent["did"] != did:
            mention_names.append((parent["handle"], parent["did"]))
        mention_names.append((brand, target.account_id))
        text = "".join(f"@{name} " for name, _ in mention_names) + draft.text
        facets = []
        for name, mention_did in mention_names:
            start = text.index(f"@{name}")
            facets.append({
                "index": _byte_span(text, start, start + len(name) + 1),
                "features": [{"$type": "app.bsky.richtext.facet#mention", "did": mention_did}],
            })  # fmt: skip
        for match in _HASHTAG.finditer(text):
            facets.append({
                "index": _byte_span(text, match.start(), match.end()),
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": match.group(1)}],
            })  # fmt: skip
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": _iso_ms(ms - 300, micro=True),
            "facets": facets,
            "langs": [persona.lang],
        }
        if parent:
            record["reply"] = {
                "root": {"uri": parent["root_uri"], "cid": parent["root_cid"]},
                "parent": {"uri": parent["uri"], "cid": parent["cid"]},
            }
        avatar = f"https://cdn.bsky.app/img/avatar/plain/{did}/{cid[-20:]}@jpeg"
        author = {"did": did, "handle": handle, "displayName": persona.name, "avatar": avatar,
                  "labels": [], "createdAt": "2023-05-01T12:00:00.000Z"}  # fmt: skip
        item = {
            "uri": uri,
            "cid": cid,
            "author": author,
            "reason": "mention",  # a mention of the brand (also in a thread: a reply to a customer)
            "record": record,
            "isRead": False,
            "indexedAt": _iso_ms(ms),  # replaced by the fake API when it is published
            "labels": [],
        }
        profile = {
            **{k: v for k, v in author.items() if k != "labels"},
            "description": "",
            "followersCount": persona.followers,
            "followsCount": _stable_int("follows", persona.key, digits=3) % 800,
            "postsCount": _stable_int("posts", persona.key, digits=4),
            "indexedAt": "2024-01-01T00:00:00.000Z",
            "labels": [],
        }
        post = self._post(
            target, draft, kind="mention", text=text, external_id=uri, item=item, profile=profile
        )
        root_uri, root_cid = (parent["root_uri"], parent["root_cid"]) if parent else (uri, cid)
        data = {
            "uri": uri,
            "cid": cid,
            "did": did,
            "handle": handle,
            "root_uri": root_uri,
            "root_cid": root_cid,
        }
        return post, data


def _iso_ms(ms: int, *, micro: bool = False) -> str:
    when = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return when.isoformat(timespec="microseconds" if micro else "milliseconds").replace(
        "+00:00", "Z"
    )


def _h_card(url: str, username: str) -> str:
    return (
        f'<span class="h-card" translate="no"><a href="{html.escape(url)}" class="u-url mention">'
        f"@<span>{html.escape(username)}</span></a></span>"
    )


def _mastodon_html(text: str, server: str) -> str:
    """Text as Mastodon renders it: entities as Mastodon writes them, hashtags linked."""
    parts, position = [], 0
    for match in _HASHTAG.finditer(text):
        parts.append(_mastodon_escape(text[position : match.start()]))
        tag = match.group(1)
        parts.append(
            f'<a href="https://{server}/tags/{html.escape(tag.lower())}" class="mention hashtag" '
            f'rel="tag">#<span>{html.escape(tag)}</span></a>'
        )
        position = match.end()
    parts.append(_mastodon_escape(text[position:]))
    return "<br />".join("".join(parts).split("\n"))


def _mastodon_escape(text: str) -> str:
    return html.escape(text, quote=False).replace('"', "&quot;").replace("'", "&#39;")


def _byte_span(text: str, start: int, end: int) -> dict[str, int]:
    return {"byteStart": len(text[:start].encode()), "byteEnd": len(text[:end].encode())}


def _tid(micros: int, clock_id: int) -> str:
    """An AT Protocol record key (TID): 13 base32-sortable characters."""
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    value = (micros << 10) | clock_id
    chars = []
    for _ in range(13):
        value, digit = divmod(value, 32)
        chars.append(alphabet[digit])
    return "".join(reversed(chars))
