"""#20's acceptance on PostgreSQL: 200 cases arriving through two workers at 3 online agents with
capacity 5 and mixed skills. Nobody is ever over capacity, every case goes to a skilled agent or
waits in triage order, and the queue drains as cases close (two workers closing)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from socialcare.models import AssignmentWait, Case, CaseEvent, Post, TeamMembership
from socialcare.services import cases as case_services
from socialcare.services.routing import set_status
from socialcare.services.routing.assign import is_skilled
from socialcare.services.routing.queue import waiting_cases

LANGUAGES = ["en", "fr", "de", "en-GB"]
CAPACITY = 5


def run_in_two_workers(work: list[Any], job: Any) -> None:
    halves = [work[0::2], work[1::2]]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker(items: list[Any]) -> None:
        try:
            barrier.wait()
            for item in items:
                job(item)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(h,)) for h in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def assert_within_capacity(team: Any) -> None:
    loads = Counter(
        Case.objects.open()
        .filter(team=team, assignee__isnull=False)
        .values_list("assignee", flat=True)
    )
    assert loads and max(loads.values()) <= CAPACITY, loads


@pytest.mark.django_db(transaction=True)
def test_200_cases_three_agents_two_workers(team, agent, other_agent, make_user, channel, identity):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite runs one writer at a time")
    carol = make_user("carol")
    team.auto_assign = True
    team.save()
    TeamMembership.objects.create(team=team, user=carol)
    TeamMembership.objects.filter(user=agent).update(capacity=CAPACITY, languages=["en"])
    TeamMembership.objects.filter(user=other_agent).update(capacity=CAPACITY, languages=["fr"])
    TeamMembership.objects.filter(user=carol).update(capacity=CAPACITY, platforms=["x"])
    for user in (agent, other_agent, carol):
        set_status(user, "online")

    def arrive(n: int) -> None:
        with transaction.atomic():
            case = case_services.open_case(channel=channel, identity=identity, subject=f"#{n}")
            Post.objects.create(
                platform="x", channel=channel, external_id=f"load-{n}", direction="inbound",
                kind="mention", visibility="public", text="help", posted_at=timezone.now(),
                case=case, language=LANGUAGES[n % len(LANGUAGES)],
            )  # fmt: skip

    run_in_two_workers(list(range(200)), arrive)
    assert Case.objects.count() == 200
    assert_within_capacity(team)
    assigned = Case.objects.filter(assignee__isnull=False).count()
    queued = waiting_cases(team).count()
    assert assigned == 3 * CAPACITY
    assert assigned + queued == 200

    memberships = {m.user_id: m for m in TeamMembership.objects.filter(team=team)}
    drained: list[int] = []
    while waiting_cases(team).exists():
        busy = list(Case.objects.open().filter(assignee__isnull=False).order_by("pk"))
        assert busy, "the queue waits but nobody holds a case"
        before = set(waiting_cases(team).values_list("pk", flat=True))
        order = list(waiting_cases(team).values_list("pk", flat=True))
        run_in_two_workers(busy, lambda c: case_services.change_status(c, "resolved"))
        assert_within_capacity(team)
        after = set(waiting_cases(team).values_list("pk", flat=True))
        taken = [pk for pk in order if pk in before - after]
        drained += taken
    assert len(drained) == 200 - 3 * CAPACITY

    # Every case went to an agent with its skills.
    for case in Case.objects.select_related("channel"):
        language = case.posts.get().language
        assert case.assignee_id, case
        assert is_skilled(memberships[case.assignee_id], language, "x"), (case, language)
    # Triage order: within one set of agents able to take them (a language), the cases that
    # waited were handed out in the order they waited.
    for language in LANGUAGES:
        waited = AssignmentWait.objects.filter(
            case__posts__language=language, outcome="assigned"
        ).values("case")
        events = dict(
            CaseEvent.objects.filter(
                case__in=waited, kind="assignee_changed", actor__isnull=True
            ).values_list("case", "pk")
        )
        drained_here = [pk for pk in drained if pk in events]
        by_assignment = sorted(drained_here, key=events.__getitem__)
        due = dict(
            Case.objects.filter(pk__in=drained_here).values_list("pk", "first_response_due_at")
        )
        assert by_assignment == sorted(drained_here, key=lambda pk: (due[pk], -pk)), language
