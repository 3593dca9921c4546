"""The embedded default under faults: the demo's SQLite database (WAL), django-q2's ORM broker,
``manage.py runserver`` and one ``manage.py qcluster`` (two workers), the demo's data and
playbooks (issue #25).

1. 300 signed deliveries (the simulator's builders, with platform re-sends and combined
   deliveries) at 30 a second; the qcluster's whole process group is killed with SIGKILL twice
   while a delivery is ``processing`` and started again each time. Every delivery answered 200
   is stored and ends processed (or failed with a reason) within the bound after the restart
   (the delivery lease + the broker's retry + a margin: seconds, not the sweeper's minutes);
   every post is stored once.
2. During an incident whose holding reply runs by itself, a burst at concurrency 8 in which the
   customers' follow-ups arrive before their original posts: no customer gets the automatic
   holding reply twice.

The broker's ``timeout``/``retry`` are shortened for the test (tests/embedded/settings.py; read
through ``manage.py shell``: importing those settings here would import the demo's).
Figures are printed at the end of each test; docs/reliability.md quotes them.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from dataclasses import dataclass

import pytest

from tests.embedded.conftest import Embedded
from tests.embedded.workload import (
    Sender,
    burst,
    targets_from,
)
from tests.robustness import Robustness
from tests.scaleout import workload as scaleout_workload

DELIVERIES = 300
RATE = 30
SENDERS = 8
BURST_SENDERS = 8
#: The kills happen once this many deliveries are stored and one is being processed.
KILL_AFTER = (60, 170)
#: Added to lease + broker retry: a restarted cluster's start and one micro-batch.
MARGIN = 15
#: Without a delivery lease (before issue #25's claims), what a re-run task waits for.
NO_LEASE = 0.0
#: Nothing new happened for this long after the burst: every automatic message is out.
QUIET_SECONDS = 6
#: The marker of the product-defect holding reply (socialcare/crisis_playbooks.py).
HOLDING_MARKER = "working on a fix"
UNFINISHED = ("pending", "processing")
#: The ledger of automatic messages (issue #25), where the code has one.
LEDGER = "socialcare_automaticmessage"


def utc(value: str | None) -> float | None:
    """A timestamp column of SQLite (UTC text) as epoch seconds."""
    if not value:
        return None
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def listing(items: list, limit: int = 10) -> str:
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


@dataclass
class Kill:
    worker: str
    caught: list[int]  # deliveries processing when the group was killed
    killed_wall: float
    restarted_wall: float
    restart_seconds: float


def describe(embedded: Embedded) -> dict:
    return embedded.shell("from tests.embedded.workload import describe; describe()")


def stored(embedded: Embedded) -> int:
    return int(embedded.scalar("SELECT COUNT(*) FROM socialcare_webhookdelivery"))


def processing(embedded: Embedded) -> list[int]:
    rows = embedded.query("SELECT id FROM socialcare_webhookdelivery WHERE status = 'processing'")
    return [pk for (pk,) in rows]


def unfinished(embedded: Embedded, since: int) -> list[tuple[int, str]]:
    return embedded.query(
        "SELECT id, status FROM socialcare_webhookdelivery WHERE id > ? AND status IN (?, ?)"
        " ORDER BY id",
        (since, *UNFINISHED),
    )


def wait_busy(embedded: Embedded, at_least: int, timeout: float = 60) -> list[int]:
    """Until ``at_least`` deliveries are stored and one is being processed: the ids in
    processing at that moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        embedded.check_alive()
        if stored(embedded) >= at_least:
            busy = processing(embedded)
            if busy:
                return busy
        time.sleep(0.005)
    raise AssertionError(
        f"no delivery was processing within {timeout} s ({stored(embedded)} stored): the kill "
        f"would hit nothing\n{embedded.tails()}"
    )


def kill_and_restart(embedded: Embedded, at_least: int, number: int) -> Kill:
    [worker] = embedded.live("qcluster")
    caught = wait_busy(embedded, at_least)
    killed_wall = time.time()
    embedded.kill_group(worker)
    name = f"qcluster{number + 1}"
    embedded.start_worker(name)  # as a process manager restarts the service
    seconds = embedded.wait_ready([name])
    return Kill(worker.name, caught, killed_wall, time.time(), seconds)


def baseline(embedded: Embedded) -> int:
    """The demo's own deliveries (its stories) are there before the test sends any."""
    return int(embedded.scalar("SELECT COALESCE(MAX(id), 0) FROM socialcare_webhookdelivery"))


def test_killed_qcluster_strands_no_delivery_and_stores_each_post_once(
    embedded: Embedded, robustness: Robustness, capsys: pytest.CaptureFixture
) -> None:
    described = describe(embedded)
    targets = targets_from(described)
    assert {t.platform for t in targets} >= {"x", "facebook", "instagram"}, described
    lease = described["lease_seconds"] or NO_LEASE
    retry = described["broker_retry"]
    bound = lease + retry + MARGIN
    work = scaleout_workload.build(targets, deliveries=DELIVERIES, seed=25, window=10)
    distinct = len({(d.target.channel_id, d.body) for d in work.deliveries})
    before = baseline(embedded)

    embedded.start_web()
    embedded.start_worker("qcluster1")
    embedded.wait_ready(["web", "qcluster1"])
    sender = Sender(embedded.url, SENDERS, rate=RATE)
    sending = threading.Thread(target=sender.run, args=(work.deliveries,), daemon=True)
    sending.start()
    kills = []
    for number, at_least in enumerate(KILL_AFTER, start=1):
        kills.append(kill_and_restart(embedded, before + at_least, number))
        robustness.fault()
    sending.join(120)
    assert not sending.is_alive(), "the senders never finished"
    assert not sender.crashed, sender.crashed
    assert sender.statuses() == {200: len(work.deliveries)}, "\n".join(
        [str(sender.statuses()), *sender.refusals(), "server errors:", *embedded.errors()]
    )

    # Every accepted delivery finishes within the bound after the last restart.
    deadline = time.monotonic() + max(0.0, kills[-1].restarted_wall + bound - time.time())
    while (left := unfinished(embedded, before)) and time.monotonic() < deadline:
        embedded.check_alive()
        time.sleep(0.25)
    finished_at = time.time()
    rows = embedded.query(
        "SELECT id, status, last_error, processed_at FROM socialcare_webhookdelivery WHERE id > ?",
        (before,),
    )
    status = {pk: (state, error or "", utc(at)) for pk, state, error, at in rows}
    stranded = [pk for kill in kills for pk in kill.caught]
    # A caught delivery finished after its kill was really stranded (not done a moment before).
    finished = [
        (kill, status[pk][2])
        for kill in kills
        for pk in kill.caught
        if status.get(pk, ("", "", None))[2] is not None
    ]
    hit = [(kill, at) for kill, at in finished if at > kill.killed_wall]
    after_restart = [at - kill.restarted_wall for kill, at in hit]
    after_kill = [at - kill.killed_wall for kill, at in hit]

    accepted = sender.accepted()
    missing_rows = sorted(set(accepted) - set(status))
    inbound = embedded.query(
        "SELECT platform, external_id, COUNT(*) FROM socialcare_post"
        " WHERE direction = 'inbound' GROUP BY platform, external_id"
    )
    counts = {external_id: n for _, external_id, n in inbound}
    missing_posts = sorted(set(work.posts) - set(counts))
    doubled = [(p, e, n) for p, e, n in inbound if n > 1]
    robustness.lost(len(missing_rows) + len(missing_posts))

    lines = [
        f"embedded default (runserver + qcluster x1, 2 workers; ORM broker, retry "
        f"{retry} s; SQLite WAL): {len(work.deliveries)} deliveries "
        f"({distinct} distinct) at {RATE}/s in {sender.seconds:.1f} s",
        *(
            f"  kill -9 of {k.worker}'s group with {len(k.caught)} deliveries processing; "
            f"restarted and ready in {k.restart_seconds:.1f} s"
            for k in kills
        ),
        f"  {len(hit)} stranded deliveries finished at worst {max(after_kill):.1f} s after "
        f"the kill, {max(after_restart):.1f} s after the restart (bound {bound:.0f} s = lease "
        f"{lease:.0f} + retry {retry} + margin {MARGIN})"
        if hit
        else "  no stranded delivery finished",
        f"  all done {finished_at - kills[-1].restarted_wall:.1f} s after the last restart",
    ]
    with capsys.disabled():
        print("\n" + "\n".join(lines))

    assert not missing_rows, f"200 answers with no delivery row: {listing(missing_rows)}"
    assert len(status) == distinct, f"{len(status)} deliveries stored for {distinct} distinct"
    assert not left, (
        f"{len(left)} deliveries still unfinished {bound:.0f} s after the restart (lease "
        f"{lease:.0f} s + broker retry {retry} s + {MARGIN} s): "
        f"{listing(left)}; stranded by the kills: {listing(stranded)}\n"
        f"server errors: {embedded.errors()}\n{embedded.tails()}"
    )
    failed = {pk: e for pk, (state, e, _) in status.items() if state == "failed"}
    assert all(failed.values()), f"deliveries failed without a reason: {failed}"
    assert hit, (
        f"every delivery caught processing had finished before its kill: the faults hit nothing "
        f"({[k.caught for k in kills]})"
    )
    assert not missing_posts, f"{len(missing_posts)} posts never stored: {listing(missing_posts)}"
    assert not doubled, f"posts stored more than once: {doubled[:5]}"


def holding_replies(embedded: Embedded, customers: dict[str, list[tuple[str, str]]]) -> dict:
    """customer key -> the automatic holding replies in their thread (outbound posts carrying
    the template's text on any case their posts were or are on, merged cases followed)."""
    merged_into = dict(embedded.query("SELECT id, merged_into_id FROM socialcare_case"))

    def live(case_id: int) -> int:
        while merged_into.get(case_id):
            case_id = merged_into[case_id]
        return case_id

    post_case = {
        (platform, external_id): case_id
        for platform, external_id, case_id in embedded.query(
            "SELECT platform, external_id, case_id FROM socialcare_post WHERE direction = 'inbound'"
        )
    }
    replies: dict[int, list[int]] = {}
    for pk, case_id in embedded.query(
        "SELECT id, case_id FROM socialcare_post WHERE direction = 'outbound'"
        " AND send_status IN ('queued', 'sending', 'sent') AND text LIKE ?",
        (f"%{HOLDING_MARKER}%",),
    ):
        replies.setdefault(live(case_id), []).append(pk)
    result = {}
    for key, posts in customers.items():
        cases = {live(post_case[p]) for p in posts if post_case.get(p)}
        result[key] = sorted(pk for case in cases for pk in replies.get(case, []))
    return result


def wait_settled(embedded: Embedded, timeout: float = 120) -> float:
    """Until every delivery is finished, no reply is queued or sending, no automatic message
    waits for its settle window (the ledger, where there is one), and nothing changed for
    ``QUIET_SECONDS``. Returns the seconds it took."""
    began = time.monotonic()
    ledger = embedded.has_table(LEDGER)
    pending = f"SELECT COUNT(*) FROM {LEDGER} WHERE status = 'pending'" if ledger else "SELECT 0"
    last, moved_at = None, time.monotonic()
    while True:
        embedded.check_alive()
        state = embedded.query(
            "SELECT (SELECT COUNT(*) FROM socialcare_webhookdelivery WHERE status IN (?, ?)),"
            " (SELECT COUNT(*) FROM socialcare_post WHERE direction = 'outbound'),"
            " (SELECT COUNT(*) FROM socialcare_post WHERE send_status IN ('queued', 'sending')),"
            " (SELECT COUNT(*) FROM socialcare_case WHERE merged_into_id IS NOT NULL),"
            f" ({pending})",
            UNFINISHED,
        )[0]
        now = time.monotonic()
        if state != last:
            last, moved_at = state, now
        if state[0] == state[2] == state[4] == 0 and now - moved_at >= QUIET_SECONDS:
            return now - began
        if now - began > timeout:
            raise AssertionError(
                f"the burst did not settle in {timeout} s (unfinished deliveries, outbound "
                f"posts, unsent, merged cases, automatic messages pending: {state})\n"
                f"server errors: {embedded.errors()}\n{embedded.tails()}"
            )
        time.sleep(0.25)


def test_follow_ups_before_their_originals_get_one_holding_reply_per_customer(
    embedded: Embedded, robustness: Robustness, capsys: pytest.CaptureFixture
) -> None:
    targets = targets_from(describe(embedded))
    step = embedded.shell(
        "from tests.embedded.workload import make_holding_reply_automatic;"
        " make_holding_reply_automatic()"
    )
    assert step["steps"] == 1, step
    assert HOLDING_MARKER in step["template"], step
    work = burst(targets, wave=16, customers=24, follow_ups=2)
    follow_ups = len(work.out_of_order) - 24
    robustness.fault(follow_ups)  # each arrives before the post it answers
    before = baseline(embedded)

    embedded.start_web()
    embedded.start_worker("qcluster1")
    embedded.wait_ready(["web", "qcluster1"])
    opening = Sender(embedded.url, BURST_SENDERS)
    opening.run(work.wave)
    deadline = time.monotonic() + 60
    while not embedded.query("SELECT id FROM socialcare_incident WHERE status = 'open'"):
        embedded.check_alive()
        assert time.monotonic() < deadline, (
            "the wave of complaints opened no incident (the demo's negative-surge detector)\n"
            f"server errors: {embedded.errors()}\n{embedded.tails()}"
        )
        time.sleep(0.25)
    sender = Sender(embedded.url, BURST_SENDERS)
    sender.run(work.out_of_order)
    for answers in (opening, sender):
        assert answers.statuses() == {200: len(answers.answers)}, answers.refusals()
    settled = wait_settled(embedded)

    stored_rows = embedded.query(
        "SELECT status, COUNT(*) FROM socialcare_webhookdelivery WHERE id > ? GROUP BY status",
        (before,),
    )
    sent = len(work.wave) + len(work.out_of_order)
    robustness.lost(sent - sum(n for _, n in stored_rows))
    assert dict(stored_rows) == {"processed": sent}, stored_rows
    replies = holding_replies(embedded, work.customers)
    per_customer = Counter(len(r) for r in replies.values())
    duplicates = {key: pks for key, pks in replies.items() if len(pks) > 1}
    ledger = (
        embedded.query(
            f"SELECT identity_id, COUNT(*) FROM {LEDGER} WHERE status = 'sent'"
            " AND purpose LIKE '%holding_reply' GROUP BY identity_id"
        )
        if embedded.has_table(LEDGER)
        else None
    )
    merged = int(
        embedded.scalar("SELECT COUNT(*) FROM socialcare_case WHERE merged_into_id IS NOT NULL")
    )
    with capsys.disabled():
        print(
            f"\nembedded default burst: {len(work.wave)} complaints opened the incident, then "
            f"{len(work.out_of_order)} deliveries at concurrency {BURST_SENDERS} "
            f"({follow_ups} follow-ups before their originals) from {len(replies)} customers; "
            f"{merged} cases merged; settled {settled:.1f} s after the last; holding replies "
            f"per customer: {dict(sorted(per_customer.items()))}"
            + (f"; {len(ledger)} customers in the automatic-message ledger" if ledger else "")
        )
    assert sum(len(r) for r in replies.values()) >= len(work.wave) - 1, (
        f"the holding reply did not run by itself: {dict(per_customer)}"
    )
    assert not duplicates, (
        f"{len(duplicates)} customers got the holding reply more than once: "
        f"{list(duplicates.items())[:5]}"
    )
    doubled = [row for row in ledger or [] if row[1] > 1]
    assert not doubled, f"identities the ledger says got two holding replies: {doubled[:5]}"
