"""One webhook per app (issue #17): an X or Meta app's one URL serves all its brand accounts.

Every delivery goes through the real endpoint and ``process_delivery``: the app's signature and
challenge, durable storage first, then routing by the account each event names (X
``for_user_id`` and the X Activity API's ``filter.user_id``, Meta ``entry[].id``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from drf_spectacular.drainage import GENERATOR_STATS

from socialcare.api.channels import ChannelSerializer
from socialcare.demo import load_demo_data
from socialcare.demo.platform_apps import OUTLET_PAGE
from socialcare.models import SECRET_NAMES, Case, Channel, PlatformApp, Post, WebhookDelivery
from socialcare.services import account_routing
from socialcare.services.apikeys import create_api_key
from socialcare.services.ingest import process_delivery
from tests.ingest_helpers import (
    META_SECRET,
    META_VERIFY,
    X_SECRET,
    fixture_bytes,
    make_channels,
    meta_signature,
    x_signature,
)

pytestmark = pytest.mark.django_db

HERE = Path(__file__).parent / "fixtures_app"
X_HEADER = "HTTP_X_TWITTER_WEBHOOKS_SIGNATURE"
META_HEADER = "HTTP_X_HUB_SIGNATURE_256"
BRAND_A, BRAND_B = "1111111111111111111", "3333333333333333333"
PAGE_1, PAGE_2, PAGE_3 = "103149398319188", "204250409420299", "305351510521300"
Status = WebhookDelivery.Status


def body(name: str) -> bytes:
    return (HERE / name).read_bytes()


@pytest.fixture(autouse=True)
def no_cached_apps() -> Any:
    account_routing.clear_cache()
    yield
    account_routing.clear_cache()


@pytest.fixture
def x_app() -> PlatformApp:
    app = PlatformApp(name="Acme on X", platform="x", key="acme-x")
    app.set_secret("webhook_secret", X_SECRET)
    app.save()
    return app


@pytest.fixture
def meta_app() -> PlatformApp:
    app = PlatformApp(name="Acme on Meta", platform="meta", key="acme-meta")
    app.set_secret("webhook_secret", META_SECRET)
    app.set_secret("verify_token", META_VERIFY)
    app.save()
    return app


def channel(platform: str, account: str, app: PlatformApp | None = None, **kw: Any) -> Channel:
    """A channel with no webhook secret of its own: only its app's URL can feed it."""
    made = Channel(name=f"{platform} {account}", platform=platform, account_id=account, **kw)
    made.app = app
    made.set_secret("access_token", "test-token")
    made.save()
    return made


@pytest.fixture
def x_brands(x_app: PlatformApp) -> dict[str, Channel]:
    return {a: channel("x", a, x_app) for a in (BRAND_A, BRAND_B)}


@pytest.fixture
def pages(meta_app: PlatformApp) -> dict[str, Channel]:
    return {p: channel("facebook", p, meta_app) for p in (PAGE_1, PAGE_2)}


def app_url(app: PlatformApp, platform: str) -> str:
    return reverse("socialcare:app-webhook", args=[platform, app.key])


def send(client: Any, app: PlatformApp, platform: str, raw: bytes, *, secret: str = "") -> Any:
    """POST ``raw`` to the app's URL, signed as the platform signs it."""
    if platform == "x":
        header, signature = X_HEADER, x_signature(raw, secret or X_SECRET)
    else:
        header, signature = META_HEADER, meta_signature(raw, secret or META_SECRET)
    return client.generic(
        "POST",
        app_url(app, platform),
        raw,
        content_type="application/json",
        **{header: signature},
    )


def deliver(client: Any, app: PlatformApp, platform: str, raw: bytes) -> WebhookDelivery:
    """Accept through the endpoint, then run what the worker runs: ``process_delivery`` on the
    stored delivery and on each part it was split into."""
    response = send(client, app, platform, raw)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "accepted"
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    assert delivery.channel_id is None and delivery.app_id == app.pk  # stored before routing
    assert bytes(delivery.body) == raw
    process_delivery(delivery.pk)
    for part in WebhookDelivery.objects.filter(routed_from=delivery, status=Status.PENDING):
        process_delivery(part.pk)
    delivery.refresh_from_db()
    return delivery


def post_of(external_id: str) -> Post:
    return Post.objects.select_related("channel", "case", "author").get(external_id=external_id)


# Two accounts, one URL ---------------------------------------------------------------------------
def test_two_x_accounts_on_one_app_url_each_get_their_own_cases(client, x_app, x_brands) -> None:
    mention = deliver(client, x_app, "x", body("x_aaa_mention_brand_a.json"))
    dm = deliver(client, x_app, "x", body("x_aaa_dm_brand_b.json"))

    # One account per Account Activity delivery: it becomes that channel's delivery in place.
    assert (mention.status, mention.channel, mention.account_id) == (
        Status.PROCESSED,
        x_brands[BRAND_A],
        BRAND_A,
    )
    assert (dm.status, dm.channel) == (Status.PROCESSED, x_brands[BRAND_B])
    assert mention.posts_count == dm.posts_count == 1
    assert not WebhookDelivery.objects.filter(routed_from__isnull=False).exists()

    tweet = post_of("2080770000000000001")
    assert tweet.channel == x_brands[BRAND_A] == tweet.case.channel
    assert tweet.author.handle == "danareyes"
    message = post_of("2080771000000000002")
    assert message.channel == x_brands[BRAND_B] == message.case.channel
    assert message.text == "Hi Acme Shop, my refund & invoice are missing"
    assert message.visibility == "private"
    assert Case.objects.count() == 2


def test_x_activity_api_events_are_routed_by_their_filtered_user(client, x_app, x_brands) -> None:
    names = [
        "x_xaa_mention_brand_a.json",
        "x_xaa_reply_brand_b.json",
        "x_xaa_dm_brand_b.json",
        "x_xaa_follow_brand_a.json",
    ]
    delivered = {name: deliver(client, x_app, "x", body(name)) for name in names}

    post = post_of("2080773000000000004")
    assert post.channel == x_brands[BRAND_A] == post.case.channel
    assert post.text == "@AcmeHelp the app logs me out every five minutes"
    assert (post.author.handle, post.author.followers_count) == ("kimlau", 1290)
    answer = post_of("2090000000000000101")
    assert answer.channel == x_brands[BRAND_B]
    assert answer.in_reply_to_external_id == "2080760000000000100"
    assert answer.author.external_id == "8888888888888888888"
    message = post_of("2080775000000000005")
    assert message.channel == x_brands[BRAND_B]
    assert (message.visibility, message.author.handle) == ("private", "robinm")

    for name, delivery in delivered.items():
        assert delivery.status == Status.PROCESSED, delivery.last_error
        (part,) = delivery.routed.all()
        assert part.status == Status.PROCESSED, part.last_error
        # The events as X sent them stay with the part the app delivery was written into.
        assert json.loads(bytes(part.body))["x_activity"] == [json.loads(body(name))["data"]]
    follow = delivered["x_xaa_follow_brand_a.json"].routed.get()
    assert (follow.channel, follow.posts_count) == (x_brands[BRAND_A], 0)  # kept, not a post


def test_two_facebook_pages_in_one_delivery_are_split_per_page(client, meta_app, pages) -> None:
    delivery = deliver(client, meta_app, "facebook", body("meta_two_pages.json"))

    assert delivery.status == Status.PROCESSED and delivery.channel_id is None
    assert bytes(delivery.body) == b""  # every entry lives on in its page's part
    parts = {p.account_id: p for p in delivery.routed.all()}
    assert set(parts) == {PAGE_1, PAGE_2}
    for page, part in parts.items():
        assert part.channel == pages[page]
        assert part.status == Status.PROCESSED and part.posts_count == 1
        assert [e["id"] for e in json.loads(bytes(part.body))["entry"]] == [page]

    comment = post_of("407298303721999_408074750310001")
    assert comment.channel == pages[PAGE_1] == comment.case.channel
    message = post_of(
        "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"
    )
    assert message.channel == pages[PAGE_2] == message.case.channel
    assert comment.case != message.case


def test_one_page_delivery_needs_no_copy(client, meta_app, pages) -> None:
    raw = fixture_bytes("meta/page_feed_comment.json")
    delivery = deliver(client, meta_app, "facebook", raw)
    assert (delivery.channel, delivery.status) == (pages[PAGE_1], Status.PROCESSED)
    assert bytes(delivery.body) == raw and delivery.posts_count == 1


# Signatures and challenges -----------------------------------------------------------------------
def test_bad_signature_is_a_json_403_and_nothing_is_stored(client, x_app, meta_app) -> None:
    raw = body("x_aaa_mention_brand_a.json")
    for response in (
        send(client, x_app, "x", raw, secret="not the consumer secret"),
        client.generic(  # signed, then tampered with
            "POST",
            app_url(x_app, "x"),
            raw + b" ",
            content_type="application/json",
            **{X_HEADER: x_signature(raw)},
        ),
        client.generic("POST", app_url(x_app, "x"), raw, content_type="application/json"),
        send(client, meta_app, "facebook", body("meta_two_pages.json"), secret="wrong"),
    ):
        assert response.status_code == 403
        assert response.json()["code"] == "bad_signature"
    assert not WebhookDelivery.objects.exists()


def test_x_crc_challenge_is_answered_with_the_app_consumer_secret(client, x_app) -> None:
    response = client.get(app_url(x_app, "x"), {"crc_token": "test token"})
    assert response.status_code == 200
    # The documented vector for consumer secret ``apiSecret`` (/work/shared/fixtures/README.md).
    assert response.json() == {
        "response_token": "sha256=O5hJl2njQRIa4vsumZ+3oom9ECR5m3aQLRZkPoYelp0="
    }


def test_meta_hub_challenge_is_answered_with_the_app_verify_token(client, meta_app) -> None:
    for platform in ("facebook", "instagram"):  # one subscription per object type
        ok = client.get(
            app_url(meta_app, platform),
            {"hub.mode": "subscribe", "hub.verify_token": META_VERIFY, "hub.challenge": "1158"},
        )
        assert (ok.status_code, ok.content) == (200, b"1158")
    wrong = client.get(
        app_url(meta_app, "facebook"),
        {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
    )
    assert wrong.status_code == 403 and wrong.json()["code"] == "challenge_refused"


def test_a_rotated_app_secret_works_at_once(client, x_app, x_brands) -> None:
    assert client.get(app_url(x_app, "x"), {"crc_token": "t"}).status_code == 200  # cached
    PlatformApp.objects.filter(pk=x_app.pk).update(
        secrets={"webhook_secret": "rotated"}  # an update() sends no signal: still cached
    )
    response = send(client, x_app, "x", body("x_aaa_mention_brand_a.json"), secret="rotated")
    assert response.status_code == 200


def test_unknown_inactive_or_other_platform_app_is_a_404(client, x_app, meta_app) -> None:
    raw = body("x_aaa_mention_brand_a.json")
    assert send(client, x_app, "facebook", raw).status_code == 404  # an X app on a Meta URL
    missing = client.get("/socialcare/webhooks/x/app/no-such-app/", {"crc_token": "t"})
    assert (missing.status_code, missing.json()["code"]) == (404, "unknown_app")
    x_app.is_active = False
    x_app.save()
    assert send(client, x_app, "x", raw).status_code == 404
    assert client.get("/socialcare/webhooks/mastodon/app/acme-x/").status_code == 404


def test_an_unreadable_delivery_is_kept_failed_and_one_for_no_account_processed(
    client, x_app
) -> None:
    for raw in (b'{"neither": 1}', b"{not json"):
        delivery = deliver(client, x_app, "x", raw)
        assert delivery.status == Status.FAILED and delivery.last_error
        assert bytes(delivery.body) == raw  # retryable from admin
    news = json.dumps(
        {"data": {"event_uuid": "1", "filter": {"keyword": "acme"}, "event_type": "news.new"}}
    ).encode()
    delivery = deliver(client, x_app, "x", news)
    assert (delivery.status, bytes(delivery.body)) == (Status.PROCESSED, news)
    assert not delivery.routed.exists()


# Accounts no channel has -------------------------------------------------------------------------
def test_an_unknown_account_is_kept_reported_and_replayed_once_its_channel_exists(
    client, x_app, x_brands, caplog
) -> None:
    with caplog.at_level(logging.WARNING, logger="socialcare.routing"):
        delivery = deliver(client, x_app, "x", body("x_aaa_unknown_account.json"))

    assert delivery.status == Status.UNROUTED and delivery.channel_id is None
    assert delivery.account_id == "4444444444444444444"
    assert "No channel has x account 4444444444444444444" in delivery.last_error
    assert "4444444444444444444" in caplog.text
    assert bytes(delivery.body) == body("x_aaa_unknown_account.json")  # never lost
    assert not Post.objects.exists()
    assert list(WebhookDelivery.objects.unrouted()) == [delivery]
    assert account_routing.route_waiting(app=x_app) == []  # still no channel

    travel = channel("x", "4444444444444444444", x_app)
    assert account_routing.route_waiting(app=x_app) == [delivery.pk]
    process_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.channel) == (Status.PROCESSED, travel)
    assert post_of("2080772000000000003").channel == travel


def test_a_split_part_for_an_unknown_page_waits_and_the_next_delivery_releases_it(
    client, meta_app, pages
) -> None:
    delivery = deliver(client, meta_app, "facebook", body("meta_known_and_unknown_page.json"))
    known, unknown = (delivery.routed.get(account_id=p) for p in (PAGE_1, PAGE_3))
    assert known.status == Status.PROCESSED and known.channel == pages[PAGE_1]
    assert unknown.status == Status.UNROUTED and unknown.channel_id is None
    assert "305351510521300" in unknown.last_error
    assert [e["id"] for e in json.loads(bytes(unknown.body))["entry"]] == [PAGE_3]

    page_3 = channel("facebook", PAGE_3, meta_app)
    # The next delivery routed to that page's channel takes the waiting one along.
    raw = fixture_bytes("meta/page_feed_comment.json").replace(PAGE_1.encode(), PAGE_3.encode())
    released = deliver(client, meta_app, "facebook", raw)
    unknown.refresh_from_db()
    # Queued behind it on the same channel, it was ingested in the same batch.
    assert (unknown.status, unknown.channel) == (Status.PROCESSED, page_3)
    assert released.channel == page_3
    assert post_of("507298303723333_508074750310333").channel == page_3


def test_an_inactive_channel_keeps_its_events_waiting(client, x_app, x_brands) -> None:
    Channel.objects.filter(pk=x_brands[BRAND_A].pk).update(is_active=False)
    delivery = deliver(client, x_app, "x", body("x_aaa_mention_brand_a.json"))
    assert delivery.status == Status.UNROUTED and "inactive" in delivery.last_error
    Channel.objects.filter(pk=x_brands[BRAND_A].pk).update(is_active=True)
    assert account_routing.route_waiting() == [delivery.pk]


# Redeliveries and per-channel URLs ---------------------------------------------------------------
def test_a_redelivery_is_ingested_once(client, x_app, x_brands, meta_app, pages) -> None:
    first = deliver(client, x_app, "x", body("x_aaa_mention_brand_a.json"))
    again = deliver(client, x_app, "x", body("x_aaa_mention_brand_a.json"))
    assert again.status == Status.PROCESSED
    assert again.last_error == f"Duplicate of delivery #{first.pk}: not ingested."
    split_first = deliver(client, meta_app, "facebook", body("meta_two_pages.json"))
    split_again = deliver(client, meta_app, "facebook", body("meta_two_pages.json"))
    assert {p.status for p in split_first.routed.all()} == {Status.PROCESSED}
    assert all("Duplicate of delivery" in p.last_error for p in split_again.routed.all())
    assert Post.objects.count() == 3


def test_per_channel_urls_work_unchanged(client, x_app) -> None:
    channels = make_channels()  # channels with their own secrets, as before apps
    x_channel = channels[("x", "1114259648326987776")]
    raw = fixture_bytes("x/tweet_create_reply.json")
    response = client.generic(
        "POST",
        f"/socialcare/webhooks/x/{x_channel.pk}/",
        raw,
        content_type="application/json",
        **{X_HEADER: x_signature(raw)},
    )
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    assert (delivery.channel, delivery.app_id) == (x_channel, None)
    process_delivery(delivery.pk)
    assert post_of("1332557345071644672").channel == x_channel
    # The same delivery through the app's URL afterwards is known: ingested once.
    again = deliver(client, x_app, "x", raw)
    assert again.channel == x_channel and "Duplicate" in again.last_error
    crc = client.get(f"/socialcare/webhooks/x/{x_channel.pk}/", {"crc_token": "test token"})
    assert crc.status_code == 200


# Admin and API -----------------------------------------------------------------------------------
def test_admin_shows_the_url_to_copy_and_routes_waiting_deliveries(
    admin_client, client, x_app, x_brands
) -> None:
    page = admin_client.get(reverse("admin:socialcare_platformapp_change", args=[x_app.pk]))
    assert page.status_code == 200
    assert f"http://testserver/socialcare/webhooks/x/app/{x_app.key}/" in page.content.decode()
    assert X_SECRET not in page.content.decode()  # write-only, shown redacted
    assert admin_client.get(reverse("admin:socialcare_platformapp_changelist")).status_code == 200

    delivery = deliver(client, x_app, "x", body("x_aaa_unknown_account.json"))
    waiting = admin_client.get(
        reverse("admin:socialcare_webhookdelivery_changelist"),
        {"status__exact": "unrouted", "app__id__exact": x_app.pk},
    )
    assert waiting.status_code == 200 and f">{delivery.pk}<" in waiting.content.decode()
    channel("x", "4444444444444444444", x_app)
    done = admin_client.post(
        reverse("admin:socialcare_platformapp_changelist"),
        {"action": "route_waiting_deliveries", "_selected_action": [x_app.pk]},
    )
    assert done.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == Status.PENDING


def test_admin_form_keeps_secrets_write_only_and_links_channels(admin_client, x_brands) -> None:
    added = admin_client.post(
        reverse("admin:socialcare_platformapp_add"),
        {
            "name": "Second X app",
            "platform": "x",
            "key": "second-x",
            "app_id": "",
            "is_active": "on",
            "secret_webhook_secret": "consumer-secret-1234",
            "secret_verify_token": "",
            "channels": [x_brands[BRAND_A].pk],
        },
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    app = PlatformApp.objects.get(key="second-x")
    assert app.get_secret("webhook_secret") == "consumer-secret-1234"
    assert list(app.channels.all()) == [x_brands[BRAND_A]]


def test_api_manages_apps_with_write_only_secrets(admin_user, client, x_app, x_brands) -> None:
    client.force_login(admin_user)
    api = "/socialcare/api/v1/platform-apps/"
    listed = client.get(api)
    assert listed.status_code == 200, listed.content
    (row,) = listed.json()["results"]
    assert row["webhook_urls"] == {"x": f"http://testserver/socialcare/webhooks/x/app/{x_app.key}/"}
    assert row["stored_secrets"] == {"webhook_secret": "••••cret"}
    assert X_SECRET not in listed.content.decode()

    created = client.post(
        api,
        {"name": "Acme on Meta", "platform": "meta", "webhook_secret": "app-secret-5678"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    assert "app-secret-5678" not in created.content.decode()
    assert set(created.json()["webhook_urls"]) == {"facebook", "instagram"}
    made = PlatformApp.objects.get(pk=created.json()["id"])
    assert made.get_secret("webhook_secret") == "app-secret-5678" and made.key

    wrong = client.patch(
        f"{api}{made.pk}/", {"channels": [x_brands[BRAND_A].pk]}, content_type="application/json"
    )
    assert wrong.status_code == 400  # an X account on a Meta app

    deliver(client, x_app, "x", body("x_aaa_unknown_account.json"))
    waiting = client.get(api, {"waiting": "true"}).json()["results"]
    assert [(a["id"], a["waiting_deliveries"]) for a in waiting] == [(x_app.pk, 1)]
    channel("x", "4444444444444444444", x_app)
    routed = client.post(f"{api}{x_app.pk}/route-waiting/")
    assert routed.status_code == 200 and len(routed.json()["queued"]) == 1


def test_api_keys_cannot_reach_app_secrets(admin_user, client, x_app) -> None:
    _, plain = create_api_key(admin_user, "integration")
    refused = client.get("/socialcare/api/v1/platform-apps/", HTTP_AUTHORIZATION=f"Api-Key {plain}")
    assert refused.status_code == 403


# Channels on an app: the API, the schema, the demo ----------------------------------------------
CHANNELS_API = "/socialcare/api/v1/channels/"
UNKNOWN = "4444444444444444444"  # the account of x_aaa_unknown_account.json


def test_api_adds_a_channel_on_an_app_and_ingests_what_waited_for_its_account(
    admin_user, client, x_app, django_capture_on_commit_callbacks
) -> None:
    waiting = deliver(client, x_app, "x", body("x_aaa_unknown_account.json"))
    assert waiting.status == Status.UNROUTED
    client.force_login(admin_user)

    with django_capture_on_commit_callbacks(execute=True):  # the commit, then the worker
        created = client.post(
            CHANNELS_API,
            {
                "name": "Acme Travel on X",
                "platform": "x",
                "account_id": UNKNOWN,
                "handle": "acmetravel",
                "app": x_app.key,  # by its URL key
                "access_token": "travel-user-token-1234",
            },
            content_type="application/json",
        )
    assert created.status_code == 201, created.content
    row = created.json()
    assert row["app"] == x_app.pk
    assert row["stored_secrets"] == {"access_token": "••••1234"}
    assert "travel-user-token-1234" not in created.content.decode()
    travel = Channel.objects.get(pk=row["id"])
    assert travel.get_secret("access_token") == "travel-user-token-1234"

    waiting.refresh_from_db()
    assert (waiting.status, waiting.channel) == (Status.PROCESSED, travel)
    post = post_of("2080772000000000003")
    assert post.channel == travel == post.case.channel
    assert client.get(CHANNELS_API, {"app": x_app.pk}).json()["results"][0]["id"] == travel.pk
    assert [c["id"] for c in client.get(CHANNELS_API, {"has_app": "false"}).json()["results"]] == []
    assert client.get(CHANNELS_API, {"app": "acme-x"}).status_code == 400  # a filter takes ids


def test_api_applies_the_admins_rule_to_a_channels_app(
    admin_user, client, make_user, x_app, meta_app, x_brands, django_capture_on_commit_callbacks
) -> None:
    client.force_login(admin_user)
    brand = x_brands[BRAND_A]
    url = f"{CHANNELS_API}{brand.pk}/"

    def patch(data: dict[str, Any]) -> Any:
        return client.patch(url, data, content_type="application/json")

    wrong = patch({"app": meta_app.pk})
    assert wrong.status_code == 400
    [message] = wrong.json()["errors"]["app"]
    assert (
        "is an app of Meta" in message
        and "cannot deliver the events of X (Twitter) accounts" in message
    )
    unknown = patch({"app": "no-such-app"})
    assert unknown.json()["errors"]["app"] == ["No platform app has the id or key 'no-such-app'."]
    assert patch({"app": True}).status_code == 400
    assert patch({"app": None}).json()["app"] is None
    assert patch({"app": x_app.pk}).json()["app"] == x_app.pk
    brand.refresh_from_db()
    assert brand.app == x_app

    twice = client.post(
        CHANNELS_API,
        {"name": "Again", "platform": "x", "account_id": BRAND_A},
        content_type="application/json",
    )
    assert twice.status_code == 400 and twice.json()["code"] == "invalid"  # not a 500
    no_app_here = client.post(
        CHANNELS_API,
        {"name": "Toots", "platform": "mastodon", "account_id": "1", "app": x_app.pk},
        content_type="application/json",
    )
    assert no_app_here.json()["errors"]["app"] == [
        "Mastodon channels have no platform app: leave it empty."
    ]

    # An inactive channel takes what waits for its account once it is made active, not before.
    delivery = deliver(client, x_app, "x", body("x_aaa_unknown_account.json"))
    asleep = channel("x", UNKNOWN, x_app, is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        renamed = client.patch(
            f"{CHANNELS_API}{asleep.pk}/", {"name": "Travel"}, content_type="application/json"
        )
    assert renamed.status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == Status.UNROUTED
    with django_capture_on_commit_callbacks(execute=True):
        client.patch(
            f"{CHANNELS_API}{asleep.pk}/", {"is_active": True}, content_type="application/json"
        )
    delivery.refresh_from_db()
    assert (delivery.status, delivery.channel) == (Status.PROCESSED, asleep)

    # Reading needs view_channel, changing change_channel; API keys never reach channels.
    viewer = make_user("vic")
    viewer.user_permissions.add(Permission.objects.get(codename="view_channel"))
    client.force_login(viewer)
    assert client.get(url).json()["app"] == x_app.pk
    assert patch({"app": None}).status_code == 403
    _, plain = create_api_key(admin_user, "integration")
    assert client.get(CHANNELS_API, HTTP_AUTHORIZATION=f"Api-Key {plain}").status_code == 403


def test_the_schema_documents_the_channel_api_and_its_app_field(admin_user, client) -> None:
    GENERATOR_STATS.reset()
    client.force_login(admin_user)
    schema = client.get("/socialcare/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    operations = [
        (paths[f"/socialcare/api/v1/{p}"], m)
        for p, m in [
            ("channels/", "get"),
            ("channels/", "post"),
            ("channels/{id}/", "get"),
            ("channels/{id}/", "patch"),
            ("channels/{id}/", "put"),
        ]
    ]
    for path, method in operations:
        operation = path[method]
        assert operation["summary"]
        assert {"401", "403", "429"} <= set(operation["responses"])
        success = next(r for c, r in operation["responses"].items() if c.startswith("2"))
        assert success["content"]["application/json"]["examples"]
    assert "delete" not in paths["/socialcare/api/v1/channels/{id}/"]
    components = schema["components"]["schemas"]
    assert components["Channel"]["properties"]["app"]["type"] == ["integer", "null"]  # OAS 3.1
    written = components["ChannelRequest"]["properties"]["app"]
    assert [kind["type"] for kind in written["oneOf"]] == ["integer", "string", "null"]
    assert "access_token" in components["ChannelRequest"]["properties"]
    assert "access_token" not in components["Channel"]["properties"]  # write-only
    ours = [w for w in GENERATOR_STATS._warn_cache if "Channel" in w]
    assert not ours and not GENERATOR_STATS._error_cache


def test_the_channel_api_takes_every_secret_slot() -> None:
    fields = ChannelSerializer().fields
    assert all(fields[name].write_only for name in SECRET_NAMES)


def test_the_demo_keeps_a_page_no_channel_has_waiting_until_its_channel_is_added(
    admin_user, client, django_capture_on_commit_callbacks
) -> None:
    now = dt.datetime(2026, 3, 11, 14, 30, tzinfo=dt.UTC)
    load_demo_data(now=now)
    served = {c.platform: c.app.key for c in Channel.objects.filter(app__isnull=False)}
    assert served == {"x": "demo-x", "facebook": "demo-meta", "instagram": "demo-meta"}
    (waiting,) = WebhookDelivery.objects.unrouted()
    assert (waiting.app.key, waiting.platform, waiting.account_id) == (
        "demo-meta",
        "facebook",
        OUTLET_PAGE,
    )
    assert f"No channel has facebook account {OUTLET_PAGE}" in waiting.last_error
    assert waiting.received_at == now - dt.timedelta(hours=2)

    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        added = client.post(
            CHANNELS_API,
            {
                "name": "Acme Outlet",
                "platform": "facebook",
                "account_id": OUTLET_PAGE,
                "app": "demo-meta",
            },
            content_type="application/json",
        )
    assert added.status_code == 201, added.content
    waiting.refresh_from_db()
    assert waiting.status == Status.PROCESSED and waiting.posts_count == 1
    comment = Post.objects.select_related("case").get(channel_id=added.json()["id"])
    assert comment.text == "Does the outlet store still have the Hub in black?"
    assert comment.case.channel_id == added.json()["id"]
