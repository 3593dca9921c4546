"""How outbound replies and moderation leave: ``live`` (the platform's API, or email) or
``console`` (demo/dev).

``SOCIALCARE["REPLY_TRANSPORT"]`` names the class (``Transport``): ``send(channel, message) ->
SentPost`` publishes a reply, ``moderate(channel, request) -> ModerationResult`` hides, unhides or
deletes a customer's comment (docs/moderation.md). Both raise the errors of
``socialcare.platforms.base``; a transport written before moderation existed may lack
``moderate``, and the moderation service then refuses with a clear message. An optional
``find_published(channel, message, since) -> SentPost | None`` says whether a reply whose send
was interrupted is on the platform (``socialcare.platforms.lookup``); without it the reply
sweeper fails such a reply as "may have been published".
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

from django.utils.module_loading import import_string

from socialcare.conf import app_settings
from socialcare.platforms.base import OutboundMessage, SendError, SentPost
from socialcare.platforms.moderation import ModerationRequest, ModerationResult

if TYPE_CHECKING:
    from socialcare.models import Channel

#: Platforms whose publishing calls honour our idempotency key (Mastodon's ``Idempotency-Key``):
#: re-sending after an unanswered request returns the first post instead of a second one.
IDEMPOTENT_PLATFORMS = frozenset({"mastodon"})


class UnconfirmedSend(SendError):
    """The platform may have published the message: the request reached it but no answer said
    so (a read timeout, a dropped connection, a 5xx after the request was sent), and the
    platform offers no idempotency key. Re-sending could publish it twice, so it is not retried
    automatically: an agent checks the platform first."""


@runtime_checkable
class Transport(Protocol):
    def send(self, channel: Channel, message: OutboundMessage) -> SentPost:
        """Publish ``message`` through ``channel``."""

    def moderate(self, channel: Channel, request: ModerationRequest) -> ModerationResult:
        """Hide, unhide or delete a customer's comment seen on ``channel``."""


@cache
def _load(path: str) -> object:
    return import_string(path)()


def get_transport() -> Transport:
    return cast(Transport, _load(app_settings.REPLY_TRANSPORT))


def reset() -> None:
    _load.cache_clear()
