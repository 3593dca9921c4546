"""Connecting a brand channel through OAuth (against a local provider over real HTTP): tokens
stored encrypted on the channel, refreshed when expired, never shown, logged or left in
social-auth's plain-JSON ``extra_data``."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from social_django.models import UserSocialAuth

from socialcare.models import Channel
from socialcare.platforms.base import OutboundMessage, SendError
from socialcare.services import cases as case_services
from socialcare.services import channel_oauth
from socialcare.services.polling import poll_channel
from socialcare.transports.live import LiveTransport
from tests.oauth_provider import CLIENTS, Account, dance
from tests.oauth_provider import oauth_provider as oauth_provider
from tests.platform_server import platform_server as platform_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Any, django_user_model: Any) -> Any:
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def connect(client: Any, channel: Channel) -> Any:
    begin = client.post(reverse("admin:socialcare_channel_connect", args=[channel.pk]))
    return dance(client, begin)


def raw_secrets(channel: Channel) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secrets FROM {Channel._meta.db_table} WHERE id = %s", [channel.pk])
        return cursor.fetchone()[0]


def expire(channel: Channel) -> None:
    channel.refresh_from_db()
    past = (timezone.now() - dt.timedelta(minutes=5)).isoformat()
    channel.secrets = {**channel.secrets, "token_expires_at": past}
    channel.save(update_fields=["secrets"])


def test_channel_page_offers_connect_button(admin_client: Any, channel: Channel) -> None:
    html = admin_client.get(
        reverse("admin:socialcare_channel_change", args=[channel.pk])
    ).content.decode()
    assert 'id="sc-channel-connect"' in html and "Connect with OAuth" in html
    assert "not connected through OAuth" in html


def test_connect_stores_encrypted_tokens(
    admin_client: Any, oauth_provider: Any, channel: Channel
) -> None:
    oauth_provider.account = Account("brand-1", "acme")
    answer = connect(admin_client, channel)
    assert answer.status_code == 302
    assert answer["Location"] == reverse("admin:socialcare_channel_change", args=[channel.pk])
    grant = oauth_provider.grants[0]
    channel.refresh_from_db()
    assert channel.get_secret("access_token") == grant.access_token
    assert channel.get_secret("refresh_token") == grant.refresh_token
    assert channel.get_secret("webhook_secret") == "whsec-0123456789"  # kept
    assert channel_oauth.connection(channel)["oauth_backend"] == "twitter-oauth2"
    assert not channel_oauth.token_expired(channel)
    stored = raw_secrets(channel)
    assert grant.access_token not in stored and grant.refresh_token not in stored
    assert "access_token" not in stored  # even the names are inside the ciphertext
    # social-auth kept nothing: no association, no extra_data with tokens.
    assert UserSocialAuth.objects.count() == 0

    page = admin_client.get(answer["Location"])
    html = page.content.decode()
    assert "is connected through twitter-oauth2" in html
    assert grant.access_token not in html and grant.refresh_token not in html
    assert "••••" + grant.access_token[-4:] in html
    assert "access token expires" in html


def test_connect_as_another_account_stores_nothing(
    admin_client: Any, oauth_provider: Any, channel: Channel
) -> None:
    oauth_provider.account = Account("999", "someone-else")
    answer = connect(admin_client, channel)
    html = admin_client.get(answer["Location"]).content.decode()
    assert "signed in as account 999" in html and "Nothing was stored" in html
    channel.refresh_from_db()
    assert channel.get_secret("access_token") == ""


def test_connect_declined(admin_client: Any, oauth_provider: Any, channel: Channel) -> None:
    oauth_provider.deny = True
    answer = connect(admin_client, channel)
    assert answer.status_code == 302
    html = admin_client.get(answer["Location"]).content.decode()
    assert "consent was declined" in html
    channel.refresh_from_db()
    assert channel.get_secret("access_token") == ""


def test_connect_needs_change_permission(client: Any, channel: Channel, make_user: Any) -> None:
    from django.contrib.auth.models import Permission

    viewer = make_user("viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_channel"))
    client.force_login(viewer)
    url = reverse("admin:socialcare_channel_connect", args=[channel.pk])
    assert client.post(url).status_code == 403
    assert client.get(url).status_code == 405
    page = client.get(reverse("admin:socialcare_channel_change", args=[channel.pk]))
    assert 'id="sc-channel-connect"' not in page.content.decode()


def test_expired_token_is_refreshed_before_a_reply(
    admin_client: Any, oauth_provider: Any, platform_server: Any, channel: Channel
) -> None:
    oauth_provider.account = Account("brand-1", "acme")
    connect(admin_client, channel)
    first = oauth_provider.grants[0]
    channel.base_url = platform_server.url
    channel.save(update_fields=["base_url"])
    expire(channel)
    assert channel_oauth.token_expired(channel)
    platform_server.route("POST", "/2/tweets", 201, {"data": {"id": "77", "text": "hi"}})

    sent = LiveTransport().send(
        channel, OutboundMessage(text="Hello", visibility="public", in_reply_to="5")
    )

    assert sent.external_id == "77"
    assert [g.grant_type for g in oauth_provider.grants] == ["authorization_code", "refresh_token"]
    fresh = oauth_provider.grants[1]
    request = platform_server.requests_to("POST", "/2/tweets")[0]
    assert request.headers["authorization"] == f"Bearer {fresh.access_token}"
    channel.refresh_from_db()
    assert channel.get_secret("access_token") == fresh.access_token
    assert channel.get_secret("refresh_token") == fresh.refresh_token != first.refresh_token
    assert not channel_oauth.token_expired(channel)
    # A fresh token is used as is: no second refresh.
    LiveTransport().send(
        channel, OutboundMessage(text="Again", visibility="public", in_reply_to="5")
    )
    assert len(oauth_provider.grants) == 2


def test_expired_token_without_refresh_token_fails_the_send(channel: Channel) -> None:
    channel.secrets = {
        **channel.secrets,
        "access_token": "old-token-123456",
        "oauth_backend": "twitter-oauth2",
        "token_expires_at": (timezone.now() - dt.timedelta(hours=1)).isoformat(),
    }
    channel.save()
    with pytest.raises(SendError, match="connect the channel again"):
        LiveTransport().send(channel, OutboundMessage(text="x", visibility="public"))


def test_polling_refreshes_an_expired_token(
    admin_client: Any, oauth_provider: Any, platform_server: Any
) -> None:
    channel = Channel.objects.create(
        name="Acme on Mastodon",
        platform="mastodon",
        account_id="https://m.example/@acme",
        base_url=platform_server.url,
    )
    oauth_provider.account = Account("https://m.example/@acme", "acme")
    connect(admin_client, channel)
    expire(channel)
    platform_server.route("GET", "/api/v1/notifications", 200, [])

    outcome = poll_channel(channel)

    assert outcome.error == ""
    assert oauth_provider.grants[-1].grant_type == "refresh_token"
    request = platform_server.requests_to("GET", "/api/v1/notifications")[0]
    assert request.headers["authorization"] == f"Bearer {oauth_provider.grants[-1].access_token}"


def test_secrets_never_in_admin_api_or_logs(
    admin_client: Any, oauth_provider: Any, channel: Channel, identity: Any, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    oauth_provider.account = Account("brand-1", "acme")
    connect(admin_client, channel)
    expire(channel)
    channel_oauth.refresh_if_expired(channel)
    case = case_services.open_case(channel=channel, identity=identity)
    secrets = [CLIENTS["x-client-id"]]
    for grant in oauth_provider.grants:
        secrets += [grant.access_token, grant.refresh_token]
    pages = [
        admin_client.get(reverse("admin:socialcare_channel_change", args=[channel.pk])),
        admin_client.get(reverse("admin:socialcare_channel_changelist")),
        admin_client.get(reverse("admin:socialcare_case_change", args=[case.pk])),
        admin_client.get(f"/socialcare/api/v1/cases/{case.pk}/"),
        admin_client.get("/socialcare/api/v1/cases/"),
    ]
    for page in pages:
        assert page.status_code == 200, page
        body = page.content.decode()
        for secret in secrets:
            assert secret not in body
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    assert len(oauth_provider.grants) == 2 and caplog.records
    for secret in secrets:
        assert secret not in logged
