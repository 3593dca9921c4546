"""The demo's platform apps: one X app and one Meta app, each with one webhook URL for its
accounts (docs/ingestion.md, "One webhook per app"). Their secrets are the demo channels' own
(made up), so a delivery signed for a channel verifies on the app URL too."""

from __future__ import annotations

from socialcare.models import Channel, PlatformApp

#: key -> (name, platform, URL key, secrets, the platforms of the channels it serves)
APPS: dict[str, tuple[str, str, str, dict[str, str], tuple[str, ...]]] = {
    "x": (
        "Acme X app",
        "x",
        "demo-x",
        {"webhook_secret": "demo-x-consumer-secret-not-real"},
        ("x",),
    ),
    "meta": (
        "Acme Meta app",
        "meta",
        "demo-meta",
        {
            "webhook_secret": "demo-meta-app-secret-not-real",
            "verify_token": "demo-meta-verify-token",
        },
        ("facebook", "instagram"),
    ),
}


def add_platform_apps(channels: dict[str, Channel]) -> dict[str, PlatformApp]:
    """Create the demo's apps and point the channels they serve at them."""
    made = {}
    for key, (name, platform, url_key, secrets, serves) in APPS.items():
        app = PlatformApp(name=name, platform=platform, key=url_key)
        for secret, value in secrets.items():
            app.set_secret(secret, value)
        app.save()
        Channel.objects.filter(pk__in=[channels[p].pk for p in serves if p in channels]).update(
            app=app
        )
        made[key] = app
    return made
