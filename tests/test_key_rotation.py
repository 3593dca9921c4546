"""``manage.py socialcare_rotate_keys``: every secret at rest moves to the newest key."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import CommandError, call_command
from django.db import connection

from socialcare.models import Channel, WebhookSubscription

pytestmark = pytest.mark.django_db

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
LOST_KEY = Fernet.generate_key().decode()


def stored(model: type, pk: int, column: str = "secrets") -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {model._meta.db_table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def run(*args: str) -> str:
    out = StringIO()
    call_command("socialcare_rotate_keys", *args, stdout=out)
    return out.getvalue()


def make_secrets() -> tuple[Channel, WebhookSubscription]:
    channel = Channel(name="Acme on X", platform="x", account_id="brand-1", handle="acme")
    channel.set_secret("access_token", "tok-abcdef-123456")
    channel.save()
    subscription = WebhookSubscription.objects.create(
        name="CRM", url="https://crm.example.com/hooks", secrets={"secret": "sign-me-0123456789"}
    )
    return channel, subscription


def test_rotation_moves_every_secret_to_the_new_key_so_the_old_key_can_go(socialcare_settings):
    with socialcare_settings(ENCRYPTION_KEYS=[OLD_KEY]):
        channel, subscription = make_secrets()
        empty = Channel.objects.create(name="No secrets", platform="x", account_id="b-2")
    with socialcare_settings(ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        out = run()
    assert (
        "socialcare.Channel.secrets: 1 re-encrypted, 0 already under the newest key, 1 empty" in out
    )
    assert "socialcare.WebhookSubscription.secrets: 1 re-encrypted" in out
    for model, pk in ((Channel, channel.pk), (WebhookSubscription, subscription.pk)):
        token = stored(model, pk).encode()
        Fernet(NEW_KEY).decrypt(token)
        with pytest.raises(InvalidToken):
            Fernet(OLD_KEY).decrypt(token)
    with socialcare_settings(ENCRYPTION_KEYS=[NEW_KEY]):  # the old key removed
        assert Channel.objects.get(pk=channel.pk).get_secret("access_token") == "tok-abcdef-123456"
        assert WebhookSubscription.objects.get(pk=subscription.pk).secrets == {
            "secret": "sign-me-0123456789"
        }
        assert Channel.objects.get(pk=empty.pk).secrets == {}
        assert "0 re-encrypted, 1 already under the newest key" in run()


def test_dry_run_counts_and_writes_nothing(socialcare_settings):
    with socialcare_settings(ENCRYPTION_KEYS=[OLD_KEY]):
        channel, _ = make_secrets()
    before = stored(Channel, channel.pk)
    with socialcare_settings(ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        out = run("--dry-run")
    assert "socialcare.Channel.secrets: 1 would be re-encrypted" in out
    assert stored(Channel, channel.pk) == before


def test_a_secret_no_key_opens_is_kept_as_stored_and_reported(socialcare_settings):
    with socialcare_settings(ENCRYPTION_KEYS=[LOST_KEY]):
        lost, _ = make_secrets()
    with socialcare_settings(ENCRYPTION_KEYS=[OLD_KEY]):
        kept = Channel(name="Kept", platform="facebook", account_id="page-1")
        kept.set_secret("access_token", "page-token-987654")
        kept.save()
    lost_token = stored(Channel, lost.pk)
    with (
        socialcare_settings(ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]),
        pytest.raises(CommandError, match=rf"socialcare.Channel.secrets id {lost.pk}"),
    ):
        run()
    assert stored(Channel, lost.pk) == lost_token  # untouched: the lost key would still open it
    with socialcare_settings(ENCRYPTION_KEYS=[LOST_KEY]):
        assert Channel.objects.get(pk=lost.pk).get_secret("access_token") == "tok-abcdef-123456"
    with socialcare_settings(ENCRYPTION_KEYS=[NEW_KEY]):  # the others were still rotated
        assert Channel.objects.get(pk=kept.pk).get_secret("access_token") == "page-token-987654"
