"""Inbound webhook endpoints: ``/socialcare/webhooks/<platform>/<channel id>/`` for one channel,
and ``/socialcare/webhooks/<platform>/app/<app key>/`` for every account of an X or Meta app
(``app_webhook``, docs/ingestion.md "One webhook per app").

GET answers the platform's verification challenge. POST checks the signature over the raw body,
stores the delivery durably (one INSERT) and answers 200 before any processing (a worker does
that, queued once the row is committed). The channel and its decrypted secrets come from a
per-process cache (``socialcare.channel_cache``); a signature or challenge that does not match
is checked again against the row as stored, so rotated secrets work at once. Every
refusal is a JSON body ``{"code": ..., "detail": ...}`` with a 4xx (503 when the database is down,
so the platform redelivers); nothing is processed unless the signature is valid. A 503 means
nothing was stored: once the delivery's row is committed the answer is 200, even when queueing
its task fails (``services.deliveries.enqueue`` logs it and keeps the delivery pending for a
re-queue with the next delivery, the channel's next micro-batch or the sweeper).

Replays (``services.replay``): a delivery whose id (the platform's, else the hash of the signed
body) this channel has seen is answered 200 ``duplicate`` and not stored twice; one whose
platform signs a timestamp outside ``WEBHOOK_REPLAY_WINDOW`` is a 400 ``stale_delivery``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from socialcare import channel_cache
from socialcare.conf import app_settings
from socialcare.platforms.registry import UnknownPlatform, get_adapter
from socialcare.services import account_routing, replay

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


def _read_body(request: HttpRequest) -> bytes | HttpResponse:
    """The raw body, or the refusal of one too large to read."""
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
    return body


def _webhook_adapter(request: HttpRequest, platform: str) -> Any:
    """The platform's adapter, or the refusal of this method or platform."""
    if request.method not in ("GET", "POST"):
        return error(405, "method_not_allowed", "Use GET for challenges and POST for deliveries.")
    try:
        adapter = get_adapter(platform)
    except UnknownPlatform:
        return error(404, "unknown_platform", f"No platform {platform!r} here.")
    if not adapter.receives_webhooks:
        return error(404, "polled_platform", f"{platform} channels are polled, not pushed.")
    return adapter


def _challenge_answer(
    adapter: Any, request: HttpRequest, cached: Any, reload: Callable[[], Any]
) -> HttpResponse:
    """The answer to a platform's verification request (X's CRC, Meta's hub challenge), checked
    against the cached secrets and, when they do not match, the stored ones (``reload``): the
    verify token may have changed since this process cached it."""
    challenge = adapter.answer_challenge(request.GET, cached.config)
    if challenge is None:
        fresher = reload()
        if fresher is not None:
            challenge = adapter.answer_challenge(request.GET, fresher.config)
    if challenge is None:
        return error(403, "challenge_refused", "The verification request did not match.")
    return HttpResponse(challenge.body, content_type=challenge.content_type)


def _signed(
    adapter: Any, body: bytes, request: HttpRequest, cached: Any, reload: Callable[[], Any]
) -> Any:
    """``cached`` (or its stored version) whose secret signed ``body``; None when neither did.
    Checked again against the stored secret: it may have been rotated since it was cached."""
    if adapter.verify_signature(body, request.headers, cached.config):
        return cached
    fresher = reload()
    if fresher is None or not adapter.verify_signature(body, request.headers, fresher.config):
        return None
    return fresher


@csrf_exempt
def webhook(request: HttpRequest, platform: str, channel_id: int) -> HttpResponse:
    adapter = _webhook_adapter(request, platform)
    if isinstance(adapter, HttpResponse):
        return adapter
    try:
        cached = channel_cache.get(channel_id, platform)
    except DatabaseError:
        logger.exception("Database unavailable for a %s webhook", platform)
        return error(503, "unavailable", "Try again later.", Retry_After="30")
    if cached is None:
        return error(404, "unknown_channel", f"No active {platform} channel {channel_id}.")

    reload = functools.partial(_reloaded, cached, platform)
    if request.method == "GET":
        return _challenge_answer(adapter, request, cached, reload)

    body = _read_body(request)
    if isinstance(body, HttpResponse):
        return body
    cached = _signed(adapter, body, request, cached, reload)
    if cached is None:
        return error(403, "bad_signature", "The signature does not match this channel's secret.")
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


def _reloaded_app(
    cached: account_routing.CachedApp, platform: str
) -> account_routing.CachedApp | None:
    """The app as stored now if ``cached`` came from this process's cache (None when that cannot
    change the answer, or the database is unavailable: the refusal stands)."""
    try:
        return account_routing.reload_app(cached, platform)
    except DatabaseError:
        logger.exception("Database unavailable re-reading %s app %s", platform, cached.app.pk)
        return None


@csrf_exempt
def app_webhook(request: HttpRequest, platform: str, app_key: str) -> HttpResponse:
    """``/socialcare/webhooks/<platform>/app/<app key>/``: the one URL of an X or Meta app for
    all its accounts. Checked with the app's secret and stored as it came; a worker routes each
    event to the channel of the account it names (``services.account_routing``)."""
    adapter = _webhook_adapter(request, platform)
    if isinstance(adapter, HttpResponse):
        return adapter
    try:
        cached = account_routing.get_app(app_key, platform)
    except DatabaseError:
        logger.exception("Database unavailable for a %s app webhook", platform)
        return error(503, "unavailable", "Try again later.", Retry_After="30")
    if cached is None:
        return error(404, "unknown_app", f"No active app serving {platform} at this URL.")

    reload = functools.partial(_reloaded_app, cached, platform)
    if request.method == "GET":
        return _challenge_answer(adapter, request, cached, reload)

    body = _read_body(request)
    if isinstance(body, HttpResponse):
        return body
    cached = _signed(adapter, body, request, cached, reload)
    if cached is None:
        return error(403, "bad_signature", "The signature does not match this app's secret.")
    try:
        replay.check_timestamp(adapter, request.headers)
    except replay.StaleDelivery as exc:
        return error(400, "stale_delivery", str(exc))
    try:
        delivery = account_routing.accept(cached.app, platform, body, request.headers)
    except DatabaseError:
        account_routing.clear_cache()
        logger.exception("Could not store a %s app delivery", platform)
        return error(503, "unavailable", "Could not store the delivery; retry.", Retry_After="30")
    return JsonResponse({"status": "accepted", "delivery": delivery.pk})
