"""The Pages a Facebook Login user manages, with their Page access tokens (no Django here).

Sources (docs/verification.md, "Facebook Page tokens"):

* A User token from the login flow is short-lived (1 hour); ``GET /oauth/access_token`` with
  ``grant_type=fb_exchange_token`` (app id, app secret, the token) answers a long-lived one
  (about 60 days). A Page token obtained with a short-lived User token lasts 1 hour; obtained
  with a long-lived one it has **no expiration date**.
* ``GET /me/accounts`` with a User token lists the Pages its person can perform tasks on:
  ``id``, ``name``, ``access_token`` (the Page token), ``tasks`` (``MODERATE``,
  ``MESSAGING``, ...) and, when asked, ``instagram_business_account`` (the Instagram
  professional account linked to the Page). The edge is cursor-paginated: ``paging.cursors``
  ``before``/``after``, and ``paging.next`` absent on the last page.
* ``appsecret_proof`` = hex HMAC-SHA256 of the token with the app secret; Meta requires it when
  the app has "Require App Secret" on.

Tokens never go into URLs that are logged: ``/me/accounts`` gets its token in the
``Authorization`` header and the next page by its ``after`` cursor (``paging.next`` repeats the
token in its query), and ``RedactTokens`` blanks token parameters in what httpx (and urllib3,
under social-auth's own Graph calls) log.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from socialcare.platforms.base import SendError
from socialcare.platforms.meta.graph import graph_get

#: What is read of each Page.
PAGE_FIELDS = "id,name,access_token,tasks,instagram_business_account"
#: Pages asked for per request, and requests at most: 5,000 Pages.
PAGE_LIMIT = 100
MAX_REQUESTS = 50

_TOKEN_PARAMS = re.compile(
    r"((?:access_token|fb_exchange_token|client_secret|appsecret_proof|code)=)[^&\s\"'#]+"
)


def redact(text: str) -> str:
    """``text`` with the values of token-bearing query parameters replaced by ``[redacted]``."""
    return _TOKEN_PARAMS.sub(r"\1[redacted]", text)


class RedactTokens(logging.Filter):
    """Blanks token parameters in the URLs a log record carries (httpx logs every request's
    URL at INFO, urllib3 at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted_arg(arg) for arg in record.args)
        return True


def _redacted_arg(arg: Any) -> Any:
    if isinstance(arg, int | float | bool) or arg is None:
        return arg
    text = str(arg)
    return redact(text) if _TOKEN_PARAMS.search(text) else arg


#: The loggers that write request URLs of the calls made while connecting a Page.
URL_LOGGERS = ("httpx", "urllib3.connectionpool")


def install_log_redaction() -> None:
    """Add ``RedactTokens`` to ``URL_LOGGERS`` (once)."""
    for name in URL_LOGGERS:
        found = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in found.filters):
            found.addFilter(RedactTokens())


install_log_redaction()


@dataclass(frozen=True)
class ManagedPage:
    """A Page the signed-in person can perform tasks on."""

    id: str
    name: str
    tasks: frozenset[str]
    instagram_account_id: str = ""
    access_token: str = field(default="", repr=False)


@dataclass(frozen=True)
class UserToken:
    access_token: str = field(repr=False)
    #: Seconds until it expires, as Meta said (None: not said).
    expires_in: int | None = None


def appsecret_proof(token: str, app_secret: str) -> str:
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def exchange_for_long_lived(
    client: httpx.Client, base: str, *, app_id: str, app_secret: str, user_token: str
) -> UserToken:
    """The long-lived User token for ``user_token`` (``fb_exchange_token``). Raises the Graph
    errors of ``graph_get`` (``GraphRefused``, ``TransientSendError``, ``SendError``)."""
    answer = graph_get(
        client,
        f"{base}/oauth/access_token",
        {},
        {
            "grant_type": "fb_exchange_token",
            "client_id": app_id,
            "client_secret": app_secret,
            "fb_exchange_token": user_token,
        },
    )
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise SendError("Meta exchanged the User token but named no access token.")
    expires = answer.get("expires_in")
    valid = isinstance(expires, int) and not isinstance(expires, bool) and expires > 0
    return UserToken(token, expires if valid else None)


def managed_pages(
    client: httpx.Client, base: str, user_token: str, *, app_secret: str = ""
) -> list[ManagedPage]:
    """Every Page ``user_token``'s person manages (``GET /me/accounts``, all its pages of
    results). Raises the errors of ``graph_get``, or ``SendError`` for an answer that is not
    the edge's shape."""
    headers = {"Authorization": f"Bearer {user_token}"}
    params = {"fields": PAGE_FIELDS, "limit": str(PAGE_LIMIT)}
    if app_secret:
        params["appsecret_proof"] = appsecret_proof(user_token, app_secret)
    found: list[ManagedPage] = []
    cursors: set[str] = set()
    for _ in range(MAX_REQUESTS):
        answer = graph_get(client, f"{base}/me/accounts", headers, params)
        data = answer.get("data")
        if not isinstance(data, list):
            raise SendError(f"Meta's list of Pages has no data list: {answer!r:.200}")
        found += [page for page in map(_page, data) if page is not None]
        paging = answer.get("paging") if isinstance(answer.get("paging"), dict) else {}
        if not paging.get("next"):
            return found
        cursor = (paging.get("cursors") or {}).get("after")
        if not isinstance(cursor, str) or not cursor or cursor in cursors:
            raise SendError("Meta's list of Pages names a next page but no new 'after' cursor.")
        cursors.add(cursor)
        params = {**params, "after": cursor}
    raise SendError(f"More than {PAGE_LIMIT * MAX_REQUESTS} Pages: not listed.")


def _page(item: Any) -> ManagedPage | None:
    if not isinstance(item, dict):
        return None
    page_id = item.get("id")
    if not isinstance(page_id, str) or not page_id:
        return None
    tasks = item.get("tasks")
    linked = item.get("instagram_business_account")
    instagram = linked.get("id") if isinstance(linked, dict) else None
    token = item.get("access_token")
    return ManagedPage(
        id=page_id,
        name=str(item.get("name") or "")[:200],
        tasks=frozenset(t for t in tasks if isinstance(t, str))
        if isinstance(tasks, list)
        else frozenset(),
        instagram_account_id=instagram if isinstance(instagram, str) else "",
        access_token=token if isinstance(token, str) else "",
    )
