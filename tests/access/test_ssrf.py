"""SSRF: outbound webhook URLs are https and public, at save time (admin, API) and at send time
after DNS resolution (DNS rebinding), with the production rules (ALLOW_HTTP/PRIVATE off)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from socialcare.models import OutboundDelivery, WebhookSubscription
from socialcare.services import outbound, url_safety
from socialcare.services.apikeys import create_api_key

pytestmark = pytest.mark.django_db
API = "/socialcare/api/v1/webhook-subscriptions/"

HOSTILE_URLS = [
    "http://crm.example.com/hook",  # plain http
    "ftp://crm.example.com/hook",
    "https://127.0.0.1/hook",
    "https://127.1/hook",
    "https://localhost:8443/hook",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://169.254.169.254/latest/meta-data/",  # cloud metadata
    "https://10.0.0.5/hook",
    "https://192.168.1.1/hook",
    "https://172.16.0.1/hook",
    "https://100.64.0.1/hook",  # carrier-grade NAT
    "https://0.0.0.0/hook",
    "https://[fe80::1]/hook",
    "https://metadata.internal.test/hook",  # a name resolving to a private address (patched)
]


@pytest.fixture
def production_rules(socialcare_settings: Any) -> Any:
    with socialcare_settings(
        OUTBOUND_WEBHOOK_ALLOW_HTTP=False, OUTBOUND_WEBHOOK_ALLOW_PRIVATE=False
    ):
        yield


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Names → the address they resolve to now (tests change it to rebind)."""
    table = {"metadata.internal.test": "10.1.2.3", "hooks.example.com": "93.184.216.34"}
    real = socket.getaddrinfo

    def fake(host: str, port: Any, *args: Any, **kwargs: Any) -> list:
        if host in table:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (table[host], port or 443))]
        if host == "localhost":
            return real(host, port, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, "unknown name")

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return table


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_service_refuses_unsafe_urls(
    url: str, production_rules: Any, dns: Any, robustness: Any
) -> None:
    robustness.bad_inputs(1)
    with pytest.raises(url_safety.UnsafeUrl):
        url_safety.validate_subscription_url(url)


def test_public_https_urls_pass(production_rules: Any, dns: Any) -> None:
    url_safety.validate_subscription_url("https://hooks.example.com/x")
    url_safety.validate_subscription_url("https://93.184.216.34:8443/x")


def test_api_refuses_unsafe_urls_with_400(
    make_user: Callable[..., Any], production_rules: Any, dns: Any, robustness: Any
) -> None:
    cache.clear()
    _, plain = create_api_key(make_user("root", is_superuser=True), "ops")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    for url in HOSTILE_URLS:
        response = api.post(API, {"name": "x", "url": url}, format="json")
        assert response.status_code == 400, (url, response.content)
        assert response.json()["code"] == "invalid" and "url" in response.json()["errors"]
    robustness.bad_inputs(len(HOSTILE_URLS))
    assert not WebhookSubscription.objects.exists()
    ok = api.post(API, {"name": "x", "url": "https://hooks.example.com/x"}, format="json")
    assert ok.status_code == 201, ok.content


def test_admin_refuses_unsafe_urls(
    client: Any, make_user: Callable[..., Any], production_rules: Any, dns: Any, robustness: Any
) -> None:
    client.force_login(make_user("root", is_superuser=True))
    for url in HOSTILE_URLS[2:6]:
        response = client.post(
            "/admin/socialcare/webhooksubscription/add/",
            {
                "name": "x",
                "url": url,
                "is_active": "on",
                "outbound_deliveries-TOTAL_FORMS": "0",
                "outbound_deliveries-INITIAL_FORMS": "0",
            },
        )
        page = response.content.decode()
        assert response.status_code == 200 and "errorlist" in page
        assert "public addresses" in page or "Enter a valid URL" in page, url
    robustness.bad_inputs(4)
    assert not WebhookSubscription.objects.exists()


def test_dns_rebinding_is_refused_at_send_time(
    dns: dict[str, str], production_rules: Any, monkeypatch: pytest.MonkeyPatch, robustness: Any
) -> None:
    url_safety.validate_subscription_url("https://hooks.example.com/x")  # public when saved
    subscription = WebhookSubscription.objects.create(
        name="CRM", url="https://hooks.example.com/x", secrets={"secret": "s" * 32}
    )
    outbound.emit("case.created", {"case": {"id": 1}})
    dns["hooks.example.com"] = "127.0.0.1"  # rebound to loopback after the check
    requests: list[Any] = []
    monkeypatch.setattr(
        "httpx.Client.stream", lambda self, *a, **k: requests.append((a, k)) or 1 / 0
    )
    outbound.deliver_subscription(subscription.pk)
    robustness.bad_inputs(1)
    delivery = OutboundDelivery.objects.get()
    assert requests == []  # nothing left the building
    assert delivery.status != "delivered" and "Refused" in delivery.last_error
    assert "127.0.0.1" in delivery.last_error


def test_send_is_pinned_to_the_checked_address(dns: dict[str, str], production_rules: Any) -> None:
    target = url_safety.pinned_target("https://hooks.example.com:8443/x?a=1")
    assert target.url == "https://93.184.216.34:8443/x?a=1"
    assert target.headers == {"Host": "hooks.example.com:8443"}
    assert target.extensions == {"sni_hostname": "hooks.example.com"}
