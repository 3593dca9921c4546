"""Polling ``app.bsky.notification.listNotifications`` so that no mention is skipped.

The list is sorted newest first by each notification's ``sortAt``, which for a post is
``least(createdAt, indexedAt)``, and the answer's ``indexedAt`` is that ``sortAt``. A post
indexed late, or written on a device whose clock is slow, therefore lands *below* notifications
already seen. So every poll reads from the top down to ``OVERLAP`` below the newest ``sortAt``
seen before (and at least the whole first page). Paging follows the API's own ``cursor``; a page
left empty by the server's ``reasons`` filter does not end the read while it has a cursor. What
one call cannot read within ``PAGES_PER_POLL`` pages the next call continues (``has_more``) from
the saved API cursor.

Re-reading the overlap finds mostly notifications already handed on. The cursor keeps a digest
of the at-URIs in each ``BUCKET`` of the overlap, and a poll hands on the notifications of the
buckets whose digest changed (a new or late post landed there); ingest drops any post it already
has (posts are unique on their at-URI), so a repeat is never an error nor counted twice. A read
that finds the same as the last one leaves the cursor unchanged, and polling stores nothing.

The channel cursor is a small JSON document (``PollState``); a plain timestamp (the cursor of
earlier versions: the newest ``indexedAt`` seen) is read as that document's ``high``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import httpx

from socialcare.platforms.base import (
    ChannelConfig,
    ParseError,
    PollPage,
    RateLimited,
    retry_after_seconds,
)
from socialcare.platforms.bluesky.common import (
    PROFILES_PER_CALL,
    REASONS,
    chunks,
    json_object,
    logger,
    maybe_timestamp,
    xrpc_request,
)
from socialcare.platforms.bluesky.session import Session

#: The lexicon's maximum ``limit``: fewest calls for the same notifications.
PAGE_SIZE = 100
#: How far below the newest ``sortAt`` seen each poll reads again. A post's ``sortAt`` is its
#: ``createdAt`` when that is earlier than its ``indexedAt``; an hour covers indexing backlogs
#: and clocks far beyond the two-minute skew window Bluesky recommends allowing for. A post
#: back-dated by more (an import, a device clock hours off) below the newest already seen is
#: fetched only when it is on the first page.
OVERLAP = dt.timedelta(hours=1)
#: The overlap's slices, each with its own digest in the cursor (13 of them fit easily).
BUCKET = dt.timedelta(minutes=5)
#: API pages read by one ``poll`` call; polling asks again while ``has_more``.
PAGES_PER_POLL = 30
#: API pages one catch-up may read over several calls before it gives up on older ones (a
#: server whose cursor is not a timestamp and an account with no mention for a long time).
PAGES_PER_RUN = 200
#: ``ratelimit-remaining`` at or below which a poll stops paging (the authors' profiles of one
#: more page still fit) and asks polling to wait for ``ratelimit-reset``.
RATE_RESERVE = PAGE_SIZE // PROFILES_PER_CALL
#: The channel cursor column holds 500 characters.
MAX_CURSOR = 500
METHOD = "app.bsky.notification.listNotifications"
EMPTY = b'{"notifications": [], "profiles": []}'


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _bucket(moment: dt.datetime) -> int:
    return int(moment.timestamp() // BUCKET.total_seconds())


def _digest(uris: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(uris)).encode()).hexdigest()[:12] if uris else ""


@dataclasses.dataclass(frozen=True)
class PollState:
    """What the channel cursor remembers between polls.

    ``high``: the newest ``sortAt`` seen. ``buckets``: the digest of the at-URIs in each
    ``BUCKET`` of the overlap, the one holding ``high`` first; ``rest``: of those on the first
    page below the overlap. During a catch-up over several calls: ``paging`` (the API cursor
    to continue from), ``floor`` (where the read stops) and ``pages`` (read so far)."""

    high: dt.datetime | None = None
    buckets: tuple[str, ...] = ()
    rest: str = ""
    paging: str = ""
    floor: dt.datetime | None = None
    pages: int = 0

    @classmethod
    def load(cls, cursor: str) -> PollState:
        if not cursor:
            return cls()
        if not cursor.startswith("{"):  # earlier versions: the newest indexedAt seen
            return cls(high=maybe_timestamp(cursor))
        try:
            data = json.loads(cursor)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            logger.warning("Bluesky: unreadable poll cursor %r; reading the latest page.", cursor)
            return cls()
        buckets, paging, pages = data.get("b"), data.get("p"), data.get("n")
        return cls(
            high=maybe_timestamp(data.get("h")),
            buckets=tuple(str(b) for b in buckets) if isinstance(buckets, list) else (),
            rest=str(data.get("r") or ""),
            paging=paging if isinstance(paging, str) else "",
            floor=maybe_timestamp(data.get("f")),
            pages=pages if isinstance(pages, int) and pages > 0 else 0,
        )

    def dump(self) -> str:
        data: dict[str, Any] = {"v": 2}
        if self.high is not None:
            data["h"] = _iso(self.high)
        if any(self.buckets):
            data["b"] = list(self.buckets)
        if self.rest:
            data["r"] = self.rest
        if self.paging:
            data.update(p=self.paging, n=self.pages)
            if self.floor is not None:
                data["f"] = _iso(self.floor)
        return json.dumps(data, separators=(",", ":"))

    def seen(self) -> dict[int, str]:
        """Bucket number -> digest, as the last complete read left them."""
        if self.high is None:
            return {}
        top = _bucket(self.high)
        return {top - offset: digest for offset, digest in enumerate(self.buckets)}


def _rate_window(response: httpx.Response) -> tuple[int | None, float]:
    """``ratelimit-remaining`` (None when absent) and the seconds until ``ratelimit-reset``."""
    try:
        remaining: int | None = int(response.headers.get("ratelimit-remaining", ""))
    except ValueError:
        remaining = None
    return remaining, retry_after_seconds(response)


def authors(notifications: list[Mapping[str, Any]]) -> list[str]:
    """The notifications' authors' DIDs, each once, in order."""
    dids: dict[str, None] = {}
    for item in notifications:
        author = item.get("author")
        did = author.get("did") if isinstance(author, dict) else None
        if isinstance(did, str) and did:
            dids[did] = None
    return list(dids)


@dataclasses.dataclass
class _Read:
    """What one ``poll`` call read: the notifications of the kept reasons, each once."""

    high: dt.datetime | None = None
    kept: dict[str, tuple[Mapping[str, Any], dt.datetime | None]] = dataclasses.field(
        default_factory=dict
    )
    pages: int = 0
    #: The oldest sortAt on the first page, when the read began at the top of the list.
    first_page_oldest: dt.datetime | None = None
    finished: bool = False
    remaining: int | None = None
    retry_after: float | None = None

    def add(self, item: Mapping[str, Any]) -> dt.datetime | None:
        sort_at = maybe_timestamp(item.get("indexedAt"))  # the AppView's sortAt
        if sort_at is not None and (self.high is None or sort_at > self.high):
            self.high = sort_at
        uri = item.get("uri")
        key = uri if isinstance(uri, str) and uri else json.dumps(item, sort_keys=True)
        if item.get("reason") in REASONS and key not in self.kept:
            self.kept[key] = (item, sort_at)
        return sort_at

    def notifications(self) -> list[Mapping[str, Any]]:
        return [item for item, _ in self.kept.values()]

    def nearly_limited(self) -> bool:
        """The rate-limit window has room for the profile lookups only."""
        if self.remaining is None:
            return False
        lookups = -(-len(authors(self.notifications())) // PROFILES_PER_CALL)
        return self.remaining <= RATE_RESERVE + lookups

    def changes(self, before: PollState) -> tuple[list[Mapping[str, Any]], PollState]:
        """What a complete read from the top hands on, and the state it leaves.

        Handed on: what sorts above the previous ``high`` (new by definition); below it, down to
        the previous floor, the notifications of each ``BUCKET`` whose digest differs from the
        one ``before`` kept (a late post landed there); the first page's older ones if their
        digest changed; any without a readable sortAt. Kept: the digests from the new floor up,
        which the next read, if nothing changes, finds again."""
        if self.high is None:
            return self.notifications(), PollState()
        floor = self.high - OVERLAP
        old_high = before.high if before.high is not None else self.high
        old_floor = min(old_high - OVERLAP, floor)
        oldest = self.first_page_oldest
        dated = [(uri, at) for uri, (_, at) in self.kept.items() if at is not None]

        def digests(low: dt.datetime, high: dt.datetime) -> dict[int, str]:
            found: dict[int, list[str]] = {n: [] for n in range(_bucket(low), _bucket(high) + 1)}
            for uri, at in dated:
                if low <= at <= high:
                    found[_bucket(at)].append(uri)
            return {number: _digest(uris) for number, uris in found.items()}

        def rest(cut: dt.datetime) -> list[str]:
            line = cut if oldest is None else min(cut, oldest)
            return [uri for uri, at in dated if line <= at < cut]

        seen = before.seen()
        changed = {n for n, digest in digests(old_floor, old_high).items() if seen.get(n) != digest}
        handed = {
            uri
            for uri, at in dated
            if at > old_high or (at >= old_floor and _bucket(at) in changed)
        }
        if before.high is None:
            handed.update(uri for uri, _ in dated)
        if _digest(rest(old_floor)) != before.rest:
            handed.update(rest(old_floor))
        handed.update(uri for uri, (_, at) in self.kept.items() if at is None)
        kept = digests(floor, self.high)
        after = PollState(
            high=self.high,
            buckets=tuple(kept[number] for number in sorted(kept, reverse=True)),
            rest=_digest(rest(floor)),
        )
        return [item for uri, (item, _) in self.kept.items() if uri in handed], after


class PollingMixin:
    def poll(self, channel: ChannelConfig, client: httpx.Client) -> PollPage:
        """New mentions, replies and quotes with their authors' profiles, read down to
        ``OVERLAP`` below the newest seen (ingest drops those it already has)."""
        return self._with_session(channel, client, lambda s: self._poll(s, channel, client))

    def _poll(self, session: Session, channel: ChannelConfig, client: httpx.Client) -> PollPage:
        state = PollState.load(channel.cursor)
        first_run = state.high is None and not state.paging  # the latest page, not the history
        floor = state.floor if state.paging else (state.high - OVERLAP if state.high else None)
        read = _Read(high=state.high)
        page_cursor = state.paging
        reset_in: float | None = None
        while read.pages < (1 if first_run else PAGES_PER_POLL) and not read.nearly_limited():
            try:
                data, response = self._list(session, client, page_cursor)
            except RateLimited as exc:
                if not read.pages:
                    raise
                read.retry_after = exc.retry_after or 60.0  # keep what was read, then wait
                break
            read.pages += 1
            read.remaining, reset_in = _rate_window(response)
            oldest = None
            for item in data["notifications"]:
                if isinstance(item, dict):
                    sort_at = read.add(item)
                    if sort_at is not None and (oldest is None or sort_at < oldest):
                        oldest = sort_at
            if read.pages == 1 and not state.paging:
                read.first_page_oldest = oldest
            next_cursor = data.get("cursor")
            position = maybe_timestamp(next_cursor)  # the AppView's: the last row's sortAt
            if position is not None and state.high is None and read.high is None:
                read.high = position  # a first page emptied by the filter: start from here
            if not isinstance(next_cursor, str) or not next_cursor or next_cursor == page_cursor:
                read.finished = True  # the end of the list
            elif first_run or (floor is not None and oldest is not None and oldest < floor):
                read.finished = True  # read down past the overlap
            elif floor is not None and position is not None and position < floor:
                read.finished = True  # a page emptied by the filter, already past the overlap
            if read.finished:
                break
            page_cursor = next_cursor
        if read.retry_after is None and read.nearly_limited():
            read.retry_after = reset_in  # polling waits for the window's reset
        return self._page(session, client, state, read, floor, page_cursor, channel.cursor)

    def _list(
        self, session: Session, client: httpx.Client, cursor: str
    ) -> tuple[Mapping[str, Any], httpx.Response]:
        what = f"Bluesky {METHOD}"
        # priority=false: the account's "priority notifications" setting (only accounts it
        # follows) must not hide customers.
        params: list[tuple[str, str | int]] = [("limit", PAGE_SIZE), ("priority", "false")]
        params += [("reasons", reason) for reason in REASONS]
        if cursor:
            params.append(("cursor", cursor))
        response = xrpc_request(
            client, "GET", session.url(METHOD), what, params=params, headers=session.headers
        )
        data = json_object(response, what, ParseError)
        if not isinstance(data.get("notifications"), list):
            raise ParseError(f"{what}: the answer has no `notifications` list.")
        return data, response

    def _page(
        self,
        session: Session,
        client: httpx.Client,
        state: PollState,
        read: _Read,
        floor: dt.datetime | None,
        page_cursor: str,
        previous: str,
    ) -> PollPage:
        pages = state.pages + read.pages
        if not read.finished and pages >= PAGES_PER_RUN and read.retry_after is None:
            logger.warning(
                "Bluesky: %s pages read without reaching %s below the newest notification "
                "seen (%s); older notifications are not fetched.",
                pages,
                OVERLAP,
                state.high,
            )
            read.finished = True
        cursor = PollState(read.high, paging=page_cursor, floor=floor, pages=pages).dump()
        if not read.finished and len(cursor) > MAX_CURSOR:
            logger.warning("Bluesky: the API cursor is too long to keep; older notifications "
                           "are not fetched.")  # fmt: skip
            read.finished = True
        notifications = read.notifications()
        if read.finished:
            if state.paging:  # a catch-up's last call: the digests of the overlap are unknown
                cursor = PollState(high=read.high).dump()
            else:
                notifications, after = read.changes(state)
                cursor = after.dump()
            if cursor == previous:  # the same as last time: nothing to store, no profiles
                return PollPage(body=EMPTY, cursor=cursor, retry_after=read.retry_after)
        profiles, profiles_limited = self._profiles(session, client, notifications)
        retry_after = read.retry_after if read.retry_after is not None else profiles_limited
        document = {"notifications": notifications, "profiles": profiles}
        try:
            body = json.dumps(document, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate escape: keep it escaped, parse replaces it
            body = json.dumps(document).encode("ascii")
        return PollPage(
            body=body, cursor=cursor, has_more=not read.finished, retry_after=retry_after
        )

    def _profiles(
        self, session: Session, client: httpx.Client, notifications: list[Mapping[str, Any]]
    ) -> tuple[list[Mapping[str, Any]], float | None]:
        """The authors' profiles (for follower counts), 25 a call. A rate limit ends the
        lookups (profiles are decoration: the posts are kept) and says how long to wait."""
        profiles: list[Mapping[str, Any]] = []
        what = "Bluesky app.bsky.actor.getProfiles"
        for chunk in chunks(authors(notifications), PROFILES_PER_CALL):
            try:
                response = xrpc_request(
                    client,
                    "GET",
                    session.url("app.bsky.actor.getProfiles"),
                    what,
                    params=[("actors", did) for did in chunk],
                    headers=session.headers,
                )
            except RateLimited as exc:
                logger.warning("%s: rate limited; follower counts left out.", what)
                return profiles, exc.retry_after
            found = json_object(response, what, ParseError).get("profiles")
            if isinstance(found, list):
                profiles.extend(
                    p
                    for p in found
                    if isinstance(p, dict) and isinstance(p.get("did"), str) and p["did"]
                )
        return profiles, None
