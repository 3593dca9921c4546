"""Polling ``GET /api/v1/notifications`` for mentions, and re-fetching statuses for edits (see
the package docstring)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from socialcare.platforms.base import ChannelConfig, ParseError, PollPage, load_json
from socialcare.platforms.mastodon.common import (
    PAGE_LIMIT,
    auth_headers,
    base_url,
    id_key,
    rate_limit_wait,
    request,
)

#: ``GET /api/v1/statuses`` (Mastodon 4.3+) takes at most 20 ``id[]`` (422 beyond).
STATUSES_PER_CALL = 20
#: Servers without it get ``GET /api/v1/statuses/:id``, this many a poll.
SINGLE_FETCHES = 5


@dataclass(frozen=True)
class StatusBatch:
    """Re-fetched statuses: ``body`` a JSON list of Status entities (those still there and
    visible), ``multi_get`` whether the server has ``GET /api/v1/statuses``, ``retry_after``
    as in ``PollPage``."""

    body: bytes
    multi_get: bool = True
    retry_after: float | None = None


class PollingMixin:
    def poll(self, channel: ChannelConfig, client: httpx.Client) -> PollPage:
        """The mentions newer than ``channel.cursor`` (the highest notification id seen),
        filtered ones included (``include_filtered=true``: a stranger's private mention).

        First run (empty cursor): the latest page only, no backfill. Afterwards ``min_id`` pages
        forwards from the cursor; ``has_more`` is true when the page was full. ``retry_after``
        is set when the account's rate-limit window is nearly used up.
        """
        base = base_url(channel, "poll")
        params: list[tuple[str, str | int]] = [
            ("types[]", "mention"),
            ("include_filtered", "true"),
            ("limit", PAGE_LIMIT),
        ]
        cursor = channel.cursor.strip()
        if cursor:
            params.append(("min_id", cursor))
        response = request(
            client,
            "GET",
            f"{base}/api/v1/notifications",
            "Mastodon GET /api/v1/notifications",
            params=params,
            headers=auth_headers(channel),
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
        newer = [i for i in ids if not cursor or id_key(i) > id_key(cursor)]
        new_cursor = max(newer, key=id_key) if newer else cursor
        return PollPage(
            body=response.content,
            cursor=new_cursor,
            has_more=bool(cursor) and bool(newer) and len(items) >= PAGE_LIMIT,
            retry_after=rate_limit_wait(response),
        )

    def fetch_statuses(
        self,
        channel: ChannelConfig,
        client: httpx.Client,
        ids: Sequence[str],
        *,
        multi_get: bool = True,
    ) -> StatusBatch:
        """The statuses ``ids`` (local ids) as they are now: one ``GET /api/v1/statuses`` for
        the first ``STATUSES_PER_CALL``; on a server without it (404, before 4.3, or
        ``multi_get=False``) ``GET /api/v1/statuses/:id`` for the first ``SINGLE_FETCHES``. A
        status deleted or no longer visible is left out, as Mastodon leaves it out."""
        base = base_url(channel, "edit check")
        headers = auth_headers(channel)
        if multi_get:
            response = request(
                client,
                "GET",
                f"{base}/api/v1/statuses",
                "Mastodon GET /api/v1/statuses",
                params=[("id[]", i) for i in ids[:STATUSES_PER_CALL]],
                headers=headers,
                passthrough=(404,),
            )
            if response.status_code != 404:
                statuses = load_json(response.content)
                if not isinstance(statuses, list):
                    raise ParseError(
                        f"Mastodon statuses: expected a JSON list, got {type(statuses).__name__}."
                    )
                return StatusBatch(response.content, retry_after=rate_limit_wait(response))
        found: list[object] = []
        wait = None
        for status_id in ids[:SINGLE_FETCHES]:
            response = request(
                client,
                "GET",
                f"{base}/api/v1/statuses/{quote(status_id, safe='')}",
                "Mastodon GET /api/v1/statuses/:id",
                headers=headers,
                passthrough=(404,),
            )
            wait = rate_limit_wait(response)
            if response.status_code != 404:
                found.append(load_json(response.content))
            if wait is not None:
                break
        return StatusBatch(json.dumps(found).encode(), multi_get=False, retry_after=wait)
