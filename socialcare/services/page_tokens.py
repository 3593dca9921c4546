"""Facebook Page tokens: connecting a Facebook channel (or an Instagram channel through Facebook
Login) stores the **Page** access token of the channel's Page, never the signed-in person's
token (docs/verification.md, "Facebook Page tokens").

1. ``begin`` (the OAuth callback): the person's short-lived User token is exchanged for a
   long-lived one, so the Page token got with it never expires; the Pages they manage are
   listed (``GET /me/accounts``). None being the channel's Page (Instagram: the Page linked to
   the channel's Instagram account) is a ``ChannelConnectError``: nothing is stored. Else the
   answer is a *pending pick* for the admin's session: the Pages without their tokens, and the
   long-lived User token **encrypted** (Fernet), readable for ``PICK_MAX_AGE``.
2. ``choose`` (the admin's page picker): the Pages are listed again with that token; the
   chosen one must be the channel's and its person must hold the tasks the channel needs
   (``required_tasks``); its token goes to ``channel.secrets["access_token"]``. The User token
   is not kept: to pick again, connect again.

Nothing here logs a token.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.fernet import InvalidToken
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from socialcare import crypto
from socialcare.conf import app_settings
from socialcare.models import Channel
from socialcare.platforms.base import PlatformError
from socialcare.platforms.meta import pages as graph_pages
from socialcare.platforms.meta.graph import graph_base
from socialcare.services.channel_oauth import ChannelConnectError
from socialcare.services.ingest import channel_config

logger = logging.getLogger("socialcare.channels")

#: The session key of a pending pick.
PENDING_KEY = "socialcare_page_pick"
#: How long the admin has to pick a Page after signing in.
PICK_MAX_AGE = dt.timedelta(minutes=15)
PLATFORMS = ("facebook", "instagram")


def uses_page_tokens(channel: Channel, backend: Any) -> bool:
    """Whether connecting ``channel`` through ``backend`` means picking a Page: a Facebook or
    Instagram channel signed in with Facebook Login."""
    from social_core.backends.facebook import FacebookOAuth2

    return channel.platform in PLATFORMS and isinstance(backend, FacebookOAuth2)


def required_tasks(channel: Channel) -> frozenset[str]:
    """The Page tasks the connecting person needs for what the channel does: ``MODERATE`` to
    answer and moderate comments (and, on Instagram, for messages too), ``MESSAGING`` for
    Messenger."""
    if channel.platform == "instagram":
        return frozenset({"MODERATE"})
    needed = set()
    if channel.can_reply_public or not channel.can_message_private:
        needed.add("MODERATE")
    if channel.can_message_private:
        needed.add("MESSAGING")
    return frozenset(needed)


@dataclass(frozen=True)
class PageChoice:
    """A Page as the picker shows it: no token."""

    id: str
    name: str
    tasks: tuple[str, ...]
    instagram_account_id: str
    has_token: bool
    is_channels: bool
    #: Why it cannot be picked; "" when it can.
    refusal: str


def _is_channels(channel: Channel, page_id: str, instagram_id: str) -> bool:
    if channel.platform == "instagram":
        return bool(instagram_id) and instagram_id == channel.account_id
    return page_id == channel.account_id


def _choice(channel: Channel, page: dict[str, Any]) -> PageChoice:
    tasks = tuple(sorted(page.get("tasks") or ()))
    page_id, name = str(page["id"]), str(page.get("name") or "") or str(page["id"])
    instagram = str(page.get("instagram") or "")
    mine = _is_channels(channel, page_id, instagram)
    missing = sorted(required_tasks(channel) - set(tasks))
    if not mine:
        what = (
            f"the Page linked to Instagram account {channel.account_id}"
            if channel.platform == "instagram"
            else f"Page {channel.account_id}"
        )
        refusal = f"{name} ({page_id}) is not this channel's Page: the channel is {what}."
    elif missing:
        refusal = (
            f"You cannot do {' and '.join(missing)} on {name}: Meta lists your tasks there as "
            f"{', '.join(tasks) or 'none'}. A Page admin can give you those tasks (Page "
            "settings, Page access); then connect again."
        )
    elif not page.get("has_token"):
        refusal = (
            f"Meta gave no access token for {name}: the app needs the pages_show_list "
            "permission and you a task on the Page."
        )
    else:
        refusal = ""
    return PageChoice(page_id, name, tasks, instagram, bool(page.get("has_token")), mine, refusal)


def _summary(page: graph_pages.ManagedPage) -> dict[str, Any]:
    return {
        "id": page.id,
        "name": page.name,
        "tasks": sorted(page.tasks),
        "instagram": page.instagram_account_id,
        "has_token": bool(page.access_token),
    }


def choices(channel: Channel, pending: dict[str, Any]) -> list[PageChoice]:
    """The Pages of a pending pick, the channel's first."""
    found = [_choice(channel, page) for page in pending.get("pages") or ()]
    return sorted(found, key=lambda c: (not c.is_channels, c.name.lower()))


def _client() -> httpx.Client:
    return httpx.Client(timeout=app_settings.HTTP_TIMEOUT, follow_redirects=False)


def _refused(exc: Exception) -> ChannelConnectError:
    if isinstance(exc, httpx.TransportError):
        text = f"Could not reach Meta ({type(exc).__name__})."
    else:
        text = f"Could not list your Facebook Pages: {exc}"
    return ChannelConnectError(f"{text} Nothing was stored; try connecting again.")


def _no_page(channel: Channel, uid: str, found: list[graph_pages.ManagedPage]) -> str:
    names = ", ".join(f"{p.name or p.id} ({p.id})" for p in found[:10]) or "no Page"
    what = (
        f"none is linked to Instagram account {channel.account_id}"
        if channel.platform == "instagram"
        else f"none is this channel's Page {channel.account_id}"
    )
    return (
        f"You signed in to Facebook as user {uid}, who manages {names}: {what}. Nothing was "
        "stored. Sign in as a person with a task on the channel's Page, or correct the "
        "channel's account id."
    )


def begin(
    channel: Channel,
    *,
    backend_name: str,
    uid: str,
    user_token: str,
    app_id: str,
    app_secret: str,
    actor: Any,
) -> dict[str, Any]:
    """After Facebook Login: the pending pick for ``channel`` (plain values, the User token
    encrypted), to keep in the session. Raises ``ChannelConnectError`` when Meta refuses or
    the person manages no Page of the channel's."""
    if not user_token:
        raise ChannelConnectError("Facebook returned no access token. Nothing was stored.")
    try:
        base = graph_base(channel_config(channel))
        with _client() as client:
            long_lived = graph_pages.exchange_for_long_lived(
                client, base, app_id=app_id, app_secret=app_secret, user_token=user_token
            )
            found = graph_pages.managed_pages(
                client, base, long_lived.access_token, app_secret=app_secret
            )
    except (PlatformError, httpx.TransportError) as exc:
        raise _refused(exc) from exc
    if not any(_is_channels(channel, p.id, p.instagram_account_id) for p in found):
        raise ChannelConnectError(_no_page(channel, uid, found))
    logger.info(
        "User %s listed %d Facebook Page(s) to connect channel %s",
        getattr(actor, "pk", None),
        len(found),
        channel.pk,
    )
    sealed = crypto.get_fernet().encrypt(long_lived.access_token.encode()).decode()
    return {
        "channel": channel.pk,
        "user": getattr(actor, "pk", None),
        "backend": backend_name,
        "uid": uid,
        "token": sealed,
        "pages": [_summary(p) for p in found],
        "started": timezone.now().isoformat(),
    }


def pending_for(channel: Channel, pending: Any, *, actor: Any) -> dict[str, Any]:
    """``pending`` when it is a pick for ``channel`` started by ``actor`` less than
    ``PICK_MAX_AGE`` ago; else ``ChannelConnectError``."""
    started = (
        parse_datetime(str(pending.get("started") or "")) if isinstance(pending, dict) else None
    )
    if (
        started is None
        or pending.get("channel") != channel.pk
        or pending.get("user") != getattr(actor, "pk", None)
    ):
        raise ChannelConnectError(
            "No Facebook Page is waiting to be chosen for this channel: connect it with OAuth."
        )
    if timezone.now() - started > PICK_MAX_AGE:
        raise ChannelConnectError(
            f"Choosing the Page took longer than {int(PICK_MAX_AGE.total_seconds() // 60)} "
            "minutes: connect the channel again. Nothing was stored."
        )
    return pending


def _user_token(pending: dict[str, Any]) -> str:
    try:
        return (
            crypto.get_fernet()
            .decrypt(
                str(pending.get("token") or "").encode(), ttl=int(PICK_MAX_AGE.total_seconds())
            )
            .decode()
        )
    except InvalidToken as exc:
        raise ChannelConnectError(
            "The Facebook sign-in has expired: connect the channel again. Nothing was stored."
        ) from exc


def _app_secret(backend_name: str) -> str:
    """The Meta app secret of the sign-in service (for ``appsecret_proof``)."""
    from social_core.exceptions import SocialAuthBaseException
    from social_django.utils import load_strategy

    try:
        backend = load_strategy().get_backend(backend_name)
    except SocialAuthBaseException as exc:
        raise ChannelConnectError(
            f"The sign-in service {backend_name!r} is no longer configured. Nothing was stored."
        ) from exc
    return str(backend.get_key_and_secret()[1] or "")


def choose(channel: Channel, pending: dict[str, Any], page_id: str, *, actor: Any) -> PageChoice:
    """Store the Page token of ``page_id`` on ``channel`` (a pick ``pending_for`` accepted).
    The Pages are listed afresh: a Page that is not the channel's, lacks a token or whose
    person lacks ``required_tasks`` is a ``ChannelConnectError`` saying why."""
    token = _user_token(pending)
    app_secret = _app_secret(str(pending.get("backend") or ""))
    try:
        base = graph_base(channel_config(channel))
        with _client() as client:
            found = graph_pages.managed_pages(client, base, token, app_secret=app_secret)
    except (PlatformError, httpx.TransportError) as exc:
        raise _refused(exc) from exc
    page = next((p for p in found if p.id == page_id), None)
    if page is None:
        raise ChannelConnectError(
            f"Page {page_id!r} is not among the Pages you manage on Facebook. Nothing was stored."
        )
    choice = _choice(channel, _summary(page))
    if choice.refusal:
        raise ChannelConnectError(f"{choice.refusal} Nothing was stored.")
    with transaction.atomic():
        locked = Channel.objects.select_for_update().get(pk=channel.pk)
        secrets = {
            key: value
            for key, value in locked.secrets.items()
            if key not in ("refresh_token", "token_expires_at")  # a Page token has neither
        }
        secrets.update(
            access_token=page.access_token,
            oauth_backend=str(pending.get("backend") or ""),
            oauth_uid=str(pending.get("uid") or ""),
        )
        locked.secrets = secrets
        locked.save(update_fields=["secrets"])
    logger.info(
        "Channel %s connected to Facebook Page %s by user %s",
        channel.pk,
        page.id,
        getattr(actor, "pk", None),
    )
    channel.refresh_from_db()
    return choice
