"""The Graph API as socialcare calls it: the base URL, error mapping and POST."""

from __future__ import annotations

import json
from typing import Any

import httpx

from socialcare.platforms.base import (
    RateLimited,
    SendError,
    TransientSendError,
    raise_for_send_status,
    retry_after_seconds,
)

DEFAULT_BASE_URL = "https://graph.facebook.com/v21.0"
FACEBOOK_WEB_URL = "https://www.facebook.com"

#: Graph API error codes that mean "throttled" (application, user, page, custom and business
#: use case rate limits). Graph answers them with HTTP 400/403, not 429.
THROTTLING_CODES = frozenset({4, 17, 32, 613, *range(80001, 80015)})
#: Graph API error codes documented as temporary ("unknown error", "service unavailable").
TRANSIENT_CODES = frozenset({1, 2})
#: Send API subcodes of code 10 for a message outside the allowed messaging window (Messenger,
#: Instagram).
WINDOW_SUBCODES = frozenset({2018278, 2534022})


def graph_error(response: httpx.Response) -> None:
    """Graph reports throttling as 400/403 with an error code, not 429: map it first."""
    if response.status_code < 400:
        return
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict):
        code = error.get("code")
        code = code if isinstance(code, int) and not isinstance(code, bool) else None
        text = str(error.get("message") or "")[:300]
        if code in THROTTLING_CODES:
            raise RateLimited(
                f"Rate limited by Meta (code {code}): {text}",
                retry_after=_regain_access_seconds(response) or retry_after_seconds(response),
            )
        if error.get("is_transient") is True or code in TRANSIENT_CODES:
            raise TransientSendError(
                f"Temporary Meta error (code {code}): {text}",
                retry_after=retry_after_seconds(response, 30),
            )
        if code == 10 and error.get("error_subcode") in WINDOW_SUBCODES:
            raise SendError(
                f"Meta refused the message ({response.status_code}): the customer's messaging "
                f"window is closed (code 10, subcode {error.get('error_subcode')}): {text}"
            )


def _regain_access_seconds(response: httpx.Response) -> float | None:
    """``estimated_time_to_regain_access`` (minutes) from Meta's business-use-case header."""
    raw = response.headers.get("x-business-use-case-usage")
    if not raw:
        return None
    try:
        usage = json.loads(raw)
        minutes = [
            float(item.get("estimated_time_to_regain_access") or 0)
            for items in usage.values()
            for item in items
        ]
    except (ValueError, TypeError, AttributeError):
        return None
    longest = max(minutes, default=0.0)
    return longest * 60 if longest > 0 else None


def graph_post(
    client: httpx.Client,
    url: str,
    headers: dict[str, str],
    *,
    json_body: dict[str, Any] | None = None,
    form_body: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST to the Graph API and return its JSON object, mapping failures to send errors. A 2xx
    answer that cannot be read is a ``SendError``: the reply may be out, a retry could double it."""
    try:
        response = client.post(url, headers=headers, json=json_body, data=form_body)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise SendError(f"Bad Graph API URL {url!r}: {exc}") from exc
    except httpx.TransportError as exc:
        raise TransientSendError(f"Could not reach Meta: {exc!r}") from exc
    graph_error(response)
    raise_for_send_status(response)
    try:
        answer = response.json()
    except ValueError as exc:
        raise SendError(f"Meta answered {response.status_code} with non-JSON: {exc}") from exc
    if not isinstance(answer, dict):
        raise SendError(f"Meta answered {response.status_code} with {answer!r:.300}")
    return answer
