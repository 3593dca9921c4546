"""Channels as the simulator sees them (``Target``), the posts it makes (``SimPost``), and
``load_targets``, which reads them from the database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from socialcare.simulator.crowd import Persona

WEBHOOK_PLATFORMS = ("x", "facebook", "instagram")
POLLED_PLATFORMS = ("mastodon", "bluesky")
SIMULATED_PLATFORMS = WEBHOOK_PLATFORMS + POLLED_PLATFORMS
#: Where the fake API serves polled channels (a base URL with it was left by a killed run).
FAKE_PREFIX = "/socialcare-simulator"


@dataclass(frozen=True)
class Target:
    """A channel to simulate for: what the generator and the senders need, no model instance."""

    channel_id: int
    name: str
    platform: str
    account_id: str
    handle: str = ""
    #: The channel's ``webhook_secret`` (webhook platforms): deliveries are signed with it.
    secret: str = ""
    verify_token: str = ""
    #: The channel's ``access_token`` (polled platforms): what the fake API accepts.
    access_token: str = ""
    #: Mastodon: the brand's own server (host of the channel's real base URL).
    home: str = "mastodon.social"

    @property
    def polled(self) -> bool:
        return self.platform in POLLED_PLATFORMS

    @property
    def supports_private(self) -> bool:
        return self.platform != "bluesky"

    @property
    def brand_handle(self) -> str:
        handle = self.handle.strip().lstrip("@")
        if self.platform == "bluesky":
            return handle or "acme.support"
        return handle or "AcmeHelp"

    def __str__(self) -> str:
        return f"{self.name} ({self.platform} #{self.channel_id})"


#: Brand accounts for ``--dry-run`` without channels: those of the platform fixtures.
EXAMPLE_TARGETS = (
    Target(0, "Example X account", "x", "1114259648326987776", "AcmeHelp", "example-secret"),
    Target(0, "Example Page", "facebook", "103149398319188", "acme", "example-secret"),
    Target(0, "Example Instagram", "instagram", "17841405309211844", "acme", "example-secret"),
    Target(0, "Example Mastodon", "mastodon", "14715", "acmehelp", access_token="example"),
    Target(0, "Example Bluesky", "bluesky", "did:plc:acmesupport000000000000", "acme.support",
           access_token="example"),
)  # fmt: skip


@dataclass(frozen=True)
class SimPost:
    """One generated post: a signed webhook delivery, or a notification for the fake API."""

    target: Target
    persona: Persona
    kind: str  # mention | reply | comment | direct_message (as ingest will store it)
    visibility: str  # public | private
    text: str
    external_id: str  # the id ingest stores the post under
    category: str
    thread: bool = False  # answers an earlier post (a thread or a conversation)
    spike: bool = False
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Polled platforms: the notification (Mastodon, Bluesky) and the author's profile (Bluesky).
    item: Mapping[str, Any] | None = None
    profile: Mapping[str, Any] | None = None

    def describe(self) -> str:
        who = self.persona.handle_on(self.target.platform)
        flags = " (spike)" if self.spike else (" (thread)" if self.thread else "")
        return f"{self.target.platform} {self.kind} by {who} [{self.persona.lang}]{flags}"


@dataclass
class _Ref:
    """A generated post that a later one may answer."""

    target: Target
    persona: Persona
    private: bool
    category: str
    data: dict[str, Any]


@dataclass
class _Draft:
    persona: Persona
    private: bool
    text: str
    category: str
    parent: _Ref | None = None
    spike: bool = False


# Choosing channels -------------------------------------------------------------------------------
def load_targets(
    platforms: Sequence[str] = (), *, polled: bool = True
) -> tuple[list[Target], list[str]]:
    """The active channels to simulate for, and notes on the ones skipped."""
    from socialcare.models import Channel

    targets, notes = [], []
    for channel in Channel.objects.active().order_by("pk"):
        if channel.platform not in SIMULATED_PLATFORMS or (
            platforms and channel.platform not in platforms
        ):
            continue
        label = f"{channel.name} ({channel.platform} #{channel.pk})"
        target = Target(
            channel_id=channel.pk,
            name=channel.name,
            platform=channel.platform,
            account_id=channel.account_id,
            handle=channel.handle,
            secret=channel.get_secret("webhook_secret"),
            verify_token=channel.get_secret("verify_token"),
            access_token=channel.get_secret("access_token"),
            home=urlsplit(channel.base_url).hostname or "mastodon.social",
        )
        if target.polled:
            if not polled:
                continue
            if not target.access_token:
                notes.append(f"skipped {label}: no access_token secret, its polls would fail")
                continue
            if FAKE_PREFIX in channel.base_url:
                notes.append(
                    f"{label}: its base URL {channel.base_url} was left by a simulator run that was "
                    "killed; set the real one again in the admin"
                )
        elif not target.secret:
            notes.append(f"skipped {label}: no webhook_secret to sign deliveries with")
            continue
        targets.append(target)
    return targets, notes
