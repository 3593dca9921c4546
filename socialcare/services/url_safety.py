"""Where outbound webhooks may go: https URLs of public addresses only (SSRF).

A subscription URL is checked when it is saved (admin, API) and again at every send, after
resolving its host: the request then goes to the very address that was checked (the URL's host
kept for ``Host`` and TLS), so a name that resolves to a public address at save time and to
``127.0.0.1`` or the cloud metadata address later (DNS rebinding) is refused.
``OUTBOUND_WEBHOOK_ALLOW_HTTP`` and ``OUTBOUND_WEBHOOK_ALLOW_PRIVATE`` lift the rules for
development and tests.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from socialcare.conf import app_settings


class UnsafeUrl(ValueError):
    """The URL may not receive webhooks; the message says why."""


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(ip: Address) -> bool:
    """False for loopback, private, link-local (cloud metadata 169.254.169.254), CGNAT,
    multicast, reserved and unspecified addresses, IPv4-mapped IPv6 included."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _parts(url: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"Not a valid URL: {exc}.") from None
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if app_settings.OUTBOUND_WEBHOOK_ALLOW_HTTP else ("https",)
    if scheme not in allowed:
        raise UnsafeUrl("Webhook URLs must use https.")
    host = (parts.hostname or "").strip()
    if not host:
        raise UnsafeUrl("The URL has no host.")
    return scheme, host, port or (443 if scheme == "https" else 80)


def _literal(host: str) -> Address | None:
    """The address a host written as an IP means, shorthand forms too (``127.1``, ``0x7f.1``,
    ``2130706433``), as the C resolver reads them."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to (raises ``UnsafeUrl`` when it does not resolve)."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeUrl(f"{host} does not resolve: {exc}.") from None
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def _refuse_private(host: str, addresses: list[Address]) -> None:
    if app_settings.OUTBOUND_WEBHOOK_ALLOW_PRIVATE:
        return
    bad = [str(a) for a in addresses if not is_public(a)]
    if bad or not addresses:
        raise UnsafeUrl(
            f"{host} is a private, loopback or link-local address ({', '.join(bad)}): "
            "webhooks only go to public addresses."
        )


def validate_subscription_url(url: str) -> None:
    """At save time: https (unless allowed), and no private address, whether written as an IP
    or a name that resolves to one. A name that does not resolve now is accepted (it is
    checked again at every send)."""
    _, host, port = _parts(url)
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(
        ".localhost"
    ):
        _refuse_private(host, [ipaddress.ip_address("127.0.0.1")])
    try:
        addresses = resolve(host, port)
    except UnsafeUrl:
        if _literal(host) is not None:
            raise
        return
    _refuse_private(host, addresses)


@dataclass
class Target:
    """Where to send: ``url`` with the checked address in place of the host, the ``Host``
    header and TLS server name of the original."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


def pinned_target(url: str) -> Target:
    """At send time: resolve, check every address, and pin the request to the first one."""
    scheme, host, port = _parts(url)
    if app_settings.OUTBOUND_WEBHOOK_ALLOW_PRIVATE:
        return Target(url)
    addresses = resolve(host, port)
    _refuse_private(host, addresses)
    if _literal(host) is not None:
        return Target(url)
    ip = addresses[0]
    parts = urlsplit(url)
    netloc_host = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = f"{netloc_host}:{parts.port}" if parts.port else netloc_host
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = f"{host}:{parts.port}" if parts.port else host
    extensions = {"sni_hostname": host} if scheme == "https" else {}
    return Target(pinned, {"Host": host_header}, extensions)
