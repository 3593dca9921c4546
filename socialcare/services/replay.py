"""Replay protection for inbound webhooks: a delivery id seen once per channel, and a signed
timestamp checked against ``WEBHOOK_REPLAY_WINDOW``.

The delivery id is the platform's own (an adapter that knows one defines
``delivery_id(headers) -> str``), else the SHA-256 of the signed body: a captured request sent
again is the same bytes. X (``x-twitter-webhooks-signature``) and Meta (``X-Hub-Signature-256``)
sign the body only, with no timestamp and no delivery id header, so for them the body hash is
the id and no window applies. An adapter whose platform signs a timestamp defines
``signed_at(headers) -> datetime | None``; a delivery signed outside the window is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from socialcare.conf import app_settings
from socialcare.models import Channel, DeliveryFingerprint, WebhookDelivery
from socialcare.services.deliveries import accept_delivery


class StaleDelivery(Exception):
    """The delivery's signed timestamp is outside the replay window (or unreadable)."""


def delivery_key(adapter: Any, body: bytes, headers: Mapping[str, str]) -> str:
    """The id a delivery is known by: the platform's, or ``sha256:`` + the body's hash."""
    own = getattr(adapter, "delivery_id", None)
    if own is not None:
        value = (own(headers) or "").strip()
        if value:
            return f"id:{value}"[:128]
    return "sha256:" + hashlib.sha256(bytes(body)).hexdigest()


def check_timestamp(
    adapter: Any, headers: Mapping[str, str], now: dt.datetime | None = None
) -> None:
    """Raise ``StaleDelivery`` when the adapter's platform signs a timestamp and this one is
    older (or further ahead) than ``WEBHOOK_REPLAY_WINDOW``. Call after the signature check."""
    signed_at = getattr(adapter, "signed_at", None)
    if signed_at is None:
        return
    try:
        at = signed_at(headers)
    except (ValueError, TypeError, OverflowError) as exc:
        raise StaleDelivery(f"Unreadable signed timestamp: {exc}") from None
    if at is None:
        raise StaleDelivery("The signed timestamp is missing.")
    window: dt.timedelta = app_settings.WEBHOOK_REPLAY_WINDOW
    skew = abs((now or timezone.now()) - at)
    if skew > window:
        raise StaleDelivery(
            f"Signed {int(skew.total_seconds())} s away from our clock; the window is "
            f"{int(window.total_seconds())} s."
        )


def accept_once(
    channel: Channel, key: str, body: bytes, headers: Mapping[str, str]
) -> tuple[WebhookDelivery | None, bool]:
    """Store the delivery unless its id was seen on this channel. Returns (delivery, new);
    for a duplicate, the delivery first stored under that id (None if it is gone)."""
    try:
        with transaction.atomic():
            delivery = accept_delivery(channel, body, headers)
            DeliveryFingerprint.objects.create(channel=channel, key=key, delivery=delivery)
    except IntegrityError:
        seen = (
            DeliveryFingerprint.objects.filter(channel=channel, key=key)
            .select_related("delivery")
            .first()
        )
        return (seen.delivery if seen else None), False
    return delivery, True
