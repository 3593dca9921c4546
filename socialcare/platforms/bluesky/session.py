"""Bluesky sessions: ``createSession`` once per account, kept per worker process."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from typing import Any

import httpx

from socialcare.platforms.base import (
    ChannelConfig,
    SendError,
)
from socialcare.platforms.bluesky.common import (
    DEFAULT_BASE_URL,
    SessionRefused,
    json_object,
    xrpc_request,
)

#: Sessions kept per (base URL, identifier, password hash): (session, expires at, epoch s).
SESSIONS: dict[tuple[str, str, str], tuple[Session, float]] = {}
SESSIONS_LOCK = threading.Lock()
#: Used when an access token's expiry cannot be read; AT Protocol access tokens live ~2 hours.
DEFAULT_SESSION_SECONDS = 15 * 60


def token_expiry(access_jwt: str) -> float:
    """When to stop using an access token: a minute before its ``exp`` claim."""
    try:
        payload = access_jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"]) - 60
    except (IndexError, ValueError, KeyError, TypeError):
        return time.time() + DEFAULT_SESSION_SECONDS


def forget_session(session: Session | None = None) -> None:
    """Drop one kept session (or all of them)."""
    with SESSIONS_LOCK:
        if session is None:
            SESSIONS.clear()
        elif getattr(session, "key", None) in SESSIONS:
            del SESSIONS[session.key]


class Session:
    key: tuple[str, str, str] | None = None

    def __init__(self, base: str, access_jwt: str, did: str, handle: str) -> None:
        self.base = base
        self.did = did
        self.handle = handle
        self.headers = {"Authorization": f"Bearer {access_jwt}", "Accept": "application/json"}

    def url(self, nsid: str) -> str:
        return f"{self.base}/xrpc/{nsid}"


class SessionMixin:
    def _session(self, channel: ChannelConfig, client: httpx.Client) -> Session:
        base = (channel.base_url.strip() or DEFAULT_BASE_URL).rstrip("/")
        password = channel.secret("access_token")
        identifier = channel.handle.strip().lstrip("@") or channel.account_id.strip()
        if not password or not identifier:
            raise SendError(
                "Bluesky: the channel needs a handle or DID and an app password in its "
                "`access_token` secret."
            )
        key = (base, identifier, hashlib.sha256(password.encode()).hexdigest())
        with SESSIONS_LOCK:
            cached = SESSIONS.get(key)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        what = "Bluesky com.atproto.server.createSession"
        response = xrpc_request(
            client,
            "POST",
            f"{base}/xrpc/com.atproto.server.createSession",
            what,
            json={"identifier": identifier, "password": password},
        )
        data = json_object(response, what)
        access, did = data.get("accessJwt"), data.get("did")
        if not isinstance(access, str) or not access or not isinstance(did, str) or not did:
            raise SendError(f"{what}: the answer has no accessJwt/did.")
        handle = data.get("handle")
        session = Session(base, access, did, handle if isinstance(handle, str) else "")
        with SESSIONS_LOCK:
            SESSIONS[key] = (session, token_expiry(access))
            session.key = key
        return session

    def _with_session(self, channel: ChannelConfig, client: httpx.Client, call: Any) -> Any:
        """``call(session)``, once more with a fresh session if the kept one was refused."""
        session = self._session(channel, client)
        try:
            return call(session)
        except SessionRefused:
            forget_session(session)
            return call(self._session(channel, client))
