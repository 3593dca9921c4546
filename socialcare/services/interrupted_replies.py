"""A reply whose worker stopped mid-send: look on the platform before failing it.

The reply sweeper (``services.replies.sweep_stale``) finds a reply still ``sending``
``STALE_REPLY_AFTER`` after it was written: its worker died between the platform call and the
database update, so the reply may or may not be out. ``settle_interrupted`` decides
(docs/replies.md, "A reply interrupted mid-send"):

- Mastodon: sent again with the same ``Idempotency-Key`` (``socialcare-post-<id>``); Mastodon
  answers a repeated key with the status it already created, so nothing is published twice. The
  key is kept for one hour, so a reply written longer ago than ``IDEMPOTENCY_KEY_LIFETIME`` minus
  a margin is not re-sent: it is failed as before ("may have been published").
- X and Meta public replies: the transport's ``find_published`` looks for it. Found: the reply
  is marked sent with the platform's id and address, as a send would, and the case says "found
  published on the platform after an interruption". Not there: it is queued again (the platform
  listed every reply since it was written); past ``SEND_MAX_ATTEMPTS`` it is failed as "not
  published; safe to send again" instead, so a reply that keeps killing its worker stops.
- Anything else (Bluesky, email, direct messages, a transport without ``find_published``, a
  lookup that failed: 429, 5xx, timeout): failed as "may have been published; not sent again",
  for an agent to check.
"""

from __future__ import annotations

import datetime as dt
import logging
from enum import StrEnum

from django.db import transaction
from django.utils import timezone

from socialcare import signals
from socialcare.conf import app_settings
from socialcare.models import CaseEvent, Post
from socialcare.platforms.base import SentPost
from socialcare.services.events import record_event
from socialcare.transports import IDEMPOTENT_PLATFORMS

logger = logging.getLogger("socialcare.replies")

#: How long Mastodon keeps an Idempotency-Key (docs: methods/statuses, "stored for up to 1 hour").
IDEMPOTENCY_KEY_LIFETIME = dt.timedelta(hours=1)
#: Re-send only this long before the key may have expired (the first attempt came after writing).
IDEMPOTENCY_KEY_MARGIN = dt.timedelta(minutes=5)

#: One sweep settles at most this many interrupted replies, and starts none after
#: ``SWEEP_BUDGET`` (each may read a few pages of the platform): the rest wait for the next sweep,
#: oldest first, so a pile of them never outruns the broker's task timeout.
LOOKUPS_PER_SWEEP = 20
SWEEP_BUDGET = dt.timedelta(seconds=30)

UNCONFIRMED = (
    "The worker sending this reply stopped before the platform answered: the reply may have "
    "been published. Check the platform before sending it again."
)


class Outcome(StrEnum):
    REQUEUED = "requeued"
    SENT = "sent"
    FAILED = "failed"
    UNCHANGED = "unchanged"  # no longer ``sending``: its worker finished after all


def settle_interrupted(post: Post, now: dt.datetime | None = None) -> Outcome:
    """Decide what becomes of ``post``, left ``sending`` by a worker that stopped. A re-queued
    reply is the caller's to enqueue."""
    now = now or timezone.now()
    if post.platform in IDEMPOTENT_PLATFORMS:
        if now - post.posted_at < IDEMPOTENCY_KEY_LIFETIME - IDEMPOTENCY_KEY_MARGIN:
            return _requeue(
                post,
                f"Reply interrupted mid-send; sending it again with the same Idempotency-Key: "
                f"{post.platform} returns the first post if it was published, so it is not "
                "published twice.",
                "resent_with_key",
            )
        return _unconfirmed(post, f"{UNCONFIRMED} (The Idempotency-Key may have expired.)")
    try:
        found = _look(post)
    except Exception as exc:  # the platform could not be asked: today's rule
        logger.info("Could not look for interrupted reply %s: %s", post.pk, exc)
        return _unconfirmed(post, f"{UNCONFIRMED} ({post.platform} could not be asked: {exc})")
    if found is not None:
        return _found(post, found)
    if post.send_attempts >= app_settings.SEND_MAX_ATTEMPTS:
        return _failed_safe(post)
    return _requeue(
        post,
        f"Reply interrupted mid-send; {post.platform} shows it was not published, so it is sent "
        "again.",
        "not_published",
    )


def _look(post: Post) -> SentPost | None:
    from socialcare.platforms.lookup import CannotCheck
    from socialcare.services.replies import outbound_message
    from socialcare.transports import get_transport

    look = getattr(get_transport(), "find_published", None)
    if look is None or post.channel is None:
        raise CannotCheck("this transport cannot look for published replies")
    return look(post.channel, outbound_message(post), post.posted_at)


def _note(post: Post, text: str, outcome: str) -> None:
    if post.case_id:
        record_event(post.case, CaseEvent.Kind.NOTE, post=post, text=text, interrupted_send=outcome)


@transaction.atomic
def _requeue(post: Post, text: str, outcome: str) -> Outcome:
    sending = Post.objects.filter(pk=post.pk, send_status=Post.SendStatus.SENDING)
    if not sending.update(send_status=Post.SendStatus.QUEUED):
        return Outcome.UNCHANGED
    post.refresh_from_db()
    _note(post, text, outcome)
    return Outcome.REQUEUED


@transaction.atomic
def _found(post: Post, sent: SentPost) -> Outcome:
    from socialcare.services.replies import note_response

    external_id = sent.external_id or None
    # The platform's echo of the reply (X's Account Activity, Messenger) may have been stored
    # meanwhile as a post of its own with that id: keep it, and this row without the id.
    echo = Post.objects.filter(platform=post.platform, external_id=external_id).exclude(pk=post.pk)
    echoed = external_id is not None and echo.exists()
    sending = Post.objects.filter(pk=post.pk, send_status=Post.SendStatus.SENDING)
    updated = sending.update(
        send_status=Post.SendStatus.SENT,
        send_error="",
        external_id=None if echoed else external_id,
        url=sent.url[:1000],
        local_id=sent.local_id[:100],
        posted_at=sent.posted_at or post.posted_at,
    )
    if not updated:
        return Outcome.UNCHANGED
    post.refresh_from_db()
    where = f" ({post.url or sent.external_id})" if post.url or sent.external_id else ""
    also = " It was also stored as it came back from the platform." if echoed else ""
    _note(
        post,
        f"Reply found published on {post.platform}{where} after an interruption.{also}",
        "found",
    )
    if post.case_id:
        note_response(post.case, post.posted_at)
    transaction.on_commit(lambda: signals.reply_sent.send(Post, post=post, case=post.case))
    return Outcome.SENT


def _failed_safe(post: Post) -> Outcome:
    from socialcare.services.replies import _fail

    error = (
        f"Reply interrupted mid-send {post.send_attempts} times; {post.platform} shows it was "
        "not published, so it is safe to send again (Retry)."
    )
    post = _fail(post, error, only_from=Post.SendStatus.SENDING)
    return Outcome.FAILED if post.send_status == Post.SendStatus.FAILED else Outcome.UNCHANGED


def _unconfirmed(post: Post, error: str) -> Outcome:
    from socialcare.services.replies import _fail

    post = _fail(post, error, unconfirmed=True, only_from=Post.SendStatus.SENDING)
    return Outcome.FAILED if post.send_status == Post.SendStatus.FAILED else Outcome.UNCHANGED
