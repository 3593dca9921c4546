"""Retention: raw payloads and closed cases' content are removed after the configured days.

``RETENTION_RAW_PAYLOAD_DAYS`` empties the stored bodies of processed webhook deliveries and the
raw payloads of posts; ``RETENTION_CLOSED_CASE_DAYS`` empties the posts, notes and subjects of
cases closed that long ago (statistics stay). ``None`` keeps forever. ``purge_expired`` works in
batches of ids (one short transaction each, never a whole table in memory) and reports counts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from socialcare.conf import app_settings
from socialcare.models import Case, CaseEvent, Post, PrivacyRequest, WebhookDelivery
from socialcare.services.privacy import (
    clear_post_content,
    personal_event_data,
    post_content_left,
    scrub_events,
)

REASON = "retention"


@dataclass
class PurgeReport:
    dry_run: bool
    raw_cutoff: dt.datetime | None
    closed_cutoff: dt.datetime | None
    counts: dict[str, int] = field(default_factory=dict)
    batches: int = 0

    @property
    def total(self) -> int:
        return sum(v for k, v in self.counts.items() if k != "closed_cases")

    def lines(self) -> list[str]:
        verb = "would remove" if self.dry_run else "removed"
        out = []
        if self.raw_cutoff is None:
            out.append("raw payloads: kept forever (RETENTION_RAW_PAYLOAD_DAYS is None)")
        else:
            out.append(
                f"raw payloads before {self.raw_cutoff:%Y-%m-%d %H:%M}: {verb} "
                f"{self.counts['webhook_bodies']} webhook bodies, "
                f"{self.counts['post_payloads']} post payloads"
            )
        if self.closed_cutoff is None:
            out.append("closed cases: kept forever (RETENTION_CLOSED_CASE_DAYS is None)")
        else:
            out.append(
                f"cases closed before {self.closed_cutoff:%Y-%m-%d %H:%M}: "
                f"{self.counts['closed_cases']} cases, {verb} the content of "
                f"{self.counts['closed_case_posts']} posts, "
                f"{self.counts['closed_case_events']} events, "
                f"{self.counts['closed_case_subjects']} subjects"
            )
        return out


def _cutoff(days: Any, now: dt.datetime) -> dt.datetime | None:
    if days is None:
        return None
    return now - dt.timedelta(days=float(days))


def _batches(queryset: models.QuerySet, size: int) -> Any:
    """Ids of ``queryset`` in ascending chunks of ``size`` (keyset: each query starts after the
    last id seen, so a table of millions is read a chunk at a time)."""
    last = None
    while True:
        page = queryset.order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        ids = list(page.values_list("pk", flat=True)[:size])
        if not ids:
            return
        yield ids
        last = ids[-1]


def expired_deliveries(cutoff: dt.datetime) -> models.QuerySet:
    """Processed deliveries received before ``cutoff`` whose body is still stored. Pending,
    processing and failed ones keep theirs: they still have posts to ingest."""
    return WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PROCESSED, received_at__lt=cutoff
    ).exclude(body=b"")


def expired_post_payloads(cutoff: dt.datetime) -> models.QuerySet:
    # Tombstones (deleted before they arrived) keep their marker; their raw holds nothing else.
    return Post.objects.filter(received_at__lt=cutoff, deleted_at__isnull=True).exclude(raw={})


def expired_closed_cases(cutoff: dt.datetime) -> models.QuerySet:
    return Case.objects.filter(status=Case.Status.CLOSED, closed_at__lt=cutoff)


def purge_expired(
    now: dt.datetime | None = None,
    *,
    dry_run: bool = False,
    batch_size: int | None = None,
    source: str = PrivacyRequest.Source.CODE,
) -> PurgeReport:
    """Remove what the retention settings say has expired at ``now``; with ``dry_run``, only
    count it. A run that removed something leaves a ``PrivacyRequest`` (kind retention)."""
    now = now or timezone.now()
    size = int(batch_size or app_settings.RETENTION_BATCH_SIZE)
    report = PurgeReport(
        dry_run=dry_run,
        raw_cutoff=_cutoff(app_settings.RETENTION_RAW_PAYLOAD_DAYS, now),
        closed_cutoff=_cutoff(app_settings.RETENTION_CLOSED_CASE_DAYS, now),
        counts=dict.fromkeys(
            (
                "webhook_bodies",
                "post_payloads",
                "closed_cases",
                "closed_case_posts",
                "closed_case_events",
                "closed_case_subjects",
            ),
            0,
        ),
    )
    counts = report.counts
    if report.raw_cutoff is not None:
        deliveries = expired_deliveries(report.raw_cutoff)
        payloads = expired_post_payloads(report.raw_cutoff)
        if dry_run:
            counts["webhook_bodies"] = deliveries.count()
            counts["post_payloads"] = payloads.count()
        else:
            for ids in _batches(deliveries, size):
                with transaction.atomic():
                    counts["webhook_bodies"] += (
                        WebhookDelivery.objects.filter(pk__in=ids)
                        .exclude(body=b"")
                        .update(body=b"", headers={})
                    )
                report.batches += 1
            for ids in _batches(payloads, size):
                with transaction.atomic():
                    counts["post_payloads"] += (
                        Post.objects.filter(pk__in=ids).exclude(raw={}).update(raw={})
                    )
                report.batches += 1
    if report.closed_cutoff is not None:
        for ids in _batches(expired_closed_cases(report.closed_cutoff), size):
            counts["closed_cases"] += len(ids)
            posts = Post.objects.filter(case__in=ids)
            events = CaseEvent.objects.filter(case__in=ids)
            subjects = Case.objects.filter(pk__in=ids).exclude(subject="")
            if dry_run:
                counts["closed_case_posts"] += posts.filter(post_content_left()).count()
                counts["closed_case_events"] += events.filter(personal_event_data()).count()
                counts["closed_case_subjects"] += subjects.count()
                continue
            with transaction.atomic():
                # Re-checked under the transaction: a case reopened since it was listed is
                # left alone.
                still_closed = list(
                    expired_closed_cases(report.closed_cutoff)
                    .filter(pk__in=ids)
                    .select_for_update()
                    .values_list("pk", flat=True)
                )
                counts["closed_case_posts"] += clear_post_content(
                    Post.objects.filter(case__in=still_closed)
                )
                counts["closed_case_events"] += scrub_events(
                    CaseEvent.objects.filter(case__in=still_closed), REASON
                )
                counts["closed_case_subjects"] += (
                    Case.objects.filter(pk__in=still_closed).exclude(subject="").update(subject="")
                )
            report.batches += 1
    if not dry_run and report.total:
        PrivacyRequest.objects.create(
            kind=PrivacyRequest.Kind.RETENTION,
            source=source,
            reason=" / ".join(report.lines()),
            counts={**counts, "batches": report.batches},
        )
    return report


def retention_configured() -> bool:
    return (
        app_settings.RETENTION_RAW_PAYLOAD_DAYS is not None
        or app_settings.RETENTION_CLOSED_CASE_DAYS is not None
    )
