"""Folding system events of the same minute on the case page (services.timeline.fold_system_events):
posts, replies and notes never fold and keep their order."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from socialcare.models import CaseEvent, Post
from socialcare.services import cases as case_services
from socialcare.services.timeline import (
    RANK_OPENED,
    RANK_POST,
    TimelineItem,
    fold_system_events,
)

K = CaseEvent.Kind
T0 = dt.datetime(2026, 3, 4, 12, 37, 5, tzinfo=dt.UTC)


def event(kind: str, at: dt.datetime, **data) -> TimelineItem:
    item_kind = "note" if kind == K.NOTE else "event"
    rank = RANK_OPENED if kind == K.CREATED else 2
    return TimelineItem(
        kind=item_kind, at=at, event=CaseEvent(kind=kind, at=at, data=data), rank=rank
    )


def post(at: dt.datetime, direction: str = "inbound") -> TimelineItem:
    return TimelineItem(
        kind=direction, at=at, post=Post(direction=direction, text="hi"), rank=RANK_POST
    )


def shape(groups) -> list[int]:
    return [len(group.items) for group in groups]


def test_system_events_of_the_same_minute_fold_into_one_line():
    items = [
        event(K.CREATED, T0),
        event(K.ASSIGNEE_CHANGED, T0 + dt.timedelta(seconds=20), to="Maya Okafor"),
        event(K.STATUS_CHANGED, T0 + dt.timedelta(seconds=40), to="open", **{"from": "new"}),
        event(K.TAGS_CHANGED, T0 + dt.timedelta(seconds=54), to=["billing"]),
    ]
    [group] = fold_system_events(items)
    assert group.folded and group.items == items
    assert group.summary == "Opened · assigned to Maya Okafor · status Open · tagged billing"
    assert group.actors == "system"


def test_events_of_different_minutes_do_not_fold():
    items = [
        event(K.ASSIGNEE_CHANGED, T0.replace(second=59), to="Maya Okafor"),
        event(K.STATUS_CHANGED, T0.replace(minute=38, second=0), to="open"),
    ]
    groups = fold_system_events(items)
    assert shape(groups) == [1, 1]
    assert not any(group.folded for group in groups)


def test_a_post_between_two_system_events_splits_them():
    items = [
        event(K.CREATED, T0),
        post(T0 + dt.timedelta(seconds=1)),
        event(K.ASSIGNEE_CHANGED, T0 + dt.timedelta(seconds=2), to="Maya Okafor"),
        event(K.STATUS_CHANGED, T0 + dt.timedelta(seconds=3), to="open"),
    ]
    groups = fold_system_events(items)
    assert shape(groups) == [1, 1, 2]
    assert [item for group in groups for item in group.items] == items  # the order is kept
    assert groups[1].item.kind == "inbound" and not groups[1].folded


def test_posts_replies_and_notes_never_fold():
    items = [
        post(T0),
        post(T0 + dt.timedelta(seconds=1)),
        post(T0 + dt.timedelta(seconds=2), direction="outbound"),
        event(K.NOTE, T0 + dt.timedelta(seconds=3), text="Courier says Tuesday."),
        event(K.NOTE, T0 + dt.timedelta(seconds=4), text="And Wednesday."),
        event(K.HANDED_OFF, T0 + dt.timedelta(seconds=5), text="Taken private"),
        event(K.STATUS_CHANGED, T0 + dt.timedelta(seconds=6), to="waiting_on_customer"),
    ]
    groups = fold_system_events(items)
    assert shape(groups) == [1] * 7
    assert [group.item for group in groups] == items


def test_a_single_system_event_stays_a_plain_line():
    items = [post(T0), event(K.PRIORITY_CHANGED, T0, to="high"), post(T0)]
    groups = fold_system_events(items)
    assert shape(groups) == [1, 1, 1]
    assert not groups[1].folded
    assert groups[1].summary == "Priority High"


def test_the_summary_of_other_events_uses_what_the_reader_may_read():
    breached = event(K.SLA_BREACHED, T0)
    linked = event(K.INCIDENT_LINKED, T0, incident=7)
    linked.event.shown_summary = "Linked to incident #7"
    removed = event(K.TAGS_CHANGED, T0, to=[])
    [group] = fold_system_events([breached, linked, removed])
    assert group.summary == "SLA breached · linked to incident #7 · tags removed"


# On the page ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_case_page_shows_a_fold_with_the_events_inside(client, agent, other_agent, case):
    agent.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_case", "change_case"])
    )
    client.force_login(agent)
    now = (timezone.now() - dt.timedelta(minutes=1)).replace(second=5)
    case.events.update(at=now - dt.timedelta(minutes=5))
    case_services.update_case(case, actor=agent, assignee=other_agent, status="open")
    case.events.exclude(kind=K.CREATED).update(at=now)
    case_services.add_note(case, "Courier says Tuesday.", actor=agent)

    body = client.get(reverse("admin:socialcare_case_change", args=[case.pk])).content.decode()

    timeline = body.split('id="sc-timeline"', 1)[1].split("</ol>", 1)[0]
    [fold] = re.findall(
        r'<li class="sc-fold[^"]*" data-kind="fold"[^>]*>(.*?)</details>', timeline, re.S
    )
    assert "<summary" in fold
    assert re.findall(r'data-event="(\w+)"', fold) == ["assignee_changed", "status_changed"]
    assert "Assigned to Bob Backup · status Open" in fold
    # The note and the opening (another minute) stay lines of their own.
    kinds = re.findall(r'class="sc-timeline__item[^"]*" data-kind="(\w+)"', timeline)
    assert kinds == ["event", "event", "event", "note"]
