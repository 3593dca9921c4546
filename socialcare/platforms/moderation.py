"""Moderating customers' comments on the platform: hide, unhide, delete (docs/moderation.md).

Like the adapters, a moderator knows one platform's API and nothing of models: it takes a
``ChannelConfig`` and a ``ModerationRequest`` and answers a ``ModerationResult``, or raises
``ModerationRefused`` (a ``SendError``: the platform said no, do not retry) or
``TransientSendError`` / ``RateLimited`` (try again later).

* Facebook (Graph API, Page access token: channel secret ``access_token``): hide and unhide with
  ``POST /{comment-id}?is_hidden=true|false``, delete with ``DELETE /{comment-id}``; both answer
  ``{"success": true}``.
* Instagram (Graph API, same token): ``POST /{ig-comment-id}?hide=true|false`` and
  ``DELETE /{ig-comment-id}``, answering ``{"success": true}``.
* X (API v2, OAuth 2.0 user token with ``tweet.moderate.write``): ``PUT /2/tweets/{id}/hidden``
  with ``{"hidden": true|false}``, answering ``{"data": {"hidden": true|false}}``. Only replies
  in a conversation the authenticated account started can be hidden (X answers 403 otherwise),
  at most 725 per conversation; X cannot delete other people's posts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable
from urllib.parse import quote

import httpx

from socialcare.platforms import meta, x
from socialcare.platforms.base import (
    ChannelConfig,
    SendError,
    TransientSendError,
    raise_for_send_status,
)
from socialcare.platforms.meta import graph_error

HIDE = "hide"
UNHIDE = "unhide"
DELETE = "delete"
ACTIONS = (HIDE, UNHIDE, DELETE)

#: The most replies X lets one conversation hide (X API v2 hide replies, introduction).
X_MAX_HIDDEN_PER_CONVERSATION = 725
#: Graph API error code of "Object with ID ... does not exist, cannot be loaded due to missing
#: permissions, or does not support this operation" (e.g. a comment already deleted).
GRAPH_NO_SUCH_OBJECT = 100
#: How much of a platform's answer is kept for the agent and the audit trail.
ANSWER_CHARS = 500


class ModerationRefused(SendError):
    """The platform refused the request for good. ``status`` is its HTTP status (None when the
    refusal came before any request), ``answer`` its answer body (shortened), ``code`` its own
    error code when it names one (Graph API ``error.code``)."""

    def __init__(
        self, message: str, *, status: int | None = None, answer: str = "", code: Any = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.answer = answer[:ANSWER_CHARS]
        self.code = code


@dataclass(frozen=True)
class ModerationRequest:
    """Hide, unhide or delete the post ``external_id`` (a comment id, a reply's tweet id)."""

    action: str
    external_id: str


@dataclass(frozen=True)
class ModerationResult:
    action: str
    external_id: str
    #: The platform's answer body, shortened, for the audit trail.
    answer: str = ""


@runtime_checkable
class Moderator(Protocol):
    #: Platform keys this moderator serves.
    platforms: ClassVar[tuple[str, ...]]
    #: What it can do there (a subset of ``ACTIONS``).
    actions: ClassVar[frozenset[str]]

    def moderate(
        self, channel: ChannelConfig, request: ModerationRequest, client: httpx.Client
    ) -> ModerationResult:
        """Do ``request`` on the platform; raises ``ModerationRefused``/``TransientSendError``."""


def _shorten(response: httpx.Response) -> str:
    return response.text[:ANSWER_CHARS]


def _token(channel: ChannelConfig) -> str:
    token = channel.secret("access_token")
    if not token:
        raise ModerationRefused(f"The {channel.platform} channel has no access_token.")
    return token


def _check_action(moderator: Moderator, request: ModerationRequest, platform: str) -> None:
    if request.action not in moderator.actions:
        raise ModerationRefused(f"{platform} does not offer {request.action!r} through its API.")
    if not request.external_id:
        raise ModerationRefused("The post has no platform id to act on.")


def _request(
    client: httpx.Client, method: str, url: str, who: str, **kwargs: Any
) -> httpx.Response:
    try:
        return client.request(method, url, **kwargs)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise ModerationRefused(f"Bad {who} API URL {url!r}: {exc}") from exc
    except httpx.TransportError as exc:
        raise TransientSendError(f"Could not reach {who}: {exc!r}") from exc


def _json_object(response: httpx.Response, who: str) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError as exc:
        raise ModerationRefused(
            f"{who} answered {response.status_code} with non-JSON: {exc}",
            status=response.status_code,
            answer=_shorten(response),
        ) from exc
    if not isinstance(answer, dict):
        raise ModerationRefused(
            f"{who} answered {response.status_code} with {answer!r:.300}",
            status=response.status_code,
            answer=_shorten(response),
        )
    return answer


# Meta ------------------------------------------------------------------------------------------
class MetaModerator:
    """Facebook Page comments and Instagram comments through the Graph API."""

    platforms: ClassVar[tuple[str, ...]] = ("facebook", "instagram")
    actions: ClassVar[frozenset[str]] = frozenset({HIDE, UNHIDE, DELETE})

    def moderate(
        self, channel: ChannelConfig, request: ModerationRequest, client: httpx.Client
    ) -> ModerationResult:
        _check_action(self, request, channel.platform)
        token = _token(channel)
        base = meta.graph_base(channel)
        url = f"{base}/{quote(request.external_id, safe='')}"
        headers = {"Authorization": f"Bearer {token}"}
        if request.action == DELETE:
            response = _request(client, "DELETE", url, "Meta", headers=headers)
        else:
            # Facebook names the flag ``is_hidden``, Instagram ``hide``.
            flag = "hide" if channel.platform == "instagram" else "is_hidden"
            value = "true" if request.action == HIDE else "false"
            response = _request(client, "POST", url, "Meta", headers=headers, params={flag: value})
        _raise_for_graph(response)
        answer = _json_object(response, "Meta")
        if answer.get("success") is not True:
            raise ModerationRefused(
                f"Meta answered without success: {answer!r:.300}",
                status=response.status_code,
                answer=_shorten(response),
            )
        return ModerationResult(request.action, request.external_id, _shorten(response))


def _raise_for_graph(response: httpx.Response) -> None:
    """Throttling and temporary errors as the adapter maps them (``graph_error``), other
    4xx answers as ``ModerationRefused`` with Graph's own message and code."""
    if response.status_code < 400:
        return
    graph_error(response)
    if response.status_code in (408, 429) or response.status_code >= 500:
        raise_for_send_status(response)
    error: Mapping[str, Any] = {}
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            error = body["error"]
    except ValueError:
        pass
    code = error.get("code")
    subcode = error.get("error_subcode")
    message = str(error.get("message") or "")[:300] or _shorten(response)
    label = f"code {code}" + (f", subcode {subcode}" if subcode is not None else "")
    text = f"Meta refused (HTTP {response.status_code}, {label}): {message}"
    if code == GRAPH_NO_SUCH_OBJECT:
        text += " The comment may already be deleted, or the token may not reach it."
    raise ModerationRefused(text, status=response.status_code, answer=_shorten(response), code=code)


# X ---------------------------------------------------------------------------------------------
class XModerator:
    """Hiding replies in conversations the brand's account started (X API v2)."""

    platforms: ClassVar[tuple[str, ...]] = ("x",)
    actions: ClassVar[frozenset[str]] = frozenset({HIDE, UNHIDE})

    def moderate(
        self, channel: ChannelConfig, request: ModerationRequest, client: httpx.Client
    ) -> ModerationResult:
        _check_action(self, request, "X")
        token = _token(channel)
        base = (channel.base_url or x.DEFAULT_BASE_URL).rstrip("/")
        url = f"{base}/2/tweets/{quote(request.external_id, safe='')}/hidden"
        hidden = request.action == HIDE
        response = _request(
            client,
            "PUT",
            url,
            "X",
            json={"hidden": hidden},
            headers={"Authorization": f"Bearer {token}"},
        )
        if response.status_code in (408, 429) or response.status_code >= 500:
            raise_for_send_status(response)
        if response.status_code >= 400:
            raise ModerationRefused(
                f"X refused (HTTP {response.status_code}): {_x_problem(response)}",
                status=response.status_code,
                answer=_shorten(response),
            )
        answer = _json_object(response, "X")
        data = answer.get("data")
        if not isinstance(data, dict) or data.get("hidden") is not hidden:
            # A 200 may carry only ``errors`` (X's partial-error answers).
            raise ModerationRefused(
                f"X did not confirm the reply is {'hidden' if hidden else 'shown'}: "
                f"{_x_problem(response)}",
                status=response.status_code,
                answer=_shorten(response),
            )
        return ModerationResult(request.action, request.external_id, _shorten(response))


def _x_problem(response: httpx.Response) -> str:
    """The readable part of an X error: a problem's ``title: detail`` (RFC 7807, as X API v2
    answers), the first of its ``errors``, or the body itself."""
    try:
        body = response.json()
    except ValueError:
        return _shorten(response)
    problems = []
    if isinstance(body, dict):
        problems.append(body)
        errors = body.get("errors")
        if isinstance(errors, list):
            problems += [e for e in errors if isinstance(e, dict)]
    for problem in problems:
        title = str(problem.get("title") or "")
        detail = str(problem.get("detail") or problem.get("message") or "")
        if title or detail:
            parts = [title] if detail in ("", title) else [p for p in (title, detail) if p]
            return ": ".join(parts)[:300]
    return _shorten(response)


# Registry --------------------------------------------------------------------------------------
MODERATORS: dict[str, Moderator] = {
    "facebook": MetaModerator(),
    "instagram": MetaModerator(),
    "x": XModerator(),
}


def get_moderator(platform: str) -> Moderator | None:
    """The moderator of ``platform``, or None where socialcare cannot moderate."""
    return MODERATORS.get(platform)


def supported_actions(platform: str) -> frozenset[str]:
    """What can be done to a customer's comment on ``platform`` (empty: nothing)."""
    moderator = get_moderator(platform)
    return moderator.actions if moderator is not None else frozenset()
