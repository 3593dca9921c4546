"""``FakePlatformAPI``: Mastodon's and Bluesky's APIs on 127.0.0.1, serving what the simulator
generated to the real adapters during a run."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from socialcare.simulator.polled_payloads import _iso_ms
from socialcare.simulator.targets import FAKE_PREFIX, SimPost, Target


@dataclass
class _FakeChannel:
    target: Target
    items: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    served: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)
    last_indexed_ms: int = 0


class FakePlatformAPI:
    """Mastodon's and Bluesky's APIs for the run, on ``127.0.0.1`` and a free port.

    Each polled channel gets a base URL of its own, ``<url>/socialcare-simulator/<platform>/<id>``,
    under which the endpoints the adapters call answer as the platforms do:

    * Mastodon ``GET /api/v1/notifications`` (bearer token = the channel's ``access_token``;
      ``types[]``, ``limit``, ``min_id``, ``since_id``, ``max_id``; newest first; ``Link`` header);
    * Bluesky ``POST /xrpc/com.atproto.server.createSession`` (identifier = handle or DID,
      password = ``access_token``), ``GET /xrpc/app.bsky.notification.listNotifications``
      (``limit``, ``reasons``, ``cursor``; newest first) and ``GET /xrpc/app.bsky.actor.getProfiles``.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.channels: dict[tuple[str, str], _FakeChannel] = {}
        self.requests = 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload, extra = api.answer(self.command, self.path, self.headers, body)
                data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def __enter__(self) -> FakePlatformAPI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def base_url(self, target: Target) -> str:
        return f"{self.url}{FAKE_PREFIX}/{target.platform}/{target.channel_id}"

    def add(self, target: Target) -> str:
        """Serve ``target``'s notifications; returns the base URL to give its channel."""
        with self.lock:
            self.channels[(target.platform, str(target.channel_id))] = _FakeChannel(target)
        return self.base_url(target)

    def publish(self, post: SimPost) -> None:
        """Make ``post``'s notification visible to the next poll."""
        target = post.target
        item = dict(post.item or {})
        with self.lock:
            channel = self.channels[(target.platform, str(target.channel_id))]
            if target.platform == "bluesky":
                # indexedAt orders notifications and is the adapter's cursor: strictly increasing.
                ms = max(int(self.clock() * 1000), channel.last_indexed_ms + 1)
                channel.last_indexed_ms = ms
                item["indexedAt"] = _iso_ms(ms)
                if post.profile:
                    channel.profiles[post.profile["did"]] = dict(post.profile)
            channel.items.append(item)

    def pending(self) -> int:
        """Published notifications no poll has fetched yet."""
        with self.lock:
            return sum(len(c.items) - len(c.served) for c in self.channels.values())

    def fetched(self) -> int:
        """Published notifications polls have fetched."""
        with self.lock:
            return sum(len(c.served) for c in self.channels.values())

    # Serving -----------------------------------------------------------------------------------
    def answer(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        """One request, as the platform answers it: (status, JSON document, extra headers)."""
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query)
        segments = parts.path.split("/")
        # "", "socialcare-simulator", platform, channel id, rest...
        if len(segments) < 5 or "/" + segments[1] != FAKE_PREFIX:
            return 404, {"error": "Not found"}, {}
        key = (segments[2], segments[3])
        rest = "/" + "/".join(segments[4:])
        with self.lock:
            self.requests += 1
            channel = self.channels.get(key)
            if channel is None:
                return 404, {"error": "Not found"}, {}
            if key[0] == "mastodon":
                return self._mastodon(channel, method, rest, query, headers)
            return self._bluesky(channel, method, rest, query, headers, body)

    def _mastodon(
        self,
        channel: _FakeChannel,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
    ) -> tuple[int, Any, dict[str, str]]:
        if (method, path) != ("GET", "/api/v1/notifications"):
            return 404, {"error": "Record not found"}, {}
        if headers.get("Authorization") != f"Bearer {channel.target.access_token}":
            return 401, {"error": "The access token is invalid"}, {}
        try:
            limit = max(1, min(80, int((query.get("limit") or ["40"])[0])))
        except ValueError:
            return 422, {"error": "limit must be a number"}, {}
        types = set(query.get("types[]") or [])
        items = [i for i in channel.items if not types or i["type"] in types]  # oldest first

        def newer(bound: str) -> list[dict[str, Any]]:
            return [i for i in items if _mastodon_key(i["id"]) > _mastodon_key(bound)]

        if query.get("min_id"):  # the page immediately newer than min_id
            page = newer(query["min_id"][0])[:limit]
        elif query.get("since_id"):  # the newest page, but nothing older than since_id
            page = newer(query["since_id"][0])[-limit:]
        elif query.get("max_id"):
            bound = _mastodon_key(query["max_id"][0])
            page = [i for i in items if _mastodon_key(i["id"]) < bound][-limit:]
        else:
            page = items[-limit:]
        page = list(reversed(page))  # newest first
        channel.served.update(_item_key(item) for item in page)
        extra = {}
        if page:
            base = self.base_url(channel.target) + "/api/v1/notifications?"
            newest, oldest = page[0]["id"], page[-1]["id"]
            extra["Link"] = (
                f'<{base}{urlencode({"types[]": "mention", "max_id": oldest})}>; rel="next", '
                f'<{base}{urlencode({"types[]": "mention", "min_id": newest})}>; rel="prev"'
            )
        return 200, page, extra

    def _bluesky(
        self,
        channel: _FakeChannel,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> tuple[int, Any, dict[str, str]]:
        target = channel.target
        if (method, path) == ("POST", "/xrpc/com.atproto.server.createSession"):
            try:
                login = json.loads(body or b"{}")
            except ValueError:
                return 400, {"error": "InvalidRequest", "message": "Body is not JSON"}, {}
            identifiers = {target.brand_handle, target.account_id}
            if (
                login.get("identifier") not in identifiers
                or login.get("password") != target.access_token
            ):
                return (
                    401,
                    {
                        "error": "AuthenticationRequired",
                        "message": "Invalid identifier or password",
                    },
                    {},
                )
            token = (
                "sim-"
                + hashlib.sha256(f"{target.channel_id}:{len(channel.tokens)}".encode()).hexdigest()[
                    :32
                ]
            )
            channel.tokens.add(token)
            session = {
                "did": target.account_id,
                "handle": target.brand_handle,
                "accessJwt": token,
                "refreshJwt": token + "-refresh",
                "active": True,
            }
            return 200, session, {}
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in channel.tokens:
            return (
                401,
                {"error": "AuthenticationRequired", "message": "Authentication Required"},
                {},
            )
        if (method, path) == ("GET", "/xrpc/app.bsky.notification.listNotifications"):
            try:
                limit = max(1, min(100, int((query.get("limit") or ["50"])[0])))
            except ValueError:
                return 400, {"error": "InvalidRequest", "message": "limit must be an integer"}, {}
            reasons = set(query.get("reasons") or [])
            items = [i for i in reversed(channel.items) if not reasons or i["reason"] in reasons]
            cursor = (query.get("cursor") or [""])[0]
            if cursor:  # older than the cursor (the last indexedAt of the previous page)
                items = [i for i in items if i["indexedAt"] < cursor]
            page = items[:limit]
            channel.served.update(_item_key(item) for item in page)
            answer: dict[str, Any] = {"notifications": page, "priority": False}
            if page:
                answer["cursor"] = page[-1]["indexedAt"]
                answer["seenAt"] = page[-1]["indexedAt"]
            return 200, answer, {}
        if (method, path) == ("GET", "/xrpc/app.bsky.actor.getProfiles"):
            actors = query.get("actors") or []
            if not actors or len(actors) > 25:
                return 400, {"error": "InvalidRequest", "message": "actors: 1 to 25 items"}, {}
            profiles = [channel.profiles[a] for a in actors if a in channel.profiles]
            return 200, {"profiles": profiles}, {}
        return 501, {"error": "MethodNotImplemented", "message": "Method Not Implemented"}, {}


def _mastodon_key(value: str) -> tuple[int, str]:
    return (len(value), value)


def _item_key(item: Mapping[str, Any]) -> str:
    return str(item.get("id") or item.get("uri"))
