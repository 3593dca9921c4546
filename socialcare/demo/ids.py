"""Platform-shaped ids and URLs for the demo's made-up identities and posts.

The random draws come from the loader's seeded generator, in the order the loader asks for them,
so the same load builds the same ids.
"""

from __future__ import annotations

import datetime as dt
import random
import string
from urllib.parse import urlsplit

from socialcare.models import Case, Visibility

__all__ = ["base32_sortable", "post_id", "profile_url", "token", "user_id"]


def user_id(rng: random.Random, platform: str, handle: str) -> str:
    """A platform-shaped user id for an identity the demo makes up."""
    match platform:
        case "x":
            return str(rng.randrange(10**8, 2 * 10**18))
        case "facebook" | "instagram":
            return str(rng.randrange(10**15, 10**16))
        case "mastodon":
            user, _, server = handle.partition("@")
            return f"https://{server}/@{user}"  # the account URL, as the adapter stores it
        case "bluesky":
            return "did:plc:" + token(rng, 24, string.ascii_lowercase + "234567")
        case _:
            return handle.lower()


def post_id(
    rng: random.Random, case: Case, at: dt.datetime, *, inbound: bool
) -> tuple[str, str, str]:
    """A platform-shaped post id; the post's URL if it has one; and the id on the brand's server
    where replies need it (Mastodon). Not checked for uniqueness: the loader draws again."""
    channel, identity = case.channel, case.identity
    handle = identity.handle if inbound else channel.handle
    public = case.visibility == Visibility.PUBLIC
    ms = int(at.timestamp() * 1000)
    local_id = ""
    match channel.platform:
        case "x":  # a snowflake: milliseconds since the Twitter epoch, then worker and sequence
            external_id = str(((ms - 1288834974657) << 22) | rng.randrange(1 << 22))
            url = f"https://x.com/{handle}/status/{external_id}" if public else ""
        case "mastodon":  # the status URI is global; local ids only mean something per server
            user, _, server = handle.partition("@")
            server = server or urlsplit(channel.base_url).hostname
            local_id = str((ms << 16) | rng.randrange(1 << 16))
            external_id = f"https://{server}/users/{user}/statuses/{local_id}"
            url = f"https://{server}/@{user}/{local_id}"
        case "bluesky":  # an at-URI whose record key is a TID (microseconds, base32-sortable)
            tid = base32_sortable((int(at.timestamp() * 1e6) << 10) | rng.randrange(1024))
            did = identity.external_id if inbound else channel.account_id
            external_id = f"at://{did}/app.bsky.feed.post/{tid}"
            url = f"https://bsky.app/profile/{handle}/post/{tid}" if public else ""
        case "facebook" | "instagram" if not public:  # a Messenger / Instagram message id
            external_id, url = "m_" + token(rng, 43), ""
        case "facebook":  # comment ids are "<object id>_<comment id>"
            external_id = f"{rng.randrange(10**14, 10**15)}_{rng.randrange(10**15):015d}"
            url = f"https://www.facebook.com/{channel.handle}/posts/{external_id.split('_')[0]}"
        case "instagram":
            external_id, url = str(rng.randrange(17 * 10**15, 18 * 10**15)), ""
        case _:  # an email Message-ID from the sender's domain
            sender = identity.external_id if inbound else channel.account_id
            external_id, url = f"<{token(rng, 20)}@{sender.partition('@')[2]}>", ""
    return external_id, url, local_id


def profile_url(platform: str, handle: str, external_id: str) -> str:
    """Where the identity's profile is on its platform ("" where there is no such page)."""
    match platform:
        case "x":
            return f"https://x.com/{handle}"
        case "instagram":
            return f"https://www.instagram.com/{handle}/"
        case "mastodon":
            user, _, server = handle.partition("@")
            return f"https://{server}/@{user}"
        case "bluesky":
            return f"https://bsky.app/profile/{handle}"
        case "facebook" if external_id:
            return f"https://www.facebook.com/{external_id}"
        case _:
            return ""


def token(
    rng: random.Random, length: int, alphabet: str = string.ascii_letters + string.digits
) -> str:
    """``length`` random characters of ``alphabet``."""
    return "".join(rng.choice(alphabet) for _ in range(length))


def base32_sortable(value: int, length: int = 13) -> str:
    """``value`` in the base32 alphabet of Bluesky's TIDs, which sorts like the number."""
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(alphabet[digit])
    return "".join(reversed(chars))
