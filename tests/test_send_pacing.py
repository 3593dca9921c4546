"""X direct-message pacing in the send queue (services/send_pacing.py): DMs wait for X's limits
(15 per 15 minutes and 1,440 per 24 hours per account, 1,440 per 24 hours per app) instead of
failing, against an X fake that answers 429 past them as X does. The clock is moved with
time-machine; the worker is ``deliver_post`` run for each scheduled send when it is due."""

from __future__ import annotations

import ast
import datetime as dt
import json
import threading
import time

import httpx
import pytest
import time_machine
from django.db import connection, connections
from django.utils import timezone
from django_q.models import Schedule

from socialcare.models import Case, PlatformApp, Post
from socialcare.platforms.base import OutboundMessage, RateLimited, SendError
from socialcare.platforms.x import XAdapter
from socialcare.services import send_pacing
from socialcare.services.ingest import channel_config
from socialcare.services.replies import deliver_post, send_reply
from tests.fakes.x_api import XApiFake
from tests.ingest_helpers import fixture_bytes, make_channels, x_signature
from tests.platform_server import platform_server as platform_server
from tests.served import channels as channels
from tests.test_api_cases import API, grant
from tests.test_api_cases import client_for as client_for
from tests.test_reply_window import graph as graph
from tests.test_reply_window import messenger_case as messenger_case
from tests.test_reply_window import tweet_payload

pytestmark = pytest.mark.django_db

BRAND_DM = "835740314006511618"  # the brand account of x/direct_message.json
BRAND_TWEETS = "1114259648326987776"  # the brand account of x/tweet_create_reply.json
START = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)
WAITING = "Waiting for X's direct-message limit"


@pytest.fixture
def dm_channel(channels):
    return channels[("x", BRAND_DM)]


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def x_api(platform_server, clock):
    return XApiFake(platform_server, brand_id=BRAND_DM, clock=lambda: timezone.now().timestamp())


@pytest.fixture
def dm_case(client, dm_channel, x_api, django_capture_on_commit_callbacks):
    """The case a customer's DM opens, delivered through the channel's webhook and processed by
    the worker; ``n`` picks the customer."""

    def make(n: int) -> Case:
        sender = str(272953809 + n)
        data = json.loads(fixture_bytes("x/direct_message.json"))
        event = data["direct_message_events"][0]
        event["id"] = str(958501034212564996 + n)
        event["message_create"]["sender_id"] = sender
        data["users"][sender] = {**data["users"].pop("272953809"), "id": sender}
        body = json.dumps(data).encode()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.generic(
                "POST",
                f"/socialcare/webhooks/x/{dm_channel.pk}/",
                body,
                content_type="application/json",
                HTTP_X_TWITTER_WEBHOOKS_SIGNATURE=x_signature(body),
            )
        assert response.status_code == 200, response.content
        x_api.allow_dm(sender)
        return Post.objects.get(platform="x", external_id=event["id"]).case

    return make


@pytest.fixture
def worker(clock, django_capture_on_commit_callbacks):
    """Run the scheduled sends as qcluster does, each when due, moving the clock to it;
    ``before_each`` runs first (another client using the account). Returns the runs."""

    def run(before_each=None) -> int:
        runs = 0
        scheduled = Schedule.objects.filter(func="socialcare.tasks.send_post").exclude(repeats=0)
        while due := scheduled.order_by("next_run", "pk").first():
            if due.next_run > timezone.now():
                clock.move_to(due.next_run)
            Schedule.objects.filter(pk=due.pk).update(repeats=0)
            if before_each:
                before_each()
            with django_capture_on_commit_callbacks(execute=True):
                deliver_post(ast.literal_eval(due.args)[0])
            runs += 1
            assert runs < 500, "the queue does not drain"
        return runs

    return run


def queue_dm(case: Case, text: str, agent, capture) -> Post:
    """An agent's DM, queued; the worker picks it up at once (the sync queue of the tests)."""
    with capture(execute=True):
        post = send_reply(case, text, actor=agent, visibility="private")
    post.refresh_from_db()
    return post


def notes_on(case: Case, words: str) -> list[str]:
    return [e.data["text"] for e in case.events.filter(kind="note") if words in e.data["text"]]


def most_in_any_window(times: list[float], seconds: float) -> int:
    return max(sum(1 for t in times if start <= t < start + seconds) for start in times)


def test_forty_queued_x_dms_are_all_sent_paced_and_none_fails(
    dm_case, x_api, agent, worker, django_capture_on_commit_callbacks
):
    cases = [dm_case(n) for n in range(40)]
    with django_capture_on_commit_callbacks(execute=True):
        posts = [
            send_reply(case, f"Hello {n}, we are on it.", actor=agent, visibility="private")
            for n, case in enumerate(cases)
        ]

    first = Post.objects.filter(pk__in=[p.pk for p in posts]).order_by("pk")
    assert [p.send_status for p in first] == ["sent"] * 15 + ["queued"] * 25
    waiting = first[15]
    assert waiting.send_error == (f"{WAITING} (15 per 15 minutes per account): sending at 09:15.")
    assert waiting.send_attempts == 0 and x_api.dm_refused == 0

    worker()

    sent = Post.objects.filter(pk__in=[p.pk for p in posts])
    assert sorted(set(sent.values_list("send_status", flat=True))) == ["sent"]
    assert set(sent.values_list("send_attempts", flat=True)) == {1}
    assert set(sent.values_list("send_error", flat=True)) == {""}
    assert len(x_api.dm_times) == 40 and x_api.dm_refused == 0
    assert sorted(dm["to"] for dm in x_api.created) == sorted(c.identity.external_id for c in cases)
    assert most_in_any_window(x_api.dm_times, 15 * 60) == 15
    # Paced, not stalled: 15 now, 15 when the first leave the window, 10 a window later.
    assert max(x_api.dm_times) - START.timestamp() < 31 * 60
    notes = [len(notes_on(case, WAITING)) for case in cases]
    assert notes == [0] * 15 + [1] * 25


def test_a_waiting_dm_says_so_on_the_case_page_and_in_the_api(
    dm_case, agent, admin_client, client_for, django_capture_on_commit_callbacks
):
    case = dm_case(0)
    posts = [
        queue_dm(case, f"Reply {n}", agent, django_capture_on_commit_callbacks) for n in range(16)
    ]
    waiting = posts[-1]
    line = f"{WAITING} (15 per 15 minutes per account): sending at 09:15."
    assert [p.send_status for p in posts] == ["sent"] * 15 + ["queued"]
    page = admin_client.get(f"/admin/socialcare/case/{case.pk}/change/").content.decode()
    assert f'<p class="sc-meta" role="status">{line}</p>' in page.replace("&#x27;", "'")
    assert "Not sent" not in page
    api = client_for(grant(agent, "view_case", "view_post"))
    answer = api.get(f"{API}/posts/{waiting.pk}/").json()
    assert (answer["send_status"], answer["send_error"]) == ("queued", line)


def test_a_429_from_another_client_requeues_at_the_reset_without_counting_an_attempt(
    dm_case, x_api, agent, worker, django_capture_on_commit_callbacks
):
    first, second = dm_case(1), dm_case(2)
    x_api.other_client_sent(15)  # another app used this window on the same account
    post = queue_dm(first, "Sorry about that!", agent, django_capture_on_commit_callbacks)

    assert post.send_status == "queued" and post.send_attempts == 0
    assert post.send_error == (f"{WAITING} (X answered 429 Too Many Requests): sending at 09:15.")
    run = Schedule.objects.get(args=repr((post.pk,)), repeats=1).next_run
    assert run == START + dt.timedelta(minutes=15, seconds=1)  # x-rate-limit-reset, + 1 s
    # The account's other DMs wait for the same reset without asking X again.
    other = queue_dm(second, "On it.", agent, django_capture_on_commit_callbacks)
    assert other.send_status == "queued" and x_api.dm_refused == 1
    assert "429" in other.send_error

    worker()
    for sent in (post, other):
        sent.refresh_from_db()
        assert (sent.send_status, sent.send_attempts, sent.send_error) == ("sent", 1, "")
    assert x_api.dm_refused == 1 and len(x_api.dm_times) == 2
    assert len(notes_on(first, "429")) == 1


def test_429s_past_the_attempt_limit_never_fail_a_dm(
    dm_case, x_api, agent, worker, django_capture_on_commit_callbacks
):
    case = dm_case(3)
    x_api.other_client_sent(15)
    post = queue_dm(case, "Hi!", agent, django_capture_on_commit_callbacks)
    busy = iter(range(6))  # the other client takes the next six windows too (attempt limit: 5)

    worker(before_each=lambda: next(busy, None) is not None and x_api.other_client_sent(15))

    post.refresh_from_db()
    assert (post.send_status, post.send_attempts) == ("sent", 1)
    assert x_api.dm_refused == 7 and len(x_api.dm_times) == 1
    assert notes_on(case, "could not be sent") == []


def test_a_dm_waits_for_the_oldest_of_the_days_1440_to_leave_the_24_hours(
    dm_case, dm_channel, x_api, agent, worker, django_capture_on_commit_callbacks
):
    case = dm_case(4)
    oldest = START - dt.timedelta(hours=23, minutes=30)
    Post.objects.bulk_create(  # the day's 1,440, none in the last 15 minutes
        Post(
            platform="x",
            channel=dm_channel,
            direction="outbound",
            kind="direct_message",
            visibility="private",
            text="earlier",
            send_status="sent",
            send_attempts=1,
            posted_at=oldest + dt.timedelta(seconds=57 * n),
            external_id=f"earlier-{n}",
        )
        for n in range(1_440)
    )
    post = queue_dm(case, "Thanks for waiting", agent, django_capture_on_commit_callbacks)
    assert post.send_status == "queued" and x_api.dm_times == []
    assert post.send_error == f"{WAITING} (1,440 per 24 hours per account): sending at 09:30."

    worker()
    post.refresh_from_db()
    assert post.send_status == "sent"
    assert x_api.dm_times == [(oldest + dt.timedelta(hours=24, seconds=1)).timestamp()]


def test_accounts_on_one_x_app_share_its_1440_a_day(
    dm_case, channels, dm_channel, x_api, agent, django_capture_on_commit_callbacks
):
    app = PlatformApp.objects.create(name="Acme on X", platform="x", key="acme-x")
    other = channels[("x", BRAND_TWEETS)]
    for channel in (dm_channel, other):
        channel.app = app
        channel.save()
    Post.objects.bulk_create(
        Post(
            platform="x",
            channel=other,
            direction="outbound",
            kind="direct_message",
            visibility="private",
            text="earlier",
            send_status="sent",
            send_attempts=1,
            posted_at=START - dt.timedelta(hours=20) + dt.timedelta(seconds=30 * n),
            external_id=f"app-{n}",
        )
        for n in range(1_440)
    )
    case = dm_case(5)
    held = queue_dm(case, "Hello", agent, django_capture_on_commit_callbacks)
    assert held.send_status == "queued"
    assert "(1,440 per 24 hours per app)" in held.send_error

    other.app = None  # an account on an app of its own has its own day
    other.save()
    Schedule.objects.all().delete()
    Post.objects.filter(pk=held.pk).update(send_error="")
    with django_capture_on_commit_callbacks(execute=True):
        deliver_post(held.pk)
    held.refresh_from_db()
    assert held.send_status == "sent" and len(x_api.dm_times) == 1


def test_public_x_replies_and_other_platforms_are_not_paced(
    channels, platform_server, messenger_case, agent, clock, django_capture_on_commit_callbacks
):
    tweets = XApiFake(platform_server, brand_id=BRAND_TWEETS)
    tweets.knows_payload(json.loads(tweet_payload(mention=True))["tweet_create_events"][0])
    body = tweet_payload(mention=True)
    channel = channels[("x", BRAND_TWEETS)]
    from socialcare.services.deliveries import accept_delivery
    from socialcare.services.ingest import process_delivery

    process_delivery(accept_delivery(channel, body, {}, queue=False).pk)
    x_case = Case.objects.get(posts__external_id="1332557345071644672")
    messenger = messenger_case(2)
    with django_capture_on_commit_callbacks(execute=True):
        public = [send_reply(x_case, f"Public {n}", actor=agent) for n in range(20)]
        private = [
            send_reply(messenger, f"DM {n}", actor=agent, visibility="private") for n in range(20)
        ]
    statuses = Post.objects.filter(pk__in=[p.pk for p in public + private])
    assert set(statuses.values_list("send_status", flat=True)) == {"sent"}
    assert len(tweets.created) == 20 and not Schedule.objects.exists()


def test_the_fake_refuses_the_16th_dm_in_15_minutes_as_x_does(dm_channel, platform_server):
    now = [time.time()]
    api = XApiFake(platform_server, brand_id=BRAND_DM, clock=lambda: now[0])
    api.allow_dm("272953809")
    url = f"{platform_server.url}/2/dm_conversations/with/272953809/messages"
    auth = {"Authorization": "Bearer test-token"}
    with httpx.Client(timeout=5) as client:
        answers = [client.post(url, json={"text": "hi"}, headers=auth) for _ in range(16)]
        assert [a.status_code for a in answers] == [201] * 15 + [429]
        assert answers[0].headers["x-rate-limit-remaining"] == "14"
        refused = answers[-1]
        assert refused.json() == {"errors": [{"code": 88, "message": "Rate limit exceeded"}]}
        assert refused.headers["x-rate-limit-limit"] == "15"
        assert refused.headers["x-rate-limit-remaining"] == "0"
        assert refused.headers["x-rate-limit-reset"] == str(int(now[0] + 900))
        assert refused.headers["x-user-limit-24hour-remaining"] == "1425"
        with pytest.raises(RateLimited) as limited:
            XAdapter().send(
                channel_config(dm_channel),
                OutboundMessage(text="hi", visibility="private", recipient="272953809"),
                client,
            )
        assert 895 < limited.value.retry_after <= 900
        now[0] += 900
        assert client.post(url, json={"text": "hi"}, headers=auth).status_code == 201


def test_the_fake_caps_an_app_at_1440_dms_a_day_across_its_accounts(dm_channel, platform_server):
    now = [time.time()]
    api = XApiFake(platform_server, brand_id=BRAND_DM, clock=lambda: now[0])
    api.allow_dm("272953809")
    start = now[0]
    for _ in range(48):  # two accounts, each at its 15 per 15 minutes: the app's day is full
        api.other_client_sent(15, token="test-token")
        api.other_client_sent(15, token="second-account")
        now[0] += 900
    with httpx.Client(timeout=5) as client, pytest.raises(RateLimited) as limited:
        XAdapter().send(
            channel_config(dm_channel),
            OutboundMessage(text="hi", visibility="private", recipient="272953809"),
            client,
        )
    wait = start + 86_400 - time.time()
    assert wait - 5 < limited.value.retry_after <= wait  # the app's 24-hour reset, not 15 min
    assert "x-app-limit-24hour" in str(limited.value)


def test_a_usage_cap_429_is_a_refusal_not_a_wait(dm_channel, platform_server):
    platform_server.route(
        "POST",
        "/2/dm_conversations/with/272953809/messages",
        429,
        {
            "title": "UsageCapExceeded",
            "detail": "Usage cap exceeded: Monthly product cap",
            "type": "https://api.x.com/2/problems/usage-capped",
        },
    )
    with httpx.Client(timeout=5) as client, pytest.raises(SendError, match="usage cap"):
        XAdapter().send(
            channel_config(dm_channel),
            OutboundMessage(text="hi", visibility="private", recipient="272953809"),
            client,
        )


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_never_send_more_than_the_window(platform_server, team, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent workers need PostgreSQL (SQLite runs one writer at a time)")
    counted = send_pacing._next_slot

    def slow(*args, **kwargs):  # widen the gap between counting and claiming: a race shows
        found = counted(*args, **kwargs)
        time.sleep(0.03)
        return found

    monkeypatch.setattr(send_pacing, "_next_slot", slow)
    channel = make_channels()[("x", BRAND_DM)]
    channel.base_url = platform_server.url
    channel.save()
    api = XApiFake(platform_server, brand_id=BRAND_DM)
    api.allow_dm("272953809")
    from socialcare.services.deliveries import accept_delivery
    from socialcare.services.ingest import process_delivery

    delivery = accept_delivery(channel, fixture_bytes("x/direct_message.json"), {}, queue=False)
    process_delivery(delivery.pk)
    case = Case.objects.get(posts__external_id="958501034212564996")
    ids = [
        Post.objects.create(
            platform="x",
            channel=channel,
            case=case,
            direction="outbound",
            kind="direct_message",
            visibility="private",
            text=f"DM {n}",
            send_status="queued",
        ).pk
        for n in range(30)
    ]
    errors: list[Exception] = []

    def run(order: list[int]) -> None:
        try:
            for pk in order:
                deliver_post(pk)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(o,)) for o in (ids, ids[::-1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    statuses = list(Post.objects.filter(pk__in=ids).values_list("send_status", flat=True))
    assert statuses.count("sent") == 15 and statuses.count("queued") == 15
    assert len(api.dm_times) == 15 and api.dm_refused == 0
