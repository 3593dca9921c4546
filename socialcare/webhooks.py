"""Inbound webhook endpoint: ``/socialcare/webhooks/<platform>/<channel id>/``.

GET answers the platform's verification challenge. POST checks the signature over the raw body,
stores the delivery durably and answers 200 before any processing (a worker does that). Every
refusal is a JSON body ``{"code": ..., "detail": ...}`` with a 4xx (503 when the database is down,
so the platform redelivers); nothing is processed unless the signature is valid.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from socialcare.conf import app_settings
from socialcare.models import Channel
from socialcare.platforms.registry import UnknownPlatform, get_adapter
from socialcare.services.deliveries import accept_delivery
from socialcare.services.ingest import channel_config

logger = logging.getLogger("socialcare.webhooks")


def error(status: int, code: str, detail: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"code": code, "detail": detail}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


@csrf_exempt
def webhook(request: HttpRequest, platform: str, channel_id: int) -> HttpResponse:
    if request.method not in ("GET", "POST"):
        return error(405, "method_not_allowed", "Use GET for challenges and POST for deliveries.")
    try:
        adapter = get_adapter(platform)
    except UnknownPlatform:
        return error(404, "unknown_platform", f"No platform {platform!r} here.")
    if not adapter.receives_webhooks:
        return error(404, "polled_platform", f"{platform} channels are polled, not pushed.")
    try:
        channel = Channel.objects.filter(pk=channel_id, platform=platform, is_active=True).first()
    except DatabaseError:
        logger.exception("Database unavailable for a %s webhook", platform)
        return error(503, "unavailable", "Try again later.", Retry_After="30")
    if channel is None:
        return error(404, "unknown_channel", f"No active {platform} channel {channel_id}.")
    config = channel_config(channel)

    if request.method == "GET":
        challenge = adapter.answer_challenge(request.GET, config)
        if challenge is None:
            return error(403, "challenge_refused", "The verification request did not match.")
        return HttpResponse(challenge.body, content_type=challenge.content_type)

    limit = int(app_settings.MAX_WEBHOOK_BODY)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return error(400, "bad_length", "Content-Length is not a number.")
    if declared > limit:
        return error(413, "too_large", f"Deliveries over {limit} bytes are refused.")
    body = request.read(limit + 1)
    if len(body) > limit:
        return error(413, "too_large", f"Deliveries over {limit} bytes are refused.")
    if not adapter.verify_signature(body, request.headers, config):
        return error(403, "bad_signature", "The signature does not match this channel's secret.")
    try:
        delivery = accept_delivery(channel, body, request.headers)
    except DatabaseError:
        logger.exception("Could not store a %s delivery", platform)
        return error(503, "unavailable", "Could not store the delivery; retry.", Retry_After="30")
    return JsonResponse({"status": "accepted", "delivery": delivery.pk})
