"""Which adapter serves which platform. A host adds or replaces one through settings::

SOCIALCARE = {"PLATFORM_ADAPTERS": {"tiktok": "myproject.tiktok.TikTokAdapter"}}
"""

from __future__ import annotations

from functools import cache

from django.utils.module_loading import import_string

from socialcare.conf import app_settings

BUILTIN_ADAPTERS: dict[str, str] = {
    "x": "socialcare.platforms.x.XAdapter",
    "facebook": "socialcare.platforms.meta.MetaAdapter",
    "instagram": "socialcare.platforms.meta.MetaAdapter",
    "mastodon": "socialcare.platforms.mastodon.MastodonAdapter",
    "bluesky": "socialcare.platforms.bluesky.BlueskyAdapter",
}


class UnknownPlatform(LookupError):
    pass


def adapter_paths() -> dict[str, str]:
    return {**BUILTIN_ADAPTERS, **app_settings.PLATFORM_ADAPTERS}


@cache
def _load(path: str) -> object:
    return import_string(path)()


def get_adapter(platform: str):  # -> PlatformAdapter
    """The adapter instance for ``platform``; ``UnknownPlatform`` if none is configured."""
    path = adapter_paths().get(platform)
    if not path:
        raise UnknownPlatform(f"No adapter for platform {platform!r}.")
    return _load(path)


def reset() -> None:
    _load.cache_clear()
