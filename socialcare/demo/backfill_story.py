"""A case the demo brings in as a backfill (``services.history``), through the poll's own path:

- **Mentions from before the channel was connected.** "Acme on Mastodon" was connected with its
  history: the channel's first poll read the mention notifications of the weeks before. Among
  them Oskar (a chaos.social account) @mentioned Acme three weeks ago about a hub that lost its
  pairing after a firmware update, and added two days later, in reply to himself, that a factory
  reset had not helped. Each page is stored as a delivery of source ``history`` (what a first
  poll stores) and ingested (``process_delivery``): the posts are stored and threaded into one
  case, marked "from history", with no SLA clock: no due times, no alerts, no detector saw them.
  The case waits in the inbox like any other ("From history" filter); the clock starts if Oskar
  writes again.

The bodies are Mastodon Notification entities (see ``mastodon_stories``); each is replayed at its
moment (``at_time``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from socialcare.demo.mastodon_stories import status_entity
from socialcare.demo.meta_stories import Builder
from socialcare.demo.stories import Story
from socialcare.models import Case, Channel, Post, WebhookDelivery
from socialcare.services.deliveries import accept_delivery
from socialcare.services.ingest import process_delivery

__all__ = ["FIRST", "SECOND", "play_backfill_story"]

FIRST = (
    "@acmehelp since last night's firmware update my Acme Hub lost every paired sensor. "
    "Re-pairing fails at 90%. Anyone else?"
)
SECOND = "@acmehelp a factory reset did not help either. The hub is useless now."
#: How long before the demo's "now" Oskar wrote, and his follow-up after that.
POSTED_DAYS_AGO = 21
FOLLOW_UP_AFTER = dt.timedelta(days=2, hours=3)
SERVER = "chaos.social"
ACCOUNT_ID = "110221987766554433"
NOTIFICATION_IDS = ("397020001", "397020317")  # made up, as in ``mastodon_stories``


def play_backfill_story(builder: Builder) -> list[tuple[Story, Case]]:
    """Play the backfill; return its case, for the loader's list of cases."""
    channel = builder.channels["mastodon"]
    first_at = (builder.now - dt.timedelta(days=POSTED_DAYS_AGO)).replace(microsecond=0)
    second_at = first_at + FOLLOW_UP_AFTER
    first = _status(channel, first_at, FIRST, sequence=0x11)
    second = _status(channel, second_at, SECOND, sequence=0x12, in_reply_to=first["id"])
    for notification_id, status in zip(NOTIFICATION_IDS, (first, second), strict=True):
        _history_delivery(builder, channel, notification_id, status)
    post = Post.objects.get(platform="mastodon", external_id=first["uri"])
    if not (post.from_history and post.case and post.case.from_history):
        raise RuntimeError("The demo's backfill did not open a case from history.")
    builder.posts += 2
    case = post.case
    story = Story("?oskar", "mastodon", case.status, case.priority, POSTED_DAYS_AGO * 24, FIRST)
    return [(story, case)]


def _history_delivery(
    builder: Builder, channel: Channel, notification_id: str, status: dict[str, Any]
) -> None:
    """Store one notification as a first poll stores its page (source ``history``) and ingest it
    as if read a minute after the post was written."""
    posted = dt.datetime.fromisoformat(status["created_at"])
    body = [{
        "id": notification_id, "type": "mention", "created_at": status["created_at"],
        "account": status["account"], "status": status,
    }]  # fmt: skip
    raw = json.dumps(body, ensure_ascii=False).encode()
    delivery = accept_delivery(channel, raw, {}, source=WebhookDelivery.Source.HISTORY, queue=False)
    builder.at_time(posted, process_delivery, delivery.pk)
    delivery.refresh_from_db()
    if delivery.status != WebhookDelivery.Status.PROCESSED:
        raise RuntimeError(f"The demo's backfill delivery failed: {delivery.last_error}")
    read = builder.now - dt.timedelta(minutes=5)  # the first poll ran just now
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        received_at=read, claimed_at=read, processed_at=read
    )
    Post.objects.filter(platform="mastodon", external_id=status["uri"]).update(received_at=read)


def _status(
    channel: Channel, at: dt.datetime, text: str, *, sequence: int, in_reply_to: str | None = None
) -> dict[str, Any]:
    """A Status entity of Oskar's, as mastodon.social serves a remote account's status."""
    local_id = str((int(at.timestamp() * 1000) << 16) | sequence)
    server = channel.base_url.removeprefix("https://").rstrip("/")
    account = {
        "id": ACCOUNT_ID,
        "username": "oskar",
        "acct": f"oskar@{SERVER}",
        "display_name": "Oskar 🛠",
        "url": f"https://{SERVER}/@oskar",
        "avatar": f"https://{server}/avatars/original/missing.png",
        "followers_count": 311,
    }
    return status_entity(
        channel, account, home=SERVER, local_id=local_id, at=at, text=text, in_reply_to=in_reply_to
    )
