"""Inbound webhook endpoint: ``/socialcare/webhooks/<platform>/<channel id>/``.

GET answers the platform's verification challenge. POST checks the signature over the raw body,
stores the delivery durably (one INSERT) and answers 200 before any processing (a worker does
that, queued once the row is committed). The channel and its decrypted secrets come from a
per-process cache (``socialcare.channel_cache``); a signature or challenge that does not match
is checked again against the row as stored, so rotated secrets work at once. Every
refusal is a JSON body ``{"code": ..., "detail": ...}`` with a 4xx (503 when the database is down,
so the platform redelivers); nothing is processed unless the signature is valid.

Replays (``services.replay``): a delivery whose id (the platform's, else the hash of the signed
body) this channel has seen is answered 200 ``duplicate`` and not stored twice; one whose
platform signs a timestamp outside ``WEBHOOK_REPLAY_WINDOW`` is a 400 ``stale_delivery``.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from socialcare import channel_cache
from socialcare.conf import app_settings
from socialcare.platforms.registry import UnknownPlatform, get_adapter
from socialcare.services import replay

logger = logging.getLogger("socialcare.webhooks")


def error(status: int, code: str, detail: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"code": code, "detail": detail}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _reloaded(
    cached: channel_cache.CachedChannel, platform: str
) -> channel_cache.CachedChannel | None:
    """The channel as stored now if ``cached`` came from this process's cache (None when that
    cannot change the answer, or the database is unavailable: the refusal stands)."""
    try:
        return channel_cache.reload(cached, platform)
    except DatabaseError:
        logger.exception(
            "Database unavailable re-reading %s channel %s", platform, cached.channel.pk
        )
        return None


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
        cached = channel_cache.get(channel_id, platform)
    except DatabaseError:
        logger.exception("Database unavailable for a %s webhook", platform)
        return error(503, "unavailable", "Try again later.", Retry_After="30")
    if cached is None:
        return error(404, "unknown_channel", f"No active {platform} channel {channel_id}.")

    if request.method == "GET":
        challenge = adapter.answer_challenge(request.GET, cached.config)
        if challenge is None:  # maybe the verify token changed since this process cached it
            fresher = _reloaded(cached, platform)
            if fresher is not None:
                challenge = adapter.answer_challenge(request.GET, fresher.config)
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
    if not adapter.verify_signature(body, request.headers, cached.config):
        # Checked again against the stored secret: it may have been rotated since it was cached.
        cached = _reloaded(cached, platform)
        if cached is None or not adapter.verify_signature(body, request.headers, cached.config):
            return error(
                403, "bad_signature", "The signature does not match this channel's secret."
            )
    try:
        replay.check_timestamp(adapter, request.headers)
    except replay.StaleDelivery as exc:
        return error(400, "stale_delivery", str(exc))
    key = replay.delivery_key(adapter, body, request.headers)
    try:
        delivery, new = replay.accept_once(cached.channel, key, body, request.headers)
    except DatabaseError:
        # Read the channel again next time (deleted since it was cached: 404, not 503 forever).
        channel_cache.invalidate(channel_id)
        logger.exception("Could not store a %s delivery", platform)
        return error(503, "unavailable", "Could not store the delivery; retry.", Retry_After="30")
    if not new:
        # Seen before (a platform retry or a replayed capture): 200 so the platform stops.
        return JsonResponse({"status": "duplicate", "delivery": delivery.pk if delivery else None})
    return JsonResponse({"status": "accepted", "delivery": delivery.pk})
