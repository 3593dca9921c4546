"""The routing scan (every minute, ``socialcare.tasks.scan_routing``): idle agents go offline,
cases a hook missed join their queue, queues drain, long waits reach a supervisor."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.utils import timezone

from socialcare.models import Team
from socialcare.services.routing.assign import sync_team
from socialcare.services.routing.availability import go_offline_when_idle
from socialcare.services.routing.queue import notify_long_waits

logger = logging.getLogger("socialcare.routing")


def scan(now: dt.datetime | None = None) -> dict[str, Any]:
    """Run one routing scan; returns what it did."""
    now = now or timezone.now()
    offline = go_offline_when_idle(now)
    assigned = 0
    for team in Team.objects.filter(auto_assign=True).order_by("pk"):
        try:
            assigned += len(sync_team(team))
        except Exception:  # one team's trouble must not stop the others
            logger.exception("Routing scan failed for team %s", team.pk)
    notified = notify_long_waits(now)
    return {"went_offline": offline, "assigned": assigned, "notified": notified}
