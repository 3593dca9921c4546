"""Replies and moderation through the platform's own API (httpx); replies by email for email
channels."""

from __future__ import annotations

import datetime as dt
import smtplib

import httpx
from django.core.mail import EmailMessage
from django.utils import timezone

from socialcare.conf import app_settings
from socialcare.models import Channel
from socialcare.platforms.base import OutboundMessage, SendError, SentPost, TransientSendError
from socialcare.platforms.lookup import CannotCheck
from socialcare.platforms.moderation import (
    ModerationRefused,
    ModerationRequest,
    ModerationResult,
    get_moderator,
)
from socialcare.platforms.registry import get_adapter
from socialcare.transports import IDEMPOTENT_PLATFORMS, UnconfirmedSend

#: Network failures after which the request may have been processed (it was sent; no answer).
#: Connection failures (refused, connect timeout, pool timeout) mean it never left: safe.
_MAYBE_DELIVERED = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)
#: Answers that say the request was not processed: retry as usual.
_NOT_PROCESSED = frozenset({408, 429, 503})
#: Calls that publish nothing (sessions), so their failures are never ambiguous.
_SESSION_CALLS = ("createSession", "refreshSession")


class _Tracker:
    """What the client last sent and heard, to tell a failure that may have posted from one
    that certainly did not."""

    def __init__(self) -> None:
        self.request: httpx.Request | None = None
        self.status: int | None = None

    def on_request(self, request: httpx.Request) -> None:
        self.request, self.status = request, None

    def on_response(self, response: httpx.Response) -> None:
        self.status = response.status_code

    def may_have_posted(self, exc: BaseException) -> bool:
        request = self.request
        if request is None or request.method == "GET":
            return False
        if request.url.path.rsplit("/", 1)[-1].endswith(_SESSION_CALLS):
            return False
        if self.status is not None:  # an answer came: ambiguous only for a server error
            return self.status >= 500 and self.status not in _NOT_PROCESSED
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, _MAYBE_DELIVERED):
                return True
            cause = cause.__cause__ or cause.__context__
        return False


def _refreshed(channel: Channel) -> Channel:
    """``channel`` with a fresh access token when its OAuth token has expired."""
    from socialcare.services import channel_oauth

    try:
        return channel_oauth.refresh_if_expired(channel)
    except channel_oauth.ChannelConnectError as exc:
        error = SendError if exc.code == "no_refresh_token" else TransientSendError
        raise error(" ".join(exc.messages)) from exc


class LiveTransport:
    def send(self, channel: Channel, message: OutboundMessage) -> SentPost:
        if channel.platform == "email":
            return self._email(channel, message)
        from socialcare.services.ingest import channel_config

        channel = _refreshed(channel)
        adapter = get_adapter(channel.platform)
        tracker = _Tracker()
        hooks = {"request": [tracker.on_request], "response": [tracker.on_response]}
        with httpx.Client(
            timeout=app_settings.HTTP_TIMEOUT, follow_redirects=False, event_hooks=hooks
        ) as client:
            try:
                try:
                    return adapter.send(channel_config(channel), message, client)
                except httpx.TransportError as exc:  # adapters map answers; this is the network
                    raise TransientSendError(f"Could not reach {channel.platform}: {exc}") from exc
            except TransientSendError as exc:
                if channel.platform in IDEMPOTENT_PLATFORMS or not tracker.may_have_posted(exc):
                    raise
                raise UnconfirmedSend(
                    f"{exc} The request reached {channel.platform} but no answer confirmed it: "
                    "the reply may have been published. Check the platform before sending it "
                    "again."
                ) from exc

    def find_published(
        self, channel: Channel, message: OutboundMessage, since: dt.datetime
    ) -> SentPost | None:
        """Whether ``message``, whose send was interrupted, is on the platform: its ``SentPost``,
        or None when the platform lists none since ``since``; raises ``CannotCheck`` where the
        platform cannot be asked, or the adapter's errors when it did not answer
        (``socialcare.platforms.lookup``)."""
        from socialcare.services.ingest import channel_config

        adapter = get_adapter(channel.platform) if channel.platform != "email" else None
        look = getattr(adapter, "find_published", None)
        if look is None:
            raise CannotCheck(
                f"socialcare cannot look for a published reply on {channel.platform}."
            )
        channel = _refreshed(channel)
        with httpx.Client(timeout=app_settings.HTTP_TIMEOUT, follow_redirects=False) as client:
            try:
                return look(channel_config(channel), message, since, client)
            except httpx.TransportError as exc:
                raise TransientSendError(f"Could not reach {channel.platform}: {exc}") from exc

    def moderate(self, channel: Channel, request: ModerationRequest) -> ModerationResult:
        """Hide, unhide or delete a comment through the platform's API. Hiding is idempotent on
        every platform, so a failure after the request left is simply reported (no
        ``UnconfirmedSend``): the agent or the step tries again."""
        from socialcare.services.ingest import channel_config

        moderator = get_moderator(channel.platform)
        if moderator is None:
            raise ModerationRefused(f"socialcare cannot moderate posts on {channel.platform}.")
        channel = _refreshed(channel)
        with httpx.Client(timeout=app_settings.HTTP_TIMEOUT, follow_redirects=False) as client:
            try:
                return moderator.moderate(channel_config(channel), request, client)
            except httpx.TransportError as exc:
                raise TransientSendError(f"Could not reach {channel.platform}: {exc}") from exc

    def _email(self, channel: Channel, message: OutboundMessage) -> SentPost:
        if not message.recipient:
            raise TransientSendError("No email address to send to.")
        email = EmailMessage(
            subject=message.conversation_id or f"Your message to {channel.name}",
            body=message.text,
            from_email=channel.account_id or None,
            to=[message.recipient],
            headers={"Message-ID": f"<{message.idempotency_key}@socialcare>"}
            if message.idempotency_key
            else None,
        )
        try:
            email.send()
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientSendError(f"Mail server error: {exc}") from exc
        return SentPost(external_id=f"email:{message.idempotency_key}", posted_at=timezone.now())
