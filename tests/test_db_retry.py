"""An agent's reply that PostgreSQL rolled back as a deadlock's victim is written again, whole,
and the agent gets 201 (services/db_retry.py): the change counter every case write takes makes
such deadlocks possible between an agent's request and a worker's batch."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from socialcare.models import CaseEvent, Post
from socialcare.services import replies
from socialcare.services.db_retry import ATTEMPTS, is_retryable
from tests.test_api_cases import API
from tests.test_api_cases import api as api
from tests.test_api_cases import client_for as client_for
from tests.test_api_cases import make_post as make_post

# The retry runs only around the outermost transaction: no test transaction around it.
pytestmark = pytest.mark.django_db(transaction=True)


class DeadlockDetected(Exception):
    sqlstate = "40P01"


def deadlock() -> OperationalError:
    error = OperationalError("deadlock detected")
    error.__cause__ = DeadlockDetected()
    return error


def fail_first(monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    calls = []
    real = replies.record_event

    def record_event(*args, **kwargs):
        calls.append(1)
        if len(calls) <= times:
            raise deadlock()
        return real(*args, **kwargs)

    monkeypatch.setattr(replies, "record_event", record_event)
    return calls


def test_a_reply_chosen_as_a_deadlocks_victim_is_sent_once_on_the_next_try(
    api, case, make_post, monkeypatch
):
    make_post(case, external_id="1893345")
    calls = fail_first(monkeypatch, times=1)
    response = api.post(f"{API}/cases/{case.pk}/replies/", {"text": "Sorry, Ada!"})
    assert response.status_code == 201, response.content
    assert len(calls) >= 2  # the first try's, then the second's
    outbound = Post.objects.filter(case=case, direction=Post.Direction.OUTBOUND)
    assert list(outbound.values_list("text", flat=True)) == ["Sorry, Ada!"]
    assert CaseEvent.objects.filter(case=case, kind=CaseEvent.Kind.REPLIED).count() == 1


def test_a_deadlock_every_time_gives_up_after_the_last_try(api, case, make_post, monkeypatch):
    make_post(case, external_id="1893345")
    calls = fail_first(monkeypatch, times=ATTEMPTS)
    with pytest.raises(OperationalError):
        replies.send_reply(case, "Sorry, Ada!", actor=None)
    assert len(calls) == ATTEMPTS
    assert not Post.objects.filter(case=case, direction=Post.Direction.OUTBOUND).exists()


def test_only_deadlocks_and_serialization_failures_are_retried():
    assert is_retryable(deadlock())
    other = OperationalError("connection refused")
    assert not is_retryable(other)
