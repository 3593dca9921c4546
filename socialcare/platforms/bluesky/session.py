"""Bluesky sessions: one per channel, shared by every worker, renewed with ``refreshSession``.

``com.atproto.server.createSession`` (identifier + app password) answers an access token (about
two hours) and a refresh token (90 days). Logging in is rate limited per account — 30 per 5
minutes, 300 per day on a Bluesky PDS, fewer on some entry servers — so the session is logged in
once and then kept: in the channel's session store (``ChannelConfig.session_store``:
``services.platform_sessions`` keeps it encrypted in ``Channel.secrets`` for all workers), or,
for a config built without one (tests, scripts), in this process.

Renewing: when the stored access token is about to expire, or a call was refused for the session
(401, or 400 ``ExpiredToken`` / ``InvalidToken``: ``common.SessionRefused``), the store's lock is
taken; if another worker already renewed the session meanwhile, its session is used. Otherwise
``com.atproto.server.refreshSession`` with the refresh token, and only when that is refused (or
there is none) ``createSession`` with the app password. The refused call is tried once more.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from socialcare.platforms.base import ChannelConfig, SendError, SessionStore, TransientSendError
from socialcare.platforms.bluesky.common import (
    DEFAULT_BASE_URL,
    SessionRefused,
    json_object,
    xrpc_request,
)

#: Used when an access token's expiry cannot be read; AT Protocol access tokens live ~2 hours.
DEFAULT_SESSION_SECONDS = 15 * 60
#: A token is renewed this long before its ``exp``, so a call never leaves with one about to die.
EXPIRY_MARGIN = 60


def token_expiry(access_jwt: str) -> float:
    """When to stop using an access token (epoch seconds): a minute before its ``exp`` claim."""
    try:
        payload = access_jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"]) - EXPIRY_MARGIN
    except (IndexError, ValueError, KeyError, TypeError):
        return time.time() + DEFAULT_SESSION_SECONDS


@dataclass(frozen=True)
class Login:
    """Where and as whom the channel logs in. ``key`` names the login without the password: a
    stored session made with another password, account or server is not used."""

    base: str
    identifier: str
    password: str

    @property
    def key(self) -> str:
        raw = f"{self.base}\n{self.identifier}\n{self.password}".encode()
        return hashlib.sha256(raw).hexdigest()


def channel_login(channel: ChannelConfig) -> Login:
    base = (channel.base_url.strip() or DEFAULT_BASE_URL).rstrip("/")
    password = channel.secret("access_token")
    identifier = channel.handle.strip().lstrip("@") or channel.account_id.strip()
    if not password or not identifier:
        raise SendError(
            "Bluesky: the channel needs a handle or DID and an app password in its "
            "`access_token` secret."
        )
    return Login(base, identifier, password)


class Session:
    """A logged-in session: what calls need (``url``, ``headers``) and what is stored."""

    def __init__(
        self,
        base: str,
        access_jwt: str,
        did: str,
        handle: str,
        refresh_jwt: str = "",
        expires_at: float | None = None,
    ) -> None:
        self.base = base
        self.did = did
        self.handle = handle
        self.access_jwt = access_jwt
        self.refresh_jwt = refresh_jwt
        self.expires_at = token_expiry(access_jwt) if expires_at is None else expires_at
        self.headers = {"Authorization": f"Bearer {access_jwt}", "Accept": "application/json"}

    def __repr__(self) -> str:  # never the tokens
        return f"<Bluesky session of {self.handle or self.did}>"

    def url(self, nsid: str) -> str:
        return f"{self.base}/xrpc/{nsid}"

    def fresh(self) -> bool:
        return time.time() < self.expires_at

    def record(self, login: Login) -> dict[str, str]:
        """The fields a session store keeps."""
        return {
            "login": login.key,
            "did": self.did,
            "handle": self.handle,
            "access_jwt": self.access_jwt,
            "refresh_jwt": self.refresh_jwt,
            "expires_at": f"{self.expires_at:.0f}",
        }

    @classmethod
    def from_record(cls, record: dict[str, str], login: Login) -> Session | None:
        """The stored session, or None when there is none or it belongs to another login."""
        if record.get("login") != login.key or not record.get("access_jwt"):
            return None
        try:
            expires_at = float(record.get("expires_at") or 0)
        except ValueError:
            expires_at = 0.0
        return cls(
            login.base,
            record["access_jwt"],
            record.get("did") or "",
            record.get("handle") or "",
            record.get("refresh_jwt") or "",
            expires_at,
        )

    @classmethod
    def from_answer(cls, base: str, data: Any, what: str) -> Session:
        """The session in a ``createSession`` / ``refreshSession`` answer."""
        access, did = data.get("accessJwt"), data.get("did")
        if not isinstance(access, str) or not access or not isinstance(did, str) or not did:
            raise SendError(f"{what}: the answer has no accessJwt/did.")
        handle, refresh = data.get("handle"), data.get("refreshJwt")
        return cls(
            base,
            access,
            did,
            handle if isinstance(handle, str) else "",
            refresh if isinstance(refresh, str) else "",
        )


# Sessions kept in this process, for configs without a store --------------------------------------
class MemorySessionStore:
    """A ``SessionStore`` in this process's memory, one per login (tests, scripts, and any
    config built without ``session_store``)."""

    sessions: dict[str, dict[str, str]] = {}
    locks: dict[str, threading.Lock] = {}
    guard = threading.Lock()

    def __init__(self, key: str) -> None:
        self.key = key

    def load(self) -> dict[str, str]:
        with self.guard:
            return dict(self.sessions.get(self.key, {}))

    def renew(self, change: Callable[[dict[str, str]], dict[str, str] | None]) -> dict[str, str]:
        with self.guard:
            lock = self.locks.setdefault(self.key, threading.Lock())
        with lock:
            stored = self.load()
            new = change(stored)
            if new is None:
                return stored
            with self.guard:
                self.sessions[self.key] = dict(new)
            return new


def forget_session() -> None:
    """Drop the sessions kept in this process (not those stored with channels)."""
    with MemorySessionStore.guard:
        MemorySessionStore.sessions.clear()


class SessionMixin:
    def _store(self, channel: ChannelConfig, login: Login) -> SessionStore:
        return channel.session_store or MemorySessionStore(login.key)

    def _session(self, channel: ChannelConfig, client: httpx.Client) -> Session:
        """The channel's session: the stored one while fresh, else a renewed one."""
        login = channel_login(channel)
        store = self._store(channel, login)
        session = Session.from_record(store.load(), login)
        if session is not None and session.fresh():
            return session
        return self._renew(channel, client, stale=session)

    def _renew(
        self, channel: ChannelConfig, client: httpx.Client, stale: Session | None
    ) -> Session:
        """A new session, made under the store's lock; a worker that waited for the lock uses
        the one renewed meanwhile."""
        login = channel_login(channel)

        def change(stored: dict[str, str]) -> dict[str, str] | None:
            current = Session.from_record(stored, login)
            renewed_meanwhile = stale is None or (
                current is not None and current.access_jwt != stale.access_jwt
            )
            if current is not None and current.fresh() and renewed_meanwhile:
                return None  # another worker renewed it while this one waited for the lock
            return self._log_in(login, client, current or stale).record(login)

        kept = Session.from_record(self._store(channel, login).renew(change), login)
        if kept is None:  # pragma: no cover - the store lost what it was given
            raise SendError("Bluesky: the session store kept no session.")
        return kept

    def _log_in(self, login: Login, client: httpx.Client, previous: Session | None) -> Session:
        """``refreshSession`` with the previous session's refresh token; ``createSession`` when
        there is none or it was refused (expired, revoked). A rate limit or a server error is
        raised: logging in again then would only spend the account's createSession allowance."""
        if previous is not None and previous.refresh_jwt:
            what = "Bluesky com.atproto.server.refreshSession"
            try:
                response = xrpc_request(
                    client,
                    "POST",
                    f"{login.base}/xrpc/com.atproto.server.refreshSession",
                    what,
                    headers={
                        "Authorization": f"Bearer {previous.refresh_jwt}",
                        "Accept": "application/json",
                    },
                )
                return Session.from_answer(login.base, json_object(response, what), what)
            except TransientSendError:
                raise
            except SendError:
                pass  # refused: expired, revoked or unknown refresh token; log in below
        what = "Bluesky com.atproto.server.createSession"
        response = xrpc_request(
            client,
            "POST",
            f"{login.base}/xrpc/com.atproto.server.createSession",
            what,
            json={"identifier": login.identifier, "password": login.password},
        )
        return Session.from_answer(login.base, json_object(response, what), what)

    def _with_session(self, channel: ChannelConfig, client: httpx.Client, call: Any) -> Any:
        """``call(session)``; when the session is refused (it expired early, or was revoked),
        once more with a renewed one: the refused request was not carried out, so a reply in
        flight is sent, not failed."""
        session = self._session(channel, client)
        try:
            return call(session)
        except SessionRefused:
            return call(self._renew(channel, client, stale=session))
