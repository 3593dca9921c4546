"""The channel admin's polling switch: a support admin stops the scheduled poll of one channel."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from socialcare.models import Channel

pytestmark = pytest.mark.django_db


def _form(channel: Channel, **changes: str) -> dict[str, str]:
    """What the change form posts for ``channel`` when nothing but ``changes`` is edited (an
    unticked checkbox is simply absent)."""
    data = {
        "name": channel.name,
        "platform": channel.platform,
        "account_id": channel.account_id,
        "handle": channel.handle,
        "base_url": channel.base_url,
        "is_active": "on",
        "can_reply_public": "on",
        "can_message_private": "on",
        "default_team": "",
        "sla_policy": "",
    }
    return {**data, **changes}


@pytest.fixture
def mastodon() -> Channel:
    return Channel.objects.create(
        name="Acme on Mastodon",
        platform="mastodon",
        account_id="14715",
        handle="acmehelp",
        base_url="https://mastodon.example",
    )


def test_polling_switch_on_the_form_in_the_list_and_its_filter(admin_client, mastodon) -> None:
    url = reverse("admin:socialcare_channel_change", args=[mastodon.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="polling_enabled"' in page and "Poll automatically" in page
    assert "the scheduled poll skips this channel" in page  # the help text says what off means
    response = admin_client.post(url, _form(mastodon))  # ticked off
    assert response.status_code == 302, response.content.decode()[:2000]
    mastodon.refresh_from_db()
    assert mastodon.polling_enabled is False
    changelist = reverse("admin:socialcare_channel_changelist")
    x = Channel.objects.create(name="Acme on X", platform="x", account_id="100")
    off = admin_client.get(changelist, {"polling_enabled__exact": "0"}).content.decode()
    assert "Acme on Mastodon" in off and "Acme on X" not in off
    listed = admin_client.get(changelist).content.decode()
    assert 'href="?polling_enabled__exact=0"' in listed  # the "By poll automatically" filter
    # The column: off for Mastodon, blank ("unknown") for X, which has nothing to poll.
    column = re.findall(r'class="field-polls_automatically"><img [^>]*alt="(\w+)"', listed)
    assert column == ["False", "None"]  # ordered by name: Acme on Mastodon, Acme on X
    assert admin_client.post(url, _form(mastodon, polling_enabled="on")).status_code == 302
    mastodon.refresh_from_db()
    assert mastodon.polling_enabled is True
    # A webhook channel has nothing to poll: no switch on its form, and saving keeps the value.
    x_url = reverse("admin:socialcare_channel_change", args=[x.pk])
    assert 'name="polling_enabled"' not in admin_client.get(x_url).content.decode()
    assert admin_client.post(x_url, _form(x)).status_code == 302
    x.refresh_from_db()
    assert x.polling_enabled is True


def test_a_new_channel_can_start_with_polling_off(admin_client) -> None:
    add = reverse("admin:socialcare_channel_add")
    assert 'name="polling_enabled"' in admin_client.get(add).content.decode()
    new = Channel(name="Acme on Bluesky", platform="bluesky", account_id="did:plc:acme", handle="")
    response = admin_client.post(add, _form(new))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Channel.objects.get(account_id="did:plc:acme").polling_enabled is False
