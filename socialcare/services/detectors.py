"""Crisis detectors: cheap per-minute counters updated as posts arrive, checks that read a few
counter rows (never a scan of posts), and firing: open or join an incident with the evidence.

Kinds: volume spike (posts in the window vs. the trailing baseline), negative surge (negative
posts in the window), influencer complaint (followers ≥ threshold and negative), watch words
(case-insensitive, whole words in spaced scripts, any occurrence in scripts written without
spaces), and SLA-breach cluster (breaches in the window, checked by the scheduled pass).

Warm-up: a volume spike or negative surge fires only once its counters hold a whole baseline
period (``Detector.warm_from``: ``counting_since`` + ``baseline_hours``), and a volume spike only
over a usual volume of at least ``DETECTOR_MIN_BASELINE`` posts per window. Both are read from the
detector row and the sums already taken, so the check costs no query.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

from django.db import connection
from django.db.models import Q, Sum
from django.utils import timezone

from socialcare.conf import app_settings
from socialcare.models import Case, Detector, DetectorCount, Incident, Post, SLAAlert
from socialcare.services import incidents
from socialcare.services.access import OTHER_TEAM_CASE

logger = logging.getLogger("socialcare.detectors")
Kind = Detector.Kind
COUNTED = (Kind.VOLUME_SPIKE, Kind.NEGATIVE_SURGE)
SAMPLE_POSTS = 5
MAX_LINKED_ON_FIRE = 500


def in_scope(detector: Detector, post: Post) -> bool:
    if detector.platform and detector.platform != post.platform:
        return False
    return not (detector.channel_id and detector.channel_id != post.channel_id)


def scope_key(detector: Detector) -> str:
    return f"platform={detector.platform or '*'};channel={detector.channel_id or '*'}"


def minute_of(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


# Watch words -----------------------------------------------------------------------------------
_UNSPACED = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "THAI", "LAO", "KHMER", "MYANMAR")


def _unspaced(word: str) -> bool:
    return any(
        any(script in unicodedata.name(ch, "") for script in _UNSPACED)
        for ch in word
        if ch.isalpha()
    )


@lru_cache(maxsize=256)
def _pattern(word: str) -> re.Pattern:
    folded = re.escape(word.casefold())
    if _unspaced(word):
        return re.compile(folded)
    return re.compile(rf"(?<!\w){folded}(?!\w)")


def matched_words(text: str, words: list[str]) -> list[str]:
    folded = unicodedata.normalize("NFC", text or "").casefold()
    return [w for w in words if _pattern(unicodedata.normalize("NFC", w)).search(folded)]


# Counting and checking -------------------------------------------------------------------------
def add_counts(counts: dict[tuple[int, dt.datetime], list[int]]) -> None:
    """Add ``{(detector id, minute): [posts, negative]}`` to the counters: one
    ``INSERT … ON CONFLICT DO UPDATE`` (PostgreSQL, SQLite) for all of them, race-safe."""
    if not counts:
        return
    meta = DetectorCount._meta
    table = connection.ops.quote_name(meta.db_table)
    detector_col, minute_col, posts_col, negative_col = (
        connection.ops.quote_name(meta.get_field(name).column)
        for name in ("detector", "minute", "posts", "negative")
    )
    rows = sorted(counts.items())  # one lock order for concurrent workers
    params: list = []
    for (detector_id, minute), (posts, negative) in rows:
        params += [detector_id, connection.ops.adapt_datetimefield_value(minute), posts, negative]
    values = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({detector_col}, {minute_col}, {posts_col}, {negative_col}) "
            f"VALUES {values} ON CONFLICT ({detector_col}, {minute_col}) DO UPDATE SET "
            f"{posts_col} = {table}.{posts_col} + EXCLUDED.{posts_col}, "
            f"{negative_col} = {table}.{negative_col} + EXCLUDED.{negative_col}",
            params,
        )


def _count(detector: Detector, minute: dt.datetime, negative: bool) -> None:
    add_counts({(detector.pk, minute): [1, int(negative)]})


def _sum(detector: Detector, start: dt.datetime, end: dt.datetime, field: str) -> int:
    total = DetectorCount.objects.filter(
        detector=detector, minute__gte=start, minute__lt=end
    ).aggregate(n=Sum(field))["n"]
    return int(total or 0)


def bounds(detector: Detector, now: dt.datetime) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    """(baseline start, window start, window end) of a counted detector at ``now``."""
    window = dt.timedelta(minutes=detector.window_minutes)
    end = minute_of(now) + dt.timedelta(minutes=1)
    start = end - window
    return end - dt.timedelta(hours=detector.baseline_hours), start, end


def window_sums(detector: Detector, now: dt.datetime) -> tuple[int, int]:
    """What :func:`_evidence` reads: (count in the window, count in the baseline before it);
    negative posts only for a negative surge (which has no baseline)."""
    baseline_start, start, end = bounds(detector, now)
    if detector.kind == Kind.NEGATIVE_SURGE:
        return _sum(detector, start, end, "negative"), 0
    return _sum(detector, start, end, "posts"), _sum(detector, baseline_start, start, "posts")


def usual_volume(detector: Detector, now: dt.datetime, before: int) -> float:
    """The usual: average posts per window over the baseline period before the window."""
    baseline_start, start, _ = bounds(detector, now)
    return before / max(
        1.0, (start - baseline_start) / dt.timedelta(minutes=detector.window_minutes)
    )


def warmed_up(detector: Detector, now: dt.datetime) -> bool:
    """Whether a counted detector's counters hold its whole baseline period at ``now``."""
    warm_from = detector.warm_from
    return warm_from is not None and now >= warm_from


def _evidence(detector: Detector, now: dt.datetime, count: int, before: int) -> dict | None:
    if not warmed_up(detector, now):
        return None
    if detector.kind == Kind.NEGATIVE_SURGE:
        if count >= detector.threshold:
            return {
                "summary": f"{count} negative posts in {detector.window_minutes} min "
                f"(threshold {detector.threshold})",
                "count": count,
                "threshold": detector.threshold,
                "window_minutes": detector.window_minutes,
            }
        return None
    baseline = usual_volume(detector, now, before)
    if baseline < app_settings.DETECTOR_MIN_BASELINE:
        return None  # "30× the usual 0.0" says nothing about the usual
    if count >= detector.threshold and count >= detector.spike_factor * max(baseline, 1.0):
        return {
            "summary": f"{count} posts in {detector.window_minutes} min, "
            f"{count / max(baseline, 1.0):.1f}× the usual {baseline:.1f}",
            "count": count,
            "baseline": round(baseline, 2),
            "threshold": detector.threshold,
            "window_minutes": detector.window_minutes,
        }
    return None


def check_counts(detector: Detector, now: dt.datetime) -> dict | None:
    """Evidence when a counted detector's threshold is crossed now, else None."""
    if not warmed_up(detector, now):
        return None  # no sums to read: it cannot fire yet
    return _evidence(detector, now, *window_sums(detector, now))


def check_post(detector: Detector, post: Post) -> dict | None:
    """Evidence when this one post trips a per-post detector, else None."""
    if detector.kind == Kind.INFLUENCER:
        followers = post.author.followers_count if post.author_id else 0
        if followers >= detector.threshold and (post.sentiment or 0) <= detector.negative_below:
            hidden = f"Negative post in {OTHER_TEAM_CASE} ({followers:,} followers)"
            return {
                "summary": f"Negative post by {post.author} ({followers:,} followers)",
                "followers": followers,
                "sentiment": post.sentiment,
                # What readers who may not see the post's case read instead.
                "source_case": _case_of(post).reference if post.case_id else "",
                "redacted_title": f"{detector.name}: {hidden}",
                "redacted_summary": hidden,
            }
    elif detector.kind == Kind.WATCH_WORDS:
        words = matched_words(post.text, detector.words())
        if words:
            return {"summary": f"Watch words: {', '.join(words)}", "words": words}
    return None


def _matches(detector: Detector, post: Post) -> bool:
    """Whether a post belongs to the wave an active incident of this detector is about."""
    if detector.kind == Kind.NEGATIVE_SURGE:
        return (post.sentiment or 0) <= detector.negative_below
    if detector.kind == Kind.VOLUME_SPIKE:
        return True
    return check_post(detector, post) is not None


# Firing ----------------------------------------------------------------------------------------
def _claim(detector: Detector, now: dt.datetime) -> bool:
    """Take the right to fire (cooldown respected, race-safe). A detector whose copy already
    says it fired within its cooldown is not asked again (the stored time only moves forward;
    a pass reads its detectors afresh)."""
    cooled = now - dt.timedelta(minutes=detector.cooldown_minutes)
    if detector.last_fired_at is not None and detector.last_fired_at > cooled:
        return False
    claimed = bool(
        Detector.objects.filter(pk=detector.pk)
        .filter(Q(last_fired_at__isnull=True) | Q(last_fired_at__lte=cooled))
        .update(last_fired_at=now)
    )
    if claimed:
        detector.last_fired_at = now
    return claimed


def _case_of(post: Post) -> Case:
    """The post's case: the copy ingestion attached when it has one (each service that changes
    a case locks and re-reads it), else read."""
    if Post.case.is_cached(post) and post.case is not None:
        return post.case
    return Case.objects.get(pk=post.case_id)


def _wave_cases(detector: Detector, now: dt.datetime) -> list[Case]:
    since = now - dt.timedelta(minutes=detector.window_minutes)
    posts = Post.objects.inbound().filter(posted_at__gte=since, case__isnull=False)
    if detector.platform:
        posts = posts.filter(platform=detector.platform)
    if detector.channel_id:
        posts = posts.filter(channel_id=detector.channel_id)
    if detector.kind == Kind.NEGATIVE_SURGE:
        posts = posts.filter(sentiment__lte=detector.negative_below)
    case_ids = set(posts.values_list("case_id", flat=True)[:MAX_LINKED_ON_FIRE])
    return list(Case.objects.filter(pk__in=case_ids, merged_into__isnull=True))


def _samples(cases: list[Case]) -> list[dict]:
    posts = (
        Post.objects.inbound()
        .filter(case__in=cases)
        .select_related("author")
        .order_by("-posted_at")[:SAMPLE_POSTS]
    )
    return [
        {"id": p.pk, "text": p.text[:200], "author": str(p.author or ""), "url": p.url}
        for p in posts
    ]


def fire(detector: Detector, evidence: dict, cases: list[Case], now: dt.datetime) -> Incident:
    evidence = {**evidence, "detector": detector.name, "sample_posts": _samples(cases)}
    incident, _ = incidents.open_incident(
        title=f"{detector.name}: {evidence['summary']}",
        playbook=detector.playbook,
        detector=detector,
        scope=scope_key(detector),
        evidence=evidence,
        cases=cases,
    )
    logger.warning(
        "Detector %s fired (%s): incident #%s", detector, evidence["summary"], incident.pk
    )
    return incident


def _start_history(detectors: list[Detector], now: dt.datetime) -> None:
    """A detector's history starts with the first pass that counts for it (the first writer
    wins; one query, once in a detector's life)."""
    if not detectors:
        return
    Detector.objects.filter(pk__in=[d.pk for d in detectors], counting_since__isnull=True).update(
        counting_since=now
    )
    for detector in detectors:
        detector.counting_since = now


def observe_post(post: Post, now: dt.datetime | None = None) -> list[Incident]:
    """Count a new inbound post for every detector in scope and act on what crosses a line.
    Called once per post, after the post is committed."""
    return observe_posts([post], now)


def _counted(post: Post) -> bool:
    return post.direction == Post.Direction.INBOUND and not post.deleted_at and bool(post.case_id)


def _negative(detector: Detector, post: Post) -> bool:
    return (post.sentiment or 0) <= detector.negative_below


class _Window:
    """A counted detector's window and baseline sums during a pass over many posts: read once
    (after the pass's own counts are written, which are then subtracted), then advanced post by
    post in memory, so each post is judged on the counts one call per post would have read."""

    def __init__(self, detector: Detector, now: dt.datetime) -> None:
        self.detector = detector
        self.baseline_start, self.start, self.end = bounds(detector, now)
        self.count, self.before = window_sums(detector, now)

    def add(self, minute: dt.datetime, negative: bool, step: int = 1) -> None:
        if self.detector.kind == Kind.NEGATIVE_SURGE:
            if negative and self.start <= minute < self.end:
                self.count += step
        elif self.start <= minute < self.end:
            self.count += step
        elif self.baseline_start <= minute < self.start:
            self.before += step


def observe_posts(posts: Sequence[Post], now: dt.datetime | None = None) -> list[Incident]:
    """:func:`observe_post` for many committed posts (a batch of deliveries), in order, with
    the same outcome, in a few queries for the whole batch: the active detectors read once,
    one counter UPSERT per (detector, minute), the window sums once per counted detector, each
    detector's active incident once (kept current when it fires)."""
    posts = [p for p in posts if _counted(p)]
    if not posts:
        return []
    now = now or timezone.now()
    detectors = list(
        Detector.objects.filter(is_active=True)
        .exclude(kind=Kind.SLA_BREACH_CLUSTER)
        .select_related("playbook")
    )
    if not detectors:
        return []
    minutes = {p.pk: minute_of(min(p.posted_at, now)) for p in posts}
    counts: dict[tuple[int, dt.datetime], list[int]] = {}
    scoped: dict[int, list[Post]] = {}
    for detector in detectors:
        if detector.kind not in COUNTED:
            continue
        mine = [p for p in posts if in_scope(detector, p)]
        if not mine:
            continue
        scoped[detector.pk] = mine
        for post in mine:
            entry = counts.setdefault((detector.pk, minutes[post.pk]), [0, 0])
            entry[0] += 1
            entry[1] += int(_negative(detector, post))
    add_counts(counts)
    _start_history([d for d in detectors if d.pk in scoped and d.counting_since is None], now)
    # The sums are read after the UPSERT, whose row locks order concurrent passes over the same
    # minutes: they include every pass committed before this one (read before, two workers
    # would each miss the other's posts and neither cross the threshold). This pass's own posts
    # are then taken out again and added back one by one below.
    windows: dict[int, _Window] = {}
    for detector in detectors:
        # A detector still warming up cannot fire in this pass: its sums are not read.
        if detector.pk in scoped and warmed_up(detector, now):
            window = windows[detector.pk] = _Window(detector, now)
            for post in scoped[detector.pk]:
                window.add(minutes[post.pk], _negative(detector, post), -1)

    touched: list[Incident] = []
    unknown = object()
    # Keyed like active_incident() (detectors may share a playbook and scope).
    active: dict[tuple[int | None, str], Incident | object | None] = {}
    for post in posts:
        for detector in detectors:
            if not in_scope(detector, post):
                continue
            if detector.kind in COUNTED:
                window = windows.get(detector.pk)
                evidence = None
                if window is not None:
                    window.add(minutes[post.pk], _negative(detector, post))
                    evidence = _evidence(detector, now, window.count, window.before)
            else:
                evidence = check_post(detector, post)
            if evidence and _claim(detector, now):
                cases = _wave_cases(detector, now) if detector.kind in COUNTED else []
                case = _case_of(post)
                incident = fire(
                    detector, evidence, [*cases, case] if case not in cases else cases, now
                )
                active[(detector.playbook_id, scope_key(detector))] = incident
                touched.append(incident)
                continue
            key = (detector.playbook_id, scope_key(detector))
            current = active.get(key, unknown)
            if current is unknown:
                current = incidents.active_incident(detector.playbook, key[1])
                active[key] = current
            if (
                current is not None
                and current.status == Incident.Status.OPEN
                and _matches(detector, post)
            ):
                incidents.link_cases(current, [_case_of(post)])
                touched.append(current)
    return touched


def run_scheduled(now: dt.datetime | None = None) -> list[Incident]:
    """The periodic pass: counted detectors re-checked, SLA-breach clusters checked, old counters
    dropped. Reads counters and alerts only."""
    now = now or timezone.now()
    fired = []
    for detector in Detector.objects.filter(is_active=True).select_related("playbook"):
        if detector.kind in COUNTED:
            evidence = check_counts(detector, now)
            if evidence and _claim(detector, now):
                fired.append(fire(detector, evidence, _wave_cases(detector, now), now))
        elif detector.kind == Kind.SLA_BREACH_CLUSTER:
            since = now - dt.timedelta(minutes=detector.window_minutes)
            alerts = SLAAlert.objects.filter(level=SLAAlert.Level.BREACH, created_at__gte=since)
            if detector.platform:
                alerts = alerts.filter(case__channel__platform=detector.platform)
            if detector.channel_id:
                alerts = alerts.filter(case__channel_id=detector.channel_id)
            count = alerts.count()
            if count >= detector.threshold and _claim(detector, now):
                cases = list(
                    Case.objects.filter(sla_alerts__in=alerts).distinct()[:MAX_LINKED_ON_FIRE]
                )
                evidence = {
                    "summary": f"{count} SLA breaches in {detector.window_minutes} min "
                    f"(threshold {detector.threshold})",
                    "count": count,
                    "threshold": detector.threshold,
                }
                fired.append(fire(detector, evidence, cases, now))
        oldest = now - dt.timedelta(
            hours=detector.baseline_hours, minutes=detector.window_minutes + 60
        )
        DetectorCount.objects.filter(detector=detector, minute__lt=oldest).delete()
    return fired
