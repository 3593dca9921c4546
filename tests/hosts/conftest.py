"""Fixtures of the host integration suite: the active host profile, socialcare configured as a
host runs it (customers found for new cases, replies through the console transport, who deleted
known from the request), an X channel whose posts arrive through the signed webhook, an e-mail
channel, and the people who work it (agent, supervisor, superuser, an API key)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from socialcare.models import Case, Channel, Post, SocialIdentity, Team
from socialcare.platforms.base import InboundIdentity, InboundPost
from socialcare.services.apikeys import create_api_key
from socialcare.services.ingest import ingest
from tests.hosts.profiles import HostProfile, active_profile
from tests.ingest_helpers import fixture_bytes, make_channels, x_signature

CURRENT_USER = "socialcare.middleware.CurrentUserMiddleware"
X_BRAND = "1114259648326987776"
X_TEMPLATE = "x/tweet_create_reply.json"

#: The X account most tests hear from: its name splits into first, middle and last.
PRIYA = {"id_str": "4242", "name": "Priya R Shah", "screen_name": "priya_shah"}


@pytest.fixture(scope="session")
def host() -> HostProfile:
    return active_profile()


@pytest.fixture(autouse=True)
def as_a_host_runs_it(settings: Any) -> None:
    """The suite runs with customers found for new cases ("create", socialcare's default, which
    tests/settings.py turns off for the older tests), replies printed, not sent, and the
    middleware that names who deleted a customer."""
    settings.SOCIALCARE = {
        **settings.SOCIALCARE,
        "CUSTOMERS_FOR_CASES": "create",
        "REPLY_TRANSPORT": "socialcare.transports.console.ConsoleTransport",
    }
    if CURRENT_USER not in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [*settings.MIDDLEWARE, CURRENT_USER]
    cache.clear()  # API throttling counts


@pytest.fixture
def x_channel(team: Team) -> Channel:
    """The brand's X account the fixture deliveries are addressed to, routed to team Care."""
    channel = make_channels()[("x", X_BRAND)]
    channel.default_team = team
    channel.save()
    return channel


@pytest.fixture
def tweet(client: Any, x_channel: Channel, django_capture_on_commit_callbacks: Any) -> Callable:
    """``tweet(tweet_id, text, user=PRIYA)``: an X mention of the brand, delivered signed to the
    webhook and processed; returns its ``Post``."""

    def deliver(tweet_id: str, text: str, user: dict[str, str] | None = None) -> Post:
        payload = json.loads(fixture_bytes(X_TEMPLATE))
        event = payload["tweet_create_events"][0]
        for key in ("in_reply_to_status_id", "in_reply_to_status_id_str"):
            event[key] = None
        author = copy.deepcopy(event["user"])
        author.update(user or PRIYA)
        author["id"] = int(author["id_str"])
        now = timezone.now()
        event.update(
            id=int(tweet_id),
            id_str=tweet_id,
            text=f"@Learn_Awesome {text}",
            user=author,
            created_at=now.strftime("%a %b %d %H:%M:%S +0000 %Y"),
            timestamp_ms=str(int(now.timestamp() * 1000)),
        )
        body = json.dumps(payload).encode()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.generic(
                "POST",
                f"/socialcare/webhooks/x/{x_channel.pk}/",
                body,
                content_type="application/json",
                HTTP_X_TWITTER_WEBHOOKS_SIGNATURE=x_signature(body),
            )
        assert response.status_code == 200, response.content
        post = Post.objects.select_related("case").get(platform="x", external_id=tweet_id)
        assert post.case is not None
        return post

    return deliver


@pytest.fixture
def email_channel(team: Team) -> Channel:
    return Channel.objects.create(
        name="Support inbox", platform="email", account_id="support@acme.example", default_team=team
    )


@pytest.fixture
def email_from(email_channel: Channel) -> Callable[..., Case]:
    """``email_from(address, text)``: an e-mail to the support inbox; returns its case."""
    sent = iter(range(1, 1000))

    def receive(address: str, text: str, name: str = "") -> Case:
        item = InboundPost(
            platform="email",
            external_id=f"<{next(sent)}.{address}>",
            author=InboundIdentity(platform="email", external_id=address, display_name=name),
            kind="email",
            visibility="private",
            text=text,
            posted_at=timezone.now() - dt.timedelta(seconds=1),
        )
        result = ingest(email_channel, item)
        assert result.case is not None
        return Case.objects.get(pk=result.case.pk)

    return receive


@pytest.fixture
def priya(host: HostProfile) -> Any:
    """A customer of the host, with the host's required data."""
    return host.make_customer("Priya R Shah", "priya@example.com")


@pytest.fixture
def priya_case(priya: Any, tweet: Callable[..., Post]) -> Case:
    """Priya's X account, linked to her, mentions the brand: her case."""
    SocialIdentity.objects.create(
        platform="x", external_id=PRIYA["id_str"], handle=PRIYA["screen_name"], customer=priya
    )
    case = tweet("8001", "You charged me twice for order 1182").case
    assert case.customer == priya
    return case


# People -----------------------------------------------------------------------------------------


@pytest.fixture
def agent_client(client: Any, agent: Any, team: Team, sign_in: Any) -> Any:
    """Alice, staff but not a superuser, in the support-agent role and team Care."""
    return sign_in(client, agent, "agent")


@pytest.fixture
def supervisor_client(client: Any, make_user: Callable[..., Any], team: Team, sign_in: Any) -> Any:
    return sign_in(client, make_user("sam", first_name="Sam", last_name="Lead"), "supervisor")


@pytest.fixture
def superuser(make_user: Callable[..., Any]) -> Any:
    return make_user("root", is_superuser=True)


@pytest.fixture
def superuser_client(client: Any, superuser: Any) -> Any:
    client.force_login(superuser)
    return client


@pytest.fixture
def api(superuser: Any) -> APIClient:
    """The API as a superuser's key, answering 500s instead of raising them."""
    _, plain = create_api_key(superuser, "integration")
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    return client
