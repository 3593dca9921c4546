"""Bluesky logins and direct messages as the PDS and the chat service enforce them.

Sources (docs/ingestion.md, "Bluesky sessions and chat"; bluesky-social/atproto at the commit in
``tests/fakes/lexicons/README.md``):

- ``com.atproto.server.createSession`` (``lexicons/com/atproto/server/createSession.json``) is
  rate limited per identifier: 30 per 5 minutes and 300 per day
  (``packages/pds/src/api/com/atproto/server/createSession.ts``); a limit counts every attempt and
  opens with its first one. Past it: 429 ``RateLimitExceeded``. Every answer carries
  ``RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` (epoch seconds) / ``-Policy``
  (``packages/xrpc-server/src/rate-limiter-http.ts``). A wrong password: 401
  ``AuthenticationRequired`` "Invalid identifier or password".
- Access tokens live 120 minutes, refresh tokens 90 days
  (``packages/pds/src/account-manager/helpers/auth.ts``). ``refreshSession``
  (``lexicons/com/atproto/server/refreshSession.json``) takes the refresh token as bearer and
  rotates it: the used one stays valid for a 2-hour grace period (reused, it yields the same next
  token id), then 400 ``ExpiredToken`` "Token has been revoked"
  (``packages/pds/src/account-manager/account-manager.ts``, ``rotateRefreshToken``).
- Authenticated calls (``packages/pds/src/auth-verifier.ts``): no token, 401 ``AuthMissing``; an
  expired one, **400** ``ExpiredToken`` "Token has expired"; one it cannot verify (unknown, or a
  refresh token used as access token), 400 ``InvalidToken`` "Token could not be verified".
- ``chat.bsky.*`` goes through the PDS's proxy (``atproto-proxy: did:web:api.bsky.chat#bsky_chat``);
  an app password created without direct-message access ("privileged") is refused there with
  400 ``InvalidToken`` "Bad token method" (``packages/pds/src/pipethrough.ts``).
- The chat service honours each person's ``chat.bsky.actor.declaration`` ``allowIncoming``
  (``all`` / ``following`` / ``none``; unset reads as ``following``, as the Bluesky app's
  ``canBeMessaged`` reads it): ``getConvoForMembers`` answers 400 ``MessagesDisabled`` (none),
  ``NotFollowedBySender`` (following, and they do not follow the brand) or ``RecipientNotFound``
  (the errors of ``lexicons/chat/bsky/convo/getConvoForMembers.json``);
  ``getConvoAvailability`` answers ``canChat`` and creates nothing; ``app.bsky.actor.getProfile``
  shows ``associated.chat.allowIncoming`` and ``viewer.followedBy``.

The PDS fake (``tests/fakes/bluesky_pds.py``: notifications, profiles, posting) checks tokens the
same way when given ``authorize``; any other route can wrap its responder in ``authenticated``::

    auth = BlueskyAuthFake(platform_server, did=BRAND, handle="acme.support", password="pw")
    pds = BlueskyPdsFake(platform_server, with_auth=False, authorize=auth.authorize)
    auth.member(CUSTOMER, "bryan.bsky.social", allow_incoming="following", follows_brand=False)
    auth.expire_access_tokens()      # the PDS now refuses every access token issued so far
    auth.create_calls, auth.refresh_calls, auth.messages

The clock (``clock``, epoch seconds) is injectable; tests move it with ``time_machine``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.lexicon import graphemes
from tests.fakes.x_api import Window
from tests.platform_server import Answer, PlatformServer, Recorded, Responder

XRPC = "/xrpc/"
CHAT_PROXY = "did:web:api.bsky.chat#bsky_chat"
ACCESS_SECONDS = 120 * 60
REFRESH_SECONDS = 90 * 86_400
REFRESH_GRACE = 2 * 3_600
#: createSession's limits per identifier: (points, seconds).
CREATE_SESSION_LIMITS = ((30, 5 * 60), (300, 86_400))
SCOPE_APP_PASS = "com.atproto.appPass"
SCOPE_PRIVILEGED = "com.atproto.appPassPrivileged"
SCOPE_REFRESH = "com.atproto.refresh"
#: chat.bsky.convo.defs#messageInput ``text``.
MESSAGE_MAX_BYTES, MESSAGE_MAX_GRAPHEMES = 10_000, 1_000


def xrpc_error(status: int, error: str, message: str = "") -> Answer:
    return Answer(status, {"error": error, "message": message or error})


@dataclass
class Member:
    """A Bluesky account the chat service knows. ``allow_incoming``: its declaration's
    ``allowIncoming`` (None: no declaration); ``follows_brand``: it follows the brand."""

    did: str
    handle: str
    allow_incoming: str | None = "following"
    follows_brand: bool = False


@dataclass
class RefreshToken:
    expires: float
    next_id: str = ""


@dataclass
class Issued:
    did: str
    scope: str
    expires: float  # the server's view: ``expire_access_tokens`` moves it


@dataclass
class BlueskyAuthFake:
    server: PlatformServer
    did: str
    handle: str
    password: str
    clock: Callable[[], float] = time.time
    access_seconds: int = ACCESS_SECONDS
    #: The app password was created with "Allow access to your direct messages".
    dm_access: bool = True
    create_calls: int = 0
    refresh_calls: int = 0
    rate_limited: int = 0
    members: dict[str, Member] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    convos: dict[frozenset[str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self._key = b"fake-pds-signing-key"
        self._access: dict[str, Issued] = {}
        self._refresh: dict[str, RefreshToken] = {}
        self._ids = itertools.count(1)
        self._windows: dict[tuple[str, int], Window] = {}
        routes: dict[tuple[str, str], Responder] = {
            ("POST", "com.atproto.server.createSession"): self.create_session,
            ("POST", "com.atproto.server.refreshSession"): self.refresh_session,
            ("GET", "chat.bsky.convo.getConvoAvailability"): self.chat(self.availability),
            ("GET", "chat.bsky.convo.getConvoForMembers"): self.chat(self.convo_for_members),
            ("POST", "chat.bsky.convo.sendMessage"): self.chat(self.send_message),
            ("GET", "app.bsky.actor.getProfile"): self.authenticated(self.profile),
        }
        for (method, nsid), responder in routes.items():
            self.server.route(method, XRPC + nsid, responder)

    # Set-up ------------------------------------------------------------------------------------
    def member(
        self,
        did: str,
        handle: str = "",
        *,
        allow_incoming: str | None = "following",
        follows_brand: bool = False,
    ) -> Member:
        found = Member(did, handle or f"{did.rsplit(':', 1)[-1]}.bsky.social")
        found.allow_incoming, found.follows_brand = allow_incoming, follows_brand
        self.members[did] = found
        return found

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is now expired for the server (its clock runs ahead
        of ours, or the tokens were invalidated): the next call with one gets 400 ExpiredToken."""
        now = self.clock()
        with self.lock:
            for issued in self._access.values():
                issued.expires = min(issued.expires, now)

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token issued so far is revoked (the account's sessions were signed out):
        refreshSession answers 400 ExpiredToken "Token has been revoked"."""
        with self.lock:
            self._refresh.clear()

    # Tokens ------------------------------------------------------------------------------------
    def _jwt(self, claims: dict[str, Any], typ: str) -> str:
        def part(value: dict[str, Any]) -> str:
            raw = json.dumps(value, separators=(",", ":")).encode()
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        body = f"{part({'typ': typ, 'alg': 'HS256'})}.{part(claims)}"
        signature = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return f"{body}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"

    def _session(self, refresh_id: str) -> dict[str, Any]:
        """A new access token and the refresh token ``refresh_id`` (called with the lock)."""
        now = self.clock()
        scope = SCOPE_PRIVILEGED if self.dm_access else SCOPE_APP_PASS
        access_exp = int(now) + self.access_seconds
        access = self._jwt(
            {"scope": scope, "sub": self.did, "aud": "did:web:pds.test", "iat": int(now),
             "exp": access_exp, "n": next(self._ids)},
            "at+jwt",
        )  # fmt: skip
        self._access[access] = Issued(self.did, scope, access_exp)
        token = self._refresh.setdefault(refresh_id, RefreshToken(now + REFRESH_SECONDS))
        refresh = self._jwt(
            {"scope": SCOPE_REFRESH, "sub": self.did, "aud": "did:web:pds.test",
             "jti": refresh_id, "iat": int(now), "exp": int(token.expires)},
            "refresh+jwt",
        )  # fmt: skip
        return {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": self.handle,
            "did": self.did,
            "active": True,
        }

    @staticmethod
    def _bearer(request: Recorded) -> str:
        value = request.headers.get("authorization", "")
        return value[len("Bearer ") :] if value.startswith("Bearer ") else ""

    def _claims(self, token: str) -> dict[str, Any] | None:
        try:
            header, payload, signature = token.split(".")
            expected = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256)
            given = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
            if not hmac.compare_digest(expected.digest(), given):
                return None
            return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except ValueError:
            return None

    def check_access(self, request: Recorded) -> Answer | Issued:
        """The access token's grant, or the PDS's refusal."""
        token = self._bearer(request)
        if not token:
            return xrpc_error(401, "AuthMissing", "Authentication Required")
        with self.lock:
            issued = self._access.get(token)
        if issued is None:
            return xrpc_error(400, "InvalidToken", "Token could not be verified")
        if self.clock() >= issued.expires:
            return xrpc_error(400, "ExpiredToken", "Token has expired")
        return issued

    def authorize(self, request: Recorded) -> Answer | None:
        """The PDS's refusal of ``request``'s access token, None when it may pass (the
        ``authorize`` hook of ``tests/fakes/bluesky_pds.py``)."""
        grant = self.check_access(request)
        return grant if isinstance(grant, Answer) else None

    def authenticated(self, responder: Callable[[Recorded], Answer]) -> Callable[..., Answer]:
        """``responder`` behind the PDS's access-token check."""

        def answer(request: Recorded) -> Answer:
            grant = self.check_access(request)
            return grant if isinstance(grant, Answer) else responder(request)

        return answer

    # com.atproto.server ------------------------------------------------------------------------
    def _limits(self, identifier: str) -> tuple[Answer | None, dict[str, str]]:
        """Consume a point of each createSession limit; the answer past one, and the headers of
        the limit nearest to its end (called with the lock)."""
        now = self.clock()
        windows = []
        for points, seconds in CREATE_SESSION_LIMITS:
            window = self._windows.setdefault((identifier, seconds), Window(points, seconds))
            windows.append((window.remaining(now), window))
        remaining, tightest = min(windows, key=lambda pair: pair[0])
        headers = {
            "RateLimit-Limit": str(tightest.limit),
            "RateLimit-Reset": str(tightest.reset(now)),
            "RateLimit-Policy": f"{tightest.limit};w={tightest.seconds}",
        }
        if remaining <= 0:
            headers["RateLimit-Remaining"] = "0"
            return Answer(429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                          headers), headers  # fmt: skip
        for _, window in windows:
            window.take(now)
        headers["RateLimit-Remaining"] = str(min(w.remaining(now) for _, w in windows))
        return None, headers

    def create_session(self, request: Recorded) -> Answer:
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            return xrpc_error(400, "InvalidRequest", "Request body is not JSON")
        if not isinstance(body, dict):
            return xrpc_error(400, "InvalidRequest", "Input must be an object")
        for name in ("identifier", "password"):
            if not isinstance(body.get(name), str):
                return xrpc_error(400, "InvalidRequest", f'Input must have the property "{name}"')
        with self.lock:
            self.create_calls += 1
            refused, headers = self._limits(body["identifier"])
            if refused is not None:
                self.rate_limited += 1
                return refused
            if body["identifier"] not in (self.handle, self.did) or (
                body["password"] != self.password
            ):
                answer = xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
            else:
                answer = Answer(200, self._session(f"refresh-{next(self._ids)}"))
        answer.headers.update(headers)
        return answer

    def refresh_session(self, request: Recorded) -> Answer:
        token = self._bearer(request)
        if not token:
            return xrpc_error(401, "AuthMissing", "Authentication Required")
        claims = self._claims(token)
        if claims is None or claims.get("scope") != SCOPE_REFRESH or not claims.get("jti"):
            return xrpc_error(400, "InvalidToken", "Token could not be verified")
        now = self.clock()
        if now >= float(claims.get("exp") or 0):
            return xrpc_error(400, "ExpiredToken", "Token has expired")
        with self.lock:
            self.refresh_calls += 1
            stored = self._refresh.get(claims["jti"])
            if stored is None or now >= stored.expires:
                return xrpc_error(400, "ExpiredToken", "Token has been revoked")
            stored.expires = min(stored.expires, now + REFRESH_GRACE)
            stored.next_id = stored.next_id or f"refresh-{next(self._ids)}"
            return Answer(200, self._session(stored.next_id))

    # chat.bsky.convo (through the PDS's proxy) -------------------------------------------------
    def chat(self, responder: Callable[[Recorded, Issued], Answer]) -> Callable[..., Answer]:
        def answer(request: Recorded) -> Answer:
            if request.headers.get("atproto-proxy") != CHAT_PROXY:
                # Without the proxy header the PDS sends chat.bsky.* to the AppView, which does
                # not implement it.
                return xrpc_error(501, "MethodNotImplemented", "Method Not Implemented")
            grant = self.check_access(request)
            if isinstance(grant, Answer):
                return grant
            if grant.scope != SCOPE_PRIVILEGED:
                return xrpc_error(400, "InvalidToken", "Bad token method")
            return responder(request, grant)

        return answer

    def _members(self, request: Recorded) -> list[str] | Answer:
        members = request.query.get("members", [])
        if not 1 <= len(members) <= 10:
            return xrpc_error(400, "InvalidRequest", "members must have 1 to 10 elements")
        if any(not m.startswith("did:") for m in members):
            return xrpc_error(400, "InvalidRequest", "members must be DIDs")
        return [m for m in members if m != self.did]

    def _refusal(self, others: list[str]) -> Answer | None:
        for did in others:
            found = self.members.get(did)
            if found is None:
                return xrpc_error(400, "RecipientNotFound")
            if found.allow_incoming == "none":
                return xrpc_error(400, "MessagesDisabled")
            if found.allow_incoming in (None, "following") and not found.follows_brand:
                return xrpc_error(400, "NotFollowedBySender")
        return None

    def _convo(self, others: list[str], *, create: bool) -> dict[str, Any] | None:
        key = frozenset([self.did, *others])
        with self.lock:
            convo_id = self.convos.get(key)
            if convo_id is None and create:
                convo_id = self.convos[key] = f"convo-{next(self._ids)}"
        if convo_id is None:
            return None
        members = [{"did": did, "handle": self.handle if did == self.did else
                    self.members[did].handle} for did in sorted(key)]  # fmt: skip
        return {"id": convo_id, "rev": "1", "members": members, "muted": False, "unreadCount": 0}

    def availability(self, request: Recorded, grant: Issued) -> Answer:
        others = self._members(request)
        if isinstance(others, Answer):
            return others
        body: dict[str, Any] = {"canChat": self._refusal(others) is None}
        convo = self._convo(others, create=False)
        if convo is not None:
            body["convo"] = convo
        return Answer(200, body)

    def convo_for_members(self, request: Recorded, grant: Issued) -> Answer:
        others = self._members(request)
        if isinstance(others, Answer):
            return others
        refused = self._refusal(others)
        if refused is not None:
            return refused
        return Answer(200, {"convo": self._convo(others, create=True)})

    def send_message(self, request: Recorded, grant: Issued) -> Answer:
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            return xrpc_error(400, "InvalidRequest", "Request body is not JSON")
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(body.get("convoId"), str):
            return xrpc_error(400, "InvalidRequest", 'Input must have the property "convoId"')
        if not isinstance(message, dict) or not isinstance(message.get("text"), str):
            return xrpc_error(400, "InvalidRequest", 'Input/message must have the property "text"')
        text = message["text"]
        if len(text.encode()) > MESSAGE_MAX_BYTES or graphemes(text) > MESSAGE_MAX_GRAPHEMES:
            return xrpc_error(400, "InvalidRequest", "Input/message/text must not be longer "
                              f"than {MESSAGE_MAX_GRAPHEMES} graphemes")  # fmt: skip
        with self.lock:
            if body["convoId"] not in self.convos.values():
                return xrpc_error(400, "InvalidConvo", "Convo not found")
            sent = {
                "id": f"msg-{next(self._ids)}",
                "rev": "2",
                "text": text,
                "sender": {"did": grant.did},
                "sentAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(self.clock())),
                "convoId": body["convoId"],
            }
            self.messages.append(sent)
        return Answer(200, {k: v for k, v in sent.items() if k != "convoId"})

    # app.bsky.actor (the AppView, through the PDS) ---------------------------------------------
    def profile(self, request: Recorded) -> Answer:
        actor = (request.query.get("actor") or [""])[0]
        found = self.members.get(actor)
        if found is None:
            return xrpc_error(400, "InvalidRequest", "Profile not found")
        profile: dict[str, Any] = {"did": found.did, "handle": found.handle, "viewer": {}}
        if found.allow_incoming is not None:
            profile["associated"] = {"chat": {"allowIncoming": found.allow_incoming}}
        if found.follows_brand:
            profile["viewer"]["followedBy"] = f"at://{found.did}/app.bsky.graph.follow/3kfollow"
        return Answer(200, profile)
