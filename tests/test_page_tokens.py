"""Connecting a Facebook channel stores its Page's access token (services.page_tokens): Facebook
Login against a fake that behaves as Meta documents (tests/fakes/meta_accounts.py), the admin's
page picker, and nothing of a token in logs, pages or social-auth's ``extra_data``."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import httpx
import pytest
from django.db import connection
from django.urls import reverse
from social_django.models import UserSocialAuth

from socialcare.models import Channel
from socialcare.platforms.base import OutboundMessage, SendError
from socialcare.platforms.meta import pages
from socialcare.platforms.meta.graph import GraphRefused
from socialcare.services import channel_oauth, page_tokens
from socialcare.transports.live import LiveTransport
from tests.fakes.meta_accounts import facebook_login as facebook_login
from tests.oauth_provider import dance
from tests.platform_server import platform_server as platform_server

pytestmark = pytest.mark.django_db

PAGE = "103149398319188"
OTHER = "220000000000001"
THIRD = "330000000000002"
IG_ACCOUNT = "17841405309211844"
COMMENT = f"{PAGE}_408075000000001"


@pytest.fixture
def admin_client(client: Any, django_user_model: Any) -> Any:
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def page_channel(platform_server: Any) -> Channel:
    channel = Channel(
        name="Acme on Facebook",
        platform="facebook",
        account_id=PAGE,
        base_url=platform_server.url,  # Graph calls go to the fake
    )
    channel.set_secret("webhook_secret", "meta-app-secret-0123")
    channel.save()
    return channel


def connect(client: Any, channel: Channel) -> Any:
    begin = client.post(reverse("admin:socialcare_channel_connect", args=[channel.pk]))
    return dance(client, begin)


def picker(channel: Channel) -> str:
    return reverse("admin:socialcare_channel_pick_page", args=[channel.pk])


def change_page(channel: Channel) -> str:
    return reverse("admin:socialcare_channel_change", args=[channel.pk])


def test_connecting_stores_the_channels_page_token(
    admin_client: Any, facebook_login: Any, platform_server: Any, page_channel: Channel
) -> None:
    facebook_login.add_page(OTHER, "Other Brand")
    facebook_login.add_page(THIRD, "Acme Jobs")
    facebook_login.add_page(PAGE, "Acme")  # on the second page of /me/accounts

    answer = connect(admin_client, page_channel)

    assert answer.status_code == 302 and answer["Location"] == picker(page_channel)
    page = admin_client.get(picker(page_channel))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Other Brand" in html and "Acme Jobs" in html and "this channel's Page" in html
    assert f'value="{PAGE}" checked' in html
    page_channel.refresh_from_db()
    assert page_channel.get_secret("access_token") == ""  # nothing before the choice

    done = admin_client.post(picker(page_channel), {"page": PAGE})

    assert done.status_code == 302 and done["Location"] == change_page(page_channel)
    page_channel.refresh_from_db()
    stored = page_channel.get_secret("access_token")
    token = facebook_login.page_token(stored)
    assert token is not None and token.page_id == PAGE
    assert token.expires_at is None  # minted for a long-lived User token: never expires
    assert stored not in facebook_login.tokens_of("short") + facebook_login.tokens_of("long")
    assert page_channel.get_secret("webhook_secret") == "meta-app-secret-0123"  # kept
    assert "refresh_token" not in page_channel.secrets
    assert not channel_oauth.token_expired(page_channel)
    assert channel_oauth.connection(page_channel) == {
        "oauth_backend": "facebook",
        "oauth_uid": facebook_login.user_id,
    }
    shown = admin_client.get(done["Location"]).content.decode()
    assert "is connected to the Facebook Page Acme (103149398319188)" in shown
    # Pages were read with the token in a header, the next results by cursor.
    listed = platform_server.requests_to("GET", "/me/accounts")
    assert len(listed) == 4  # two pages of results at sign-in, two again at the choice
    assert all("access_token" not in r.query for r in listed)
    assert any("after" in r.query for r in listed)

    # The Page token answers the channel's comments: Meta accepts it for a Page call.
    facebook_login.accept_replies(COMMENT, PAGE)
    sent = LiveTransport().send(
        page_channel, OutboundMessage(text="Sorry!", visibility="public", in_reply_to=COMMENT)
    )
    assert sent.external_id.startswith(f"{PAGE}_")
    assert facebook_login.replies[0]["message"] == "Sorry!"


def test_a_user_token_is_refused_for_a_page_call(
    facebook_login: Any, platform_server: Any, page_channel: Channel
) -> None:
    # What connecting used to store: the signed-in person's token.
    facebook_login.add_page(PAGE, "Acme")
    user_token = facebook_login._mint("long", None)
    page_channel.set_secret("access_token", user_token)
    page_channel.save()
    facebook_login.accept_replies(COMMENT, PAGE)
    with pytest.raises(SendError, match="must be called with a Page Access Token"):
        LiveTransport().send(
            page_channel, OutboundMessage(text="Hi", visibility="public", in_reply_to=COMMENT)
        )


def test_someone_without_the_channels_page_gets_the_reason_and_nothing_changes(
    admin_client: Any, facebook_login: Any, page_channel: Channel
) -> None:
    facebook_login.add_page(OTHER, "Other Brand")
    page_channel.set_secret("access_token", "EAAold-page-token-9876")
    page_channel.save()
    before = dict(page_channel.secrets)

    answer = connect(admin_client, page_channel)

    assert answer.status_code == 302 and answer["Location"] == change_page(page_channel)
    html = admin_client.get(answer["Location"]).content.decode()
    assert "who manages Other Brand (220000000000001)" in html
    assert "none is this channel&#x27;s Page 103149398319188" in html
    assert "Nothing was stored" in html
    page_channel.refresh_from_db()
    assert page_channel.secrets == before
    assert page_tokens.PENDING_KEY not in admin_client.session
    # No pick is pending: the picker sends them back with the reason.
    back = admin_client.get(picker(page_channel))
    assert back.status_code == 302
    assert "No Facebook Page is waiting" in admin_client.get(back["Location"]).content.decode()


def test_meta_refusing_the_list_is_a_message_not_an_error_page(
    admin_client: Any, facebook_login: Any, platform_server: Any, page_channel: Channel
) -> None:
    facebook_login.add_page(PAGE, "Acme")
    throttled = {"error": {"message": "(#4) Application request limit reached", "code": 4}}
    platform_server.route("GET", "/me/accounts", 400, throttled)

    answer = connect(admin_client, page_channel)

    assert answer.status_code == 302 and answer["Location"] == change_page(page_channel)
    html = admin_client.get(answer["Location"]).content.decode()
    assert "Could not list your Facebook Pages: Rate limited by Meta (code 4)" in html
    assert "Nothing was stored" in html
    page_channel.refresh_from_db()
    assert page_channel.get_secret("access_token") == ""


def test_the_picker_refuses_a_page_whose_person_lacks_the_tasks(
    admin_client: Any, facebook_login: Any, page_channel: Channel
) -> None:
    facebook_login.add_page(PAGE, "Acme", tasks=("ANALYZE", "CREATE_CONTENT"))
    facebook_login.add_page(OTHER, "Other Brand")
    connect(admin_client, page_channel)

    page = admin_client.get(picker(page_channel))

    html = page.content.decode()
    assert page.status_code == 200
    reason = "You cannot do MESSAGING and MODERATE on Acme"
    assert reason in html and "Your tasks: ANALYZE, CREATE_CONTENT" in html
    assert f'value="{PAGE}" disabled' in html  # shown, not selectable
    refused = admin_client.post(picker(page_channel), {"page": PAGE})
    assert refused.status_code == 400
    assert reason in refused.content.decode() and "Nothing was stored" in refused.content.decode()
    other = admin_client.post(picker(page_channel), {"page": OTHER})
    assert other.status_code == 400
    assert "Other Brand (220000000000001) is not this channel&#x27;s Page" in (
        other.content.decode()
    )
    assert admin_client.post(picker(page_channel), {"page": ""}).status_code == 400
    page_channel.refresh_from_db()
    assert page_channel.get_secret("access_token") == ""


def test_a_pick_expires_after_fifteen_minutes(
    admin_client: Any, facebook_login: Any, page_channel: Channel
) -> None:
    facebook_login.add_page(PAGE, "Acme")
    connect(admin_client, page_channel)
    session = admin_client.session
    old = dt.datetime.now(dt.UTC) - page_tokens.PICK_MAX_AGE - dt.timedelta(seconds=1)
    session[page_tokens.PENDING_KEY] = {
        **session[page_tokens.PENDING_KEY],
        "started": old.isoformat(),
    }
    session.save()

    answer = admin_client.post(picker(page_channel), {"page": PAGE})

    assert answer.status_code == 302 and answer["Location"] == change_page(page_channel)
    assert "took longer than 15 minutes" in admin_client.get(answer["Location"]).content.decode()
    page_channel.refresh_from_db()
    assert page_channel.get_secret("access_token") == ""


def test_an_instagram_channel_gets_the_token_of_its_linked_page(
    admin_client: Any, facebook_login: Any, platform_server: Any, settings: Any
) -> None:
    settings.SOCIALCARE = {
        **settings.SOCIALCARE,
        "OAUTH_BACKENDS": {"instagram": "facebook", "facebook": "facebook"},
    }
    channel = Channel.objects.create(
        name="Acme on Instagram",
        platform="instagram",
        account_id=IG_ACCOUNT,
        base_url=platform_server.url,
    )
    facebook_login.add_page(OTHER, "Other Brand", instagram="17841400000000099")
    facebook_login.add_page(PAGE, "Acme", tasks=("MODERATE",), instagram=IG_ACCOUNT)

    assert connect(admin_client, channel)["Location"] == picker(channel)
    html = admin_client.get(picker(channel)).content.decode()
    assert f"Instagram {IG_ACCOUNT}" in html and f'value="{PAGE}" checked' in html
    admin_client.post(picker(channel), {"page": PAGE})

    channel.refresh_from_db()
    token = facebook_login.page_token(channel.get_secret("access_token"))
    assert token is not None and token.page_id == PAGE


def test_tokens_are_never_logged_shown_or_left_in_extra_data(
    admin_client: Any, facebook_login: Any, page_channel: Channel, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    facebook_login.add_page(PAGE, "Acme")
    connect(admin_client, page_channel)
    shown = [admin_client.get(picker(page_channel))]
    done = admin_client.post(picker(page_channel), {"page": PAGE})
    shown += [
        admin_client.get(done["Location"]),
        admin_client.get(reverse("admin:socialcare_channel_changelist")),
    ]

    secrets = [*facebook_login.tokens, facebook_login.app_secret]
    assert len(facebook_login.tokens_of("page")) == 2 and caplog.records
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    for secret in secrets:
        assert secret not in logged
        for page in shown:
            assert secret not in page.content.decode()
    assert "[redacted]" in logged  # the Graph calls were logged, without their tokens
    assert UserSocialAuth.objects.count() == 0  # no association, no extra_data
    with connection.cursor() as cursor:
        table = Channel._meta.db_table
        cursor.execute(f"SELECT secrets FROM {table} WHERE id = %s", [page_channel.pk])
        raw = cursor.fetchone()[0]
    assert all(secret not in raw for secret in secrets)  # encrypted at rest
    assert page_tokens.PENDING_KEY not in admin_client.session  # the User token is gone


def test_a_page_token_cannot_list_pages(facebook_login: Any, platform_server: Any) -> None:
    facebook_login.add_page(PAGE, "Acme")
    user_token = facebook_login._mint("long", None)
    with httpx.Client() as client:
        [page] = pages.managed_pages(
            client, platform_server.url, user_token, app_secret=facebook_login.app_secret
        )
        with pytest.raises(GraphRefused, match="nonexisting field \\(accounts\\)") as refused:
            pages.managed_pages(
                client, platform_server.url, page.access_token, app_secret=facebook_login.app_secret
            )
    assert refused.value.code == 100
