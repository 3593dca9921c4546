"""django-q2 entry points: thin wrappers that take ids and call services. Only this module
imports django-q2; services queue work through the ``enqueue_*`` functions here."""

from __future__ import annotations

import datetime as dt
import logging

from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task


# Entry points ----------------------------------------------------------------------------------
def process_delivery(delivery_id: int) -> None:
    from socialcare.services.deliveries import process

    process(delivery_id)


def send_post(post_id: int) -> None:
    from socialcare.services.replies import deliver_post

    deliver_post(post_id)


def fetch_mention(post_id: int, attempt: int = 1) -> None:
    from socialcare.services.mention_details import fetch_details

    fetch_details(post_id, attempt=attempt)


def poll_channels() -> None:
    from socialcare.services.polling import poll_due_channels

    poll_due_channels()


def scan_sla() -> None:
    from socialcare.services.sla_scan import scan

    scan()


def run_detectors() -> None:
    from socialcare.services.detectors import run_scheduled

    run_scheduled()


def sweep_deliveries() -> None:
    from socialcare.services.deliveries import requeue_stale

    requeue_stale()


def sweep_claims() -> None:
    from socialcare.services.deliveries import requeue_lapsed

    requeue_lapsed()


def recover_on_spawn(**kwargs: object) -> None:
    """django-q2's ``post_spawn`` (a worker process started, e.g. replacing a killed one): queue
    again the deliveries dead workers of this host held, so they are taken over at once. Not
    with ``sync`` (tests, development: every task "spawns" a worker in the calling process)."""
    from django.db import DatabaseError
    from django_q.conf import Conf

    from socialcare.services.deliveries import recover_dead_claims

    if Conf.SYNC:
        return

    try:
        recover_dead_claims()
    except DatabaseError:  # the worker still starts; the sweeper is the last resort
        logging.getLogger("socialcare.deliveries").exception("Recovering dead claims failed")


def connect() -> None:
    """Connect the worker start hook (``SocialCareConfig.ready``)."""
    from django_q.signals import post_spawn

    post_spawn.connect(recover_on_spawn, dispatch_uid="socialcare.recover_on_spawn")


def sweep_replies() -> None:
    from socialcare.services.automatic_messages import send_overdue
    from socialcare.services.replies import sweep_stale

    sweep_stale()
    send_overdue()  # automatic messages whose settle-window task was lost


def send_automatic_message(message_id: int) -> None:
    from socialcare.services.automatic_messages import send_pending

    send_pending(message_id)


def acknowledge_out_of_hours(case_id: int, post_id: int) -> None:
    from socialcare.services.out_of_hours import acknowledge

    acknowledge(case_id, post_id)


def send_csat_survey(case_id: int) -> None:
    from socialcare.services.csat.sending import send_survey

    send_survey(case_id)


def scan_routing() -> None:
    """Auto-assignment: idle agents go offline, queues drain, long waits are reported."""
    from socialcare.services.routing.scan import scan

    scan()


def deliver_outbound(subscription_id: int) -> None:
    from socialcare.services.outbound import deliver_subscription

    deliver_subscription(subscription_id)


def deliver_outbound_due() -> None:
    from socialcare.services.outbound import deliver_due

    deliver_due()


def purge_expired() -> None:
    from socialcare.services.retention import purge_expired as run

    run(source="schedule")


# Queueing --------------------------------------------------------------------------------------
def enqueue_delivery(delivery_id: int) -> None:
    async_task("socialcare.tasks.process_delivery", delivery_id, group="socialcare.ingest")


def _run_at(func: str, arg: int, at: dt.datetime, name: str, group: str) -> None:
    """Run ``func(arg)`` now if ``at`` has come, else once at ``at`` (a one-off schedule:
    django-q2's ``async_task`` has no delay)."""
    if at <= timezone.now():
        async_task(func, arg, group=group)
        return
    Schedule.objects.create(
        name=f"{name} ({at:%H:%M:%S})",
        func=func,
        args=repr((arg,)),
        schedule_type=Schedule.ONCE,
        repeats=1,
        next_run=at,
    )


def enqueue_send_post(post_id: int, delay: float = 0) -> None:
    at = timezone.now() + dt.timedelta(seconds=max(delay, 0))
    name = f"socialcare: retry sending post {post_id}"
    _run_at("socialcare.tasks.send_post", post_id, at, name, "socialcare.replies")


def scheduled_sends() -> set[int]:
    """Posts with a delayed send (a retry after backoff) still to run."""
    import ast

    waiting = set()
    rows = Schedule.objects.filter(func="socialcare.tasks.send_post").exclude(repeats=0)
    for args in rows.values_list("args", flat=True):
        try:
            waiting.add(int(ast.literal_eval(args or "()")[0]))
        except (ValueError, SyntaxError, IndexError, TypeError):
            continue
    return waiting


def enqueue_fetch_mention(post_id: int, attempt: int = 1, delay: float = 0) -> None:
    """Fetch an Instagram mention's text and author; ``delay``: a retry after backoff."""
    if delay <= 0:
        async_task("socialcare.tasks.fetch_mention", post_id, attempt, group="socialcare.ingest")
        return
    Schedule.objects.create(
        name=f"socialcare: fetch mention {post_id}, attempt {attempt} ({timezone.now():%H:%M:%S})",
        func="socialcare.tasks.fetch_mention",
        args=repr((post_id, attempt)),
        schedule_type=Schedule.ONCE,
        repeats=1,
        next_run=timezone.now() + dt.timedelta(seconds=delay),
    )


def enqueue_automatic_message(message_id: int, due_at: dt.datetime) -> None:
    """Send an automatic message at ``due_at``, when its settle window is over (a one-off
    schedule: django-q2's ``async_task`` has no delay)."""
    name = f"socialcare: automatic message {message_id}"
    _run_at(
        "socialcare.tasks.send_automatic_message", message_id, due_at, name, "socialcare.replies"
    )


def enqueue_out_of_hours(case_id: int, post_id: int) -> None:
    """Decide (and send) the out-of-hours acknowledgement of a customer post's case."""
    async_task(
        "socialcare.tasks.acknowledge_out_of_hours", case_id, post_id, group="socialcare.replies"
    )


def enqueue_csat_survey(case_id: int, at: dt.datetime) -> None:
    """Send a resolved case's CSAT survey at ``at`` (``CSAT_DELAY`` after the resolution)."""
    name = f"socialcare: CSAT survey of case {case_id}"
    _run_at("socialcare.tasks.send_csat_survey", case_id, at, name, "socialcare.replies")


def enqueue_sweep_claims(at: dt.datetime) -> None:
    """One extra run of the claims sweeper at ``at`` (a claim's lease lapses then); one per
    second however many workers ask."""
    name = f"socialcare: take over lapsed claims at {at:%Y-%m-%d %H:%M:%S}"
    if Schedule.objects.filter(name=name).exists():
        return
    Schedule.objects.create(
        name=name,
        func="socialcare.tasks.sweep_claims",
        schedule_type=Schedule.ONCE,
        repeats=1,
        next_run=at,
    )


def enqueue_outbound(subscription_id: int) -> None:
    async_task("socialcare.tasks.deliver_outbound", subscription_id, group="socialcare.outbound")


#: Recurring work, installed by ``manage.py socialcare_schedules``: name -> (func, minutes).
SCHEDULES: dict[str, tuple[str, int]] = {
    "socialcare: poll channels": ("socialcare.tasks.poll_channels", 1),
    "socialcare: SLA scan": ("socialcare.tasks.scan_sla", 1),
    "socialcare: crisis detectors": ("socialcare.tasks.run_detectors", 1),
    "socialcare: re-queue stuck deliveries": ("socialcare.tasks.sweep_deliveries", 5),
    # A dead or stalled worker's claims (DELIVERY_LEASE lapsed) are taken over within a minute.
    "socialcare: take over lapsed delivery claims": ("socialcare.tasks.sweep_claims", 1),
    "socialcare: re-queue stuck replies": ("socialcare.tasks.sweep_replies", 5),
    "socialcare: send outbound webhooks": ("socialcare.tasks.deliver_outbound_due", 1),
    "socialcare: purge expired data": ("socialcare.tasks.purge_expired", 60),
    "socialcare: auto-assignment scan": ("socialcare.tasks.scan_routing", 1),
}


def install_schedules() -> list[str]:
    """Create or update the recurring schedules; idempotent. Returns what changed."""
    changed = []
    for name, (func, minutes) in SCHEDULES.items():
        _, created = Schedule.objects.update_or_create(
            name=name,
            defaults={
                "func": func,
                "schedule_type": Schedule.MINUTES,
                "minutes": minutes,
                "repeats": -1,
            },
        )
        changed.append(f"{'created' if created else 'updated'}: {name} (every {minutes} min)")
    return changed
