"""Retention: expired raw payloads and closed cases' content go, in batches; the rest stays."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from socialcare.models import Case, CaseEvent, Post, PrivacyRequest, WebhookDelivery
from socialcare.services import cases as case_services
from socialcare.services.ingest import ingest_post
from socialcare.services.retention import purge_expired
from socialcare.tasks import SCHEDULES, install_schedules
from tests.privacy.conftest import tweet

pytestmark = pytest.mark.django_db

NOW = timezone.now()
OLD = NOW - dt.timedelta(days=40)
RECENT = NOW - dt.timedelta(days=2)


def delivery(channel: Any, at: dt.datetime, status: str = "processed") -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        channel=channel, platform="x", body=b'{"secret": 1}', status=status, received_at=at,
        headers={"x": "y"},
    )  # fmt: skip


def case_with_post(channel: Any, external_id: str, at: dt.datetime, *, closed: dt.datetime | None):
    result = ingest_post(channel, tweet(external_id, f"words of {external_id}", at))
    Post.objects.filter(pk=result.post.pk).update(received_at=at)
    case_services.add_note(result.case, f"note on {external_id}")
    if closed is not None:
        Case.objects.filter(pk=result.case.pk).update(status=Case.Status.CLOSED, closed_at=closed)
    return result.case


@pytest.fixture
def retention(socialcare_settings: Any) -> Any:
    with socialcare_settings(RETENTION_RAW_PAYLOAD_DAYS=30, RETENTION_CLOSED_CASE_DAYS=30):
        yield


def content(case: Case) -> tuple[list[str], list[dict]]:
    return (
        list(case.posts.values_list("text", flat=True)),
        list(CaseEvent.objects.filter(case=case, kind="note").values_list("data", flat=True)),
    )


def test_nothing_is_purged_by_default(channel: Any) -> None:
    old = delivery(channel, OLD)
    case = case_with_post(channel, "1", OLD, closed=OLD)
    report = purge_expired(NOW)
    assert report.total == 0
    assert bytes(WebhookDelivery.objects.get(pk=old.pk).body) == b'{"secret": 1}'
    assert content(case)[0] == ["words of 1"]
    assert not PrivacyRequest.objects.exists()


def test_expired_rows_go_and_open_cases_and_recent_rows_stay(
    channel: Any, retention: None, robustness: Any
) -> None:
    old_done = delivery(channel, OLD)
    old_pending = delivery(channel, OLD, status="pending")
    old_failed = delivery(channel, OLD, status="failed")
    recent = delivery(channel, RECENT)
    closed_long_ago = case_with_post(channel, "1", OLD, closed=OLD)
    closed_recently = case_with_post(channel, "2", OLD, closed=RECENT)
    open_old = case_with_post(channel, "3", OLD, closed=None)
    new_case = case_with_post(channel, "4", RECENT, closed=None)
    before = Case.objects.get(pk=closed_long_ago.pk)

    report = purge_expired(NOW)

    assert bytes(WebhookDelivery.objects.get(pk=old_done.pk).body) == b""
    assert WebhookDelivery.objects.get(pk=old_done.pk).headers == {}
    kept = [old_pending, old_failed, recent]
    still = sum(bytes(WebhookDelivery.objects.get(pk=d.pk).body) == b'{"secret": 1}' for d in kept)
    robustness.lost(len(kept) - still)
    assert still == len(kept)  # pending/failed ones still have posts to give
    # The closed case's content is gone, its statistics are not.
    posts, notes = content(closed_long_ago)
    assert posts == [""] and notes == [{"removed": "retention"}]
    after = Case.objects.get(pk=closed_long_ago.pk)
    assert after.subject == ""
    assert (after.status, after.created_at, after.closed_at, after.priority) == (
        before.status, before.created_at, before.closed_at, before.priority,
    )  # fmt: skip
    assert Post.objects.get(case=after).sentiment is not None
    # Open, recently closed and new cases keep their words; old open ones lose only raw.
    for case, ext in [(closed_recently, "2"), (open_old, "3"), (new_case, "4")]:
        posts, notes = content(case)
        robustness.lost(int(posts != [f"words of {ext}"]) + int("text" not in notes[0]))
        assert posts == [f"words of {ext}"] and "text" in notes[0]
    assert Post.objects.get(external_id="3").raw == {}
    assert Post.objects.get(external_id="4").raw != {}
    assert report.counts["webhook_bodies"] == 1
    assert report.counts["closed_case_posts"] == 1
    assert PrivacyRequest.objects.get().kind == "retention"

    again = purge_expired(NOW)
    assert again.total == 0  # idempotent
    assert PrivacyRequest.objects.count() == 1


def test_a_case_reopened_is_left_alone(channel: Any, retention: None) -> None:
    case = case_with_post(channel, "1", OLD, closed=OLD)
    Case.objects.filter(pk=case.pk).update(status=Case.Status.OPEN)
    purge_expired(NOW)
    assert content(case)[0] == ["words of 1"]


def test_batches_cover_every_row(channel: Any, retention: None) -> None:
    for _ in range(23):
        delivery(channel, OLD)
    for n in range(7):
        case_with_post(channel, f"c{n}", OLD, closed=OLD)
    report = purge_expired(NOW, batch_size=5)
    assert report.counts["webhook_bodies"] == 23
    assert report.counts["closed_case_posts"] == 7
    assert report.batches >= 5 + 2 + 2
    assert not WebhookDelivery.objects.exclude(body=b"").exists()


def test_dry_run_counts_and_changes_nothing(channel: Any, retention: None, capsys: Any) -> None:
    delivery(channel, OLD)
    case_with_post(channel, "1", OLD, closed=OLD)
    call_command("socialcare_purge", "--dry-run")
    out = capsys.readouterr().out
    assert "would remove 1 webhook bodies" in out and "Dry run" in out
    assert "content of 1 posts" in out
    assert Post.objects.get(external_id="1").text == "words of 1"
    assert not PrivacyRequest.objects.exists()
    call_command("socialcare_purge")
    assert Post.objects.get(external_id="1").text == ""
    assert PrivacyRequest.objects.get().source == "command"


def test_command_when_retention_is_off(capsys: Any) -> None:
    call_command("socialcare_purge")
    assert "Retention is off" in capsys.readouterr().out


def test_the_purge_is_scheduled() -> None:
    from django_q.models import Schedule

    assert SCHEDULES["socialcare: purge expired data"][0] == "socialcare.tasks.purge_expired"
    install_schedules()
    assert Schedule.objects.filter(func="socialcare.tasks.purge_expired").count() == 1


def test_many_rows_in_bounded_batches_on_postgresql(channel: Any, retention: None) -> None:
    """100k expired deliveries: purged in batches without reading their bodies into Python."""
    if connection.vendor != "postgresql":
        pytest.skip("bulk rows through generate_series need PostgreSQL")
    rows = 100_000
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {WebhookDelivery._meta.db_table}
                (channel_id, platform, source, body, headers, received_at, status, attempts,
                 last_error, posts_count)
                SELECT %s, 'x', 'webhook', convert_to('{{"n": ' || g || '}}', 'UTF8'),
                       '{{}}'::jsonb, %s, 'processed', 1, '', 1
                FROM generate_series(1, %s) AS g""",
            [channel.pk, OLD, rows],
        )
    report = purge_expired(NOW, batch_size=30_000)
    assert report.counts["webhook_bodies"] == rows
    assert report.batches == rows // 30_000 + 1
    assert not WebhookDelivery.objects.exclude(body=b"").exists()
