"""Facebook Login and the Pages a person manages (``GET /me/accounts``), as Meta documents them.

Sources (docs/verification.md, "Facebook Page tokens"):

* The login dialog (``/dialog/oauth``) sends the browser back with a ``code`` (or
  ``error=access_denied``); ``GET /oauth/access_token`` with the code, the app's id and secret
  and the same ``redirect_uri`` answers a **short-lived** User token (1 hour). The same endpoint
  with ``grant_type=fb_exchange_token`` answers a **long-lived** one (``expires_in`` about 60
  days).
* ``GET /me/accounts`` with a User token lists the Pages its person has a task on: ``id``,
  ``name``, ``access_token``, ``tasks``, ``instagram_business_account`` (the fields asked for);
  cursor-paginated (``paging.cursors.before/after``; ``paging.next`` only when there is more;
  ``limit`` capped by the edge). A Page token minted for a short-lived User token lasts 1 hour;
  for a long-lived one it never expires.
* With a Page token ``/me`` *is* the Page: ``/me/accounts`` answers "(#100) Tried accessing
  nonexisting field (accounts) on node type (Page)" (code 100). An unknown token is code 190
  "Invalid OAuth access token - Cannot parse access token"; an expired one code 190, subcode 463.
* A Page call (``POST /{comment-id}/comments``) with anything but that Page's token: code 190
  "This method must be called with a Page Access Token".
* With "Require App Secret" on (``require_proof``), a call without ``appsecret_proof`` is code
  100 "API calls from the server require an appsecret_proof argument"; a wrong one "Invalid
  appsecret_proof provided in the API argument".

``LocalFacebookOAuth2`` is social-core's Facebook backend pointed at this fake (settings
``SOCIAL_AUTH_FACEBOOK_*_URL``); the ``facebook_login`` fixture wires both::

    def test_connect(facebook_login):
        page = facebook_login.add_page("1122", "Acme", tasks=ALL_TASKS)
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from social_core.backends.facebook import FacebookOAuth2

from tests.fakes.meta_graph import graph_error
from tests.platform_server import Answer, PlatformServer, Recorded

#: Every task a Page admin holds ("All unpacked roles/tasks of this particular user").
ALL_TASKS = ("ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE")
SHORT_LIVED = dt.timedelta(hours=1)
LONG_LIVED = dt.timedelta(seconds=5183944)
#: The most Pages the edge answers per request here, whatever ``limit`` asks: pagination shows.
PAGE_SIZE = 2


class LocalFacebookOAuth2(FacebookOAuth2):
    """social-core's Facebook backend, unchanged but for its URLs (settings)."""

    @property
    def AUTHORIZATION_URL(self) -> str:  # the attribute social-core reads
        return str(self.setting("AUTHORIZATION_URL"))

    @property
    def ACCESS_TOKEN_URL(self) -> str:
        return str(self.setting("ACCESS_TOKEN_URL"))

    @property
    def USER_DATA_URL(self) -> str:
        return str(self.setting("USER_DATA_URL"))


@dataclass
class FakePage:
    id: str
    name: str
    tasks: tuple[str, ...] = ALL_TASKS
    instagram_account_id: str = ""


@dataclass
class Token:
    kind: str  # "short", "long" (User tokens) or "page"
    expires_at: dt.datetime | None
    page_id: str = ""
    value: str = field(default="", repr=False)


class MetaAccountsFake:
    """Serves Facebook Login and ``/me/accounts`` on ``server`` for one person, ``user_id``."""

    def __init__(
        self,
        server: PlatformServer,
        *,
        app_id: str = "fb-app-id",
        app_secret: str = "fb-app-secret-0123456789",
        user_id: str = "10158000000000001",
        require_proof: bool = True,
    ) -> None:
        self.server = server
        self.app_id, self.app_secret, self.user_id = app_id, app_secret, user_id
        self.require_proof = require_proof
        self.deny = False
        self.pages: list[FakePage] = []
        self.tokens: dict[str, Token] = {}
        self.codes: dict[str, str] = {}
        self.replies: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        server.route("GET", "/dialog/oauth", self.authorize)
        server.route("GET", "/oauth/access_token", self.access_token)
        server.route("GET", "/me", self.me)
        server.route("GET", "/me/accounts", self.accounts)

    # The person's Pages ----------------------------------------------------------------------
    def add_page(
        self, page_id: str, name: str, *, tasks: tuple[str, ...] = ALL_TASKS, instagram: str = ""
    ) -> FakePage:
        page = FakePage(page_id, name, tuple(tasks), instagram)
        self.pages.append(page)
        return page

    def tokens_of(self, kind: str) -> list[str]:
        return [value for value, token in self.tokens.items() if token.kind == kind]

    def page_token(self, value: str) -> Token | None:
        token = self.tokens.get(value)
        return token if token is not None and token.kind == "page" else None

    def _mint(self, kind: str, lifetime: dt.timedelta | None, page_id: str = "") -> str:
        value = f"EAA{kind}{next(self._ids)}x{secrets.token_hex(10)}"
        expires = dt.datetime.now(dt.UTC) + lifetime if lifetime is not None else None
        self.tokens[value] = Token(kind, expires, page_id, value)
        return value

    # Requests -------------------------------------------------------------------------------
    @staticmethod
    def _bearer(request: Recorded) -> str:
        header = request.headers.get("authorization", "")
        if header.startswith("Bearer "):
            return header[len("Bearer ") :]
        return (request.query.get("access_token") or [""])[0]

    def _token(self, request: Recorded) -> tuple[Token | None, Answer | None]:
        value = self._bearer(request)
        token = self.tokens.get(value)
        if token is None:
            return None, graph_error("Invalid OAuth access token - Cannot parse access token", 190)
        if token.expires_at is not None and token.expires_at <= dt.datetime.now(dt.UTC):
            return None, graph_error(
                "Error validating access token: Session has expired.", 190, 463
            )
        if self.require_proof:
            proof = (request.query.get("appsecret_proof") or [""])[0]
            if not proof:
                return None, graph_error(
                    "API calls from the server require an appsecret_proof argument", 100
                )
            expected = hmac.new(self.app_secret.encode(), value.encode(), hashlib.sha256)
            if not hmac.compare_digest(proof, expected.hexdigest()):
                return None, graph_error(
                    "Invalid appsecret_proof provided in the API argument", 100
                )
        return token, None

    def authorize(self, request: Recorded) -> Answer:
        query = {k: v[0] for k, v in request.query.items()}
        if query.get("client_id") != self.app_id or not query.get("redirect_uri"):
            return graph_error("Invalid App ID", 101)
        if self.deny:
            params = {
                "error": "access_denied",
                "error_code": "200",
                "error_description": "Permissions error",
                "error_reason": "user_denied",
            }
        else:
            code = secrets.token_urlsafe(16)
            self.codes[code] = query["redirect_uri"]
            params = {"code": code}
        if query.get("state"):
            params["state"] = query["state"]
        sep = "&" if "?" in query["redirect_uri"] else "?"
        return Answer(302, "", {"Location": f"{query['redirect_uri']}{sep}{urlencode(params)}"})

    def access_token(self, request: Recorded) -> Answer:
        query = {k: v[0] for k, v in request.query.items()}
        if query.get("client_id") != self.app_id:
            return graph_error("Error validating application. Invalid application ID.", 101)
        if query.get("client_secret") != self.app_secret:
            return graph_error("Error validating client secret.", 1)
        if query.get("grant_type") == "fb_exchange_token":
            token = self.tokens.get(query.get("fb_exchange_token", ""))
            if token is None or token.kind not in ("short", "long"):
                return graph_error("Invalid OAuth access token.", 190)
            value = self._mint("long", LONG_LIVED)
            return Answer(
                200, {"access_token": value, "token_type": "bearer", "expires_in": 5183944}
            )
        redirect_uri = self.codes.pop(query.get("code", ""), None)
        if redirect_uri is None:
            return graph_error("This authorization code has been used.", 100, 36009)
        if redirect_uri != query.get("redirect_uri"):
            return graph_error(
                "Error validating verification code. Please make sure your redirect_uri is "
                "identical to the one you used in the OAuth dialog request",
                100,
                36008,
            )
        value = self._mint("short", SHORT_LIVED)
        return Answer(200, {"access_token": value, "token_type": "bearer", "expires_in": 3600})

    def me(self, request: Recorded) -> Answer:
        token, refused = self._token(request)
        if refused is not None:
            return refused
        if token.kind == "page":
            page = next(p for p in self.pages if p.id == token.page_id)
            return Answer(200, {"id": page.id, "name": page.name})
        return Answer(200, {"id": self.user_id, "name": "Ada Admin"})

    def accounts(self, request: Recorded) -> Answer:
        token, refused = self._token(request)
        if refused is not None:
            return refused
        if token.kind == "page":
            return graph_error(
                "(#100) Tried accessing nonexisting field (accounts) on node type (Page)", 100
            )
        query = {k: v[0] for k, v in request.query.items()}
        fields = set((query.get("fields") or "id,name").split(","))
        try:
            limit = max(1, min(int(query.get("limit") or 25), PAGE_SIZE))
            start = int(base64.b64decode(query["after"]).decode()) + 1 if "after" in query else 0
        except (ValueError, KeyError):
            return graph_error("(#100) Invalid cursor or limit", 100)
        shown = self.pages[start : start + limit]
        lifetime = SHORT_LIVED if token.kind == "short" else None
        data = [self._page(page, fields, lifetime) for page in shown]
        answer: dict[str, Any] = {"data": data}
        if shown:
            first, last = start, start + len(shown) - 1
            cursors = {
                "before": base64.b64encode(str(first).encode()).decode(),
                "after": base64.b64encode(str(last).encode()).decode(),
            }
            answer["paging"] = {"cursors": cursors}
            if last + 1 < len(self.pages):
                more = {
                    "access_token": self._bearer(request),
                    "fields": ",".join(sorted(fields)),
                    "limit": limit,
                    "after": cursors["after"],
                }
                answer["paging"]["next"] = f"{self.server.url}/me/accounts?{urlencode(more)}"
        return Answer(200, answer)

    def _page(self, page: FakePage, fields: set[str], lifetime: dt.timedelta | None) -> dict:
        item: dict[str, Any] = {"id": page.id}
        if "name" in fields:
            item["name"] = page.name
        if "tasks" in fields:
            item["tasks"] = list(page.tasks)
        if "access_token" in fields:
            item["access_token"] = self._mint("page", lifetime, page.id)
        if "instagram_business_account" in fields and page.instagram_account_id:
            item["instagram_business_account"] = {"id": page.instagram_account_id}
        return item

    # A Page call -----------------------------------------------------------------------------
    def accept_replies(self, comment_id: str, page_id: str) -> None:
        """Serve ``POST /{comment_id}/comments`` for a comment on ``page_id``'s post: only that
        Page's token (unexpired) may answer it."""

        def reply(request: Recorded) -> Answer:
            token = self.page_token(self._bearer(request))
            expired = token is not None and token.expires_at is not None
            if expired and token.expires_at <= dt.datetime.now(dt.UTC):
                return graph_error("Error validating access token: Session has expired.", 190, 463)
            if token is None or token.page_id != page_id:
                return graph_error("This method must be called with a Page Access Token", 190)
            reply_id = f"{page_id}_{next(self._ids)}"
            self.replies.append({"id": reply_id, "comment": comment_id, **_form(request)})
            return Answer(200, {"id": reply_id})

        self.server.route("POST", f"/{comment_id}/comments", reply)


def _form(request: Recorded) -> dict[str, str]:
    return {k: v[0] for k, v in request.form().items()}


@pytest.fixture
def facebook_login(settings: Any, platform_server: PlatformServer) -> Any:
    """A ``MetaAccountsFake`` on the platform server; the "facebook" social-auth backend is
    ``LocalFacebookOAuth2`` pointed at it, with the fake's app id and secret."""
    from social_core.backends.utils import load_backends

    fake = MetaAccountsFake(platform_server)
    original = list(settings.AUTHENTICATION_BACKENDS)
    settings.AUTHENTICATION_BACKENDS = [
        "tests.fakes.meta_accounts.LocalFacebookOAuth2"
        if path == "social_core.backends.facebook.FacebookOAuth2"
        else path
        for path in original
    ]
    settings.SOCIAL_AUTH_FACEBOOK_KEY = fake.app_id
    settings.SOCIAL_AUTH_FACEBOOK_SECRET = fake.app_secret
    settings.SOCIAL_AUTH_FACEBOOK_AUTHORIZATION_URL = f"{platform_server.url}/dialog/oauth"
    settings.SOCIAL_AUTH_FACEBOOK_ACCESS_TOKEN_URL = f"{platform_server.url}/oauth/access_token"
    settings.SOCIAL_AUTH_FACEBOOK_USER_DATA_URL = f"{platform_server.url}/me"
    load_backends(settings.AUTHENTICATION_BACKENDS, force_load=True)
    yield fake
    load_backends(original, force_load=True)
