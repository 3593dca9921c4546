"""Connecting a brand channel through OAuth, and keeping its access token fresh.

Tokens live only in ``Channel.secrets`` (encrypted at rest): ``access_token``, ``refresh_token``
and, beside them, ``token_expires_at`` (ISO time), ``oauth_backend`` and ``oauth_uid``. They never
go to social-auth's ``UserSocialAuth.extra_data`` (plain JSON): socialcare's pipeline stops before
any association is stored. Nothing here logs a token.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from socialcare.exceptions import SocialCareError
from socialcare.models import Channel

logger = logging.getLogger("socialcare.channels")

#: Refresh this long before the provider's expiry, so a token never expires mid-request.
REFRESH_MARGIN = dt.timedelta(seconds=60)


class ChannelConnectError(SocialCareError):
    code = "channel_connect_refused"


def backend_for(channel: Channel) -> str:
    """The social-auth backend that connects ``channel``'s platform; raises when none is set."""
    from socialcare.services.verification import provider_for

    name = provider_for(channel.platform)
    if not name:
        raise ChannelConnectError(
            f"No OAuth sign-in service is configured for {channel.get_platform_display()} "
            "(SOCIALCARE['OAUTH_BACKENDS'] and the backend's SOCIAL_AUTH_<BACKEND>_KEY)."
        )
    return name


def _expiry(response: dict[str, Any], now: dt.datetime) -> str:
    try:
        seconds = int(response.get("expires_in") or 0)
    except (TypeError, ValueError):
        seconds = 0
    return (now + dt.timedelta(seconds=seconds)).isoformat() if seconds > 0 else ""


def _store(channel: Channel, response: dict[str, Any], **extra: str) -> None:
    now = timezone.now()
    secrets = dict(channel.secrets)
    secrets["access_token"] = str(response["access_token"])
    if response.get("refresh_token"):
        secrets["refresh_token"] = str(response["refresh_token"])
    expires = _expiry(response, now)
    if expires:
        secrets["token_expires_at"] = expires
    else:
        secrets.pop("token_expires_at", None)
    secrets.update(extra)
    channel.secrets = secrets
    channel.save(update_fields=["secrets"])


def connect(
    channel: Channel,
    *,
    backend_name: str,
    uid: str,
    handle: str,
    response: dict[str, Any],
    actor: Any,
) -> Channel:
    """Store the tokens of an OAuth sign-in on ``channel``. The account signed in with must be
    the channel's (``account_id``); another account raises ``ChannelConnectError``."""
    if str(uid) != channel.account_id:
        raise ChannelConnectError(
            f"You signed in as account {uid}{f' (@{handle})' if handle else ''}, but this "
            f"channel is account {channel.account_id}. Nothing was stored; sign in as the "
            "brand account."
        )
    if not response.get("access_token"):
        raise ChannelConnectError("The platform returned no access token.")
    with transaction.atomic():
        locked = Channel.objects.select_for_update().get(pk=channel.pk)
        _store(locked, response, oauth_backend=backend_name, oauth_uid=str(uid))
        if handle and not locked.handle:
            locked.handle = handle[:255]
            locked.save(update_fields=["handle"])
    logger.info(
        "Channel %s connected through %s by user %s",
        channel.pk,
        backend_name,
        getattr(actor, "pk", None),
    )
    channel.refresh_from_db()
    return channel


def connection(channel: Channel) -> dict[str, str]:
    """What an admin may see of the OAuth connection: backend, account and expiry, no token."""
    secrets = channel.secrets
    return {
        key: str(secrets[key])
        for key in ("oauth_backend", "oauth_uid", "token_expires_at")
        if secrets.get(key)
    }


def token_expired(channel: Channel, now: dt.datetime | None = None) -> bool:
    """True when the stored access token expires within ``REFRESH_MARGIN`` (or has expired)."""
    raw = channel.secrets.get("token_expires_at")
    expires = parse_datetime(raw) if isinstance(raw, str) and raw else None
    if expires is None:
        return False
    return expires <= (now or timezone.now()) + REFRESH_MARGIN


def _backend(name: str) -> Any:
    from social_django.utils import load_strategy

    return load_strategy().get_backend(name)


def refresh_if_expired(channel: Channel) -> Channel:
    """``channel`` with a usable access token: an expired one is exchanged for a new one with the
    stored refresh token first (under a row lock, so concurrent workers refresh once). Raises
    ``ChannelConnectError`` when the token expired and cannot be refreshed."""
    if not token_expired(channel):
        return channel
    with transaction.atomic():
        locked = Channel.objects.select_for_update().get(pk=channel.pk)
        if token_expired(locked):
            refresh_token = locked.get_secret("refresh_token")
            name = str(locked.secrets.get("oauth_backend") or "")
            if not refresh_token or not name:
                raise ChannelConnectError(
                    f"The access token of {locked} expired and there is no refresh token; "
                    "connect the channel again.",
                    code="no_refresh_token",
                )
            from social_core.exceptions import SocialAuthBaseException

            try:
                response = _backend(name).refresh_token(refresh_token)
            except (SocialAuthBaseException, OSError) as exc:
                raise ChannelConnectError(
                    f"Could not refresh the access token of {locked}: {type(exc).__name__}."
                ) from exc
            _store(locked, response)
            logger.info("Refreshed the access token of channel %s", locked.pk)
    channel.refresh_from_db()
    return channel
