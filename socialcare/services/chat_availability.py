"""Whether a Bluesky customer accepts the brand's direct messages, asked before a private
conversation is promised.

Bluesky has no messaging window, but each person chooses who may message them (their
``chat.bsky.actor.declaration``: everyone, only people they follow — the default — or no one),
and the chat service refuses the rest (``MessagesDisabled``, ``NotFollowedBySender``). The reply
window (``services.reply_window``) and the hand-off (``services.handoff``) ask here; the answer
comes from ``chat.bsky.convo.getConvoAvailability`` through the adapter and is kept for
``CACHE_SECONDS`` per channel and customer (a minute when it could not be asked).

Nothing is asked when the reply transport sends nothing (the console transport of demos): the
answer is then "open", as when the chat service cannot be reached — sending decides, and a
refusal at send time fails the message with the same reason (``platforms.bluesky.send``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import httpx

from socialcare.conf import app_settings
from socialcare.models import Case
from socialcare.platforms.base import PlatformError
from socialcare.platforms.bluesky.common import NO_CHAT_ACCESS

logger = logging.getLogger("socialcare.chat_availability")

PLATFORM = "bluesky"
#: How long an answer of the chat service is kept.
CACHE_SECONDS = 300.0
#: How long "could not ask" is kept, so a page does not wait on an unreachable service each time.
UNKNOWN_CACHE_SECONDS = 60.0
#: The longest a page waits for the chat service.
TIMEOUT = 5.0


@dataclass(frozen=True)
class ChatVerdict:
    """``open``: a direct message may be promised (also when the service could not be asked:
    ``asked`` is then False). ``reason``: why not, a sentence that starts in lower case for the
    reply window. ``channel_problem``: the channel, not the customer, is at fault."""

    open: bool
    reason: str = ""
    channel_problem: bool = False
    asked: bool = True


_cache: dict[tuple[int, str, str], tuple[float, ChatVerdict]] = {}
_lock = threading.Lock()


def clear() -> None:
    """Forget every kept answer (tests; an agent who knows the customer changed their setting
    waits ``CACHE_SECONDS`` instead)."""
    with _lock:
        _cache.clear()


def bluesky_chat(case: Case) -> ChatVerdict:
    """May the brand message ``case``'s customer on Bluesky now? Open on other platforms."""
    channel = case.channel
    identity = case.identity if case.identity_id else None
    if channel is None or channel.platform != PLATFORM or identity is None:
        return ChatVerdict(open=True, asked=False)
    recipient = identity.external_id
    if not recipient.startswith("did:") or not _transport_is_live():
        return ChatVerdict(open=True, asked=False)
    key = (channel.pk, channel.base_url, recipient)
    now = time.monotonic()
    with _lock:
        kept = _cache.get(key)
    if kept is not None and kept[0] > now:
        return kept[1]
    verdict = _ask(case, recipient)
    keep = CACHE_SECONDS if verdict.asked else UNKNOWN_CACHE_SECONDS
    with _lock:
        _cache[key] = (now + keep, verdict)
    return verdict


def hand_off_refusal(case: Case) -> str:
    """Why ``case`` cannot be taken private by Bluesky direct message ("" when it can), with
    e-mail offered instead."""
    verdict = bluesky_chat(case)
    if verdict.open:
        return ""
    from socialcare.services.reply_window import EMAIL, PUBLIC_REPLY, alternatives_for

    left = alternatives_for(case)
    if EMAIL in left:
        instead = "Take it private by e-mail instead" + (
            ", or reply publicly." if PUBLIC_REPLY in left else "."
        )
    else:
        instead = (
            "Reply publicly, or add" if PUBLIC_REPLY in left else "Add"
        ) + " the customer's e-mail address to take it private by e-mail."
    return f"{case.reference} cannot be taken private by direct message: {verdict.reason} {instead}"


def _transport_is_live() -> bool:
    from socialcare.transports import get_transport
    from socialcare.transports.live import LiveTransport

    return isinstance(get_transport(), LiveTransport)


def _ask(case: Case, recipient: str) -> ChatVerdict:
    from socialcare.platforms.registry import get_adapter
    from socialcare.services.ingest import channel_config

    channel = case.channel
    assert channel is not None
    adapter = get_adapter(channel.platform)
    timeout = min(TIMEOUT, app_settings.HTTP_TIMEOUT)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            answer = adapter.chat_availability(channel_config(channel), recipient, client)
    except (PlatformError, httpx.HTTPError) as exc:
        logger.info("Could not ask Bluesky whether %s accepts messages: %s", case.reference, exc)
        return ChatVerdict(open=True, asked=False)
    if answer.can_chat:
        return ChatVerdict(open=True)
    if answer.channel_problem:
        return ChatVerdict(
            open=False,
            reason=f"{channel.name} cannot send Bluesky direct messages: {NO_CHAT_ACCESS}.",
            channel_problem=True,
        )
    reason = answer.reason
    return ChatVerdict(open=False, reason=reason[:1].lower() + reason[1:])
