"""Secrets at rest: channel secrets are Fernet tokens in the database, keys rotate with MultiFernet,
and a value no key opens neither crashes nor gets destroyed by a save."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import override_settings

from socialcare import crypto
from socialcare.models import Channel

pytestmark = pytest.mark.django_db

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
MARKER = "__undecryptable__"


def stored_token(channel: Channel) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM socialcare_channel WHERE id = %s", [channel.pk])
        return cursor.fetchone()[0]


def reload(channel: Channel) -> Channel:
    return Channel.objects.get(pk=channel.pk)


def make_channel(**secrets: str) -> Channel:
    channel = Channel(name="Brand", platform="x", account_id="brand")
    for name, value in secrets.items():
        channel.set_secret(name, value)
    channel.save()
    return channel


def test_secrets_are_stored_encrypted_and_read_back_decrypted(channel):
    token = stored_token(channel)
    assert "whsec-0123456789" not in token
    assert "webhook_secret" not in token
    assert json.loads(crypto.decrypt(token)) == {"webhook_secret": "whsec-0123456789"}
    assert reload(channel).get_secret("webhook_secret") == "whsec-0123456789"


def test_no_secrets_store_nothing():
    channel = make_channel()
    assert stored_token(channel) == ""
    assert reload(channel).secrets == {}


def test_encrypt_decrypt_roundtrip_and_garbage():
    token = crypto.encrypt("s3cret")
    assert token != crypto.encrypt("s3cret")  # fresh IV each time
    assert crypto.decrypt(token) == "s3cret"
    with pytest.raises(InvalidToken):
        crypto.decrypt("not a token")


def test_new_key_first_keeps_old_secrets_readable_and_saves_under_new_key(socialcare_settings):
    with socialcare_settings(ENCRYPTION_KEYS=[OLD_KEY]):
        channel = make_channel(access_token="tok-old-1234")
    with socialcare_settings(ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        channel = reload(channel)
        assert channel.get_secret("access_token") == "tok-old-1234"
        channel.save()  # re-encrypts under the first key
    with socialcare_settings(ENCRYPTION_KEYS=[NEW_KEY]):
        assert reload(channel).get_secret("access_token") == "tok-old-1234"


def test_rotate_reencrypts_under_the_newest_key(socialcare_settings):
    with socialcare_settings(ENCRYPTION_KEYS=[OLD_KEY]):
        token = crypto.encrypt("payload")
    with socialcare_settings(ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        rotated = crypto.rotate(token)
    assert Fernet(NEW_KEY).decrypt(rotated.encode()) == b"payload"
    with pytest.raises(InvalidToken):
        Fernet(OLD_KEY).decrypt(rotated.encode())


def test_newest_key_is_the_first_configured_key_and_follows_a_settings_change(socialcare_settings):
    """Key rotation asks which key is newest; socialcare answers from its own list of keys (no
    private attribute of cryptography's MultiFernet)."""
    with socialcare_settings(ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        token = crypto.newest_key().encrypt(b"payload")
        assert [key.decrypt(token) for key in crypto.get_keys()[:1]] == [b"payload"]
        with pytest.raises(InvalidToken):
            crypto.get_keys()[1].decrypt(token)
    Fernet(NEW_KEY).decrypt(token)
    with socialcare_settings(ENCRYPTION_KEYS=[OLD_KEY]):
        assert crypto.newest_key().decrypt(crypto.encrypt("x").encode()) == b"x"
        with pytest.raises(InvalidToken):
            crypto.newest_key().decrypt(token)


def test_undecryptable_secrets_read_as_marker_without_crashing(socialcare_settings, channel):
    with socialcare_settings(ENCRYPTION_KEYS=[NEW_KEY]):
        unreadable = reload(channel)
        assert MARKER in unreadable.secrets
        assert unreadable.get_secret("webhook_secret") == ""
        assert unreadable.redacted_secrets() == {}


def test_saving_an_undecryptable_row_keeps_the_stored_secrets(socialcare_settings, channel):
    token = stored_token(channel)
    with socialcare_settings(ENCRYPTION_KEYS=[NEW_KEY]):  # the old key was forgotten
        unreadable = reload(channel)
        unreadable.name = "Renamed"
        unreadable.save()
    assert stored_token(channel) == token
    restored = reload(channel)  # back on the test settings' key
    assert restored.name == "Renamed"
    assert restored.get_secret("webhook_secret") == "whsec-0123456789"


def test_fresh_secrets_replace_undecryptable_ones(socialcare_settings, channel):
    with socialcare_settings(ENCRYPTION_KEYS=[NEW_KEY]):
        unreadable = reload(channel)
        unreadable.set_secret("webhook_secret", "whsec-fresh-9999")
        unreadable.save()
        assert reload(channel).secrets == {"webhook_secret": "whsec-fresh-9999"}
    assert MARKER in reload(channel).secrets  # the old key cannot read the new token


def test_key_derived_from_secret_key_without_encryption_keys(socialcare_settings):
    with socialcare_settings(ENCRYPTION_KEYS=[]):
        channel = make_channel(access_token="tok-derived-42")
        assert reload(channel).get_secret("access_token") == "tok-derived-42"
        assert crypto.derive_key("tests-not-secret") == crypto.derive_key("tests-not-secret")
        with override_settings(SECRET_KEY="rotated-secret-key"):
            # Why W001 warns: a new SECRET_KEY makes the old secrets unreadable.
            assert MARKER in reload(channel).secrets


def test_invalid_or_missing_keys_are_configuration_errors(socialcare_settings):
    with (
        socialcare_settings(ENCRYPTION_KEYS=["not-a-fernet-key"]),
        pytest.raises(ImproperlyConfigured, match="must hold Fernet keys"),
    ):
        crypto.encrypt("x")
    with (
        socialcare_settings(ENCRYPTION_KEYS=[]),
        override_settings(SECRET_KEY=""),
        pytest.raises(ImproperlyConfigured, match="ENCRYPTION_KEYS'\\] \\(or SECRET_KEY\\)"),
    ):
        crypto.encrypt("x")
    assert crypto.decrypt(crypto.encrypt("x")) == "x"  # the cache was reset on leaving
