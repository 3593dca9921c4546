"""One webhook per app in the admin (issue #17): a channel names the app that delivers its
account's events (only an app of its platform), the channel and delivery lists show and filter
by app, and deliveries that waited for an account reach its channel — when the channel is added
or made active, or with "Route to their channels now" — and are ingested into its case."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from socialcare.models import Channel, PlatformApp, Post, WebhookDelivery
from socialcare.services import account_routing
from tests.test_app_webhooks import BRAND_A, PAGE_3, Status, body, channel, deliver
from tests.test_app_webhooks import meta_app as meta_app
from tests.test_app_webhooks import no_cached_apps as no_cached_apps
from tests.test_app_webhooks import x_app as x_app

pytestmark = pytest.mark.django_db

UNKNOWN = "4444444444444444444"  # the account of x_aaa_unknown_account.json
ADD = "admin:socialcare_channel_add"
CHANNELS = "admin:socialcare_channel_changelist"
DELIVERIES = "admin:socialcare_webhookdelivery_changelist"


def form(**fields: Any) -> dict[str, Any]:
    """What the channel form posts (an unticked checkbox is absent)."""
    data = {
        "name": "Acme Travel on X",
        "platform": "x",
        "account_id": UNKNOWN,
        "app": "",
        "handle": "acmetravel",
        "base_url": "",
        "is_active": "on",
        "can_reply_public": "on",
        "can_message_private": "on",
        "default_team": "",
        "sla_policy": "",
        "polling_enabled": "on",
    }
    return {**data, **fields}


def change_form(existing: Channel, **fields: Any) -> dict[str, Any]:
    stored = {
        "name": existing.name,
        "platform": existing.platform,
        "account_id": existing.account_id,
        "handle": existing.handle,
        "app": existing.app_id or "",
    }
    return form(**{**stored, **fields})


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def errors_of(response: Any) -> dict[str, list[str]]:
    return {name: list(errs) for name, errs in response.context["adminform"].form.errors.items()}


def waiting_delivery(client: Any, app: PlatformApp) -> WebhookDelivery:
    """A mention of account 4444… accepted at the X app's URL: no channel has it, so it waits."""
    delivery = deliver(client, app, "x", body("x_aaa_unknown_account.json"))
    assert delivery.status == Status.UNROUTED
    return delivery


# The app on the channel form -------------------------------------------------------------------
def test_the_form_offers_the_apps_of_the_channels_platform_and_refuses_others(
    admin_client, x_app, meta_app
) -> None:
    x = channel("x", BRAND_A)
    page = admin_client.get(reverse("admin:socialcare_channel_change", args=[x.pk]))
    html = page.content.decode()
    assert 'name="app"' in html
    assert "whose one webhook URL delivers this account's events" in html  # its help text
    choices = [str(app) for app in page.context["adminform"].form.fields["app"].queryset]
    assert choices == [str(x_app)]  # X channel: X apps only

    url = reverse("admin:socialcare_channel_change", args=[x.pk])
    refused = admin_client.post(url, change_form(x, app=meta_app.pk))
    assert refused.status_code == 200
    assert "app" in errors_of(refused)  # not an app of this channel's platform
    saved = admin_client.post(url, change_form(x, app=x_app.pk))
    assert saved.status_code == 302, errors_of(saved)
    x.refresh_from_db()
    assert x.app == x_app

    # The add form offers every app; the pair is checked when saved.
    mixed = admin_client.post(reverse(ADD), form(platform="facebook", app=x_app.pk))
    [message] = errors_of(mixed)["app"]
    assert message.startswith(f"“{x_app.name}” is an app of X")
    assert "cannot deliver the events of Facebook accounts" in message
    mastodon = admin_client.post(
        reverse(ADD),
        form(platform="mastodon", account_id="1", base_url="https://m.example", app=x_app.pk),
    )
    assert errors_of(mastodon)["app"] == ["Mastodon channels have no platform app: leave it empty."]
    assert not Channel.objects.filter(platform__in=["facebook", "mastodon"]).exists()

    # A Mastodon channel has no app field at all.
    toot = Channel.objects.create(name="Toots", platform="mastodon", account_id="9")
    toot_page = admin_client.get(reverse("admin:socialcare_channel_change", args=[toot.pk]))
    assert 'name="app"' not in toot_page.content.decode()


def test_the_channel_list_shows_and_filters_by_app(admin_client, x_app, meta_app) -> None:
    channel("x", BRAND_A, x_app)
    channel("facebook", PAGE_3, meta_app)
    Channel.objects.create(name="Own URL", platform="x", account_id="77")
    listed = admin_client.get(reverse(CHANNELS)).content.decode()
    assert f'<td class="field-app nowrap">{x_app}</td>' in listed
    assert f'<td class="field-app nowrap">{meta_app}</td>' in listed
    only_meta = admin_client.get(reverse(CHANNELS), {"app__id__exact": meta_app.pk})
    assert [c.account_id for c in only_meta.context["cl"].result_list] == [PAGE_3]


# Waiting deliveries reach the channel once it is there ---------------------------------------
def test_adding_the_channel_in_admin_ingests_what_waited_for_its_account(
    admin_client, client, x_app, django_capture_on_commit_callbacks
) -> None:
    delivery = waiting_delivery(client, x_app)
    assert not Post.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):  # the commit, then the worker
        response = admin_client.post(reverse(ADD), form(app=x_app.pk), follow=True)
    assert response.status_code == 200
    travel = Channel.objects.get(account_id=UNKNOWN)
    assert travel.app == x_app
    assert (
        f"1 delivery(ies) that waited for X (Twitter) account {UNKNOWN} are routed to this "
        "channel and queued for processing." in messages_of(response)
    )
    delivery.refresh_from_db()
    assert (delivery.status, delivery.channel, delivery.last_error) == (
        Status.PROCESSED,
        travel,
        "",
    )
    post = Post.objects.select_related("case").get(external_id="2080772000000000003")
    assert post.channel == travel == post.case.channel
    assert post.text == "@AcmeTravel is my flight on time?"


def test_making_its_channel_active_ingests_what_waited(
    admin_client, client, x_app, django_capture_on_commit_callbacks
) -> None:
    asleep = channel("x", UNKNOWN, x_app, is_active=False)
    delivery = waiting_delivery(client, x_app)
    assert "inactive" in delivery.last_error
    url = reverse("admin:socialcare_channel_change", args=[asleep.pk])

    with django_capture_on_commit_callbacks(execute=True):
        unchanged = admin_client.post(url, change_form(asleep, is_active=""))
    assert unchanged.status_code == 302  # saved, still inactive: nothing routed
    delivery.refresh_from_db()
    assert delivery.status == Status.UNROUTED

    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(url, change_form(asleep)).status_code == 302
    delivery.refresh_from_db()
    assert (delivery.status, delivery.channel) == (Status.PROCESSED, asleep)
    assert Post.objects.get(external_id="2080772000000000003").channel == asleep


# The deliveries list and "Route to their channels now" -----------------------------------------
def test_the_delivery_list_shows_app_and_account_and_filters_the_waiting_ones(
    admin_client, client, x_app, meta_app
) -> None:
    routed = deliver(client, x_app, "x", body("x_aaa_mention_brand_a.json"))  # no channel yet
    channel("x", BRAND_A, x_app)
    waiting = waiting_delivery(client, x_app)
    assert routed.status == Status.UNROUTED
    assert account_routing.route_waiting(app=x_app) == [routed.pk]  # BRAND_A has its channel

    page = admin_client.get(reverse(DELIVERIES))
    html = page.content.decode()
    assert f'<td class="field-account_id">{UNKNOWN}</td>' in html
    assert f'<td class="field-app nowrap">{x_app}</td>' in html
    assert 'href="?app__id__exact=' in html  # the "By platform app" filter
    assert "Waiting for its channel" in html  # the status filter's choice
    only_waiting = admin_client.get(
        reverse(DELIVERIES), {"status__exact": "unrouted", "app__id__exact": x_app.pk}
    )
    assert [d.pk for d in only_waiting.context["cl"].result_list] == [waiting.pk]
    other_app = admin_client.get(reverse(DELIVERIES), {"app__id__exact": meta_app.pk})
    assert list(other_app.context["cl"].result_list) == []
    by_account = admin_client.get(reverse(DELIVERIES), {"q": UNKNOWN})
    assert [d.pk for d in by_account.context["cl"].result_list] == [waiting.pk]


def test_route_now_queues_what_has_a_channel_and_says_why_the_rest_waits(
    admin_client, client, x_app, meta_app, django_capture_on_commit_callbacks
) -> None:
    for_brand = deliver(client, x_app, "x", body("x_aaa_mention_brand_a.json"))
    for_unknown = waiting_delivery(client, x_app)
    for_inactive = deliver(client, x_app, "x", body("x_aaa_dm_brand_b.json"))
    done = deliver(client, x_app, "x", b'{"neither": 1}')  # failed: not waiting
    # Channels made without the admin or the API: nothing routed them yet.
    brand = Channel.objects.create(name="Brand A", platform="x", account_id=BRAND_A, app=x_app)
    Channel.objects.create(
        name="Brand B", platform="x", account_id="3333333333333333333", is_active=False
    )
    chosen = [for_brand.pk, for_unknown.pk, for_inactive.pk, done.pk]

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse(DELIVERIES),
            {"action": "route_selected", "_selected_action": chosen},
            follow=True,
        )
    assert messages_of(response) == [
        "1 delivery(ies) routed to their channels and queued for processing.",
        f"2 still wait: 1 for x account {UNKNOWN}, which no channel has (add a channel with "
        "that account id); 1 for the inactive channel “Brand B” (make it active).",
        "1 selected were not waiting for a channel: left alone.",
    ]
    for_brand.refresh_from_db()
    assert (for_brand.status, for_brand.channel) == (Status.PROCESSED, brand)
    assert Post.objects.get(external_id="2080770000000000001").channel == brand
    assert (
        WebhookDelivery.objects.filter(
            pk__in=[for_unknown.pk, for_inactive.pk], status=Status.UNROUTED
        ).count()
        == 2
    )

    nothing = admin_client.post(
        reverse(DELIVERIES),
        {"action": "route_selected", "_selected_action": [done.pk]},
        follow=True,
    )
    assert messages_of(nothing) == ["1 selected were not waiting for a channel: left alone."]


def test_route_now_needs_the_permission_to_change_deliveries(client, x_app, make_user) -> None:
    viewer = make_user("vera", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_webhookdelivery"),
        Permission.objects.get(codename="view_all_cases"),
    )
    waiting = waiting_delivery(client, x_app)
    Channel.objects.create(name="Travel", platform="x", account_id=UNKNOWN)
    client.force_login(viewer)
    page = client.get(reverse(DELIVERIES))
    assert page.status_code == 200 and "route_selected" not in page.content.decode()
    client.post(reverse(DELIVERIES), {"action": "route_selected", "_selected_action": [waiting.pk]})
    waiting.refresh_from_db()
    assert waiting.status == Status.UNROUTED
