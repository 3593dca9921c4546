"""Pacing: a reply the platform would refuse for its send limits waits in the queue for the
moment it may go, instead of failing.

X limits the endpoints that create direct messages (``POST /2/dm_conversations/with/
:participant_id/messages`` and the two other DM create endpoints, which share the limit) to 15
requests per 15 minutes and 1,440 per 24 hours per user (the brand account), and 1,440 per 24
hours per app. ``PACES`` holds those rules per (platform, visibility); docs/replies.md gives the
sources.

The worker's ``deliver_post`` claims a post through ``claim``. For a paced post it takes a row
lock (the channel's row, and its ``PlatformApp``'s for a per-app rule) and counts, in each trailing
window, the posts of the scope X accepted (``send_status`` sent; ``posted_at`` is the moment it
did), those being sent, and those queued before this one (they go first). When the window is
full the post stays ``queued``, with no attempt counted, and is queued again for the moment the
oldest post that holds its slot leaves the window; its ``send_error`` and one timeline note tell
the agent ("Waiting for X's direct-message limit (15 per 15 minutes per account): sending at
14:32."). Two workers cannot both take the last slot: the lock makes them claim one at a time
(PostgreSQL ``SELECT … FOR NO KEY UPDATE``; on SQLite, ``transaction_mode: IMMEDIATE`` in
``socialcare.db_settings.SQLITE_OPTIONS`` serializes the transactions).

A 429 that still comes (another client sending on the same account) re-queues the post at X's
reset time without counting the attempt (``wait_for_reset``), and holds the channel's other
paced posts until then: the reset is kept on the post (``raw["x_rate_limited"]``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.db import transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from socialcare.models import CaseEvent, Channel, PlatformApp, Post, Visibility
from socialcare.platforms.base import RateLimited
from socialcare.services.events import record_event
from socialcare.services.reply_window import clock_text

#: Where a 429's reset is kept on the outbound post, while it waits.
RATE_LIMITED_KEY = "x_rate_limited"
#: Queued again this long after the window frees (clock differences, the window's edge).
MARGIN = dt.timedelta(seconds=1)
#: Wait after a 429 that names no reset.
DEFAULT_RESET = dt.timedelta(seconds=60)
#: A waiting post's ``send_error`` starts with this.
WAITING = "Waiting for "


@dataclass(frozen=True)
class Pace:
    """At most ``limit`` sends in any ``window``, counted over one account (the channel) or,
    with ``scope="app"``, over every channel of its ``PlatformApp``."""

    limit: int
    window: dt.timedelta
    scope: str = "account"

    @property
    def label(self) -> str:
        minutes = int(self.window.total_seconds() // 60)
        span = f"{minutes} minutes" if minutes < 120 else f"{minutes // 60} hours"
        return f"{self.limit:,} per {span} per {'app' if self.scope == 'app' else 'account'}"


#: (platform, visibility) -> the limits its sends are paced by. X direct messages: per user
#: 15 per 15 minutes and 1,440 per 24 hours; per app 1,440 per 24 hours.
PACES: dict[tuple[str, str], tuple[Pace, ...]] = {
    ("x", Visibility.PRIVATE): (
        Pace(15, dt.timedelta(minutes=15)),
        Pace(1_440, dt.timedelta(hours=24)),
        Pace(1_440, dt.timedelta(hours=24), scope="app"),
    ),
}
#: How the wait is named to agents, per (platform, visibility).
WHAT = {("x", Visibility.PRIVATE): "X's direct-message limit"}


class Claim(NamedTuple):
    """``claimed``: the post is now ``sending`` (one attempt counted). ``wait_until``: it may not
    go before then (``reason`` says why); it stays ``queued``."""

    claimed: bool
    wait_until: dt.datetime | None = None
    reason: str = ""


def paces_for(platform: str, visibility: str) -> tuple[Pace, ...]:
    return PACES.get((platform, visibility), ())


def is_paced(post: Post) -> bool:
    return bool(paces_for(post.platform, post.visibility)) and post.channel_id is not None


def claim(post_id: int) -> Claim:
    """Claim a ``queued`` post for sending, unless a pace makes it wait. Only a queued post is
    claimed, so a duplicate task never sends twice."""
    row = (
        Post.objects.filter(pk=post_id, send_status=Post.SendStatus.QUEUED)
        .values("platform", "visibility", "channel_id", "channel__app_id")
        .first()
    )
    paces = paces_for(row["platform"], row["visibility"]) if row else ()
    if not row or not paces or not row["channel_id"]:
        return Claim(_take(post_id))
    with transaction.atomic():
        _lock(row["channel_id"], row["channel__app_id"], paces)
        now = timezone.now()
        wait = _next_slot(post_id, row, paces, now)
        if wait is not None:
            return wait
        # The claim moves the post's time to now: the stuck-reply sweeper reads a ``sending``
        # post whose time is old as a dead worker's.
        return Claim(_take(post_id, posted_at=now))


def _take(post_id: int, **fields: Any) -> bool:
    return bool(
        Post.objects.filter(pk=post_id, send_status=Post.SendStatus.QUEUED).update(
            send_status=Post.SendStatus.SENDING, send_attempts=F("send_attempts") + 1, **fields
        )
    )


def _lock(channel_id: int, app_id: int | None, paces: tuple[Pace, ...]) -> None:
    # NO KEY UPDATE, as ingest's channel lock: it does not block replies being inserted.
    if app_id and any(p.scope == "app" for p in paces):
        PlatformApp.objects.select_for_update(no_key=True).filter(pk=app_id).values("pk").first()
    Channel.objects.select_for_update(no_key=True).filter(pk=channel_id).values("pk").first()


def _scope_posts(row: dict[str, Any], scope: str) -> QuerySet[Post]:
    posts = Post.objects.filter(
        platform=row["platform"],
        visibility=row["visibility"],
        direction=Post.Direction.OUTBOUND,
    )
    if scope == "app" and row["channel__app_id"]:
        return posts.filter(channel__app_id=row["channel__app_id"])
    return posts.filter(channel_id=row["channel_id"])


def _next_slot(
    post_id: int, row: dict[str, Any], paces: tuple[Pace, ...], now: dt.datetime
) -> Claim | None:
    """A ``Claim`` to wait, or None when every pace has room for the post now."""
    key = (row["platform"], row["visibility"])
    what = WHAT.get(key, f"{row['platform']}'s send limit")
    latest: Claim | None = None
    for scope in dict.fromkeys(p.scope for p in paces):
        if scope == "app" and not row["channel__app_id"]:
            continue  # an account on no shared app counts alone, as its per-account pace does
        mine = [p for p in paces if p.scope == scope]
        posts = _scope_posts(row, scope)
        longest = max(p.window for p in mine)
        counts = posts.filter(
            Q(send_status=Post.SendStatus.SENT, posted_at__gt=now - longest)
            | Q(send_status=Post.SendStatus.SENDING)
            | Q(send_status=Post.SendStatus.QUEUED, pk__lt=post_id)
        ).aggregate(
            sending=Count("pk", filter=Q(send_status=Post.SendStatus.SENDING)),
            ahead=Count("pk", filter=Q(send_status=Post.SendStatus.QUEUED)),
            **{
                f"sent_{i}": Count(
                    "pk",
                    filter=Q(send_status=Post.SendStatus.SENT, posted_at__gt=now - p.window),
                )
                for i, p in enumerate(mine)
            },
        )
        for i, pace in enumerate(mine):
            sent = counts[f"sent_{i}"]
            used = sent + counts["sending"] + counts["ahead"]
            if used < pace.limit:
                continue
            # The slot this post may take frees when the (used - limit + 1)-th oldest post in
            # the window leaves it; a slot held by a post not yet sent frees a window from now
            # at the soonest.
            index = used - pace.limit
            moment = now + pace.window
            if index < sent:
                oldest = (
                    posts.filter(send_status=Post.SendStatus.SENT, posted_at__gt=now - pace.window)
                    .order_by("posted_at", "pk")
                    .values_list("posted_at", flat=True)[index]
                )
                moment = oldest + pace.window
            if latest is None or moment > latest.wait_until:
                latest = Claim(False, moment, f"{what} ({pace.label})")
    reset = _rate_limited_until(row, now)
    if reset is not None and (latest is None or reset > latest.wait_until):
        latest = Claim(False, reset, f"{what} (X answered 429 Too Many Requests)")
    return latest


def _rate_limited_until(row: dict[str, Any], now: dt.datetime) -> dt.datetime | None:
    """The latest reset X named in a 429 to a post of this account still waiting for it."""
    waiting = _scope_posts(row, "account").filter(
        send_status=Post.SendStatus.QUEUED, raw__has_key=RATE_LIMITED_KEY
    )
    resets = []
    for raw in waiting.values_list("raw", flat=True):
        value = (raw or {}).get(RATE_LIMITED_KEY) or {}
        at = _parse(value.get("reset_at")) if isinstance(value, dict) else None
        if at is not None and at > now:
            resets.append(at)
    return max(resets, default=None)


def _parse(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def wait(post: Post, claim: Claim) -> Post:
    """Leave ``post`` queued until ``claim.wait_until``: queued again for then, its status line
    saying so, and a timeline note when it starts waiting for this reason."""
    if claim.wait_until is None:
        raise ValueError("Nothing to wait for: the claim names no moment.")
    return _requeue(post, claim.wait_until, f"{WAITING}{claim.reason}")


def wait_for_reset(post: Post, exc: RateLimited) -> Post:
    """X answered 429 to a paced post: queued again at the reset X named, the attempt not
    counted (it was the limit, not the message), other paced posts of the account held until
    then too."""
    reset = timezone.now() + (
        dt.timedelta(seconds=exc.retry_after) if exc.retry_after is not None else DEFAULT_RESET
    )
    what = WHAT.get((post.platform, post.visibility), f"{post.platform}'s send limit")
    raw = {**(post.raw or {}), RATE_LIMITED_KEY: {"reset_at": reset.isoformat(), "status": 429}}
    with transaction.atomic():
        Post.objects.filter(pk=post.pk, send_status=Post.SendStatus.SENDING).update(
            send_status=Post.SendStatus.QUEUED,
            send_attempts=F("send_attempts") - 1,
            raw=raw,
        )
        return _requeue(post, reset, f"{WAITING}{what} (X answered 429 Too Many Requests)")


def _requeue(post: Post, until: dt.datetime, reason: str) -> Post:
    from socialcare import tasks

    line = f"{reason}: sending at {clock_text(until, None)}."
    first = not (post.send_error or "").startswith(reason)
    delay = max((until + MARGIN - timezone.now()).total_seconds(), MARGIN.total_seconds())
    with transaction.atomic():
        updated = Post.objects.filter(pk=post.pk, send_status=Post.SendStatus.QUEUED).update(
            send_error=line
        )
        post.refresh_from_db()
        if not updated:
            return post
        if post.case_id and first:
            record_event(
                post.case,
                CaseEvent.Kind.NOTE,
                post=post,
                text=f"Reply not sent yet: {line} It is not failed; it goes when the limit allows.",
                send_paced_until=until.isoformat(),
            )
        transaction.on_commit(lambda: tasks.enqueue_send_post(post.pk, delay=delay))
    return post
