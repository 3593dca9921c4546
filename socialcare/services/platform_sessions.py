"""Login sessions kept with their channel, shared by every worker (Bluesky).

A Bluesky channel logs in with its app password (``createSession``, 30 per 5 minutes and 300 per
day per account) and then lives on the session's tokens, renewed with ``refreshSession``. The
session is stored in ``Channel.secrets`` (encrypted at rest, like the app password), under keys
``session_<field>`` (``session_access_jwt``, ``session_refresh_jwt``, ``session_did``, ...), so
every worker process reads the same one and a restart does not log in again. It is renewed under
the channel's row lock (``select_for_update``): workers that find it expired at the same moment
wait for the first, then use the session it stored — one renewal, not one per worker.

The values are never logged, and the admin and API never show them (``Channel.redacted_secrets``
lists only the named secrets).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connections, router, transaction
from django.db.models import F

from socialcare.models import Channel
from socialcare.models.fields import EncryptedJSONField

#: The prefix of the session's keys in ``Channel.secrets``.
PREFIX = "session_"


def session_of(secrets: dict[str, Any]) -> dict[str, str]:
    """The session fields stored in a channel's secrets."""
    return {
        key[len(PREFIX) :]: str(value)
        for key, value in secrets.items()
        if key.startswith(PREFIX) and value
    }


class ChannelSessionStore:
    """The ``SessionStore`` of one channel (``platforms.base.SessionStore``)."""

    def __init__(self, channel_id: int) -> None:
        self.channel_id = channel_id

    def __repr__(self) -> str:
        return f"<session store of channel {self.channel_id}>"

    def load(self) -> dict[str, str]:
        secrets = (
            Channel.objects.filter(pk=self.channel_id).values_list("secrets", flat=True).first()
        )
        return session_of(secrets or {})

    def renew(self, change: Callable[[dict[str, str]], dict[str, str] | None]) -> dict[str, str]:
        """``change`` runs while this worker holds the channel's row lock; what it returns is
        stored (and what it raises stores nothing)."""
        using = router.db_for_write(Channel)
        with transaction.atomic(using=using):
            if connections[using].vendor == "sqlite":
                # SQLite ignores SELECT ... FOR UPDATE; a write takes its database lock instead.
                Channel.objects.using(using).filter(pk=self.channel_id).update(
                    poll_cursor=F("poll_cursor")
                )
            locked = (
                Channel.objects.using(using)
                .select_for_update()
                .only("pk", "secrets")
                .filter(pk=self.channel_id)
                .first()
            )
            if locked is None:  # deleted meanwhile: nothing to keep it with
                return change({}) or {}
            stored = session_of(locked.secrets)
            new = change(dict(stored))
            if new is None:
                return stored
            if EncryptedJSONField.UNDECRYPTABLE in locked.secrets:
                # Saving would drop the secrets no key decrypts; use the session unsaved.
                return new
            secrets = {k: v for k, v in locked.secrets.items() if not k.startswith(PREFIX)}
            secrets.update({PREFIX + key: value for key, value in new.items() if value})
            locked.secrets = secrets
            locked.save(update_fields=["secrets"])
            return new
