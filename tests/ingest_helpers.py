"""Shared set-up for ingestion tests: the fixture deliveries and the channels they belong to."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import threading

from django.db import connections

from socialcare.models import Case, Channel, Post, SocialIdentity
from socialcare.services.ingest import process_delivery
from tests.shared_data import FIXTURES

X_SECRET = "apiSecret"
META_SECRET = "metaAppSecret"
META_VERIFY = "metaVerifyToken"

#: fixture file -> (platform, brand account id)
DELIVERIES: dict[str, tuple[str, str]] = {
    "x/tweet_create_reply.json": ("x", "1114259648326987776"),
    "x/tweet_create_extended.json": ("x", "1114259648326987776"),
    "x/tweet_delete.json": ("x", "1114259648326987776"),
    "x/direct_message.json": ("x", "835740314006511618"),
    "meta/page_feed_comment.json": ("facebook", "103149398319188"),
    "meta/page_feed_reply_edit_remove.json": ("facebook", "103149398319188"),
    "meta/messenger_message.json": ("facebook", "103149398319188"),
    "meta/messenger_echo_and_attachment.json": ("facebook", "103149398319188"),
    "meta/instagram_comment.json": ("instagram", "17841405309211844"),
    "meta/instagram_message.json": ("instagram", "17841405309211844"),
    "mastodon/notifications_mentions.json": ("mastodon", "14715"),
    "bluesky/list_notifications.json": ("bluesky", "did:plc:acmesupport000000000000"),
}


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def make_channels() -> dict[tuple[str, str], Channel]:
    """One channel per brand account the fixtures are addressed to."""
    channels = {}
    for platform, account in sorted(set(DELIVERIES.values())):
        channel = Channel(
            name=f"{platform} {account}",
            platform=platform,
            account_id=account,
            handle={"mastodon": "acmehelp", "bluesky": "acme.support"}.get(platform, ""),
            base_url={"mastodon": "https://mastodon.social"}.get(platform, ""),
        )
        if platform == "x":
            channel.set_secret("webhook_secret", X_SECRET)
        if platform in ("facebook", "instagram"):
            channel.set_secret("webhook_secret", META_SECRET)
            channel.set_secret("verify_token", META_VERIFY)
        channel.set_secret("access_token", "test-token")
        channel.save()
        channels[(platform, account)] = channel
    return channels


def channel_for(channels: dict, name: str) -> Channel:
    return channels[DELIVERIES[name]]


def x_signature(body: bytes, secret: str = X_SECRET) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def meta_signature(body: bytes, secret: str = META_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def snapshot() -> dict:
    """Posts and cases as a comparable structure: which posts share a live case, and each post's
    state. Ids differ between runs; platform ids do not."""
    groups = set()
    for case in Case.objects.filter(merged_into__isnull=True):
        ids = tuple(sorted(case.posts.values_list("external_id", flat=True)))
        if ids:
            groups.add(ids)
    posts = {
        p.external_id: (
            p.direction,
            p.kind,
            p.visibility,
            p.text,
            p.deleted_at is not None,
            p.parent.external_id if p.parent_id else None,
            p.author.external_id if p.author_id else None,
        )
        for p in Post.objects.select_related("parent", "author")
    }
    identities = {
        (i.platform, i.external_id): (i.handle, i.followers_count, i.first_seen_at, i.last_seen_at)
        for i in SocialIdentity.objects.all()
    }
    return {"cases": groups, "posts": posts, "identities": identities}


def process_concurrently(ids: list[int]) -> list[Exception]:
    """Process the deliveries ``ids`` from two threads at once (two workers racing), each in its
    own shuffled order; the errors they raised."""
    orders = [list(ids), list(ids)]
    random.Random(1).shuffle(orders[0])
    random.Random(2).shuffle(orders[1])
    errors: list[Exception] = []

    def worker(order: list[int]) -> None:
        try:
            for pk in order:
                process_delivery(pk)
        except Exception as exc:  # pragma: no cover - reported by the caller
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(o,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors
