"""How outbound replies leave: ``live`` (the platform's API, or email) or ``console`` (demo/dev).

``SOCIALCARE["REPLY_TRANSPORT"]`` names the class; a transport has one method,
``send(channel, message) -> SentPost``, raising the errors of ``socialcare.platforms.base``.
"""

from __future__ import annotations

from functools import cache

from django.utils.module_loading import import_string

from socialcare.conf import app_settings


@cache
def _load(path: str) -> object:
    return import_string(path)()


def get_transport():  # -> Transport
    return _load(app_settings.REPLY_TRANSPORT)


def reset() -> None:
    _load.cache_clear()
