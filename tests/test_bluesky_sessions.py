"""Bluesky sessions shared by every worker, and the chat service's refusals (issue #18, points 5
and 6), through the real poll and send paths against ``tests/fakes/bluesky_auth.py``: a PDS that
expires access tokens with 400 ExpiredToken, rotates refresh tokens and limits createSession to
30 per 5 minutes, and a chat service that honours each customer's ``allowIncoming``."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

import httpx
import pytest
import time_machine
from django.db import connection, connections
from django.urls import reverse

from socialcare.exceptions import SocialCareError
from socialcare.models import Case, Channel, Post
from socialcare.platforms.bluesky import forget_session
from socialcare.services import chat_availability
from socialcare.services.deliveries import accept_delivery
from socialcare.services.handoff import hand_off
from socialcare.services.ingest import process_delivery
from socialcare.services.polling import poll_channel, poll_due_channels
from socialcare.services.replies import send_reply
from socialcare.services.reply_window import reply_window
from tests.fakes.bluesky_auth import XRPC, BlueskyAuthFake
from tests.fakes.bluesky_pds import BlueskyPdsFake
from tests.ingest_helpers import fixture_bytes, make_channels
from tests.platform_server import Answer, Recorded
from tests.platform_server import platform_server as platform_server
from tests.served import channels as channels
from tests.served import queued as queued
from tests.test_api_cases import API, grant
from tests.test_api_cases import client_for as client_for

pytestmark = pytest.mark.django_db

BRAND = "did:plc:acmesupport000000000000"  # the channel of bluesky/list_notifications.json
BRYAN = "did:plc:u5cwb2mwiv2bfq53cjufe6yn"  # the customer who mentions it there
MENTION = f"at://{BRYAN}/app.bsky.feed.post/3k43tv4rft22g"
PASSWORD = "test-token"  # the channels' access_token (tests.ingest_helpers.make_channels)
START = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)
NOT_FOLLOWED = (
    "the customer does not accept direct messages from @acme.support on Bluesky (they allow "
    "messages only from people they follow)."
)


@pytest.fixture(autouse=True)
def fresh():
    forget_session()
    chat_availability.clear()
    yield
    forget_session()
    chat_availability.clear()


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def make_auth(server, **options) -> BlueskyAuthFake:
    """The strict session and chat fake, with the PDS fake (notifications, posting) behind its
    access-token check on the same server."""
    auth = BlueskyAuthFake(
        server, did=BRAND, handle="acme.support", password=PASSWORD,
        clock=lambda: time.time(), **options,
    )  # fmt: skip
    BlueskyPdsFake(server, clock=lambda: time.time(), with_auth=False, authorize=auth.authorize)
    return auth


@pytest.fixture
def auth(platform_server, clock):
    return make_auth(platform_server, access_seconds=5 * 60)


@pytest.fixture
def bluesky(channels):
    return channels[("bluesky", BRAND)]


def bluesky_case(channel: Channel, customer=None) -> Case:
    delivery = accept_delivery(channel, fixture_bytes("bluesky/list_notifications.json"), {},
                               queue=False)  # fmt: skip
    process_delivery(delivery.pk)
    case = Case.objects.get(posts__external_id=MENTION)
    if customer is not None:
        Case.objects.filter(pk=case.pk).update(customer=customer)
        case.refresh_from_db()
    return case


def calls(server, nsid: str) -> list[Recorded]:
    return [r for r in server.requests if r.path == XRPC + nsid]


# Sessions ----------------------------------------------------------------------------------------


def test_a_session_that_expires_mid_run_is_refreshed_and_no_reply_fails(
    bluesky, auth, agent, queued, platform_server
):
    auth.member(BRYAN, "bnewbold.staging.bsky.dev", allow_incoming="all")
    case = bluesky_case(bluesky)
    sent_message = auth.chat(auth.send_message)
    expired_in_flight = []

    def send_message(request: Recorded) -> Answer:
        if not expired_in_flight:  # the session dies between getConvoForMembers and sendMessage
            expired_in_flight.append(True)
            auth.expire_access_tokens()
        return sent_message(request)

    platform_server.route("POST", XRPC + "chat.bsky.convo.sendMessage", send_message)

    replies = [queued(send_reply(case, f"Public reply {n}", actor=agent)) for n in range(3)]
    auth.expire_access_tokens()  # the PDS refuses the stored token: 400 ExpiredToken
    replies += [queued(send_reply(case, f"Public reply {n}", actor=agent)) for n in range(3, 5)]
    replies.append(
        queued(send_reply(case, "Your order number?", actor=agent, visibility="private"))
    )

    assert [p.send_status for p in replies] == ["sent"] * 6, [p.send_error for p in replies]
    assert auth.create_calls == 1  # one login; both renewals refreshed the session
    assert auth.refresh_calls == 2
    records = calls(platform_server, "com.atproto.repo.createRecord")
    assert len(records) == 6  # 5 replies, and the one refused with 400 ExpiredToken sent again
    assert [m["text"] for m in auth.messages] == ["Your order number?"]
    assert Post.objects.filter(case=case, send_status="failed").count() == 0


def test_four_workers_polling_for_ten_minutes_log_in_once(bluesky, auth, clock):
    """Each worker process starts with nothing in memory (``forget_session``): the session they
    share is the one stored with the channel. 40 polls, one login, a refresh every ~4 minutes."""
    for _minute in range(10):
        for _worker in range(4):
            forget_session()
            outcome = poll_channel(Channel.objects.get(pk=bluesky.pk))
            assert outcome.error == ""
            clock.shift(15)
    assert auth.create_calls == 1  # the acceptance allows two
    assert auth.refresh_calls == 2  # at minutes 4 and 8 (5-minute tokens, renewed 1 min early)


@pytest.mark.django_db(transaction=True)
def test_four_workers_at_once_renew_the_session_once_per_expiry(platform_server, team, clock):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent workers need PostgreSQL (SQLite runs one writer at a time)")
    channel = make_channels()[("bluesky", BRAND)]
    channel.base_url = platform_server.url
    channel.save()
    auth = make_auth(platform_server, access_seconds=5 * 60)
    errors: list[str] = []
    ready = threading.Barrier(4)  # the four poll at the same moment, every minute
    minute = threading.Barrier(4, action=lambda: clock.shift(60))

    def worker() -> None:
        try:
            for _ in range(10):
                ready.wait(timeout=30)
                outcome = poll_channel(Channel.objects.get(pk=channel.pk))
                if outcome.error:
                    errors.append(outcome.error)
                minute.wait(timeout=30)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))
            ready.abort()
            minute.abort()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert auth.create_calls == 1  # the acceptance allows two
    assert auth.refresh_calls == 2  # one per expiry, not one per worker


def test_the_session_is_stored_encrypted_and_never_logged(bluesky, auth, clock, caplog):
    caplog.set_level(logging.DEBUG)
    poll_channel(bluesky)
    auth.expire_access_tokens()
    poll_channel(Channel.objects.get(pk=bluesky.pk))  # renewed with the refresh token
    bluesky.refresh_from_db()
    access, refresh = bluesky.secrets["session_access_jwt"], bluesky.secrets["session_refresh_jwt"]
    assert access.count(".") == 2 and refresh.count(".") == 2
    assert auth.refresh_calls == 1
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secrets FROM {Channel._meta.db_table} WHERE id = %s", [bluesky.pk])
        (raw,) = cursor.fetchone()
    for secret in (access, refresh, PASSWORD, "session_"):
        assert secret not in raw
        assert secret not in caplog.text
    assert set(bluesky.redacted_secrets()) == {"access_token"}  # the admin and API show no session


def test_a_new_app_password_is_not_given_the_old_session(bluesky, auth, platform_server):
    poll_channel(bluesky)
    auth.password = "new-app-password"
    bluesky.set_secret("access_token", "new-app-password")
    bluesky.save()
    poll_channel(Channel.objects.get(pk=bluesky.pk))
    logins = [r.json() for r in calls(platform_server, "com.atproto.server.createSession")]
    assert [login["password"] for login in logins] == [PASSWORD, "new-app-password"]


def test_a_revoked_refresh_token_falls_back_to_one_login(bluesky, auth, platform_server):
    poll_channel(bluesky)
    auth.expire_access_tokens()
    auth.revoke_refresh_tokens()
    outcome = poll_channel(Channel.objects.get(pk=bluesky.pk))
    assert outcome.error == ""
    assert (auth.refresh_calls, auth.create_calls) == (1, 2)
    (refused,) = calls(platform_server, "com.atproto.server.refreshSession")
    assert refused.headers["authorization"].startswith("Bearer ")


def test_a_rate_limited_login_pauses_polling_until_the_reset(bluesky, auth, clock, platform_server):
    Channel.objects.exclude(pk=bluesky.pk).update(is_active=False)
    with httpx.Client() as other_app:  # another client of the account used its 30 logins
        for _ in range(30):
            other_app.post(
                f"{platform_server.url}{XRPC}com.atproto.server.createSession",
                json={"identifier": "acme.support", "password": "wrong"},
            )
    outcome = poll_channel(bluesky)
    assert outcome.error.startswith("rate limited")
    bluesky.refresh_from_db()
    assert bluesky.poll_paused_until == START + dt.timedelta(minutes=5)  # RateLimit-Reset
    assert auth.rate_limited == 1

    clock.shift(60)
    assert poll_due_channels() == []  # paused: createSession is not asked again
    assert auth.create_calls == 31
    clock.shift(4 * 60)
    (outcome,) = poll_due_channels()
    assert outcome.error == ""
    assert auth.create_calls == 32 and auth.rate_limited == 1


# Chat refusals ----------------------------------------------------------------------------------


def test_a_hand_off_to_a_customer_who_does_not_accept_dms_is_refused_and_offers_email(
    bluesky, auth, agent, customer, platform_server
):
    auth.member(BRYAN, "bnewbold.staging.bsky.dev", allow_incoming="following")
    case = bluesky_case(bluesky, customer)  # ada@example.com

    with pytest.raises(SocialCareError) as refused:
        hand_off(case, "direct_message", actor=agent, private_message="Hi Bryan")
    assert " ".join(refused.value.messages) == (
        f"{case.reference} cannot be taken private by direct message: {NOT_FOLLOWED} "
        "Take it private by e-mail instead, or reply publicly."
    )
    case.refresh_from_db()
    assert not case.handed_off_to
    assert not case.posts.filter(direction="outbound").exists()  # no public note either
    for nsid in ("com.atproto.repo.createRecord", "chat.bsky.convo.getConvoForMembers",
                 "chat.bsky.convo.sendMessage"):  # fmt: skip
        assert calls(platform_server, nsid) == []
    (asked,) = calls(platform_server, "chat.bsky.convo.getConvoAvailability")
    assert asked.query["members"] == [BRYAN]

    window = reply_window(case)  # the composer and the API say the same; asked once (cached)
    assert (window.open, window.reason, window.alternatives) == (
        False, NOT_FOLLOWED, ("public reply", "email"),
    )  # fmt: skip
    assert len(calls(platform_server, "chat.bsky.convo.getConvoAvailability")) == 1
    with pytest.raises(SocialCareError, match="does not accept direct messages"):
        send_reply(case, "Hi Bryan", actor=agent, visibility="private")

    handed = hand_off(case, "email", actor=agent, private_message="Hi Bryan, Acme here.")
    assert handed.handed_off_to == "email"


def test_the_admin_hand_off_and_the_api_show_the_refusal(
    bluesky, auth, agent, admin_client, client_for
):
    auth.member(BRYAN, allow_incoming="none")
    case = bluesky_case(bluesky)
    response = admin_client.post(
        reverse("admin:socialcare_case_hand_off", args=[case.pk]),
        {"via": "direct_message", "private_message": "Hi Bryan"},
        follow=True,
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "they accept direct messages from no one" in page
    assert "add the customer&#x27;s e-mail address to take it private by e-mail" in page
    api = client_for(grant(agent, "view_case", "change_case", "view_post", "add_post"))
    detail = api.get(f"{API}/cases/{case.pk}/").json()["reply_window"]
    assert detail["open"] is False and detail["kind"] == "closed"
    assert "they accept direct messages from no one" in detail["reason"]
    refused = api.post(f"{API}/cases/{case.pk}/replies/", {"text": "Hi", "visibility": "private"})
    assert refused.status_code == 400
    assert "they accept direct messages from no one" in refused.json()["detail"]


def test_a_send_refused_with_not_followed_by_sender_fails_with_the_agent_message(
    bluesky, auth, agent, queued, platform_server
):
    bryan = auth.member(BRYAN, allow_incoming="all")
    case = bluesky_case(bluesky)
    post = send_reply(case, "Could you DM us your order number?", actor=agent, visibility="private")
    bryan.allow_incoming = "following"  # changed their setting before the worker sent it

    post = queued(post)
    assert post.send_status == "failed"
    assert post.send_error == (
        "The customer does not accept direct messages from @acme.support on Bluesky (they allow "
        "messages only from people they follow). Reply publicly or by e-mail."
    )
    assert auth.messages == [] and calls(platform_server, "chat.bsky.convo.sendMessage") == []


def test_a_follower_is_messaged(bluesky, auth, agent, queued):
    auth.member(BRYAN, allow_incoming="following", follows_brand=True)
    case = bluesky_case(bluesky)
    assert reply_window(case).open
    hand_off(case, "direct_message", actor=agent)
    post = queued(send_reply(case, "Hi Bryan, what is your order number?", actor=agent,
                             visibility="private"))  # fmt: skip
    assert post.send_status == "sent", post.send_error
    assert auth.messages[0]["text"] == "Hi Bryan, what is your order number?"


def test_an_app_password_without_dm_access_is_a_channel_problem(
    bluesky, platform_server, clock, agent, customer, queued
):
    auth = make_auth(platform_server, dm_access=False)
    auth.member(BRYAN, allow_incoming="all")
    case = bluesky_case(bluesky, customer)
    window = reply_window(case)
    assert not window.open
    assert window.reason.startswith(f"{bluesky.name} cannot send Bluesky direct messages: the "
                                    "channel's app password has no access to direct messages.")  # fmt: skip
    assert "“Allow access to your direct messages”" in window.reason
    with pytest.raises(SocialCareError, match="app password has no access to direct messages"):
        hand_off(case, "direct_message", actor=agent)

    chat_availability.clear()
    auth.member(BRYAN, allow_incoming="all")
    post = Post.objects.create(platform="bluesky", channel=bluesky, case=case,
                               direction="outbound", kind="direct_message", visibility="private",
                               text="Hi", send_status="queued")  # fmt: skip
    post = queued(post)
    assert post.send_status == "failed"
    assert "app password has no access to direct messages" in post.send_error
    assert "Bad token method" in post.send_error
    assert auth.create_calls == 1 and auth.refresh_calls == 0  # not mistaken for an expiry


def test_nothing_is_asked_with_the_console_transport(bluesky, auth, socialcare_settings):
    auth.member(BRYAN, allow_incoming="none")
    case = bluesky_case(bluesky)
    with socialcare_settings(REPLY_TRANSPORT="socialcare.transports.console.ConsoleTransport"):
        assert reply_window(case).open
    assert auth.create_calls == 0
