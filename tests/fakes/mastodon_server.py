"""A Mastodon server as its documentation says it behaves (docs/ingestion.md, "Mastodon").

Sources (mastodon/documentation, ``content/en/...``):

* ``methods/notifications.md``: ``GET /api/v1/notifications`` with ``types[]`` /
  ``exclude_types[]``, ``limit`` (default 40, max 80), ``max_id`` / ``since_id`` / ``min_id``
  (``min_id``: the results *immediately* newer, still newest first) and a ``Link`` header
  (``rel="next"``: ``max_id`` of the oldest, ``rel="prev"``: ``min_id`` of the newest);
  ``include_filtered`` (default false): notifications the account's notification policy
  *filtered* are left out unless it is true; a policy of ``drop`` creates none.
  ``entities/NotificationPolicy.md``: ``for_private_mentions`` — "Replies to private mentions
  initiated by the user, as well as accounts the user follows, are always allowed". Defaults as
  Mastodon creates them (migration ``AddNewNotificationPolicies``): accept, except
  ``for_private_mentions`` and ``for_limited_accounts``, filter.
* ``entities/Notification.md``: ``update`` = "A status you reblogged has been edited" — an
  edit notifies only accounts that boosted the status.
* ``methods/statuses.md``: ``GET /api/v1/statuses/:id`` (404 ``Record not found`` when deleted or
  not visible), ``GET /api/v1/statuses?id[]=`` (4.3+; statuses that do not exist are left out;
  more than 20 ids is a 422, Mastodon's ``check_statuses_limit``), ``/history`` (every version),
  ``POST /api/v1/statuses`` (``Idempotency-Key`` returns the first status; 422 ``Validation
  failed: Text can't be blank``; over the limit 422 ``Validation failed: Text character limit of
  N exceeded``, ``statuses.over_character_limit``). ``entities/Status.md``: ``edited_at``.
* ``methods/instance.md``: ``GET /api/v2/instance`` (public) with
  ``configuration.statuses.max_characters`` and ``characters_reserved_per_url``.
* ``user/posting.md``: links count 23 (``characters_reserved_per_url``) "no matter how long they
  actually are"; of a mention "only the username part will count", the domain is not counted.
* ``api/rate-limits.md``: every answer carries ``X-RateLimit-Limit`` / ``-Remaining`` /
  ``-Reset`` (a timestamp); 300 calls per 5 minutes per account; past it 429.

The fake counts lengths with its own regular expressions (not socialcare's counter), so a
counting bug in socialcare meets a refusal here. Its clock is ``time.time`` unless given.

::

    masto = MastodonFake(platform_server)
    status = masto.post("alice@other.example", "@acmehelp my order is late", visibility="direct")
    masto.edit(status["id"], "@acmehelp my order is late and the app crashes")
    masto.other_client_used(295)      # the account's window is nearly used up
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from tests.platform_server import Answer, PlatformServer, Recorded

NOTIFICATIONS = "/api/v1/notifications"
STATUSES = "/api/v1/statuses"
INSTANCE = "/api/v2/instance"
NOT_FOUND = {"error": "Record not found"}
TOKEN_INVALID = {"error": "The access token is invalid"}
TOO_MANY = {"error": "Too many requests"}
#: Mastodon's ``check_statuses_limit`` raises ``Mastodon::ValidationError`` with no message.
TOO_MANY_IDS = {"error": "Mastodon::ValidationError"}
#: Mastodon's policy defaults: ``filter`` for private mentions and limited accounts.
DEFAULT_POLICY = {
    "for_not_following": "accept",
    "for_not_followers": "accept",
    "for_new_accounts": "accept",
    "for_private_mentions": "filter",
    "for_limited_accounts": "filter",
}
_SEVERITY = {"accept": 0, "filter": 1, "drop": 2}
_URL = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w/=])@(\w+)(?:@[\w.-]+\w)?")


def iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat(timespec="milliseconds")


class MastodonFake:
    """Serves a brand account (``account_id``, ``username`` on ``domain``) on ``server``."""

    def __init__(
        self,
        server: PlatformServer,
        *,
        account_id: str = "14715",
        username: str = "acmehelp",
        domain: str = "mastodon.social",
        token: str = "test-token",
        max_characters: int | None = 500,
        characters_reserved_per_url: int | None = 23,
        multi_get: bool = True,
        rate_limit: int = 300,
        rate_period: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.server, self.clock, self.token = server, clock, token
        self.domain, self.username, self.account_id = domain, username, account_id
        self.max_characters = max_characters
        self.characters_reserved_per_url = characters_reserved_per_url
        self.multi_get = multi_get
        self.rate_limit, self.rate_period = rate_limit, rate_period
        self.policy = dict(DEFAULT_POLICY)
        self.following: set[str] = set()
        self.boosted: set[str] = set()
        self.notifications: list[dict[str, Any]] = []  # each with "_filtered"
        self.statuses: dict[str, dict[str, Any]] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.created: list[dict[str, Any]] = []
        self.refused: list[tuple[int, Any]] = []
        self.instance_calls = 0
        self._idempotent: dict[str, dict[str, Any]] = {}
        self._window: tuple[int, int] = (-1, 0)  # (window number, calls in it)
        self._ids = itertools.count(110_000_000_000_000_001)
        self._notification_ids = itertools.count(40_000_001)
        self._lock = threading.RLock()
        server.route("GET", NOTIFICATIONS, self._authed(self.list_notifications))
        server.route("GET", STATUSES, self._authed(self.get_statuses))
        server.route("POST", STATUSES, self._authed(self.create_status))
        server.route("GET", INSTANCE, self.instance)

    # The world -------------------------------------------------------------------------------
    def account(self, acct: str) -> dict[str, Any]:
        """An Account entity for ``acct`` (``user`` on this server, ``user@domain`` elsewhere)."""
        user, _, other = acct.lstrip("@").partition("@")
        home = other or self.domain
        return {
            "id": str(abs(hash(acct)) % 10**12),
            "username": user,
            "acct": acct if other and other != self.domain else user,
            "display_name": user.title(),
            "url": f"https://{home}/@{user}",
            "avatar": f"https://{home}/avatars/{user}.png",
            "followers_count": 12,
        }

    def post(
        self,
        acct: str,
        text: str,
        *,
        visibility: str = "public",
        in_reply_to: str | None = None,
        mentions_brand: bool = True,
    ) -> dict[str, Any]:
        """``acct`` posts ``text``; when it mentions the brand, a ``mention`` notification is
        created as the brand's notification policy says (accepted, filtered, or none)."""
        with self._lock:
            status = self._status(self.account(acct), text, visibility, in_reply_to)
            if mentions_brand:
                action = self._policy_for(acct, visibility, in_reply_to)
                if action != "drop":
                    self._notify("mention", status, filtered=action == "filter")
            return status

    def edit(self, status_id: str, text: str) -> dict[str, Any]:
        """The author edits the status: new content, ``edited_at``, one more version in its
        history; an ``update`` notification only if the brand boosted it."""
        with self._lock:
            status = self.statuses[status_id]
            status["content"] = f"<p>{text}</p>"
            status["edited_at"] = iso(self.clock())
            self.history[status_id].append(self._version(status, status["edited_at"]))
            if status_id in self.boosted:
                self._notify("update", status)
            return status

    def delete(self, status_id: str) -> None:
        with self._lock:
            self.statuses.pop(status_id, None)

    def other_client_used(self, calls: int) -> None:
        """Another client of the account made ``calls`` requests in the current window."""
        with self._lock:
            for _ in range(calls):
                self._take()

    # Notifications ---------------------------------------------------------------------------
    def list_notifications(self, request: Recorded) -> Answer:
        query = request.query
        types = set(query.get("types[]", []))
        excluded = set(query.get("exclude_types[]", []))
        include_filtered = (query.get("include_filtered") or ["false"])[-1] in ("true", "1")
        try:
            limit = int((query.get("limit") or ["40"])[-1] or 40)
        except ValueError:
            limit = 40
        limit = min(abs(limit) or 40, 80)
        bounds = {
            key: int(query[key][-1]) for key in ("max_id", "since_id", "min_id") if key in query
        }
        with self._lock:
            items = [
                n
                for n in self.notifications
                if (not types or n["type"] in types)
                and n["type"] not in excluded
                and (include_filtered or not n["_filtered"])
                and ("max_id" not in bounds or int(n["id"]) < bounds["max_id"])
                and ("since_id" not in bounds or int(n["id"]) > bounds["since_id"])
                and ("min_id" not in bounds or int(n["id"]) > bounds["min_id"])
            ]
        items.sort(key=lambda n: int(n["id"]))
        page = items[:limit] if "min_id" in bounds else items[-limit:]
        page.reverse()  # newest first, as every page
        body = [{k: v for k, v in n.items() if not k.startswith("_")} for n in page]
        headers = {}
        if page:
            base = f"{self.server.url}{NOTIFICATIONS}?"
            keep = [(k, v) for k in ("types[]", "exclude_types[]") for v in query.get(k, [])]
            older = urlencode([*keep, ("max_id", page[-1]["id"])])
            newer = urlencode([*keep, ("min_id", page[0]["id"])])
            headers["Link"] = f'<{base}{older}>; rel="next", <{base}{newer}>; rel="prev"'
        return Answer(200, body, headers)

    # Statuses --------------------------------------------------------------------------------
    def get_statuses(self, request: Recorded) -> Answer:
        if not self.multi_get:  # before 4.3 there is no such route
            return Answer(404, NOT_FOUND)
        ids = list(dict.fromkeys(request.query.get("id[]", [])))
        if len(ids) > 20:
            return Answer(422, TOO_MANY_IDS)
        with self._lock:
            return Answer(200, [self.statuses[i] for i in ids if i in self.statuses])

    def get_status(self, status_id: str) -> Callable[[Recorded], Answer]:
        def answer(request: Recorded) -> Answer:
            with self._lock:
                status = self.statuses.get(status_id)
            return Answer(200, status) if status else Answer(404, NOT_FOUND)

        return answer

    def get_history(self, status_id: str) -> Callable[[Recorded], Answer]:
        def answer(request: Recorded) -> Answer:
            with self._lock:
                if status_id not in self.statuses:
                    return Answer(404, NOT_FOUND)
                return Answer(200, list(self.history[status_id]))

        return answer

    def create_status(self, request: Recorded) -> Answer:
        body = request.json() if request.body.strip().startswith(b"{") else {}
        text = body.get("status") if isinstance(body, dict) else None
        key = request.headers.get("idempotency-key", "")
        with self._lock:
            if key and key in self._idempotent:
                return Answer(200, self._idempotent[key])
            if not isinstance(text, str) or not text.strip():
                return self._refuse(422, {"error": "Validation failed: Text can't be blank"})
            limit = self.max_characters or 500
            if self.length(text) > limit:
                error = f"Validation failed: Text character limit of {limit} exceeded"
                return self._refuse(422, {"error": error})
            parent = body.get("in_reply_to_id")
            if parent and parent not in self.statuses:
                error = "The post you are trying to reply to does not appear to exist."
                return self._refuse(404, {"error": error})
            brand = self.account(self.username)
            brand["id"] = self.account_id
            status = self._status(brand, text, body.get("visibility") or "public", parent)
            self.created.append({**body, "id": status["id"]})
            if key:
                self._idempotent[key] = status
            return Answer(200, status)

    def length(self, text: str) -> int:
        """The status length as Mastodon documents it: links count ``characters_reserved_per_url``,
        mentions their username part (ASCII test texts: one character, one code point)."""
        per_url = self.characters_reserved_per_url or 23
        counted = _URL.sub("x" * per_url, text)
        counted = _MENTION.sub(lambda m: f"@{m.group(1)}", counted)
        return len(counted)

    # Instance --------------------------------------------------------------------------------
    def instance(self, request: Recorded) -> Answer:
        with self._lock:
            self.instance_calls += 1
        statuses: dict[str, int] = {"max_media_attachments": 4}
        if self.max_characters is not None:
            statuses["max_characters"] = self.max_characters
        if self.characters_reserved_per_url is not None:
            statuses["characters_reserved_per_url"] = self.characters_reserved_per_url
        return Answer(
            200,
            {
                "domain": self.domain,
                "title": "Mastodon",
                "version": "4.3.0" if self.multi_get else "4.2.0",
                "configuration": {"statuses": statuses},
            },
        )

    # Internals -------------------------------------------------------------------------------
    def _authed(self, handler: Callable[[Recorded], Answer]) -> Callable[[Recorded], Answer]:
        """The account's token is required; every answer carries the rate-limit headers, and a
        call past the account's limit is a 429."""

        def answer(request: Recorded) -> Answer:
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return Answer(401, TOKEN_INVALID)
            with self._lock:
                allowed = self._take()
                headers = self._rate_headers()
            if not allowed:
                self.refused.append((429, TOO_MANY))
                return Answer(429, TOO_MANY, headers)
            result = handler(request)
            return Answer(result.status, result.body, {**result.headers, **headers})

        return answer

    def _take(self) -> bool:
        number = int(self.clock() // self.rate_period)
        current, used = self._window
        if number != current:
            used = 0
        self._window = (number, used + 1)
        return used < self.rate_limit

    def _rate_headers(self) -> dict[str, str]:
        number, used = self._window
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(self.rate_limit - used, 0)),
            "X-RateLimit-Reset": iso((number + 1) * self.rate_period),
        }

    def _refuse(self, status: int, body: Any) -> Answer:
        self.refused.append((status, body))
        return Answer(status, body)

    def _policy_for(self, acct: str, visibility: str, in_reply_to: str | None) -> str:
        if acct in self.following:
            return "accept"  # "accounts the user follows are always allowed"
        actions = [self.policy["for_not_following"]]
        parent = self.statuses.get(in_reply_to or "")
        started_by_brand = parent is not None and parent["account"]["id"] == self.account_id
        if visibility == "direct" and not started_by_brand:
            actions.append(self.policy["for_private_mentions"])
        return max(actions, key=_SEVERITY.__getitem__)

    def _status(
        self, account: dict[str, Any], text: str, visibility: str, in_reply_to: str | None
    ) -> dict[str, Any]:
        status_id = str(next(self._ids))
        home = account["url"].split("/")[2]
        status = {
            "id": status_id,
            "uri": f"https://{home}/users/{account['username']}/statuses/{status_id}",
            "url": f"https://{home}/@{account['username']}/{status_id}",
            "created_at": iso(self.clock()),
            "edited_at": None,
            "in_reply_to_id": in_reply_to,
            "visibility": visibility,
            "language": "en",
            "spoiler_text": "",
            "content": f"<p>{text}</p>",
            "account": account,
            "media_attachments": [],
            "mentions": [],
        }
        self.statuses[status_id] = status
        self.history[status_id] = [self._version(status, status["created_at"])]
        self.server.route(
            "GET", f"{STATUSES}/{status_id}", self._authed(self.get_status(status_id))
        )
        self.server.route(
            "GET", f"{STATUSES}/{status_id}/history", self._authed(self.get_history(status_id))
        )
        return status

    @staticmethod
    def _version(status: dict[str, Any], at: str) -> dict[str, Any]:
        """A StatusEdit entity."""
        return {
            "content": status["content"],
            "spoiler_text": status["spoiler_text"],
            "sensitive": False,
            "created_at": at,
            "account": status["account"],
            "media_attachments": [],
            "emojis": [],
        }

    def _notify(self, kind: str, status: dict[str, Any], *, filtered: bool = False) -> None:
        self.notifications.append(
            {
                "id": str(next(self._notification_ids)),
                "type": kind,
                "created_at": iso(self.clock()),
                "account": status["account"],
                "status": status,
                "_filtered": filtered,
            }
        )
