"""A Mastodon case the demo plays through the poll's own path, not by hand:

- **An edited complaint.** Søren (a local account of mastodon.social, the server of "Acme on
  Mastodon") @mentions Acme about a smoke sensor that keeps chirping. The poll reads the mention
  notification (``GET /api/v1/notifications``), stores the page as a poll delivery and ingests it
  (``process_delivery``: ``MastodonAdapter.parse``, ``ingest_post``), which opens the case. Six
  minutes later he edits the status: he adds his order number and says it woke the house.
  Mastodon notifies no one of that edit (only accounts that boosted the status get an
  ``update``), so the poll's edit check re-fetches the open cases' statuses
  (``GET /api/v1/statuses?id[]=…``) and stores the answer, a list of Status entities, as a poll
  delivery too, ingested as a ``PostEdit`` (``services.mastodon_edits``): the post shows the new
  text and the timeline "The customer edited this post. Before: …". Maya then takes the case.

The demo has no network: the bodies are what Mastodon would have answered
(https://docs.joinmastodon.org/entities/Notification/ and .../entities/Status/: ``id``, ``uri``,
``created_at``, ``edited_at``, ``content`` as HTML, ``account``), and each step is replayed at
its moment (``at_time``: the events it wrote are moved there). The channel's poll cursor is left
alone: the demo's notification id is made up.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from typing import Any

from socialcare.demo.meta_stories import Builder
from socialcare.demo.stories import Story
from socialcare.models import Case, Channel, Post, SocialIdentity, WebhookDelivery
from socialcare.services import cases as case_services
from socialcare.services.deliveries import accept_delivery
from socialcare.services.ingest import process_delivery

__all__ = ["COMPLAINT", "EDITED_COMPLAINT", "play_mastodon_stories"]

#: What Søren wrote, and what the status says after his edit (the order number added).
COMPLAINT = (
    "@acmehelp my Acme smoke sensor chirps every 30 seconds, even with a brand new battery. "
    "Is it broken?"
)
EDITED_COMPLAINT = (
    "@acmehelp my Acme smoke sensor (order AC-53318, delivered Monday) chirps every 30 seconds, "
    "even with a brand new battery. It woke the whole house at 4 am. Is it broken?"
)
#: The status' id on mastodon.social is a snowflake made from its time (milliseconds << 16, then
#: this sequence); the notification's id, Mastodon's own counter, is made up.
NOTIFICATION_ID = "398811204"
SEQUENCE = 0x2A17

#: When each step happened, in hours and minutes before and after the demo's "now".
POSTED_HOURS_AGO = 1.5
EDITED_AFTER = dt.timedelta(minutes=6)
POLL_DELAY = dt.timedelta(seconds=45)  # the poll runs every minute
TAKEN_AFTER = dt.timedelta(minutes=14)
TAGS = ("smoke-sensor", "hardware")


def play_mastodon_stories(builder: Builder) -> list[tuple[Story, Case]]:
    """Play the edited complaint; return it with its case, for the loader's list of cases."""
    return [_edited_complaint(builder)]


def _edited_complaint(builder: Builder) -> tuple[Story, Case]:
    channel = builder.channels["mastodon"]
    soren = builder.identities["soren", "mastodon"]
    maya = builder.agents["maya"]
    # Whole seconds: Mastodon's timestamps have milliseconds, the events must match them.
    posted = (builder.now - dt.timedelta(hours=POSTED_HOURS_AGO)).replace(microsecond=0)
    status = _status(channel, soren, posted)

    # The poll: the mention notification, stored as a poll delivery and ingested.
    mention = {
        "id": NOTIFICATION_ID,
        "type": "mention",
        "created_at": iso(posted),
        "account": status["account"],
        "status": status,
    }
    _poll_delivery(builder, channel, [mention], at=posted, received=posted + POLL_DELAY)
    post = Post.objects.get(platform="mastodon", external_id=status["uri"])
    Post.objects.filter(pk=post.pk).update(received_at=posted + POLL_DELAY)
    builder.posts += 1

    # Søren edits the status; a later poll's edit check re-fetches it (a list of statuses).
    edited = posted + EDITED_AFTER
    status = {**status, "content": status_html(channel, EDITED_COMPLAINT), "edited_at": iso(edited)}
    _poll_delivery(builder, channel, [status], at=edited, received=edited + POLL_DELAY)
    post.refresh_from_db()
    if post.text != EDITED_COMPLAINT or post.edited_at != edited or post.case is None:
        raise RuntimeError("The demo's Mastodon edit was not ingested as an edit.")

    case = post.case
    taken = posted + TAKEN_AFTER
    builder.at_time(taken, case_services.assign_case, case, maya)
    builder.at_time(taken + dt.timedelta(minutes=1), case_services.set_tags, case, TAGS, actor=maya)
    case.refresh_from_db()
    story = Story(
        "soren", "mastodon", case.status, case.priority, POSTED_HOURS_AGO, COMPLAINT,
        agent="maya", tags=TAGS,
    )  # fmt: skip
    return story, case


def _poll_delivery(
    builder: Builder,
    channel: Channel,
    body: list[dict[str, Any]],
    *,
    at: dt.datetime,
    received: dt.datetime,
) -> None:
    """Store ``body`` as the poll stores a page (a poll delivery, processed here, not queued) and
    ingest it as if at ``at``; the delivery is dated ``received``."""
    raw = json.dumps(body, ensure_ascii=False).encode()
    delivery = accept_delivery(channel, raw, {}, source=WebhookDelivery.Source.POLL, queue=False)
    builder.at_time(at, process_delivery, delivery.pk)
    delivery.refresh_from_db()
    if delivery.status != WebhookDelivery.Status.PROCESSED:
        raise RuntimeError(f"The demo's Mastodon poll delivery failed: {delivery.last_error}")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        received_at=received, claimed_at=received, processed_at=received
    )


def _status(channel: Channel, identity: SocialIdentity, at: dt.datetime) -> dict[str, Any]:
    """The Status entity of the complaint, as mastodon.social serves it to the brand."""
    server = channel.base_url.removeprefix("https://").rstrip("/")
    user = identity.handle.partition("@")[0]
    local_id = str((int(at.timestamp() * 1000) << 16) | SEQUENCE)
    account = {
        "id": "109384772265108512",
        "username": user,
        "acct": user,  # local to the brand's server: no domain
        "display_name": identity.display_name,
        "url": identity.external_id,  # the account URL is the identity's id (platforms.mastodon)
        "avatar": f"https://{server}/avatars/original/missing.png",
        "followers_count": identity.followers_count,
    }
    return status_entity(channel, account, home=server, local_id=local_id, at=at, text=COMPLAINT)


def status_entity(
    channel: Channel,
    account: dict[str, Any],
    *,
    home: str,
    local_id: str,
    at: dt.datetime,
    text: str,
    in_reply_to: str | None = None,
) -> dict[str, Any]:
    """A public Status entity (Mastodon's REST API) by ``account``, whose server is ``home``,
    mentioning the brand's account first."""
    server = channel.base_url.removeprefix("https://").rstrip("/")
    user = account["username"]
    return {
        "id": local_id,
        "uri": f"https://{home}/users/{user}/statuses/{local_id}",
        "url": f"https://{home}/@{user}/{local_id}",
        "created_at": iso(at),
        "edited_at": None,
        "in_reply_to_id": in_reply_to,
        "visibility": "public",
        "language": "en",
        "sensitive": False,
        "spoiler_text": "",
        "content": status_html(channel, text),
        "account": account,
        "media_attachments": [],
        "mentions": [{
            "id": channel.account_id, "username": channel.handle, "acct": channel.handle,
            "url": f"https://{server}/@{channel.handle}",
        }],
    }  # fmt: skip


def status_html(channel: Channel, text: str) -> str:
    """``text`` as Mastodon renders a status: the leading @mention as an h-card link."""
    mention = f"@{channel.handle}"
    rest = html.escape(text.removeprefix(mention), quote=False)
    server = channel.base_url.rstrip("/")
    link = (
        f'<span class="h-card" translate="no"><a href="{server}/@{channel.handle}" '
        f'class="u-url mention">@<span>{channel.handle}</span></a></span>'
    )
    return f"<p>{link}{rest}</p>"


def iso(at: dt.datetime) -> str:
    """Mastodon's datetime format: ISO 8601 in UTC with milliseconds and ``Z``."""
    return at.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
