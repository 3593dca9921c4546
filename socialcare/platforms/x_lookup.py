"""Whether an interrupted public reply is on X (``socialcare.platforms.lookup``).

``GET /2/users/:id/tweets`` (the brand's own timeline; X docs: x-api/posts/timelines, and
x-api/fundamentals/rate-limits: 900 requests per 15 minutes per user, 10,000 per app) with
``start_time`` at the reply's writing time, ``max_results=100``, ``exclude=retweets`` and
``tweet.fields=created_at,referenced_tweets,conversation_id``; pages follow ``meta.next_token``
as ``pagination_token`` until X sends none. The reply is the brand's post that replies
(``referenced_tweets`` ``replied_to``) to the same post with the same text. Direct messages are
not looked for (``CannotCheck``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import httpx

from socialcare.platforms.base import (
    ChannelConfig,
    OutboundMessage,
    ParseError,
    SendError,
    SentPost,
    accepted,
    from_iso,
    http_call,
)
from socialcare.platforms.lookup import (
    CLOCK_SKEW,
    MAX_LOOKUP_PAGES,
    CannotCheck,
    not_before,
    same_text,
)

TWEET_FIELDS = "created_at,referenced_tweets,conversation_id"


def find_published(
    channel: ChannelConfig,
    message: OutboundMessage,
    since: dt.datetime,
    client: httpx.Client,
) -> SentPost | None:
    """The brand's public reply ``message`` on X since ``since``, or None when X lists none."""
    from socialcare.platforms.x import DEFAULT_BASE_URL, WEB_URL, rate_limited

    if message.visibility == "private":
        raise CannotCheck("X direct messages are not looked for.")
    token = channel.secret("access_token")
    if not token or not channel.account_id:
        raise CannotCheck("The X channel has no access_token or account id to look with.")
    start = since.astimezone(dt.UTC) - CLOCK_SKEW
    params = {
        "start_time": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "max_results": "100",
        "exclude": "retweets",
        "tweet.fields": TWEET_FIELDS,
    }
    base = (channel.base_url or DEFAULT_BASE_URL).rstrip("/")
    url = f"{base}/2/users/{quote(channel.account_id, safe='')}/tweets"
    what = "X GET /2/users/:id/tweets"
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(MAX_LOOKUP_PAGES):
        response = http_call(client, "GET", url, what, params=params, headers=headers)
        if response.status_code == 429:
            raise rate_limited(response)
        answer = _object(accepted(response, what))
        for tweet in answer.get("data") or []:
            if _is_the_reply(tweet, message, since):
                tweet_id = str(tweet["id"])
                handle = channel.handle.lstrip("@") or "i/web"
                return SentPost(
                    external_id=tweet_id,
                    url=f"{WEB_URL}/{handle}/status/{tweet_id}",
                    posted_at=_created(tweet),
                )
        meta = answer.get("meta") if isinstance(answer.get("meta"), dict) else {}
        next_token = meta.get("next_token")
        if not isinstance(next_token, str) or not next_token:
            return None
        params["pagination_token"] = next_token
    raise CannotCheck(f"The brand posted more than {MAX_LOOKUP_PAGES * 100} times since then.")


def _object(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError as exc:
        raise SendError(f"X answered the timeline with non-JSON: {exc}") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("data", []), list):
        raise SendError(f"X answered the timeline with {answer!r:.300}")
    return answer


def _created(tweet: dict[str, Any]) -> dt.datetime | None:
    try:
        return from_iso(tweet.get("created_at")) if tweet.get("created_at") else None
    except ParseError:
        return None


def _is_the_reply(tweet: Any, message: OutboundMessage, since: dt.datetime) -> bool:
    if not isinstance(tweet, dict) or not isinstance(tweet.get("id"), str):
        return False
    if not not_before(_created(tweet), since):
        return False
    if message.in_reply_to:
        references = tweet.get("referenced_tweets") or tweet.get("referenced_posts") or []
        parents = {
            str(ref.get("id"))
            for ref in references
            if isinstance(ref, dict) and ref.get("type") == "replied_to"
        }
        if message.in_reply_to not in parents:
            return False
    return same_text(str(tweet.get("text") or ""), message.text)
