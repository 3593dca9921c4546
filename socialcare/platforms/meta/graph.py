"""The Graph API as socialcare calls it: the base URL, error mapping, POST and GET."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import httpx

from socialcare.platforms.base import (
    ChannelConfig,
    RateLimited,
    SendError,
    TransientSendError,
    raise_for_send_status,
    retry_after_seconds,
)

GRAPH_HOST = "https://graph.facebook.com"
#: Graph API versions and the last day Meta documents each as available ("Available until" in
#: Meta's changelog, https://developers.facebook.com/docs/graph-api/changelog/versions/, read
#: 2026-12-07); None: Meta has not named it yet ("TBD"). Check socialcare.W013/E008 warns 60
#: days before the configured version's date and errs from it on. Release dates in comments.
GRAPH_VERSIONS: dict[str, date | None] = {
    "v27.0": None,  # released 2026-11-04
    "v26.0": None,  # 2026-07-29
    "v25.0": date(2028, 7, 29),  # 2026-02-18
    "v24.0": date(2028, 2, 18),  # 2025-10-08
    "v23.0": date(2027, 10, 8),  # 2025-05-29
    "v22.0": date(2027, 5, 20),  # 2025-01-21
    "v21.0": date(2027, 1, 21),  # 2024-10-02
    "v20.0": date(2026, 9, 24),  # 2024-05-21
    "v19.0": date(2026, 5, 21),  # 2024-01-23
    "v18.0": date(2026, 1, 26),  # 2023-09-12
    "v17.0": date(2025, 9, 12),  # 2023-05-23
    "v16.0": date(2025, 5, 14),  # 2023-02-02
}
#: The newest version Meta documents (SOCIALCARE["META_GRAPH_VERSION"] defaults to it).
DEFAULT_GRAPH_VERSION = "v27.0"
#: What a Graph API version looks like in a URL: ``v27.0``.
VERSION_PATTERN = re.compile(r"v(\d{1,3})\.(\d{1,3})")
DEFAULT_BASE_URL = f"{GRAPH_HOST}/{DEFAULT_GRAPH_VERSION}"
FACEBOOK_WEB_URL = "https://www.facebook.com"

#: Graph API error codes that mean "throttled" (application, user, page, custom and business
#: use case rate limits). Graph answers them with HTTP 400/403, not 429.
THROTTLING_CODES = frozenset({4, 17, 32, 613, *range(80001, 80015)})
#: Graph API error codes documented as temporary ("unknown error", "service unavailable").
TRANSIENT_CODES = frozenset({1, 2})
#: Send API subcodes of code 10 for a message outside the allowed messaging window (Messenger,
#: Instagram).
WINDOW_SUBCODES = frozenset({2018278, 2534022})


def version_number(version: str) -> tuple[int, int] | None:
    """``(27, 0)`` for ``"v27.0"``; None for anything that is not a Graph API version."""
    match = VERSION_PATTERN.fullmatch(version) if isinstance(version, str) else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def graph_base(channel: ChannelConfig) -> str:
    """Where ``channel``'s Graph API calls go: its own ``base_url`` when set (a test's fake
    server), else graph.facebook.com at its ``graph_version`` (the setting; this module's
    default when empty). A malformed version is a ``SendError`` naming the setting."""
    if channel.base_url.strip():
        return channel.base_url.strip().rstrip("/")
    version = channel.graph_version or DEFAULT_GRAPH_VERSION
    if version_number(version) is None:
        raise SendError(
            f"SOCIALCARE['META_GRAPH_VERSION'] is {version!r}, not a Graph API version such as "
            f"{DEFAULT_GRAPH_VERSION!r} (check socialcare.E008)."
        )
    return f"{GRAPH_HOST}/{version}"


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


class GraphRefused(SendError):
    """Meta refused a call with its error object (a 4xx that is neither throttling nor
    temporary): ``code`` and ``subcode`` as Graph named them."""

    def __init__(self, message: str, *, code: Any = None, subcode: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode


def graph_get(
    client: httpx.Client, url: str, headers: dict[str, str], params: dict[str, str]
) -> dict[str, Any]:
    """GET from the Graph API and return its JSON object. Throttling, temporary errors and the
    network are ``TransientSendError`` (try again); a refusal is ``GraphRefused``."""
    try:
        response = client.get(url, headers=headers, params=params)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise SendError(f"Bad Graph API URL {url!r}: {exc}") from exc
    except httpx.TransportError as exc:
        raise TransientSendError(f"Could not reach Meta: {exc!r}") from exc
    graph_error(response)
    if response.status_code in (408, 429) or response.status_code >= 500:
        raise_for_send_status(response)
    try:
        answer = response.json()
    except ValueError as exc:
        raise SendError(f"Meta answered {response.status_code} with non-JSON: {exc}") from exc
    error = answer.get("error") if isinstance(answer, dict) else None
    if response.status_code >= 400 or isinstance(error, dict):
        error = error if isinstance(error, dict) else {}
        code, subcode = error.get("code"), error.get("error_subcode")
        label = f"code {code}" + (f", subcode {subcode}" if subcode is not None else "")
        text = str(error.get("message") or "")[:300] or response.text[:300]
        raise GraphRefused(
            f"Meta refused (HTTP {response.status_code}, {label}): {text}",
            code=code,
            subcode=subcode,
        )
    if not isinstance(answer, dict):
        raise SendError(f"Meta answered {response.status_code} with {answer!r:.300}")
    return answer
