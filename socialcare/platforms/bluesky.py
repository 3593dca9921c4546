"""Bluesky (AT Protocol): mentions, replies and quotes are polled from
``app.bsky.notification.listNotifications``; replies are ``app.bsky.feed.post`` records and
private messages go through the chat service (``chat.bsky.convo.*``).

Identity: a post's id is its at-URI; an account's stable id is its DID (handles change).

Auth: the channel's ``access_token`` secret is an app password (with direct-message access for
private replies). A session from ``com.atproto.server.createSession`` (identifier = the channel
handle, else its DID) is kept in memory per worker process until its access token is about to
expire, because Bluesky allows only 30 logins per 5 minutes (300 a day) per account; an answer
of 401 drops it and the call is tried once more with a fresh session.

Polling: ``listNotifications`` pages *backwards* in time (newest first; its ``cursor`` leads to
older pages), so the channel cursor is the newest ``indexedAt`` seen. A poll reads pages until it
reaches a notification at or before that time (at most ``MAX_PAGES`` pages; the first run reads
only the latest page), keeps reasons mention/reply/quote, then fetches the authors' follower
counts with ``app.bsky.actor.getProfiles`` (25 actors a call). The polled body is::

    {"notifications": [<listNotifications notification, verbatim>, ...],
     "profiles": [<getProfiles profileViewDetailed, verbatim>, ...]}

``parse`` reads that shape and the plain ``listNotifications`` answer alike.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

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

logger = logging.getLogger("socialcare.platforms.bluesky")

PLATFORM = "bluesky"
DEFAULT_BASE_URL = "https://bsky.social"
CHAT_PROXY = "did:web:api.bsky.chat#bsky_chat"
POST_COLLECTION = "app.bsky.feed.post"
REASONS = ("mention", "reply", "quote")
PAGE_LIMIT = 50
#: Pages read per poll when catching up (2,000 notifications between two one-minute polls).
#: A burst larger than that loses its oldest notifications; the poll logs a warning.
MAX_PAGES = 40
#: ``app.bsky.actor.getProfiles`` accepts at most 25 actors.
PROFILES_PER_CALL = 25
CDN = "https://cdn.bsky.app/img/feed_fullsize/plain"
WEB = "https://bsky.app"

_URL_RE = re.compile(r"https?://[^\s<>\"]+")


# Field access with readable errors ----------------------------------------------------------------


def _timestamp(value: Any, where: str) -> dt.datetime:
    if not isinstance(value, str) or not value:
        raise ParseError(f"{where} must be an ISO timestamp string, got {_short(value)}.")
    try:
        return from_iso(value)
    except ParseError as exc:
        raise ParseError(f"{where}: {exc}") from None
    except OverflowError:
        raise ParseError(f"{where} is out of range: {_short(value)}.") from None


def _maybe_timestamp(value: Any) -> dt.datetime | None:
    try:
        return _timestamp(value, "timestamp")
    except ParseError:
        return None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def split_at_uri(uri: str) -> tuple[str, str, str]:
    """``at://<authority>/<collection>/<rkey>`` → its three parts (ParseError otherwise)."""
    parts = uri[len("at://") :].split("/") if uri.startswith("at://") else []
    if len(parts) != 3 or not all(parts):
        raise ParseError(f"Not a record at-URI: {_short(uri)}.")
    return parts[0], parts[1], parts[2]


def post_url(handle_or_did: str, uri: str) -> str:
    _, _, rkey = split_at_uri(uri)
    return f"{WEB}/profile/{handle_or_did}/post/{rkey}"


def _handle_or_did(handle: str, did: str) -> str:
    return handle if handle and handle != "handle.invalid" else did


# HTTP ---------------------------------------------------------------------------------------------
def _request(
    client: httpx.Client, method: str, url: str, what: str, **kwargs: Any
) -> httpx.Response:
    """One XRPC call with the adapter error mapping: 429 → ``RateLimited``, 5xx and network
    failures → ``TransientSendError``, other refusals (4xx: bad password, expired or
    under-scoped token, unknown record) → ``SendError`` carrying the XRPC error."""
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise TransientSendError(f"{what}: timed out ({exc}).", retry_after=30) from exc
    except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as exc:
        raise TransientSendError(f"{what}: connection failed ({exc}).", retry_after=30) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise SendError(f"{what}: cannot make the request ({exc}).") from exc
    if response.status_code == 401 and not url.endswith("com.atproto.server.createSession"):
        raise SessionRefused(f"{what}: the session was refused (401).")
    try:
        raise_for_send_status(response)
    except TransientSendError as exc:  # RateLimited included: keep the class and the delay
        raise type(exc)(f"{what}: {exc}", retry_after=exc.retry_after) from None
    except SendError as exc:
        raise SendError(f"{what}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise SendError(f"{what}: unexpected HTTP {response.status_code}.")
    return response


def _json_object(
    response: httpx.Response, what: str, error: type[Exception] = SendError
) -> Mapping[str, Any]:
    """The answer's JSON object; ``error`` (``SendError`` when sending, ``ParseError`` when
    polling) if it is anything else."""
    try:
        data = load_json(response.content)
    except ParseError as exc:
        raise error(f"{what}: unexpected answer: {exc}") from None
    if not isinstance(data, dict):
        raise error(f"{what}: expected a JSON object, got {type(data).__name__}.")
    return data


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _byte_span(text: str, start: int, end: int) -> dict[str, int]:
    return {"byteStart": len(text[:start].encode()), "byteEnd": len(text[:end].encode())}


class SessionRefused(SendError):
    """A call was refused with 401: the kept session expired or was revoked."""


#: Sessions kept per (base URL, identifier, password hash): (session, expires at, epoch s).
_SESSIONS: dict[tuple[str, str, str], tuple[_Session, float]] = {}
_SESSIONS_LOCK = threading.Lock()
#: Used when an access token's expiry cannot be read; AT Protocol access tokens live ~2 hours.
DEFAULT_SESSION_SECONDS = 15 * 60


def _expiry(access_jwt: str) -> float:
    """When to stop using an access token: a minute before its ``exp`` claim."""
    try:
        payload = access_jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"]) - 60
    except (IndexError, ValueError, KeyError, TypeError):
        return time.time() + DEFAULT_SESSION_SECONDS


def forget_session(session: _Session | None = None) -> None:
    """Drop one kept session (or all of them)."""
    with _SESSIONS_LOCK:
        if session is None:
            _SESSIONS.clear()
        elif getattr(session, "key", None) in _SESSIONS:
            del _SESSIONS[session.key]


class _Session:
    key: tuple[str, str, str] | None = None

    def __init__(self, base: str, access_jwt: str, did: str, handle: str) -> None:
        self.base = base
        self.did = did
        self.handle = handle
        self.headers = {"Authorization": f"Bearer {access_jwt}", "Accept": "application/json"}

    def url(self, nsid: str) -> str:
        return f"{self.base}/xrpc/{nsid}"


class BlueskyAdapter:
    platforms: ClassVar[tuple[str, ...]] = (PLATFORM,)
    receives_webhooks: ClassVar[bool] = False

    # Webhooks: Bluesky is polled -------------------------------------------------------------
    def verify_signature(
        self, body: bytes, headers: Mapping[str, str], channel: ChannelConfig
    ) -> bool:
        return False

    def answer_challenge(
        self, params: Mapping[str, str], channel: ChannelConfig
    ) -> Challenge | None:
        return None

    # Session ---------------------------------------------------------------------------------
    def _session(self, channel: ChannelConfig, client: httpx.Client) -> _Session:
        base = (channel.base_url.strip() or DEFAULT_BASE_URL).rstrip("/")
        password = channel.secret("access_token")
        identifier = channel.handle.strip().lstrip("@") or channel.account_id.strip()
        if not password or not identifier:
            raise SendError(
                "Bluesky: the channel needs a handle or DID and an app password in its "
                "`access_token` secret."
            )
        key = (base, identifier, hashlib.sha256(password.encode()).hexdigest())
        with _SESSIONS_LOCK:
            cached = _SESSIONS.get(key)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        what = "Bluesky com.atproto.server.createSession"
        response = _request(
            client,
            "POST",
            f"{base}/xrpc/com.atproto.server.createSession",
            what,
            json={"identifier": identifier, "password": password},
        )
        data = _json_object(response, what)
        access, did = data.get("accessJwt"), data.get("did")
        if not isinstance(access, str) or not access or not isinstance(did, str) or not did:
            raise SendError(f"{what}: the answer has no accessJwt/did.")
        handle = data.get("handle")
        session = _Session(base, access, did, handle if isinstance(handle, str) else "")
        with _SESSIONS_LOCK:
            _SESSIONS[key] = (session, _expiry(access))
            session.key = key
        return session

    def _with_session(self, channel: ChannelConfig, client: httpx.Client, call: Any) -> Any:
        """``call(session)``, once more with a fresh session if the kept one was refused."""
        session = self._session(channel, client)
        try:
            return call(session)
        except SessionRefused:
            forget_session(session)
            return call(self._session(channel, client))

    # Polling -----------------------------------------------------------------------------------
    def poll(self, channel: ChannelConfig, client: httpx.Client) -> PollPage:
        """New mentions, replies and quotes since ``channel.cursor`` (newest ``indexedAt`` seen),
        with their authors' profiles, as one page; ``has_more`` is always false."""
        return self._with_session(channel, client, lambda s: self._poll(s, channel, client))

    def _poll(self, session: _Session, channel: ChannelConfig, client: httpx.Client) -> PollPage:
        since = _maybe_timestamp(channel.cursor) if channel.cursor else None
        newest_at, newest = since, channel.cursor if since else ""
        kept: list[Mapping[str, Any]] = []
        seen_uris: set[str] = set()
        page_cursor = ""
        what = "Bluesky app.bsky.notification.listNotifications"
        pages = MAX_PAGES if since else 1
        for page_number in range(1, pages + 1):
            params: list[tuple[str, str | int]] = [("limit", PAGE_LIMIT)]
            params += [("reasons", reason) for reason in REASONS]
            if page_cursor:
                params.append(("cursor", page_cursor))
            response = _request(
                client,
                "GET",
                session.url("app.bsky.notification.listNotifications"),
                what,
                params=params,
                headers=session.headers,
            )
            data = _json_object(response, what, ParseError)
            notifications = data.get("notifications")
            if not isinstance(notifications, list):
                raise ParseError(f"{what}: the answer has no `notifications` list.")
            reached_seen = False
            for item in notifications:
                if not isinstance(item, dict):
                    continue
                indexed_at = _maybe_timestamp(item.get("indexedAt"))
                if indexed_at is None:
                    continue  # unparseable: skip rather than fail every poll on it
                if since is not None and indexed_at <= since:
                    reached_seen = True
                    continue
                if newest_at is None or indexed_at > newest_at:
                    newest_at, newest = indexed_at, item["indexedAt"]
                uri = item.get("uri") if isinstance(item.get("uri"), str) else ""
                if item.get("reason") in REASONS and (not uri or uri not in seen_uris):
                    seen_uris.add(uri)
                    kept.append(item)
            next_cursor = data.get("cursor")
            if reached_seen or not notifications or not isinstance(next_cursor, str):
                break
            if not next_cursor or next_cursor == page_cursor:
                break
            if page_number == pages and since is not None:
                logger.warning(
                    "Bluesky: more than %s notifications since %s; older ones were not fetched.",
                    pages * PAGE_LIMIT,
                    channel.cursor,
                )
            page_cursor = next_cursor

        profiles = self._profiles(session, client, kept)
        document = {"notifications": kept, "profiles": profiles}
        try:
            body = json.dumps(document, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate escape: keep it escaped, parse replaces it
            body = json.dumps(document).encode("ascii")
        return PollPage(body=body, cursor=newest, has_more=False)

    def _profiles(
        self, session: _Session, client: httpx.Client, notifications: list[Mapping[str, Any]]
    ) -> list[Mapping[str, Any]]:
        dids: list[str] = []
        for item in notifications:
            author = item.get("author")
            did = author.get("did") if isinstance(author, dict) else None
            if isinstance(did, str) and did and did not in dids:
                dids.append(did)
        profiles: list[Mapping[str, Any]] = []
        what = "Bluesky app.bsky.actor.getProfiles"
        for chunk in _chunks(dids, PROFILES_PER_CALL):
            response = _request(
                client,
                "GET",
                session.url("app.bsky.actor.getProfiles"),
                what,
                params=[("actors", did) for did in chunk],
                headers=session.headers,
            )
            found = _json_object(response, what, ParseError).get("profiles")
            if isinstance(found, list):
                profiles.extend(
                    p
                    for p in found
                    if isinstance(p, dict) and isinstance(p.get("did"), str) and p["did"]
                )
        return profiles

    # Parsing -----------------------------------------------------------------------------------
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
        posted_at = _timestamp(record.get("createdAt"), f"{where} record `createdAt`")

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
            url=post_url(_handle_or_did(author.handle, author.external_id), uri),
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
            profile_url=f"{WEB}/profile/{_handle_or_did(handle, did)}",
            avatar_url=_opt_str(author, "avatar", where) or _opt_str(profile, "avatar", where),
            followers_count=_count(profile.get("followersCount")),
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

    # Sending -------------------------------------------------------------------------------------
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
        for match in _URL_RE.finditer(text):
            url = match.group().rstrip(".,;:!?)]}'")
            facets.append(
                {
                    "index": _byte_span(text, match.start(), match.start() + len(url)),
                    "features": [{"$type": "app.bsky.richtext.facet#link", "uri": url}],
                }
            )
        handle = message.recipient_handle.strip().lstrip("@")
        if handle and message.recipient.startswith("did:"):
            match = re.search(rf"(?<![\w.])@{re.escape(handle)}(?![\w.-])", text, re.IGNORECASE)
            if match:
                facets.append(
                    {
                        "index": _byte_span(text, match.start(), match.end()),
                        "features": [
                            {"$type": "app.bsky.richtext.facet#mention", "did": message.recipient}
                        ],
                    }
                )
        return facets

    def _send_reply(
        self,
        session: _Session,
        message: OutboundMessage,
        parent: dict[str, str],
        root: dict[str, str],
        client: httpx.Client,
    ) -> SentPost:
        created_at = _now_iso()
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
        response = _request(
            client,
            "POST",
            session.url("com.atproto.repo.createRecord"),
            what,
            json={"repo": session.did, "collection": POST_COLLECTION, "record": record},
            headers=session.headers,
        )
        uri = _json_object(response, what).get("uri")
        if not isinstance(uri, str) or not uri.startswith("at://"):
            # No idempotency on createRecord: the post may exist, so never retry blindly.
            raise SendError(f"{what}: the answer has no at-URI; the post may have been created.")
        try:
            url = post_url(_handle_or_did(session.handle, session.did), uri)
        except ParseError:
            url = ""
        return SentPost(external_id=uri, url=url, posted_at=from_iso(created_at))

    def _send_chat(
        self, session: _Session, message: OutboundMessage, client: httpx.Client
    ) -> SentPost:
        headers = {**session.headers, "atproto-proxy": CHAT_PROXY}
        what = "Bluesky chat.bsky.convo.getConvoForMembers"
        response = _request(
            client,
            "GET",
            session.url("chat.bsky.convo.getConvoForMembers"),
            what,
            params=[("members", session.did), ("members", message.recipient)],
            headers=headers,
        )
        convo = _json_object(response, what).get("convo")
        convo_id = convo.get("id") if isinstance(convo, dict) else None
        if not isinstance(convo_id, str) or not convo_id:
            raise SendError(f"{what}: the answer has no conversation id.")
        text_message: dict[str, Any] = {"text": message.text}
        facets = [f for f in self._facets(message) if "link" in f["features"][0]["$type"]]
        if facets:
            text_message["facets"] = facets
        what = "Bluesky chat.bsky.convo.sendMessage"
        response = _request(
            client,
            "POST",
            session.url("chat.bsky.convo.sendMessage"),
            what,
            json={"convoId": convo_id, "message": text_message},
            headers=headers,
        )
        sent = _json_object(response, what)
        message_id = sent.get("id")
        if not isinstance(message_id, str) or not message_id:
            raise SendError(f"{what}: the answer has no message id; it may have been sent.")
        return SentPost(
            external_id=f"bsky-chat:{convo_id}/{message_id}",
            url=f"{WEB}/messages/{convo_id}",
            local_id=message_id,
            posted_at=_maybe_timestamp(sent.get("sentAt")),
        )
