"""Fixtures for tests that play the platforms with the fakes of ``tests/fakes``: the brand
channels (``tests.ingest_helpers.make_channels``) pointed at the fake server, and the worker's
send of a queued reply. Import them by name into a test module::

    from tests.served import channels as channels
    from tests.served import queued as queued
"""

from __future__ import annotations

import json

import pytest

from socialcare.models import Post
from socialcare.services.replies import deliver_post
from tests.ingest_helpers import make_channels


@pytest.fixture
def channels(platform_server, team):
    """One channel per fixture account, talking to ``platform_server``, with a default team."""
    made = make_channels()
    for channel in made.values():
        channel.base_url = platform_server.url
        channel.default_team = team
        channel.save()
    return made


@pytest.fixture
def queued(django_capture_on_commit_callbacks):
    """Run a queued send as the worker would."""

    def run(post: Post) -> Post:
        with django_capture_on_commit_callbacks(execute=True):
            return deliver_post(post.pk)

    return run


def post_meta(client, channel, body: bytes | dict):
    """POST ``body`` to ``channel``'s webhook URL signed as Meta signs it; it must be taken."""
    from tests.ingest_helpers import meta_signature

    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.generic(
        "POST",
        f"/socialcare/webhooks/{channel.platform}/{channel.pk}/",
        raw,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=meta_signature(raw),
    )
    assert response.status_code == 200, response.content
    return response


@pytest.fixture
def meta_webhook(client, django_capture_on_commit_callbacks):
    """POST a signed Meta delivery to a channel's webhook URL; the worker runs what it queues."""

    def post(channel, body: bytes | dict):
        with django_capture_on_commit_callbacks(execute=True):
            return post_meta(client, channel, body)

    return post
