"""Real-format deliveries for the fault tests, built from the shared X fixture."""

from __future__ import annotations

import copy
import json

from socialcare.models import Channel
from tests.ingest_helpers import X_SECRET, fixture_bytes, x_signature

BRAND = "1114259648326987776"


def x_channel(**fields: object) -> Channel:
    fields.setdefault("account_id", BRAND)
    channel = Channel(
        name=f"Acme on X {fields['account_id']}", platform="x", handle="acme", **fields
    )
    channel.set_secret("webhook_secret", X_SECRET)
    channel.set_secret("access_token", "test-token")
    channel.save()
    return channel


def tweets(*numbers: int) -> bytes:
    """An Account Activity delivery with one customer tweet per number (ids 9000…<n>, each by
    its own customer): several events, so it is ingested in one transaction."""
    template = json.loads(fixture_bytes("x/tweet_create_reply.json"))
    event = template["tweet_create_events"][0]
    events = []
    for n in numbers:
        tweet = copy.deepcopy(event)
        tweet["id"] = int(f"9000{n}")
        tweet["id_str"] = f"9000{n}"
        tweet["text"] = f"@Learn_Awesome order {n} never arrived"
        for key in ("in_reply_to_status_id", "in_reply_to_status_id_str"):
            tweet[key] = None
        tweet["user"] = {**tweet["user"], "id": 7000 + n, "id_str": str(7000 + n)}
        tweet["user"]["screen_name"] = f"customer{n}"
        tweet["timestamp_ms"] = str(1606541403440 + n * 1000)
        events.append(tweet)
    template["tweet_create_events"] = events
    return json.dumps(template).encode()


def signed(body: bytes) -> dict[str, str]:
    return {"HTTP_X_TWITTER_WEBHOOKS_SIGNATURE": x_signature(body)}
