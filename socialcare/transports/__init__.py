"""How outbound replies leave: ``live`` (the platform's API, or email) or ``console`` (demo/dev).

``SOCIALCARE["REPLY_TRANSPORT"]`` names the class; a transport has one method,
``send(channel, message) -> SentPost``, raising the errors of ``socialcare.platforms.base``.
"""

from __future__ import annotations

from functools import cache

from django.utils.module_loading import import_string

from socialcare.conf import app_settings
from socialcare.platforms.base import SendError

#: Platforms whose publishing calls honour our idempotency key (Mastodon's ``Idempotency-Key``):
#: re-sending after an unanswered request returns the first post instead of a second one.
IDEMPOTENT_PLATFORMS = frozenset({"mastodon"})


class UnconfirmedSend(SendError):
    """The platform may have published the message: the request reached it but no answer said
    so (a read timeout, a dropped connection, a 5xx after the request was sent), and the
    platform offers no idempotency key. Re-sending could publish it twice, so it is not retried
    automatically: an agent checks the platform first."""


@cache
def _load(path: str) -> object:
    return import_string(path)()


def get_transport():  # -> Transport
    return _load(app_settings.REPLY_TRANSPORT)


def reset() -> None:
    _load.cache_clear()
