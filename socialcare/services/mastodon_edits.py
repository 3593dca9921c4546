"""Mastodon edits: the statuses of open cases are re-fetched after each poll.

Mastodon sends an ``update`` notification only for statuses the account boosted, so a
customer who edits a complaint never tells the brand's notifications. After the mentions, each
poll of a Mastodon channel re-fetches up to ``MASTODON_EDIT_CHECKS`` statuses (one request:
``GET /api/v1/statuses?id[]=…``, Mastodon 4.3+; on older servers ``GET /api/v1/statuses/:id``
for 5 of them), in turn, of the customer posts on the channel's open cases posted within
``MASTODON_EDIT_WINDOW``. A status whose ``edited_at`` is newer than the stored edit, with new
text, is stored as a poll delivery and ingested like any edit (``PostEdit``): the post shows
the new text and the case's timeline a "post edited" event with the old one. The rotation
remembers where it stopped (Django's cache), so every candidate is checked in turn.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import httpx
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from socialcare.conf import app_settings
from socialcare.models import Case, Channel, Post, WebhookDelivery
from socialcare.platforms.base import ParseError, PlatformError, PostEdit, RateLimited
from socialcare.platforms.mastodon import SINGLE_FETCHES, STATUSES_PER_CALL
from socialcare.services.deliveries import accept_delivery
from socialcare.services.ingest import channel_config, process_delivery

logger = logging.getLogger("socialcare.polling")

#: How long a server is remembered as having no ``GET /api/v1/statuses`` (it may upgrade).
NO_MULTI_GET_SECONDS = 24 * 3600


@dataclass
class EditCheck:
    """What one edit check did: statuses asked for, edits found and ingested (or queued), the
    delivery that holds them, a rate-limit wait, an error."""

    checked: int = 0
    edits: int = 0
    delivery: int | None = None
    retry_after: float | None = None
    error: str = ""


def candidates(channel: Channel):  # -> QuerySet[Post]
    """The customer posts whose edits are looked for: on ``channel``'s open cases, posted within
    ``MASTODON_EDIT_WINDOW``, not deleted, in id order."""
    since = timezone.now() - app_settings.MASTODON_EDIT_WINDOW
    return (
        Post.objects.filter(
            channel=channel,
            direction=Post.Direction.INBOUND,
            case__status__in=Case.OPEN_STATUSES,
            posted_at__gte=since,
            deleted_at__isnull=True,
        )
        .exclude(local_id="")
        .order_by("pk")
        .only("pk", "external_id", "local_id", "text", "edited_at")
    )


def _key(channel: Channel, what: str) -> str:
    server = hashlib.sha256(channel.base_url.strip().rstrip("/").encode()).hexdigest()[:16]
    return f"socialcare:mastodon-{what}:{channel.pk}:{server}"


def _next_posts(channel: Channel, limit: int) -> list[Post]:
    after = cache.get(_key(channel, "edits")) or 0
    posts = list(candidates(channel).filter(pk__gt=after)[:limit])
    if len(posts) < limit:  # round again from the start
        posts += list(candidates(channel).filter(pk__lte=after)[: limit - len(posts)])
    return posts


def check_edits(channel: Channel, client: httpx.Client, *, process: bool = True) -> EditCheck:
    """Re-fetch the next statuses of ``channel``'s open cases and ingest the ones edited since
    (``process=False``: queue their delivery for the worker). Nothing to do on other
    platforms, or with ``MASTODON_EDIT_CHECKS`` 0."""
    from socialcare.platforms.registry import get_adapter

    adapter = get_adapter(channel.platform)
    fetch = getattr(adapter, "fetch_statuses", None)
    limit = min(app_settings.MASTODON_EDIT_CHECKS, STATUSES_PER_CALL)
    if fetch is None or limit <= 0:
        return EditCheck()
    posts = _next_posts(channel, limit)
    if not posts:
        return EditCheck()
    multi_key = _key(channel, "multi-get")
    config = channel_config(channel)
    outcome = EditCheck()
    try:
        ids = [p.local_id for p in posts]
        batch = fetch(config, client, ids, multi_get=cache.get(multi_key, True))
    except RateLimited as exc:
        wait = exc.retry_after or 60
        return EditCheck(retry_after=wait, error=f"rate limited; polling paused for {int(wait)} s")
    except (PlatformError, httpx.HTTPError) as exc:
        return EditCheck(error=f"checking edits: {exc}")
    if not batch.multi_get:
        cache.set(multi_key, False, NO_MULTI_GET_SECONDS)
    checked = posts if batch.multi_get else posts[:SINGLE_FETCHES]
    outcome.checked, outcome.retry_after = len(checked), batch.retry_after
    cache.set(_key(channel, "edits"), checked[-1].pk, 7 * 24 * 3600)
    try:
        events = adapter.parse(batch.body, config)
    except ParseError as exc:
        events, outcome.error = list(exc.events), f"checking edits: {exc}"
    stored = {p.external_id: p for p in checked}
    edits = [e for e in events if isinstance(e, PostEdit) and _is_new(e, stored)]
    if not edits:
        return outcome
    with transaction.atomic():
        delivery = accept_delivery(
            channel, batch.body, {}, source=WebhookDelivery.Source.POLL, queue=not process
        )
    outcome.delivery, outcome.edits = delivery.pk, len(edits)
    if process:
        process_delivery(delivery.pk)
    logger.info("Mastodon edit check on %s: %s edited post(s)", channel, len(edits))
    return outcome


def _is_new(edit: PostEdit, stored: dict[str, Post]) -> bool:
    post = stored.get(edit.post.external_id)
    if post is None or edit.post.text == post.text:
        return False
    return post.edited_at is None or edit.edited_at > post.edited_at
