"""A transport for demos and development: replies and moderation are logged and reported done,
nothing leaves."""

from __future__ import annotations

import logging
import uuid

from django.utils import timezone

from socialcare.models import Channel
from socialcare.platforms.base import OutboundMessage, SentPost
from socialcare.platforms.moderation import ModerationRequest, ModerationResult

logger = logging.getLogger("socialcare.transports.console")


class ConsoleTransport:
    def send(self, channel: Channel, message: OutboundMessage) -> SentPost:
        target = message.recipient_handle or message.recipient or message.in_reply_to or "?"
        logger.info(
            "[console transport] %s %s reply on %s to %s: %s",
            channel.platform,
            message.visibility,
            channel.name,
            target,
            message.text,
        )
        return SentPost(external_id=f"console-{uuid.uuid4().hex}", posted_at=timezone.now())

    def moderate(self, channel: Channel, request: ModerationRequest) -> ModerationResult:
        logger.info(
            "[console transport] %s %s on %s: %s",
            channel.platform,
            request.action,
            channel.name,
            request.external_id,
        )
        return ModerationResult(request.action, request.external_id, "console transport: logged")
