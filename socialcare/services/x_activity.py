"""X Activity API (XAA) events in the Account Activity shape the X adapter reads.

An XAA webhook delivery is an envelope ``{"data": {"event_uuid", "filter": {"user_id"},
"event_type", "tag", "payload", "includes"}}`` signed like Account Activity's
(``x-twitter-webhooks-signature``, the app's consumer secret), see
https://docs.x.com/x-api/activity/event-payloads. ``by_account`` writes its events as the
Account Activity delivery of the filtered user (``for_user_id``):

* ``post.create`` / ``post.mention.create`` / ``post.reply.create`` / ``post.quote.create``:
  the v2 Post (``note_tweet.text`` for a long one; author from ``includes.users``; its
  ``edit_history_tweet_ids``, which tell an edit) as a ``tweet_create_events`` item;
* ``post.delete``: a ``tweet_delete_events`` item, timed when the delivery came (the event
  names no time);
* ``dm.received`` / ``dm.sent``: their ``direct_message_events`` as they are (the same shape),
  the ``users`` map in v1.1 field names.

Every other event (reposts, likes, follows, profile updates, encrypted ``chat.*``, ...) is kept,
like every event as delivered, under ``x_activity`` in the body, and not ingested: Account
Activity's own such events are not read either.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from socialcare.platforms.base import ParseError
from socialcare.platforms.shapes import array, obj, opt_array, opt_obj, platform_id, text

#: Events read as posts.
POSTS = frozenset({"post.create", "post.mention.create", "post.reply.create", "post.quote.create"})
QUOTE = "post.quote.create"
#: Events read as direct messages.
DMS = frozenset({"dm.received", "dm.sent"})


def by_account(data: dict[str, Any], received_at: dt.datetime) -> list[tuple[str, dict[str, Any]]]:
    """A delivery's X Activity API envelopes (``{"data": {...}}``; a list of them is read too),
    grouped by the filtered user, each group written in the Account Activity shape: (user id,
    body). Raises ``ParseError`` on a value of the wrong shape."""
    raw = data.get("data")
    envelopes = array(raw, "data") if isinstance(raw, list) else [obj(raw, "data")]
    grouped: dict[str, list[dict[str, Any]]] = {}
    for index, envelope in enumerate(envelopes):
        what = f"data[{index}]" if isinstance(raw, list) else "data"
        envelope = obj(envelope, what)
        user = platform_id(
            opt_obj(envelope.get("filter"), f"{what}.filter").get("user_id"),
            f"{what}.filter.user_id",
            required=False,
        ) or platform_id(  # oauth.revoke: empty filter, the user in the payload
            opt_obj(envelope.get("payload"), f"{what}.payload").get("user_id"),
            f"{what}.payload.user_id",
            required=False,
        )
        if user:  # an event for no account (news.new by keyword) is no customer's post
            grouped.setdefault(user, []).append(envelope)
    return [
        (user, _as_account_activity(user, found, received_at)) for user, found in grouped.items()
    ]


def _as_account_activity(
    user: str, envelopes: list[dict[str, Any]], received_at: dt.datetime
) -> dict[str, Any]:
    tweets: list[dict[str, Any]] = []
    deletes: list[dict[str, Any]] = []
    messages: list[Any] = []
    users: dict[str, dict[str, Any]] = {}
    for index, envelope in enumerate(envelopes):
        what = f"event {envelope.get('event_uuid') or index}"
        kind = envelope.get("event_type")
        payload = opt_obj(envelope.get("payload"), f"{what} payload")
        includes = opt_obj(envelope.get("includes"), f"{what} includes")
        known = {
            u["id"]: u
            for u in map(_v2_user, opt_array(includes.get("users"), f"{what} users"))
            if u.get("id")
        }
        if kind in POSTS:
            tweets.append(_tweet(payload, known, what, quotes=user if kind == QUOTE else ""))
        elif kind == "post.delete":
            deletes.append(
                {
                    "status": {
                        "id_str": platform_id(payload.get("id"), f"{what} id"),
                        "user_id_str": platform_id(payload.get("author_id"), f"{what} author"),
                    },
                    # The event names no time: the delete was seen when the delivery came.
                    "timestamp_ms": str(int(received_at.timestamp() * 1000)),
                }
            )
        elif kind in DMS:
            messages += opt_array(payload.get("direct_message_events"), f"{what} messages")
            for key, value in opt_obj(payload.get("users"), f"{what} users").items():
                users[str(key)] = _v1_user(_v2_user(value), str(key))
    shaped: dict[str, Any] = {"for_user_id": user, "x_activity": envelopes}
    if tweets:
        shaped["tweet_create_events"] = tweets
    if deletes:
        shaped["tweet_delete_events"] = deletes
    if messages:
        shaped["direct_message_events"] = messages
        shaped["users"] = users
    return shaped


def _v2_user(value: Any) -> dict[str, Any]:
    """A v2 user object; some events wrap it as ``{"data": {...}}``."""
    if not isinstance(value, dict):
        return {}
    inner = value.get("data")
    return inner if isinstance(inner, dict) else value


def _v1_user(user: Mapping[str, Any], user_id: str = "") -> dict[str, Any]:
    metrics = user.get("public_metrics") if isinstance(user.get("public_metrics"), dict) else {}
    shaped: dict[str, Any] = {
        "id_str": str(user.get("id") or user_id),
        "screen_name": user.get("username") or "",
        "name": user.get("name") or "",
        "profile_image_url_https": user.get("profile_image_url") or "",
    }
    if isinstance(metrics.get("followers_count"), int):
        shaped["followers_count"] = metrics["followers_count"]
    if isinstance(user.get("verified"), bool):
        shaped["verified"] = user["verified"]
    return shaped


def _tweet(
    post: dict[str, Any], users: Mapping[str, Any], what: str, *, quotes: str = ""
) -> dict[str, Any]:
    """A v2 Post as the Account Activity tweet the X adapter reads. Its ``entities`` (v2
    ``mentions`` name the accounts it @mentions) and, for a quote of ``quotes``' post, the
    quoted post's author are kept: whether the brand may reply is told from them."""
    author = platform_id(post.get("author_id"), f"{what} author_id")
    created = text(post.get("created_at"), f"{what} created_at")
    try:
        posted = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ParseError(f"{what} created_at {created!r} is not a time.") from exc
    if posted.tzinfo is None:
        posted = posted.replace(tzinfo=dt.UTC)
    note = opt_obj(post.get("note_tweet"), f"{what} note_tweet")  # a long post's full text
    tweet: dict[str, Any] = {
        "id_str": platform_id(post.get("id"), f"{what} id"),
        "text": text(note.get("text") or post.get("text"), f"{what} text"),
        "timestamp_ms": str(int(posted.timestamp() * 1000)),
        "user": _v1_user(users.get(author) or {}, author),
        "lang": text(post.get("lang"), f"{what} lang"),
    }
    # An edit is a new post whose history names the original (platforms/x_edits.py).
    history = opt_array(post.get("edit_history_tweet_ids"), f"{what} edit_history_tweet_ids")
    if history:
        tweet["edit_history_tweet_ids"] = history
    refs = {
        ref.get("type"): ref.get("id")
        for ref in opt_array(post.get("referenced_tweets"), f"{what} referenced_tweets")
        if isinstance(ref, dict)
    }
    replied = post.get("in_reply_to_tweet_id") or refs.get("replied_to")
    if replied:
        tweet["in_reply_to_status_id_str"] = platform_id(replied, f"{what} in_reply_to")
    if isinstance(post.get("entities"), dict):
        tweet["entities"] = post["entities"]
    quoted = platform_id(refs.get("quoted"), f"{what} quoted id", required=False)
    if quoted:
        tweet["is_quote_status"] = True
        tweet["quoted_status_id_str"] = quoted
        if quotes:  # post.quote.create: a quote of the filtered user's post
            tweet["quoted_status"] = {"id_str": quoted, "user": {"id_str": quotes}}
    return tweet
