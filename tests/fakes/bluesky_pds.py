"""A Bluesky PDS (with the AppView behind it) as the atproto server code behaves: notifications,
profiles and posting, every request checked against the lexicons (``tests/fakes/lexicon.py``).

Sources (docs/ingestion.md, "Bluesky"; paths in github.com/bluesky-social/atproto):

- ``app.bsky.notification.listNotifications`` (``lexicons/app/bsky/notification/
  listNotifications.json``; ``packages/bsky/src/api/app/bsky/notification/listNotifications.ts``;
  ``packages/bsky/src/data-plane/server/routes/notifs.ts``): newest first by the notification's
  ``sortAt``, which for a post is ``least(createdAt, indexedAt)`` (``indexing/plugins/post.ts``);
  the answer's ``indexedAt`` *is* that ``sortAt`` (``packages/bsky/src/views/index.ts``). The
  cursor is the ``sortAt`` of the last row read, as an ISO timestamp, and the next page holds rows
  strictly older (``IsoSortAtKey``, ``db/pagination.ts``). ``reasons`` is applied *after* the
  rows are fetched, and ``fillPage`` (``packages/bsky/src/api/util.ts``) fetches again at most 10
  times to fill ``limit``: a page can come back empty with a cursor. ``priority`` unset means the
  account's "priority notifications" preference; true keeps only authors the account follows.
  ``seenAt`` is refused ("The seenAt parameter is unsupported").
- ``app.bsky.actor.getProfiles``: ``actors`` required, at most 25, handles or DIDs; unknown
  actors are left out of ``profiles``.
- ``com.atproto.repo.createRecord`` (``packages/pds/src/api/com/atproto/repo/createRecord.ts``,
  ``packages/pds/src/repo/prepare.ts``): ``repo`` must be the session's account (otherwise
  ``AuthenticationRequired``); ``record.$type`` must be the collection; a record of a known
  lexicon is validated and refused with "Invalid app.bsky.feed.post record: …"; a write costs
  3 points of 5,000 an hour and 35,000 a day.
- Rate limits (``packages/xrpc-server/src/rate-limiter-http.ts``; docs.bsky.app "Rate Limits"):
  every answer carries ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset`` (epoch
  seconds) and ``RateLimit-Policy`` (``<limit>;w=<seconds>``); past the limit, 429
  ``{"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}`` with ``Retry-After``.
  The PDS allows 3,000 requests per 5 minutes per IP (the default here).
- Errors are ``{"error": <name>, "message": ...}`` (``packages/xrpc-server/src/errors.ts``); a
  request that does not match the lexicon is 400 ``InvalidRequest``.

``com.atproto.server.createSession`` here is permissive (any number of logins); switch it off
with ``with_auth=False`` when the strict session fake (``tests/fakes/bluesky_auth.py``) serves
logins on the same server, and pass its token check as ``authorize``.

::

    pds = BlueskyPdsFake(platform_server, clock=clock)
    pds.post(author, "@acme.support my order", created_at=t, indexed_at=t + 600)  # indexed late
    pds.edit(uri, "@acme.support my order 12", at=t + 60)  # putRecord: re-indexed in place
    pds.likes(500, at=t)                  # noise the `reasons` filter drops after fetching
    pds.follow(did)                       # for `priority`
    pds.spend(2_990)                      # other clients used the rate limit
    pds.refusals                          # every 400 answered, with its message
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import hashlib
import itertools
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.lexicon import LEXICONS, LexiconError, StricterThanServer
from tests.platform_server import Answer, PlatformServer, Recorded

BRAND_DID = "did:plc:acmesupport000000000000"
BRAND_HANDLE = "acme.support"
#: The app password every channel of ``tests.ingest_helpers.make_channels`` stores.
PASSWORD = "test-token"
XRPC = "/xrpc/"
LIST = "app.bsky.notification.listNotifications"
PROFILES = "app.bsky.actor.getProfiles"
CREATE = "com.atproto.repo.createRecord"
SESSION = "com.atproto.server.createSession"
#: ``DEFAULT_FILL_PAGE_MAX_REQUESTS`` in packages/bsky/src/api/util.ts.
FILL_PAGE_REQUESTS = 10
TID_CHARS = "234567abcdefghijklmnopqrstuvwxyz"


def iso(epoch_ms: int) -> str:
    """JavaScript's ``Date.toISOString()``: milliseconds, ``Z``."""
    moment = dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def ms(epoch: float) -> int:
    return round(epoch * 1000)


def xrpc_error(status: int, error: str, message: str) -> Answer:
    return Answer(status, {"error": error, "message": message})


class Limit:
    """``points`` per ``seconds``, a window that opens with its first request."""

    def __init__(self, points: int, seconds: int) -> None:
        self.points, self.seconds = points, seconds
        self.start: float | None = None
        self.used = 0

    def _roll(self, now: float) -> None:
        if self.start is None or now >= self.start + self.seconds:
            self.start, self.used = now, 0

    def take(self, now: float, points: int = 1) -> bool:
        self._roll(now)
        if self.used + points > self.points:
            return False
        self.used += points
        return True

    def headers(self, now: float) -> dict[str, str]:
        self._roll(now)
        return {
            "RateLimit-Limit": str(self.points),
            "RateLimit-Remaining": str(max(self.points - self.used, 0)),
            "RateLimit-Reset": str(math.floor(self.start + self.seconds)),  # type: ignore[operator]
            "RateLimit-Policy": f"{self.points};w={self.seconds}",
        }

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil(self.start + self.seconds - now))  # type: ignore[operator]


@dataclass
class Notif:
    uri: str
    cid: str
    author: str
    reason: str
    record: dict[str, Any]
    sort_ms: int
    visible_ms: int  # when the AppView indexed it: not listed before
    reason_subject: str = ""
    seq: int = 0

    @property
    def key(self) -> tuple[int, int]:
        return (-self.sort_ms, self.seq)


@dataclass
class Profile:
    did: str
    handle: str
    display_name: str = ""
    followers: int = 0

    def view(self) -> dict[str, Any]:
        view: dict[str, Any] = {"did": self.did, "handle": self.handle, "labels": []}
        if self.display_name:
            view["displayName"] = self.display_name
        return view

    def detailed(self) -> dict[str, Any]:
        return {**self.view(), "followersCount": self.followers, "followsCount": 3,
                "postsCount": 12}  # fmt: skip


@dataclass
class BlueskyPdsFake:
    server: PlatformServer
    did: str = BRAND_DID
    handle: str = BRAND_HANDLE
    password: str = PASSWORD
    clock: Callable[[], float] = time.time
    #: The account's "priority notifications" preference, used when a call does not say.
    priority_notifications: bool = False
    #: Refuse unknown parameter names and values outside ``knownValues`` (lexicon.py).
    strict: bool = True
    with_auth: bool = True
    authorize: Callable[[Recorded], Answer | None] | None = None
    rate_limit: int = 3000
    rate_window: int = 300
    calls: dict[str, int] = field(default_factory=dict)
    refusals: list[tuple[str, str]] = field(default_factory=list)
    limited: int = 0
    #: listNotifications pages answered empty with a cursor (the `reasons` filter's doing).
    empty_pages: int = 0
    created: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: list[Notif] = []
        self.keys: list[tuple[int, int]] = []
        self.profiles: dict[str, Profile] = {}
        self.follows: set[str] = set()
        self.tokens: set[str] = set()
        self.limit = Limit(self.rate_limit, self.rate_window)
        self.writes = (Limit(5000, 3600), Limit(35000, 86400))
        self._seq = itertools.count(1)
        routes: list[tuple[str, str, Callable[[Recorded], Answer]]] = [
            ("GET", LIST, self._list),
            ("GET", PROFILES, self._profiles),
            ("POST", CREATE, self._create),
        ]
        if self.with_auth:
            routes.append(("POST", SESSION, self._session))
        for method, nsid, handler in routes:
            self.server.route(method, XRPC + nsid, self._guarded(nsid, handler))

    # The scenario ----------------------------------------------------------------------------
    def person(self, did: str, handle: str = "", followers: int = 10) -> Profile:
        profile = self.profiles.get(did)
        if profile is None:
            handle = handle or f"{did.rsplit(':', 1)[-1][:20]}.bsky.social"
            profile = self.profiles[did] = Profile(did, handle, followers=followers)
        return profile

    def follow(self, did: str) -> None:
        self.follows.add(did)

    def post(
        self,
        author: str,
        text: str,
        *,
        created_at: float,
        indexed_at: float | None = None,
        reason: str = "mention",
        reply_to: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A post by ``author`` that notifies the account; it is listed once ``indexed_at`` (by
        default ``created_at``) has passed, sorted at ``least(createdAt, indexedAt)``."""
        self.person(author)
        seq = next(self._seq)
        rkey = self._tid(seq)
        uri = f"at://{author}/app.bsky.feed.post/{rkey}"
        created_ms = ms(created_at)
        indexed_ms = ms(created_at if indexed_at is None else indexed_at)
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": iso(created_ms),
            "langs": ["en"],
        }
        if reply_to is not None:
            record["reply"] = {"root": reply_to, "parent": reply_to}
        notif = Notif(uri, self._cid(uri), author, reason, record,
                      min(created_ms, indexed_ms), indexed_ms, seq=seq)  # fmt: skip
        self._insert(notif)
        return self._view(notif)

    def edit(self, uri: str, text: str, *, at: float) -> dict[str, Any]:
        """The author rewrites a post's record (``com.atproto.repo.putRecord``: the protocol
        allows it; the Bluesky app offers no edit). The AppView re-indexes it as it does every
        update (``packages/bsky/src/data-plane/server/indexing/processor.ts``,
        ``updateRecord``): the old notification is deleted and one is made from the new record
        (``notifsForDelete`` in ``indexing/plugins/post.ts``) with a new CID, sorted again at
        ``least(createdAt, indexedAt)``: the unchanged ``createdAt``, where it was before."""
        with self.lock:
            index = next(i for i, row in enumerate(self.rows) if row.uri == uri)
            old = self.rows.pop(index)
            self.keys.pop(index)
        record = {**old.record, "text": text}
        cid = self._cid(f"{uri}#{text}")
        indexed_ms = ms(at)
        created_ms = ms(dt.datetime.fromisoformat(record["createdAt"].replace("Z", "+00:00"))
                        .timestamp())  # fmt: skip
        notif = Notif(uri, cid, old.author, old.reason, record, min(created_ms, indexed_ms),
                      indexed_ms, old.reason_subject, next(self._seq))  # fmt: skip
        self._insert(notif)
        return self._view(notif)

    def likes(self, count: int, *, at: float, spacing_ms: int = 1) -> None:
        """``count`` likes of the brand's post, the newest at ``at``: rows the ``reasons`` filter
        drops after they were fetched."""
        subject = f"at://{self.did}/app.bsky.feed.post/3kbrandpost22a"
        for n in range(count):
            author = f"did:plc:liker{n % 97:05d}"
            self.person(author)
            seq = next(self._seq)
            uri = f"at://{author}/app.bsky.feed.like/{self._tid(seq)}"
            sort_ms = ms(at) - n * spacing_ms
            record = {"$type": "app.bsky.feed.like", "subject": {"uri": subject,
                      "cid": self._cid(subject)}, "createdAt": iso(sort_ms)}  # fmt: skip
            self._insert(Notif(uri, self._cid(uri), author, "like", record, sort_ms, sort_ms,
                               subject, seq))  # fmt: skip

    def spend(self, points: int) -> None:
        """Other clients behind the same IP used ``points`` of the rate limit."""
        with self.lock:
            self.limit.take(self.clock(), 0)
            self.limit.used += points

    def _insert(self, notif: Notif) -> None:
        with self.lock:
            index = bisect.bisect(self.keys, notif.key)
            self.keys.insert(index, notif.key)
            self.rows.insert(index, notif)

    @staticmethod
    def _tid(seq: int) -> str:
        value, chars = 1_700_000_000_000_000 * 1024 + seq, []
        for _ in range(13):
            chars.append(TID_CHARS[value & 31])
            value >>= 5
        return "".join(reversed(chars))

    @staticmethod
    def _cid(uri: str) -> str:
        digest = base64.b32encode(hashlib.sha256(uri.encode()).digest()).decode().lower()
        return "bafyrei" + digest.rstrip("=")[:52]

    def _view(self, notif: Notif) -> dict[str, Any]:
        view: dict[str, Any] = {
            "uri": notif.uri,
            "cid": notif.cid,
            "author": self.person(notif.author).view(),
            "reason": notif.reason,
            "record": notif.record,
            "isRead": False,
            "indexedAt": iso(notif.sort_ms),  # the AppView answers the sortAt here
            "labels": [],
        }
        if notif.reason_subject:
            view["reasonSubject"] = notif.reason_subject
        return view

    # Every route: rate limit, auth --------------------------------------------------------------
    def _guarded(
        self, nsid: str, handler: Callable[[Recorded], Answer]
    ) -> Callable[[Recorded], Answer]:
        def respond(request: Recorded) -> Answer:
            with self.lock:
                now = self.clock()
                self.calls[nsid] = self.calls.get(nsid, 0) + 1
                allowed = self.limit.take(now)
                headers = self.limit.headers(now)
                if not allowed:
                    self.limited += 1
                    answer = xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded")
                    answer.headers.update(headers)
                    answer.headers["Retry-After"] = str(self.limit.retry_after(now))
                    return answer
            answer = self._authorized(nsid, request) or self._answer(nsid, handler, request)
            answer.headers.update(headers)
            return answer

        return respond

    def _authorized(self, nsid: str, request: Recorded) -> Answer | None:
        if nsid == SESSION:
            return None
        if not self.with_auth:
            if self.authorize is not None:
                return self.authorize(request)
            if request.headers.get("authorization", "").startswith("Bearer "):
                return None
        elif request.headers.get("authorization", "").removeprefix("Bearer ") in self.tokens:
            return None
        return xrpc_error(401, "AuthenticationRequired", "Authentication Required")

    def _answer(
        self, nsid: str, handler: Callable[[Recorded], Answer], request: Recorded
    ) -> Answer:
        try:
            return handler(request)
        except LexiconError as exc:
            self.refusals.append((nsid, str(exc)))
            return xrpc_error(400, exc.error, str(exc))

    # Routes ----------------------------------------------------------------------------------
    def _list(self, request: Recorded) -> Answer:
        params = LEXICONS.params(LIST, request.query, strict=self.strict)
        reasons = params.get("reasons")
        if self.strict and reasons:
            _, notification = LEXICONS.definition(LIST + "#notification")
            known = notification["properties"]["reason"]["knownValues"]
            unknown = [r for r in reasons if r not in known]
            if unknown:
                raise StricterThanServer(f"reasons {unknown} are not notification reasons")
        if "seenAt" in params:
            raise LexiconError("The seenAt parameter is unsupported")
        priority = params.get("priority", self.priority_notifications)
        limit = params["limit"]
        cursor = params.get("cursor")
        if cursor is not None and self._cursor_ms(cursor) is None:
            raise LexiconError("Malformed cursor")
        with self.lock:
            now = ms(self.clock())
            items, next_cursor = self._fetch(cursor, limit, priority, reasons, now)
            for _ in range(1, FILL_PAGE_REQUESTS):  # fillPage
                if not next_cursor or len(items) >= limit:
                    break
                previous = next_cursor
                more, next_cursor = self._fetch(next_cursor, limit - len(items), priority,
                                                reasons, now)  # fmt: skip
                items += more
                if next_cursor == previous:
                    next_cursor = None
            body: dict[str, Any] = {
                "notifications": [self._view(n) for n in items],
                "priority": priority,
            }
        if next_cursor:
            body["cursor"] = next_cursor
            self.empty_pages += not items
        return Answer(200, body)

    @staticmethod
    def _cursor_ms(cursor: str) -> int | None:
        try:
            moment = dt.datetime.fromisoformat(cursor.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return ms(moment.timestamp())

    def _fetch(
        self, cursor: str | None, limit: int, priority: bool, reasons: list[str] | None, now: int
    ) -> tuple[list[Notif], str | None]:
        """One data-plane read: ``limit`` rows older than ``cursor`` (plus one to know whether
        there are more), then the ``reasons`` filter."""
        start = 0
        if cursor is not None:
            start = bisect.bisect_left(self.keys, (-self._cursor_ms(cursor) + 1, 0))  # type: ignore[operator]
        rows: list[Notif] = []
        for notif in itertools.islice(self.rows, start, None):
            if notif.visible_ms > now or (priority and notif.author not in self.follows):
                continue
            rows.append(notif)
            if len(rows) > limit:
                break
        page = rows[:limit]
        next_cursor = iso(page[-1].sort_ms) if len(rows) > limit and page else None
        if reasons:
            page = [n for n in page if n.reason in reasons]
        return page, next_cursor

    def _profiles(self, request: Recorded) -> Answer:
        params = LEXICONS.params(PROFILES, request.query, strict=self.strict)
        by_handle = {p.handle: p for p in self.profiles.values()}
        found = [self.profiles.get(a) or by_handle.get(a) for a in params["actors"]]
        return Answer(200, {"profiles": [p.detailed() for p in found if p is not None]})

    def _json(self, request: Recorded) -> Any:
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise LexiconError(
                f"Wrong request encoding (Content-Type): {request.headers.get('content-type')}"
            )
        try:
            return json.loads(request.body)
        except ValueError:
            raise LexiconError("Request body is not valid JSON") from None

    def _create(self, request: Recorded) -> Answer:
        body = LEXICONS.input(CREATE, self._json(request))
        if body["repo"] not in (self.did, self.handle):
            return xrpc_error(401, "AuthenticationRequired", "Authentication Required")
        collection, record = body["collection"], dict(body["record"])
        kind = record.setdefault("$type", collection)
        if kind != collection:
            raise LexiconError(f"Invalid $type: expected {collection}, got {kind}")
        if body.get("validate") is not False:
            if collection in LEXICONS.docs:
                LEXICONS.record(collection, record)
            elif body.get("validate") is True:
                raise LexiconError(f"Unknown lexicon type: {collection}")
        with self.lock:
            now = self.clock()
            if not all(limit.take(now, 3) for limit in self.writes):
                self.limited += 1
                return xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded")
        rkey = body.get("rkey") or self._tid(next(self._seq))
        uri = f"at://{self.did}/{collection}/{rkey}"
        self.created.append({"uri": uri, "record": record})
        return Answer(200, {"uri": uri, "cid": self._cid(uri), "validationStatus": "valid",
                            "commit": {"cid": self._cid(uri + "#commit"), "rev": rkey}})  # fmt: skip

    def _session(self, request: Recorded) -> Answer:
        body = LEXICONS.input(SESSION, self._json(request))
        identifier = body["identifier"].lower().removeprefix("@")
        if identifier not in (self.did.lower(), self.handle) or body["password"] != self.password:
            return xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
        claims = {"scope": "com.atproto.appPass", "sub": self.did,
                  "iat": int(self.clock()), "exp": int(self.clock()) + 7200}  # fmt: skip
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        token = f"eyJhbGciOiJIUzI1NiJ9.{payload}.sig{len(self.tokens)}"
        with self.lock:
            self.tokens.add(token)
        return Answer(200, {"accessJwt": token, "refreshJwt": token + "-refresh",
                            "handle": self.handle, "did": self.did, "active": True})  # fmt: skip
