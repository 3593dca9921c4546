"""Keeping social identities current from what platforms tell us."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models import Case, DateTimeField, F, Value, When
from django.db.models.functions import Greatest

from socialcare.models import SocialIdentity
from socialcare.platforms.base import InboundIdentity


class IdentityCache(dict):
    """(platform, external_id) -> the stored identity, or None when known not to exist yet.
    Only valid inside the transaction that filled it (a batch of one delivery); a key that is
    missing means "unknown: ask the database". ``created`` holds the ids of the identities this
    batch created itself (so nothing else can be attached to them yet). ``seen`` holds, per
    identity id, the latest time the batch saw an identity that nothing else changed on: they
    are written together by :func:`write_seen` (one UPDATE for the batch instead of one per
    post); clearing the look-ups keeps them."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.created: set[int] = set()
        self.seen: dict[int, dt.datetime] = {}

    def clear(self) -> None:
        super().clear()
        self.created.clear()


def write_seen(cache: IdentityCache) -> None:
    """Store the batch's pending "last seen" times: one UPDATE per 500 identities, in id order
    (one lock order for concurrent batches), never moving a time backwards."""
    pending = sorted(cache.seen.items())
    cache.seen.clear()
    for start in range(0, len(pending), 500):
        chunk = pending[start : start + 500]
        latest = Case(
            *[When(pk=pk, then=Value(at, output_field=DateTimeField())) for pk, at in chunk],
            output_field=DateTimeField(),
        )
        SocialIdentity.objects.filter(pk__in=[pk for pk, _ in chunk]).update(
            last_seen_at=Greatest(F("last_seen_at"), latest)
        )


def prefetch_identities(seen: Iterable[InboundIdentity]) -> IdentityCache:
    """One query for the identities of a batch's authors."""
    cache = IdentityCache()
    by_platform: dict[str, set[str]] = {}
    for identity in seen:
        by_platform.setdefault(identity.platform, set()).add(identity.external_id)
    for platform, ids in by_platform.items():
        for external_id in ids:
            cache[(platform, external_id)] = None
        for identity in SocialIdentity.objects.filter(platform=platform, external_id__in=ids):
            cache[(platform, identity.external_id)] = identity
    return cache


def upsert_identity(
    seen: InboundIdentity, *, seen_at: dt.datetime, cache: IdentityCache | None = None
) -> SocialIdentity:
    """The identity for (platform, external_id), created or refreshed with what the platform says.

    Values the delivery does not carry (``None``, or empty strings) never erase stored ones, and an
    older delivery arriving late never overwrites what a newer one said. Safe under concurrent
    workers: the unique constraint decides who creates the row. ``cache`` (from
    :func:`prefetch_identities`, same transaction) saves the look-up and is kept current.
    """
    key = (seen.platform, seen.external_id)
    if cache is not None and key in cache:
        identity = cache[key]
    else:
        identity = SocialIdentity.objects.filter(
            platform=seen.platform, external_id=seen.external_id
        ).first()
    identity, created = _upsert(seen, seen_at, identity, cache)
    if cache is not None:
        cache[key] = identity
        if created:
            cache.created.add(identity.pk)
    return identity


def _upsert(
    seen: InboundIdentity,
    seen_at: dt.datetime,
    identity: SocialIdentity | None,
    cache: IdentityCache | None = None,
) -> tuple[SocialIdentity, bool]:
    """The identity, refreshed, and whether this call created it."""
    if identity is None:
        try:
            with transaction.atomic():
                created = SocialIdentity.objects.create(
                    platform=seen.platform,
                    external_id=seen.external_id,
                    handle=seen.handle[:255],
                    display_name=seen.display_name[:255],
                    profile_url=seen.profile_url[:500],
                    avatar_url=seen.avatar_url[:500],
                    followers_count=max(0, seen.followers_count or 0),
                    platform_verified=bool(seen.platform_verified),
                    first_seen_at=seen_at,
                    last_seen_at=seen_at,
                )
            return created, True
        except IntegrityError:
            identity = SocialIdentity.objects.get(
                platform=seen.platform, external_id=seen.external_id
            )
    changed: list[str] = []
    if seen_at < identity.first_seen_at:
        identity.first_seen_at = seen_at
        changed.append("first_seen_at")
    if seen_at < identity.last_seen_at:
        if changed:
            identity.save(update_fields=changed)
        return identity, False
    updates = {
        "handle": seen.handle[:255],
        "display_name": seen.display_name[:255],
        "profile_url": seen.profile_url[:500],
        "avatar_url": seen.avatar_url[:500],
    }
    for name, value in updates.items():
        if value and getattr(identity, name) != value:
            setattr(identity, name, value)
            changed.append(name)
    if seen.followers_count is not None and identity.followers_count != max(
        0, seen.followers_count
    ):
        identity.followers_count = max(0, seen.followers_count)
        changed.append("followers_count")
    if seen.platform_verified is not None and identity.platform_verified != seen.platform_verified:
        identity.platform_verified = seen.platform_verified
        changed.append("platform_verified")
    if seen_at > identity.last_seen_at:
        identity.last_seen_at = seen_at
        changed.append("last_seen_at")
    if changed == ["last_seen_at"] and cache is not None:
        cache.seen[identity.pk] = max(seen_at, cache.seen.get(identity.pk, seen_at))
    elif changed:
        identity.save(update_fields=changed)
    return identity, False
