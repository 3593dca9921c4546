"""Deliveries waiting for a channel, and the moment they get one (docs/ingestion.md, "One
webhook per app").

An app's URL keeps the events of an account no active channel has (``unrouted``). They are
routed here:

* ``channel_saved``: when a channel is created, made active, or its platform, account id or app
  changes — from the admin, the API or a command — the deliveries waiting for its account go to
  it once the change is committed, queued for the worker;
* ``route_selected``: the admin's "Route to their channels now" on chosen deliveries, with a
  report of what was queued and why the others still wait.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction

from socialcare.models import Channel, WebhookDelivery
from socialcare.services.account_routing import route_waiting

logger = logging.getLogger("socialcare.routing")

Status = WebhookDelivery.Status

#: A change of one of these may give waiting deliveries their channel.
ROUTING_FIELDS = frozenset({"platform", "account_id", "app", "is_active"})


def waiting_for(channel: Channel) -> int:
    """How many deliveries wait for ``channel``'s account."""
    return (
        WebhookDelivery.objects.unrouted()
        .filter(platform=channel.platform, account_id=channel.account_id)
        .count()
    )


def channel_saved(
    channel: Channel, changed_fields: Iterable[str] = (), *, created: bool = False
) -> int:
    """Call after saving ``channel`` (``created``, or with the names of the fields that
    changed). When it is active and new, or one of ``ROUTING_FIELDS`` changed, the deliveries
    waiting for its account are routed to it once the transaction commits, and queued for
    processing. Returns how many wait for it now (0 when nothing will be routed)."""
    if channel.pk is None or not channel.is_active:
        return 0
    if not created and not ROUTING_FIELDS.intersection(changed_fields):
        return 0
    waiting = waiting_for(channel)
    if waiting:
        pk = channel.pk
        # robust: the channel is saved whatever happens here; what is not routed stays waiting
        # (the admin action and the next delivery for the account route it).
        transaction.on_commit(lambda: _route_to(pk), robust=True)
    return waiting


def _route_to(channel_id: int) -> None:
    channel = Channel.objects.filter(pk=channel_id, is_active=True).first()
    if channel is not None:
        route_waiting(channels=[channel])


@dataclass
class RouteReport:
    """What "Route to their channels now" did with the chosen deliveries."""

    queued: list[int] = field(default_factory=list)
    #: Were a redelivery of one already ingested on that channel: ended as duplicates.
    duplicates: int = 0
    #: Chosen but not waiting for a channel (already routed, processed, failed …): left alone.
    not_waiting: int = 0
    #: Still waiting: (platform, account id) → how many, for accounts no channel has.
    no_channel: Counter = field(default_factory=Counter)
    #: Still waiting: the inactive channel of their account → how many.
    inactive: Counter = field(default_factory=Counter)

    @property
    def still_waiting(self) -> int:
        return sum(self.no_channel.values()) + sum(self.inactive.values())

    def why_waiting(self) -> str:
        """Why the others still wait, and what to do, in one sentence ("" when none do)."""
        reasons = [
            f"{n} for {platform} account {account}, which no channel has (add a channel with "
            "that account id)"
            for (platform, account), n in sorted(self.no_channel.items())
        ]
        reasons += [
            f"{n} for the inactive channel “{name}” (make it active)"
            for name, n in sorted(self.inactive.items())
        ]
        if not reasons:
            return ""
        return f"{self.still_waiting} still wait: " + "; ".join(reasons) + "."


def route_selected(delivery_ids: Iterable[int]) -> RouteReport:
    """Route the waiting ones among ``delivery_ids`` to the active channels of their accounts
    (queued for processing), and say why the others still wait."""
    rows = list(
        WebhookDelivery.objects.filter(pk__in=list(delivery_ids)).values_list("pk", "status")
    )
    waiting = [pk for pk, status in rows if status == Status.UNROUTED]
    report = RouteReport(not_waiting=len(rows) - len(waiting))
    if not waiting:
        return report
    report.queued = route_waiting(deliveries=waiting)
    left = list(
        WebhookDelivery.objects.filter(pk__in=waiting)
        .exclude(pk__in=report.queued)
        .values_list("status", "platform", "account_id")
    )
    report.duplicates = sum(1 for status, _, _ in left if status != Status.UNROUTED)
    pending = [(p, a) for status, p, a in left if status == Status.UNROUTED]
    channels = {
        (c.platform, c.account_id): c
        for c in Channel.objects.filter(
            platform__in={p for p, _ in pending}, account_id__in={a for _, a in pending}
        )
    }
    for pair in pending:
        channel = channels.get(pair)
        if channel is None:
            report.no_channel[pair] += 1
        else:
            report.inactive[channel.name] += 1
    if report.queued:
        logger.info("Routed chosen waiting deliveries %s", report.queued)
    return report
