"""A real OAuth 2.0 / OpenID Connect provider on 127.0.0.1 for the sign-in tests, and the OAuth
dance driven through Django's test client.

The provider plays X (``/2/users/me``), Mastodon (``/api/v1/accounts/verify_credentials``) and an
OIDC identity provider (discovery, JWKS, RS256-signed ``id_token``, ``/userinfo``). Its
``/authorize`` signs in as ``provider.account`` (or answers ``error=access_denied`` when
``provider.deny``); ``/token`` checks the client's credentials, the code, its redirect URI and
the PKCE verifier, and answers ``authorization_code`` and ``refresh_token`` grants. Every grant
is recorded in ``provider.grants``.

``dance(client, response)`` follows a begin response: a real HTTP request to the provider's
authorize URL (httpx), then the provider's redirect back to the callback through the client.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from social_core.backends.twitter_oauth2 import TwitterOAuth2

from tests.loopback import LoopbackServer

CLIENTS = {
    "x-client-id": "x-client-secret-0123456789",
    "mastodon-client-id": "mastodon-client-secret-0123456789",
    "oidc-client-id": "oidc-client-secret-0123456789",
}


class LocalTwitterOAuth2(TwitterOAuth2):
    """social-core's X backend, unchanged but for where it fetches the profile (a setting)."""

    def user_data(self, access_token: str, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        response = self.get_json(
            self.setting("USER_DATA_URL", "https://api.twitter.com/2/users/me"),
            headers={"Authorization": f"Bearer {access_token}"},
        )
        return response["data"]


@dataclass
class Account:
    id: str
    username: str
    name: str = ""
    email: str = ""
    email_verified: bool = True


@dataclass
class Grant:
    grant_type: str
    client_id: str
    access_token: str
    refresh_token: str


@dataclass
class OAuthProvider(LoopbackServer):
    account: Account = field(default_factory=lambda: Account("1001", "ada", "Ada L."))
    deny: bool = False
    expires_in: int = 7200
    grants: list[Grant] = field(default_factory=list)
    issued: dict[str, Account] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.codes: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, Account] = {}
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                provider.handle(self, "GET")

            def do_POST(self) -> None:
                provider.handle(self, "POST")

        self.serve(Handler)

    # HTTP ------------------------------------------------------------------------------------

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(request.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length).decode() if length else ""
        form = {k: v[0] for k, v in parse_qs(body).items()}
        route = (method, parts.path)
        bearer = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        if route == ("GET", "/authorize"):
            status, headers, payload = self.authorize(query)
        elif route in (("POST", "/token"), ("POST", "/oauth/token")):
            status, headers, payload = self.token(form, request.headers.get("Authorization"))
        elif route == ("GET", "/oauth/authorize"):
            status, headers, payload = self.authorize(query)
        elif route == ("GET", "/2/users/me"):
            status, headers, payload = self.profile(bearer, "x")
        elif route == ("GET", "/api/v1/accounts/verify_credentials"):
            status, headers, payload = self.profile(bearer, "mastodon")
        elif route == ("GET", "/userinfo"):
            status, headers, payload = self.profile(bearer, "oidc")
        elif route == ("GET", "/.well-known/openid-configuration"):
            status, headers, payload = 200, {}, self.discovery()
        elif route == ("GET", "/jwks"):
            status, headers, payload = 200, {}, {"keys": [self.jwk()]}
        else:
            status, headers, payload = 404, {}, {"error": "not_found"}
        data = json.dumps(payload).encode() if payload is not None else b""
        request.send_response(status)
        for key, value in headers.items():
            request.send_header(key, value)
        if payload is not None:
            request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def authorize(self, query: dict[str, str]) -> tuple[int, dict, Any]:
        redirect_uri = query["redirect_uri"]
        sep = "&" if "?" in redirect_uri else "?"
        if query.get("client_id") not in CLIENTS:
            return 400, {}, {"error": "invalid_client"}
        if self.deny:
            params = {"error": "access_denied", "error_description": "The user said no"}
        else:
            code = secrets.token_urlsafe(16)
            with self.lock:
                self.codes[code] = {
                    "account": self.account,
                    "client_id": query["client_id"],
                    "redirect_uri": redirect_uri,
                    "challenge": query.get("code_challenge"),
                    "nonce": query.get("nonce"),
                }
            params = {"code": code}
        if query.get("state"):
            params["state"] = query["state"]
        return 302, {"Location": f"{redirect_uri}{sep}{urlencode(params)}"}, None

    def _client(self, form: dict[str, str], authorization: str | None) -> str | None:
        if authorization and authorization.startswith("Basic "):
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        return client_id if CLIENTS.get(client_id) == secret else None

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict, Any]:
        client_id = self._client(form, authorization)
        if client_id is None:
            return 401, {}, {"error": "invalid_client"}
        grant_type = form.get("grant_type")
        nonce = None
        if grant_type == "authorization_code":
            with self.lock:
                issued = self.codes.pop(form.get("code", ""), None)
            if issued is None or issued["redirect_uri"] != form.get("redirect_uri"):
                return 400, {}, {"error": "invalid_grant"}
            if issued["challenge"]:
                verifier = form.get("code_verifier", "")
                digest = hashlib.sha256(verifier.encode()).digest()
                expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
                if expected != issued["challenge"]:
                    return 400, {}, {"error": "invalid_grant", "error_description": "PKCE"}
            account, nonce = issued["account"], issued["nonce"]
        elif grant_type == "refresh_token":
            with self.lock:
                account = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if account is None:
                return 400, {}, {"error": "invalid_grant"}
        else:
            return 400, {}, {"error": "unsupported_grant_type"}
        access, refresh = f"at-{secrets.token_hex(12)}", f"rt-{secrets.token_hex(12)}"
        with self.lock:
            self.issued[access] = account
            self.refresh_tokens[refresh] = account
            self.grants.append(Grant(grant_type, client_id, access, refresh))
        answer = {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": self.expires_in,
        }
        if client_id == "oidc-client-id" and grant_type == "authorization_code":
            answer["id_token"] = self.id_token(account, client_id, nonce, access)
        return 200, {}, answer

    def profile(self, bearer: str, kind: str) -> tuple[int, dict, Any]:
        account = self.issued.get(bearer)
        if account is None:
            return 401, {}, {"error": "invalid_token"}
        if kind == "x":
            return (
                200,
                {},
                {"data": {"id": account.id, "name": account.name, "username": account.username}},
            )
        if kind == "mastodon":
            return (
                200,
                {},
                {
                    "id": "42",
                    "username": account.username,
                    "acct": account.username,
                    "display_name": account.name,
                    "url": account.id,
                },
            )
        return (
            200,
            {},
            {
                "sub": account.id,
                "email": account.email,
                "email_verified": account.email_verified,
                "name": account.name,
                "preferred_username": account.username,
            },
        )

    # OpenID Connect ----------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "userinfo_endpoint": f"{self.url}/userinfo",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def jwk(self) -> dict[str, Any]:
        key = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {**key, "kid": "test-key", "alg": "RS256", "use": "sig"}

    def id_token(self, account: Account, client_id: str, nonce: str | None, access: str) -> str:
        now = int(time.time())
        digest = hashlib.sha256(access.encode()).digest()
        claims = {
            "iss": self.url,
            "sub": account.id,
            "aud": client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "email": account.email,
            "email_verified": account.email_verified,
            "at_hash": base64.urlsafe_b64encode(digest[:16]).decode().rstrip("="),
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "test-key"})


@pytest.fixture
def oauth_provider(settings: Any) -> Any:
    """A running provider; the X, Mastodon and OIDC backends point at it."""
    provider = OAuthProvider().start()
    settings.SOCIAL_AUTH_TWITTER_OAUTH2_AUTHORIZATION_URL = f"{provider.url}/authorize"
    settings.SOCIAL_AUTH_TWITTER_OAUTH2_ACCESS_TOKEN_URL = f"{provider.url}/token"
    settings.SOCIAL_AUTH_TWITTER_OAUTH2_USER_DATA_URL = f"{provider.url}/2/users/me"
    settings.SOCIAL_AUTH_MASTODON_INSTANCE_URL = provider.url
    settings.SOCIAL_AUTH_OIDC_OIDC_ENDPOINT = provider.url
    yield provider
    provider.stop()


def dance(client: Any, begin: Any) -> Any:
    """From a response redirecting to the provider, through the provider (real HTTP), back to
    the callback through the Django test client. Returns the callback's response."""
    assert begin.status_code == 302, begin
    authorize = begin["Location"]
    answer = httpx.get(authorize, follow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["location"])
    assert back.netloc == "testserver", back
    return client.get(back.path, {k: v[0] for k, v in parse_qs(back.query).items()})
