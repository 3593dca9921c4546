"""A counted detector's warm-up, for the people who configure it: where it stands (``warm_up``,
for admin, the API and ``socialcare_playbooks``), and the history a newly installed detector can
take from the posts already stored (``seed_history``).

The rule itself is applied where detectors fire (``services.detectors``): a volume spike or
negative surge fires only once its counters hold a whole baseline period, and a volume spike only
over a usual volume of at least ``DETECTOR_MIN_BASELINE`` posts per window.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q
from django.db.models.functions import TruncMinute
from django.utils import timezone

from socialcare.conf import app_settings
from socialcare.models import Detector, Post
from socialcare.services.detectors import (
    add_counts,
    bounds,
    minute_of,
    usual_volume,
    warmed_up,
    window_sums,
)


@dataclass(frozen=True)
class WarmUp:
    """Where a detector stands: ``ready`` when nothing but its threshold keeps it from firing;
    ``until`` the end of its warm-up (None: not started, or not a counted detector)."""

    ready: bool
    until: dt.datetime | None
    summary: str


def _when(moment: dt.datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M %Z}"


def warm_up(detector: Detector, now: dt.datetime | None = None) -> WarmUp:
    """Whether ``detector`` can fire now, and if not, until when or why, in a sentence. Reads the
    counters of a warm volume spike (one sum): for pages and commands, not the ingest path."""
    now = now or timezone.now()
    if not detector.is_active:
        return WarmUp(False, None, "switched off")
    if not detector.counted:
        return WarmUp(True, None, "ready: it fires on a single post, no warm-up")
    hours = detector.baseline_hours
    if detector.counting_since is None:
        return WarmUp(False, None, f"warming up: {hours} h of history from its first counted post")
    until = detector.warm_from
    if not warmed_up(detector, now):
        return WarmUp(False, until, f"warming up until {_when(until)} ({hours} h of history)")
    if detector.kind == Detector.Kind.VOLUME_SPIKE:
        baseline = usual_volume(detector, now, window_sums(detector, now)[1])
        minimum = app_settings.DETECTOR_MIN_BASELINE
        if baseline < minimum:
            return WarmUp(
                False,
                until,
                f"warm, but the usual {baseline:.2f} posts per {detector.window_minutes} min "
                f"is under the minimum of {minimum:g}: no spike can fire",
            )
    return WarmUp(True, until, f"ready (warmed up {_when(until)})")


def seed_history(detector: Detector, now: dt.datetime | None = None) -> bool:
    """Give a counted detector that has counted nothing yet the history the store already holds:
    its counters for the baseline period and the window rebuilt from the stored customer posts in
    its scope (one grouped query over the posts' time index), and its history started at the
    oldest of those posts. Returns whether there were any. An explicit one-off (installing a
    detector), never the ingest path; on a fresh install it finds nothing and the detector warms up
    from its first post."""
    if not detector.counted or detector.counting_since is not None:
        return False
    now = now or timezone.now()
    posts = Post.objects.inbound().filter(
        case__isnull=False, deleted_at__isnull=True, posted_at__lte=now
    )
    if detector.platform:
        posts = posts.filter(platform=detector.platform)
    if detector.channel_id:
        posts = posts.filter(channel_id=detector.channel_id)
    oldest = posts.order_by("posted_at").values_list("posted_at", flat=True).first()
    if oldest is None:
        return False
    baseline_start, _, _ = bounds(detector, now)
    per_minute = (
        posts.filter(posted_at__gte=baseline_start)
        .annotate(at=TruncMinute("posted_at", tzinfo=dt.UTC))
        .values("at")
        .annotate(
            n=Count("pk"), negative=Count("pk", filter=Q(sentiment__lte=detector.negative_below))
        )
    )
    add_counts({(detector.pk, row["at"]): [row["n"], row["negative"]] for row in per_minute})
    since = minute_of(oldest)
    Detector.objects.filter(pk=detector.pk, counting_since__isnull=True).update(
        counting_since=since
    )
    detector.counting_since = since
    return True
