"""The demo's platform apps: one X app and one Meta app, each with one webhook URL for its
accounts (docs/ingestion.md, "One webhook per app"). Their secrets are the demo channels' own
(made up), so a delivery signed for a channel verifies on the app URL too.

Also what the routing and moderation pages need to show something: a delivery to the Meta
app's URL for a Page no channel has yet ("Acme Outlet", waiting for its channel: add a Facebook
channel with its Page id and it is routed), and a customer's Instagram comment the brand hid
because it showed an order number in public.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.db.models import Max

from socialcare.models import Case, CaseEvent, Channel, PlatformApp, Post, WebhookDelivery
from socialcare.platforms.moderation import HIDE
from socialcare.services import moderation
from socialcare.services.account_routing import route_claimed

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

#: A second Facebook Page subscribed to the Meta app, with no channel in the demo (made up).
OUTLET_PAGE = "113344556677889"
OUTLET_COMMENT = "113344556677889_900000000000101"
#: Hours before the demo's "now" that the Outlet Page's comment reached the app's URL.
OUTLET_HOURS_AGO = 2
#: Why the brand hid the demo's Instagram comment.
HIDE_REASON = "order number posted in public; asked to send it by DM"


def add_platform_apps(
    channels: dict[str, Channel], now: dt.datetime | None = None
) -> dict[str, PlatformApp]:
    """Create the demo's apps and point the channels they serve at them; with ``now``, also
    the Meta app's delivery that waits for the Outlet Page's channel."""
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
    if now is not None:
        add_waiting_delivery(made["meta"], now - dt.timedelta(hours=OUTLET_HOURS_AGO))
    return made


def outlet_delivery_body(at: dt.datetime) -> bytes:
    """A Page ``feed`` webhook (Graph API Webhooks, ``object: page``) for a comment on the
    Outlet Page's post, as Meta would send it to the app's callback URL."""
    post = f"{OUTLET_PAGE}_900000000000100"
    change = {
        "field": "feed",
        "value": {
            "from": {"id": "7900000000000042", "name": "Robin Baker"},
            "post_id": post,
            "comment_id": OUTLET_COMMENT,
            "parent_id": post,
            "created_time": int(at.timestamp()),
            "item": "comment",
            "verb": "add",
            "message": "Does the outlet store still have the Hub in black?",
        },
    }
    entry = {"id": OUTLET_PAGE, "time": int(at.timestamp()), "changes": [change]}
    return json.dumps({"object": "page", "entry": [entry]}, separators=(",", ":")).encode()


def add_waiting_delivery(app: PlatformApp, at: dt.datetime) -> WebhookDelivery:
    """Store the Outlet Page's comment as the app's URL stores it, and route it as the worker
    does: no channel has that Page, so it waits for one (``unrouted``, with the reason)."""
    delivery = WebhookDelivery.objects.create(
        app=app,
        platform="facebook",
        body=outlet_delivery_body(at),
        headers={"content-type": "application/json"},
        received_at=at,
        status=WebhookDelivery.Status.PROCESSING,
        claimed_at=at,
        attempts=1,
    )
    return route_claimed(delivery)


def hide_demo_comment(
    case: Case, agent: Any, after: dt.timedelta = dt.timedelta(minutes=20)
) -> Post | None:
    """Hide the case's first customer comment, as an agent did ``after`` it arrived (the
    platform's answer as the Graph API gives it), recorded as ``services.moderation`` does."""
    post = (
        Post.objects.filter(
            case=case, direction=Post.Direction.INBOUND, kind=Post.Kind.COMMENT, visibility="public"
        )
        .select_related("channel", "case", "author")
        .order_by("posted_at", "pk")
        .first()
    )
    if post is None:
        return None
    at = post.received_at + after
    mark = CaseEvent.objects.aggregate(last=Max("pk"))["last"] or 0
    done = f"{moderation.noun(post)} hidden on {post.get_platform_display()}."
    outcome = moderation.Outcome(post, HIDE, moderation.DONE, done, answer='{"success":true}')
    moderation.record_outcome(outcome, actor=agent, reason=HIDE_REASON)
    CaseEvent.objects.filter(pk__gt=mark).update(at=at)  # replayed in the past, as the demo is
    Post.objects.filter(pk=post.pk).update(moderated_at=at)
    post.refresh_from_db()
    return post
