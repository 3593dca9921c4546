"""Account routing: one webhook URL per platform app, each event to the channel of its account.

X and Meta deliver every subscribed account's events to the one URL of the app (DESIGN.md,
"Account routing"). The app's URL (``webhooks.app_webhook``) checks the signature with the
app's secret and stores the delivery as it came (``accept``: no channel yet). The worker
(``ingest.process_delivery``) then routes it here (``route_claimed``) before anything is
parsed:

* the account is read from the raw JSON: X Account Activity ``for_user_id``; X Activity API
  ``data.filter.user_id`` (``payload.user_id`` for ``oauth.revoke``); Meta ``entry[].id``, in
  the id space of ``object`` (``page`` → Facebook, ``instagram`` → Instagram);
* a delivery for one account that the channel's adapter reads as it is (X Account Activity,
  Meta with one account) becomes that channel's delivery in place: no copy, and the same replay
  key as on the channel's own URL, so one delivery sent to both is ingested once;
* a delivery naming several accounts (Meta batches entries of many Pages) is split: one
  delivery per account, holding that account's entries, each then processed as the channel's
  own; the app delivery ends ``processed`` with its body emptied (its parts hold every event);
* X Activity API events are written in the Account Activity shape the X adapter reads
  (``tweet_create_events``, ``tweet_delete_events``, ``direct_message_events``), the events as
  delivered kept beside them under ``x_activity``;
* an event for an account no active channel has is **kept**, ``unrouted``, with the reason and
  a log warning. ``route_waiting`` hands it to the channel once it exists: when that channel
  is saved (``channel_routing.channel_saved``), from the admin actions and the API, and with
  every later delivery routed to that account's channel.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from socialcare.models import Channel, DeliveryFingerprint, PlatformApp, WebhookDelivery
from socialcare.platforms.base import ChannelConfig, ParseError, load_json
from socialcare.platforms.shapes import array, obj, platform_id
from socialcare.services import x_activity
from socialcare.services.deliveries import KEPT_HEADERS

logger = logging.getLogger("socialcare.routing")

Status = WebhookDelivery.Status

#: Meta ``object`` → the platform (id space) of its ``entry[].id``.
META_OBJECTS = {"page": "facebook", "instagram": "instagram"}


# The apps webhooks are addressed to, cached per process (like ``channel_cache``) ----------------
#: Seconds a loaded app is trusted before it is read again.
TTL = 30.0


@dataclass(frozen=True)
class CachedApp:
    app: PlatformApp
    config: ChannelConfig
    loaded_at: float
    #: Read from the database by the call that returned it (reloading again cannot help).
    fresh: bool = False


_apps: dict[str, CachedApp] = {}
_lock = threading.Lock()


def app_config(app: PlatformApp) -> ChannelConfig:
    """The app as the platform adapters see it: a channel with the app's secrets, no account."""
    return ChannelConfig(platform=app.platform, account_id="", secrets=dict(app.secrets))


def _load(key: str) -> CachedApp | None:
    app = PlatformApp.objects.filter(key=key).first()
    if app is None:
        return None
    entry = CachedApp(app, app_config(app), time.monotonic())
    with _lock:
        _apps[key] = entry
    return replace(entry, fresh=True)


def _usable(entry: CachedApp | None, platform: str) -> CachedApp | None:
    if entry is None or not entry.app.is_active or platform not in entry.app.channel_platforms:
        return None
    return entry


def get_app(key: str, platform: str) -> CachedApp | None:
    """The active app with URL key ``key`` serving ``platform``, or None. May raise
    ``DatabaseError``."""
    entry = _apps.get(key)
    if entry is None or time.monotonic() - entry.loaded_at > TTL:
        entry = _load(key)
    return _usable(entry, platform)


def reload_app(entry: CachedApp, platform: str) -> CachedApp | None:
    """The app as stored now when ``entry`` came from the cache (its secret may have been
    rotated); None when it was just read, or is gone or inactive."""
    if entry.fresh:
        return None
    return _usable(_load(entry.app.key), platform)


def clear_cache(**kwargs: Any) -> None:
    with _lock:
        _apps.clear()


post_save.connect(clear_cache, sender=PlatformApp, dispatch_uid="socialcare.routing.app_saved")
post_delete.connect(clear_cache, sender=PlatformApp, dispatch_uid="socialcare.routing.app_gone")


# Accepting -----------------------------------------------------------------------------------
def _queue(delivery_id: int) -> None:
    # Once committed; a broker that refuses it does not fail the request that stored it.
    from socialcare.services.deliveries import queue_on_commit

    queue_on_commit(delivery_id)


def accept(
    app: PlatformApp, platform: str, body: bytes, headers: Mapping[str, str]
) -> WebhookDelivery:
    """Store a signed delivery to ``app``'s URL as it came (one INSERT) and queue its routing
    and processing once committed."""
    kept = {k.lower(): v for k, v in headers.items() if k.lower() in KEPT_HEADERS}
    delivery = WebhookDelivery.objects.create(
        app=app, platform=platform, body=bytes(body), headers=kept
    )
    _queue(delivery.pk)
    return delivery


# Splitting a delivery by account ----------------------------------------------------------------
@dataclass(frozen=True)
class Part:
    """The events of one delivery for one account."""

    platform: str
    account_id: str
    body: bytes
    #: The body is the delivery's own bytes: it can become the channel's delivery in place.
    whole: bool = False

    @property
    def key(self) -> str:
        return body_key(self.body)


def body_key(body: bytes) -> str:
    """The replay key of a body on its channel, as ``replay.delivery_key`` makes it for X and
    Meta (whose deliveries carry no id of their own)."""
    return "sha256:" + hashlib.sha256(bytes(body)).hexdigest()


def _dump(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def split(delivery: WebhookDelivery) -> list[Part]:
    """The delivery's events grouped by the account they are for, in delivery order. Raises
    ``ParseError`` when it is not a delivery of the platform's known shapes."""
    body = bytes(delivery.body)
    data = obj(load_json(body), "The body")
    if delivery.platform == "x":
        if "for_user_id" in data:  # Account Activity: one account per delivery
            account = platform_id(data.get("for_user_id"), "for_user_id")
            return [Part("x", account, body, whole=True)]
        if "data" in data:
            return [
                Part("x", user, _dump(shaped))
                for user, shaped in x_activity.by_account(data, delivery.received_at)
            ]
        raise ParseError(
            "Neither an Account Activity delivery (for_user_id) nor an X Activity API event "
            "(data.filter.user_id)."
        )
    platform = META_OBJECTS.get(str(data.get("object")))
    if platform is None:
        raise ParseError(f"Not a Page or Instagram delivery (object={data.get('object')!r}).")
    grouped: dict[str, list[Any]] = {}
    for index, entry in enumerate(array(data.get("entry"), "entry")):
        account = platform_id(obj(entry, f"entry[{index}]").get("id"), f"entry[{index}].id")
        grouped.setdefault(account, []).append(entry)
    if len(grouped) == 1:
        return [Part(platform, next(iter(grouped)), body, whole=True)]
    return [
        Part(platform, account, _dump({**data, "entry": entries}))
        for account, entries in grouped.items()
    ]


# Routing ---------------------------------------------------------------------------------------
def _channels(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Channel]:
    """The channels of these (platform, account id) pairs, active or not, in one query."""
    wanted = set(pairs)
    if not wanted:
        return {}
    platforms = {p for p, _ in wanted}
    accounts = {a for _, a in wanted}
    rows = Channel.objects.filter(platform__in=platforms, account_id__in=accounts)
    return {(c.platform, c.account_id): c for c in rows if (c.platform, c.account_id) in wanted}


def _why_unrouted(delivery: WebhookDelivery, part: Part, channel: Channel | None) -> str:
    where = f"{part.platform} account {part.account_id}"
    if channel is not None:
        reason = f"Channel #{channel.pk} “{channel.name}” of {where} is inactive"
    else:
        reason = f"No channel has {where}"
    logger.warning(
        "Delivery %s from app %s: %s; kept until it is routed", delivery.pk, delivery.app_id, reason
    )
    return f"{reason}: kept, and routed to the channel once it exists (or is active again)."


def _fingerprint(channel: Channel, key: str, delivery: WebhookDelivery) -> int | None:
    """Record ``key`` as seen on ``channel`` for ``delivery``; the id of the delivery that
    already had it (a redelivery), else None."""
    try:
        with transaction.atomic():
            DeliveryFingerprint.objects.create(channel=channel, key=key, delivery=delivery)
    except IntegrityError:
        seen = DeliveryFingerprint.objects.filter(channel=channel, key=key).first()
        if seen is not None and seen.delivery_id != delivery.pk:
            return seen.delivery_id
    return None


def _end(
    delivery: WebhookDelivery, status: str, error: str = "", also: tuple[str, ...] = ()
) -> WebhookDelivery:
    delivery.status = status
    delivery.last_error = error[:10000]
    delivery.processed_at = timezone.now() if status != Status.UNROUTED else None
    delivery.save(update_fields=["status", "last_error", "processed_at", *also])
    return delivery


def route_claimed(delivery: WebhookDelivery) -> WebhookDelivery:
    """Route a claimed ("processing") delivery that has no channel yet: it returns still
    processing, with its channel, when it is that channel's to ingest now; else ended —
    split into its accounts' deliveries (processed), unrouted, a duplicate, or failed."""
    try:
        parts = split(delivery)
    except ParseError as exc:
        return _end(delivery, Status.FAILED, str(exc))
    if not parts:  # addressed to no account (X Activity ``news.new``, an empty batch): kept
        return _end(delivery, Status.PROCESSED)
    channels = _channels((p.platform, p.account_id) for p in parts)
    usable = {pair: c for pair, c in channels.items() if c.is_active}
    if len(parts) == 1 and parts[0].whole:
        routed = _route_in_place(delivery, parts[0], channels.get(_pair(parts[0])))
    else:
        routed = _split_into(delivery, parts, channels)
    route_waiting(channels=usable.values())
    return routed


def _pair(part: Part) -> tuple[str, str]:
    return (part.platform, part.account_id)


def _route_in_place(
    delivery: WebhookDelivery, part: Part, channel: Channel | None
) -> WebhookDelivery:
    delivery.platform, delivery.account_id = part.platform, part.account_id
    if channel is None or not channel.is_active:
        reason = _why_unrouted(delivery, part, channel)
        return _end(delivery, Status.UNROUTED, reason, also=("platform", "account_id"))
    delivery.channel = channel
    with transaction.atomic():
        delivery.save(update_fields=["channel", "platform", "account_id"])
        seen = _fingerprint(channel, part.key, delivery)
    if seen is not None:
        return _end(delivery, Status.PROCESSED, f"Duplicate of delivery #{seen}: not ingested.")
    return delivery


def _split_into(
    delivery: WebhookDelivery, parts: list[Part], channels: Mapping[tuple[str, str], Channel]
) -> WebhookDelivery:
    if delivery.routed.exists():  # split before, by a worker that died before finishing
        return _end(delivery, Status.PROCESSED)
    with transaction.atomic():
        for part in parts:
            channel = channels.get(_pair(part))
            active = channel if channel is not None and channel.is_active else None
            child = WebhookDelivery.objects.create(
                channel=active,
                app_id=delivery.app_id,
                platform=part.platform,
                account_id=part.account_id,
                body=part.body,
                headers=delivery.headers,
                source=delivery.source,
                received_at=delivery.received_at,
                routed_from=delivery,
                status=Status.PENDING if active else Status.UNROUTED,
                last_error="" if active else _why_unrouted(delivery, part, channel),
            )
            if active is None:
                continue
            seen = _fingerprint(active, part.key, child)
            if seen is None:
                _queue(child.pk)
            else:
                _end(child, Status.PROCESSED, f"Duplicate of delivery #{seen}: not ingested.")
        delivery.body = b""  # every event lives on in its part
        return _end(delivery, Status.PROCESSED, also=("body",))


def route_waiting(
    *,
    app: PlatformApp | None = None,
    channels: Iterable[Channel] | None = None,
    deliveries: Iterable[int] | None = None,
) -> list[int]:
    """Hand unrouted deliveries to the active channels of their accounts, queued for
    processing: all that now have one, only ``app``'s, only those of ``channels``, or only
    the ``deliveries`` (ids) among them. Returns the ids queued (a redelivery of one already
    seen ends processed as a duplicate)."""
    waiting = WebhookDelivery.objects.unrouted()
    if app is not None:
        waiting = waiting.filter(app=app)
    if deliveries is not None:
        waiting = waiting.filter(pk__in=list(deliveries))
    if channels is not None:
        wanted = {(c.platform, c.account_id): c for c in channels if c.is_active}
        if not wanted:
            return []
        waiting = waiting.filter(
            platform__in={p for p, _ in wanted}, account_id__in={a for _, a in wanted}
        )
        rows = list(waiting.order_by("pk"))
    else:
        rows = list(waiting.order_by("pk"))
        found = _channels((d.platform, d.account_id) for d in rows)
        wanted = {pair: c for pair, c in found.items() if c.is_active}
    queued: list[int] = []
    for delivery in rows:
        channel = wanted.get((delivery.platform, delivery.account_id))
        if channel is None:
            continue
        with transaction.atomic():
            taken = WebhookDelivery.objects.filter(pk=delivery.pk, status=Status.UNROUTED).update(
                channel=channel, status=Status.PENDING, last_error=""
            )
            if not taken:  # another worker routed it meanwhile
                continue
            delivery.channel = channel
            seen = _fingerprint(channel, body_key(delivery.body), delivery)
            if seen is None:
                _queue(delivery.pk)
                queued.append(delivery.pk)
            else:
                _end(delivery, Status.PROCESSED, f"Duplicate of delivery #{seen}: not ingested.")
    if queued:
        logger.info("Routed %s waiting deliveries to their channels: %s", len(queued), queued)
    return queued
