"""The hand-written rendering of cases, posts and timeline events (the API's hot read paths)
gives exactly what DRF's field-by-field rendering of the same declared fields gives, for rows
with every relation set and rows with none, so the JSON and its OpenAPI description agree."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone, translation
from rest_framework import serializers

from socialcare.api.case_serializers import CaseEventSerializer, CaseSerializer, PostSerializer
from socialcare.api.cases import case_queryset, event_queryset, post_queryset
from socialcare.models import Case, CaseEvent, Incident, Post
from socialcare.services import cases as case_services

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


def by_drf(serializer, instance):
    """What the declared fields render through DRF's generic field loop."""
    return serializers.Serializer.to_representation(serializer, instance)


def assert_same(serializer_class, queryset, **context):
    rows = list(queryset)
    assert rows
    for row in rows:
        serializer = serializer_class(context=context)
        fast, reference = serializer.to_representation(row), by_drf(serializer, row)
        assert fast == reference
        assert list(fast) == list(reference)  # the same keys in the same order


@pytest.fixture
def full_case(channel, identity, agent, make_identity):
    """A case with every relation and count set, and a bare one."""
    case = case_services.open_case(channel=channel, identity=identity, subject="Refund")
    case_services.set_tags(case, ["vip", "refund"])
    incident = Incident.objects.create(title="Outage")
    bare = Case.objects.create(reference="SC-BARE", subject="")
    Case.objects.filter(pk=case.pk).update(
        assignee=agent,
        incident=incident,
        merged_into=bare,
        first_responded_at=NOW,
        resolved_at=NOW.astimezone(ZoneInfo("Europe/Paris")),
    )
    Post.objects.create(
        platform="x", channel=channel, author=identity, case=case, text="Where is my money?",
        direction="inbound", kind="mention", visibility="public", sentiment=-0.75,
        attachments=[{"type": "image", "url": "https://example.com/a.png"}],
    )  # fmt: skip
    Post.objects.create(
        platform="x", channel=channel, case=case, text="On its way", direction="outbound",
        kind="reply", visibility="public", sent_by=agent, send_status="sent", reach=12,
        edited_at=NOW, deleted_at=NOW, url="https://x.com/brand/status/1",
    )  # fmt: skip
    Post.objects.create(
        platform="email", external_id=None, text="Orphan", direction="inbound", kind="email",
        visibility="private",
    )  # fmt: skip
    identity.owner_verified_at = NOW
    identity.save()
    case_services.add_note(case, "Call back", actor=agent)
    case_services.update_case(case, actor=agent, priority="urgent")
    return case, bare


def test_cases_render_as_the_declared_fields_do(full_case):
    assert_same(CaseSerializer, case_queryset(Case.objects.all()), now=timezone.now())
    assert_same(CaseSerializer, case_queryset(Case.objects.all()), now=NOW)


def test_posts_render_as_the_declared_fields_do(full_case):
    assert_same(PostSerializer, post_queryset(Post.objects.all()))


def test_timeline_events_render_as_the_declared_fields_do(full_case):
    kinds = set(CaseEvent.objects.values_list("kind", flat=True))
    assert {"created", "note", "priority_changed"} <= kinds
    assert_same(CaseEventSerializer, event_queryset(CaseEvent.objects.all()))
    with translation.override("fr"):
        assert_same(CaseEventSerializer, event_queryset(CaseEvent.objects.all()))


def test_a_summary_uses_the_kinds_label_and_leaves_the_event_as_it_was(full_case):
    event = CaseEvent.objects.filter(kind="priority_changed").get()
    summary = CaseEventSerializer().get_summary(event)
    assert summary == event.summary()
    assert summary.startswith(event.get_kind_display())
    assert "get_kind_display" not in vars(event)


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/St_Johns"])
def test_every_shape_renders_in_the_current_zone_as_drf_does(full_case, zone):
    with timezone.override(ZoneInfo(zone)):
        assert_same(CaseSerializer, case_queryset(Case.objects.all()), now=NOW)
        assert_same(PostSerializer, post_queryset(Post.objects.all()))
        assert_same(CaseEventSerializer, event_queryset(CaseEvent.objects.all()))
        rendered = CaseSerializer(case_queryset(Case.objects.all()), many=True).data
    assert all(item["created_at"][-6:] in ("+05:30", "-03:30", "-02:30") for item in rendered)
