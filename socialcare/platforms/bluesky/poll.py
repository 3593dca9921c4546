"""Polling ``app.bsky.notification.listNotifications`` (see the package docstring)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from socialcare.platforms.base import (
    ChannelConfig,
    ParseError,
    PollPage,
)
from socialcare.platforms.bluesky.common import (
    MAX_PAGES,
    PAGE_LIMIT,
    PROFILES_PER_CALL,
    REASONS,
    chunks,
    json_object,
    logger,
    maybe_timestamp,
    xrpc_request,
)
from socialcare.platforms.bluesky.session import (
    Session,
)


class PollingMixin:
    def poll(self, channel: ChannelConfig, client: httpx.Client) -> PollPage:
        """New mentions, replies and quotes since ``channel.cursor`` (newest ``indexedAt`` seen),
        with their authors' profiles, as one page; ``has_more`` is always false."""
        return self._with_session(channel, client, lambda s: self._poll(s, channel, client))

    def _poll(self, session: Session, channel: ChannelConfig, client: httpx.Client) -> PollPage:
        since = maybe_timestamp(channel.cursor) if channel.cursor else None
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
            response = xrpc_request(
                client,
                "GET",
                session.url("app.bsky.notification.listNotifications"),
                what,
                params=params,
                headers=session.headers,
            )
            data = json_object(response, what, ParseError)
            notifications = data.get("notifications")
            if not isinstance(notifications, list):
                raise ParseError(f"{what}: the answer has no `notifications` list.")
            reached_seen = False
            for item in notifications:
                if not isinstance(item, dict):
                    continue
                indexed_at = maybe_timestamp(item.get("indexedAt"))
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
        self, session: Session, client: httpx.Client, notifications: list[Mapping[str, Any]]
    ) -> list[Mapping[str, Any]]:
        dids: list[str] = []
        for item in notifications:
            author = item.get("author")
            did = author.get("did") if isinstance(author, dict) else None
            if isinstance(did, str) and did and did not in dids:
                dids.append(did)
        profiles: list[Mapping[str, Any]] = []
        what = "Bluesky app.bsky.actor.getProfiles"
        for chunk in chunks(dids, PROFILES_PER_CALL):
            response = xrpc_request(
                client,
                "GET",
                session.url("app.bsky.actor.getProfiles"),
                what,
                params=[("actors", did) for did in chunk],
                headers=session.headers,
            )
            found = json_object(response, what, ParseError).get("profiles")
            if isinstance(found, list):
                profiles.extend(
                    p
                    for p in found
                    if isinstance(p, dict) and isinstance(p.get("did"), str) and p["did"]
                )
        return profiles
