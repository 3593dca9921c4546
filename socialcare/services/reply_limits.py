"""Reply lengths as the platform's server counts them, where the server sets the limit:
Mastodon instances (``/api/v2/instance``), read once a day per channel and cached.

``send_reply`` asks ``check_mastodon_length`` before a Mastodon reply is queued. The text
counted is the text sent: the adapter starts it with the recipient's ``@user@domain `` when it
does not already (``platforms.mastodon.addressed_text``), and Mastodon counts that mention as
``@user `` (the domain is free), every link as ``characters_reserved_per_url``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging

import httpx
from django.core.cache import cache

from socialcare.conf import app_settings
from socialcare.exceptions import SocialCareError
from socialcare.models import Channel
from socialcare.platforms.base import PlatformError
from socialcare.platforms.mastodon import InstanceLimits, addressed_text, status_length
from socialcare.platforms.mastodon.common import host
from socialcare.platforms.registry import get_adapter

logger = logging.getLogger("socialcare.replies")

#: How long a server's limits are kept before they are read again.
LIMITS_CACHE_SECONDS = 24 * 3600
#: After a failed read, Mastodon's defaults are used this long before the server is asked again.
LIMITS_RETRY_SECONDS = 600
#: Longest wait for ``/api/v2/instance`` (an agent is waiting for the reply to be queued).
LIMITS_TIMEOUT = 5.0


def _cache_key(channel: Channel) -> str:
    server = hashlib.sha256(channel.base_url.strip().rstrip("/").encode()).hexdigest()[:16]
    return f"socialcare:mastodon-limits:{channel.pk}:{server}"


def mastodon_limits(channel: Channel) -> InstanceLimits:
    """``channel``'s server's status limits: from the cache, else read from the server (kept a
    day); Mastodon's defaults (500 characters, links 23) when the server does not say, or for
    ``LIMITS_RETRY_SECONDS`` when it cannot be asked."""
    from socialcare.services.ingest import channel_config

    key = _cache_key(channel)
    cached = cache.get(key)
    if isinstance(cached, dict):
        return InstanceLimits(**cached)
    adapter = get_adapter(channel.platform)
    read = getattr(adapter, "instance_limits", None)
    limits, keep = InstanceLimits(), LIMITS_CACHE_SECONDS
    if read is not None:
        try:
            with httpx.Client(timeout=min(app_settings.HTTP_TIMEOUT, LIMITS_TIMEOUT)) as client:
                limits = read(channel_config(channel), client)
        except (PlatformError, httpx.HTTPError) as exc:
            logger.warning("Reading the Mastodon limits of %s: %s", channel, exc)
            keep = LIMITS_RETRY_SECONDS
    cache.set(key, dataclasses.asdict(limits), keep)
    return limits


def forget_mastodon_limits(channel: Channel) -> None:
    """Read the server's limits again on the next reply (e.g. after its admin changed them)."""
    cache.delete(_cache_key(channel))


def check_mastodon_length(text: str, channel: Channel, handle: str) -> None:
    """Refuse a Mastodon reply its server would refuse for its length: the text as sent (with
    the ``@handle`` it starts with) counted as Mastodon counts it, over the server's
    ``max_characters``."""
    limits = mastodon_limits(channel)
    sent = addressed_text(text, handle)
    per_url = limits.characters_reserved_per_url
    length = status_length(sent, per_url)
    if length <= limits.max_characters:
        return
    server = host(channel.base_url) or "the server"
    source = (
        f"the limit of {server}"
        if limits.from_instance
        else f"Mastodon's default limit ({server} did not say its own)"
    )
    message = (
        f"{length} characters is over {source}, {limits.max_characters} characters, counted as "
        f"Mastodon counts them (every link {per_url})"
    )
    if sent != text:
        prefix = sent[: len(sent) - len(text)]
        message += (
            f", with the “{prefix.strip()}” a reply starts with so that the customer gets it "
            f"(it counts as {status_length(prefix, per_url)}: Mastodon counts a mention's "
            "username, not its domain)"
        )
        if status_length(text, per_url) <= limits.max_characters:
            message += "; without it the text would fit, but the mention cannot be left out"
    raise SocialCareError(f"{message}. Shorten it by {length - limits.max_characters}.")
