"""Replies through the platform's own API (httpx), or by email for email channels."""

from __future__ import annotations

import smtplib

import httpx
from django.core.mail import EmailMessage
from django.utils import timezone

from socialcare.conf import app_settings
from socialcare.models import Channel
from socialcare.platforms.base import OutboundMessage, SendError, SentPost, TransientSendError
from socialcare.platforms.registry import get_adapter


class LiveTransport:
    def send(self, channel: Channel, message: OutboundMessage) -> SentPost:
        if channel.platform == "email":
            return self._email(channel, message)
        from socialcare.services import channel_oauth
        from socialcare.services.ingest import channel_config

        try:
            channel = channel_oauth.refresh_if_expired(channel)
        except channel_oauth.ChannelConnectError as exc:
            error = SendError if exc.code == "no_refresh_token" else TransientSendError
            raise error(" ".join(exc.messages)) from exc
        adapter = get_adapter(channel.platform)
        with httpx.Client(timeout=app_settings.HTTP_TIMEOUT, follow_redirects=False) as client:
            try:
                return adapter.send(channel_config(channel), message, client)
            except httpx.TransportError as exc:  # adapters map HTTP answers; this is the network
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
