"""Edited posts on X: an edit is a new post whose edit history names the original.

X keeps no post in place: "Each edit creates a new post ID" and a post's edit history lists the
ids of all its versions, oldest first (xdevplatform/docs ``x-api/fundamentals/edit-posts.mdx``).
Neither the Account Activity API nor the X Activity API has an edit event: a new version comes
like any new post (``tweet_create_events``; ``post.create`` / ``post.mention.create`` ...), with
its history in

* ``edit_history: {"initial_tweet_id", "edit_tweet_ids"}`` in v1.1 payloads (Account Activity;
  ``x-api/enterprise-gnip-2.0/fundamentals/edit-tweets.mdx``), or
* ``edit_history_tweet_ids`` in v2 posts (X Activity API, ``x-api/activity/event-payloads.mdx``).

``version_of`` tells the X adapter whether a post is a later version, so it is read as a
``PostEdit`` of the *original* post (its ``external_id``), carrying the version's own id as
``local_id``: the id replies name when they answer the edited post. The original's time is read
from its id (``posted_at``) so an edit that arrives first records the post at the right moment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from socialcare.platforms.shapes import opt_array, opt_obj, platform_id

#: Snowflake ids hold milliseconds since this moment in their bits above the 22nd
#: (xdevplatform/docs ``fundamentals/x-ids.mdx``: ids encode their creation time; the layout
#: and epoch are twitter/snowflake's, 1288834974657 ms = 2010-11-04T01:42:54.657Z).
SNOWFLAKE_EPOCH_MS = 1288834974657
SNOWFLAKE_SHIFT = 22


def edit_chain(tweet: Mapping[str, Any], what: str) -> tuple[str, ...]:
    """The ids of a post's versions, oldest first, as its payload lists them; () when it names
    none (a post from before edits existed, or a payload without the field)."""
    history = opt_obj(tweet.get("edit_history"), f"{what} edit_history")
    if history:
        ids = [
            platform_id(value, f"{what} edit_history.edit_tweet_ids[]")
            for value in opt_array(history.get("edit_tweet_ids"), f"{what} edit_tweet_ids")
        ]
        initial = platform_id(
            history.get("initial_tweet_id"), f"{what} initial_tweet_id", required=False
        )
        if initial and (not ids or ids[0] != initial):
            ids = [initial, *(i for i in ids if i != initial)]
        return tuple(i for i in ids if i)
    return tuple(
        i
        for i in (
            platform_id(value, f"{what} edit_history_tweet_ids[]")
            for value in opt_array(tweet.get("edit_history_tweet_ids"), f"{what} edit history")
        )
        if i
    )


def version_of(tweet: Mapping[str, Any], tweet_id: str, what: str) -> str:
    """The original post's id when ``tweet_id`` is a later version of it; "" for an original
    (or a post whose history does not name it: read as it is)."""
    chain = edit_chain(tweet, what)
    if len(chain) < 2 or tweet_id not in chain or chain[0] == tweet_id:
        return ""
    return chain[0]


def snowflake_time(post_id: str) -> dt.datetime | None:
    """When X made ``post_id`` (to the millisecond), or None for an id that is not a snowflake
    (too small, or not a number)."""
    if not post_id.isdigit() or len(post_id) > 20:
        return None
    value = int(post_id)
    if value >> SNOWFLAKE_SHIFT == 0 or value >= 2**64:
        return None
    millis = (value >> SNOWFLAKE_SHIFT) + SNOWFLAKE_EPOCH_MS
    return dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC)
