"""The channels webhooks are addressed to, cached per process for the accept path.

Looking a channel up and decrypting its secrets (Fernet) on every delivery costs a query and a
decryption per request under load; the channel rarely changes. Each process keeps what it loaded
for ``TTL`` seconds:

* a save or delete of a channel in this process drops its entry at once (signals);
* another process (admin on another worker) is seen within ``TTL``;
* a signature or challenge that does not match the cached secrets is checked once more against
  the row as stored now (``reload``), so a rotated secret works on its first delivery.

Only rows that exist are cached (bounded by the number of channels); unknown ids are looked up
every time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from django.db.models.signals import post_delete, post_save

from socialcare.models import Channel
from socialcare.platforms.base import ChannelConfig
from socialcare.services.ingest import channel_config

__all__ = ["TTL", "CachedChannel", "clear", "get", "invalidate", "reload"]

#: Seconds a loaded channel is trusted before it is read again.
TTL = 30.0


@dataclass(frozen=True)
class CachedChannel:
    """A channel row (never modified once cached) and the adapter's view of it."""

    channel: Channel
    config: ChannelConfig
    loaded_at: float
    #: Read from the database by the call that returned it (reloading again cannot help).
    fresh: bool = False


_entries: dict[int, CachedChannel] = {}
_lock = threading.Lock()
#: Bumped by every invalidation: a row read before a save in this process is not cached after it.
_generation = 0


def _load(channel_id: int) -> CachedChannel | None:
    started = _generation
    channel = Channel.objects.filter(pk=channel_id).order_by().first()
    if channel is None:
        invalidate(channel_id)
        return None
    entry = CachedChannel(channel, channel_config(channel), time.monotonic())
    with _lock:
        if _generation == started:
            _entries[channel_id] = entry
    return replace(entry, fresh=True)


def _usable(entry: CachedChannel | None, platform: str) -> CachedChannel | None:
    if entry is None or entry.channel.platform != platform or not entry.channel.is_active:
        return None
    return entry


def get(channel_id: int, platform: str) -> CachedChannel | None:
    """The active ``platform`` channel ``channel_id``, or None. May raise ``DatabaseError``."""
    entry = _entries.get(channel_id)
    if entry is None or time.monotonic() - entry.loaded_at > TTL:
        entry = _load(channel_id)
    return _usable(entry, platform)


def reload(entry: CachedChannel, platform: str) -> CachedChannel | None:
    """The channel as stored now, when ``entry`` came from the cache; None when that is the
    same (just read) or the channel is gone or inactive."""
    if entry.fresh:
        return None
    return _usable(_load(entry.channel.pk), platform)


def invalidate(channel_id: int) -> None:
    global _generation
    with _lock:
        _generation += 1
        _entries.pop(channel_id, None)


def clear() -> None:
    global _generation
    with _lock:
        _generation += 1
        _entries.clear()


def _dropped(sender: type[Channel], instance: Channel, **kwargs: Any) -> None:
    if instance.pk is not None:
        invalidate(instance.pk)


post_save.connect(_dropped, sender=Channel, dispatch_uid="socialcare.channel_cache.saved")
post_delete.connect(_dropped, sender=Channel, dispatch_uid="socialcare.channel_cache.deleted")
