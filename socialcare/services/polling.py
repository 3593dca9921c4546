"""Polling platforms that have no webhooks (Mastodon, Bluesky) for new mentions and messages.

Each new page is stored as a delivery (source "poll") in the same transaction that advances the
channel's cursor, so a crash between the two never skips posts, then processed like a webhook: at
once by the poller, or (``process=False``) queued for the worker when that transaction commits.
A platform's 429, or a page whose rate-limit headers say the window is nearly used up
(``PollPage.retry_after``), pauses the channel's polling until the reset. After the new pages,
a Mastodon channel's open cases are checked for edits (``services.mastodon_edits``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass

import httpx
from django.db import transaction
from django.utils import timezone

from socialcare.conf import app_settings
from socialcare.exceptions import SocialCareError
from socialcare.models import Channel
from socialcare.platforms.base import PlatformError, RateLimited
from socialcare.platforms.registry import UnknownPlatform, get_adapter
from socialcare.services import channel_oauth, history, mastodon_edits
from socialcare.services.deliveries import accept_delivery
from socialcare.services.ingest import channel_config, process_delivery

logger = logging.getLogger("socialcare.polling")


@dataclass
class PollOutcome:
    channel: Channel
    pages: int = 0
    deliveries: list[int] = dataclasses.field(default_factory=list)
    posts: int = 0
    error: str = ""
    paused_until: object = None
    #: Posts found edited by the edit check (Mastodon, ``services.mastodon_edits``).
    edits: int = 0

    def __str__(self) -> str:
        if self.error:
            return f"{self.channel}: {self.error}"
        text = f"{self.channel}: {self.pages} new page(s), {self.posts} new post(s)"
        text += f", {self.edits} edited post(s)" if self.edits else ""
        if self.paused_until is not None:  # the platform's rate-limit headers said so
            text += f"; rate limit nearly used up, paused until {self.paused_until:%H:%M:%S} UTC"
        return text


def is_polled(channel: Channel) -> bool:
    try:
        return not get_adapter(channel.platform).receives_webhooks
    except UnknownPlatform:
        return False


def poll_channel(
    channel: Channel, *, client: httpx.Client | None = None, process: bool = True
) -> PollOutcome:
    """Fetch what is new on ``channel`` (up to POLL_MAX_PAGES pages), store and ingest it.

    ``process=False``: store each page and queue its processing for the worker, as the webhook
    endpoint does, instead of ingesting it in this process (``outcome.posts`` then stays 0). The
    simulator polls so: its process must not run detectors and playbooks (and send their mail).
    """
    if not is_polled(channel):
        raise SocialCareError(f"{channel} receives webhooks; there is nothing to poll.")
    adapter = get_adapter(channel.platform)
    outcome = PollOutcome(channel)
    own_client = client is None
    client = client or httpx.Client(timeout=app_settings.HTTP_TIMEOUT)
    source = history.first_poll_source(channel.poll_cursor)  # every page of a first poll
    try:
        for _ in range(max(1, app_settings.POLL_MAX_PAGES)):
            try:
                channel = channel_oauth.refresh_if_expired(channel)
            except channel_oauth.ChannelConnectError as exc:
                outcome.error = " ".join(exc.messages)
                break
            try:
                page = adapter.poll(channel_config(channel), client)
            except RateLimited as exc:
                outcome.paused_until = timezone.now() + dt.timedelta(seconds=exc.retry_after or 60)
                outcome.error = f"rate limited; polling paused for {int(exc.retry_after or 60)} s"
                break
            except (PlatformError, httpx.HTTPError) as exc:
                outcome.error = f"{type(exc).__name__}: {exc}"
                break
            if page.retry_after is not None:  # the window is nearly used up: stop after this page
                outcome.paused_until = timezone.now() + dt.timedelta(seconds=page.retry_after)
            if page.cursor == channel.poll_cursor and not page.has_more:
                break
            with transaction.atomic():
                delivery = accept_delivery(channel, page.body, {}, source=source, queue=not process)
                Channel.objects.filter(pk=channel.pk).update(poll_cursor=page.cursor[:500])
                channel.poll_cursor = page.cursor[:500]
            outcome.pages += 1
            outcome.deliveries.append(delivery.pk)
            if process:
                processed = process_delivery(delivery.pk)
                outcome.posts += processed.posts_count if processed else 0
            if not page.has_more or outcome.paused_until is not None:
                break
        if not outcome.error and outcome.paused_until is None:
            _check_edits(channel, client, outcome, process)
    finally:
        if own_client:
            client.close()
    Channel.objects.filter(pk=channel.pk).update(
        last_polled_at=timezone.now(),
        last_poll_error=outcome.error[:2000],
        poll_paused_until=outcome.paused_until,
    )
    channel.refresh_from_db()
    if outcome.error:
        logger.warning("Polling %s: %s", channel, outcome.error)
    return outcome


def _check_edits(
    channel: Channel, client: httpx.Client, outcome: PollOutcome, process: bool
) -> None:
    checked = mastodon_edits.check_edits(channel, client, process=process)
    outcome.edits, outcome.error = checked.edits, checked.error
    outcome.deliveries += [checked.delivery] if checked.delivery else []
    if checked.retry_after is not None:
        outcome.paused_until = timezone.now() + dt.timedelta(seconds=checked.retry_after)


def polled_channels(*, automatic: bool = True) -> list[Channel]:
    """The active channels on polled platforms, in id order: those that poll automatically
    (``polling_enabled``), or with ``automatic=False`` those whose switch is off."""
    channels = Channel.objects.active().filter(polling_enabled=automatic).order_by("pk")
    return [channel for channel in channels if is_polled(channel)]


def poll_due_channels() -> list[PollOutcome]:
    """Poll every active polled channel that polls automatically (``polling_enabled``) and is not
    paused by a rate limit. The "poll channels" schedule runs this every minute."""
    now = timezone.now()
    return [
        poll_channel(channel)
        for channel in polled_channels()
        if not (channel.poll_paused_until and channel.poll_paused_until > now)
    ]
