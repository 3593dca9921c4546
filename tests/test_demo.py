"""The demo: the data a first-time user clicks through, and `socialcare_demo --no-serve`."""

from __future__ import annotations

import datetime as dt
import re
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count

from socialcare.conf import app_settings
from socialcare.demo import MARKER_CHANNEL, load_demo_data
from socialcare.models import (
    Case,
    CaseEvent,
    Channel,
    CustomerMerge,
    Post,
    Priority,
    SocialIdentity,
    get_customer_model,
)

pytestmark = pytest.mark.django_db

#: A Wednesday afternoon in Berlin, so business-hours SLAs are running.
NOW = dt.datetime(2026, 3, 11, 14, 30, tzinfo=dt.UTC)


@pytest.fixture
def demo() -> dict[str, Any]:
    return load_demo_data(now=NOW)


def test_cases_in_every_status_and_priority(demo: dict[str, Any]) -> None:
    assert demo["created"] is True
    assert demo["cases"] == Case.objects.count() >= 35
    assert set(Case.objects.values_list("status", flat=True)) == set(Case.Status.values)
    assert set(Case.objects.values_list("priority", flat=True)) == set(Priority.values)
    assert all(demo["cases_by_status"][status] >= 3 for status in Case.Status.values)
    assert Case.objects.filter(customer__isnull=True).exists()  # from identities nobody matched
    assert Case.objects.filter(merged_into__isnull=False).count() == 1


def test_overdue_cases(demo: dict[str, Any]) -> None:
    overdue = Case.objects.overdue(NOW)
    assert overdue.count() >= 3
    assert demo["overdue_cases"] == overdue.count()
    assert overdue.filter(priority=Priority.URGENT).exists()


def test_timelines_are_complete_and_in_the_past(demo: dict[str, Any]) -> None:
    for case in Case.objects.prefetch_related("events"):
        assert re.fullmatch(r"SC-\d{6}", case.reference)
        first = case.events.order_by("at", "pk").first()
        assert first is not None and first.kind == CaseEvent.Kind.CREATED
        assert first.at == case.created_at
    assert not CaseEvent.objects.filter(at__gt=NOW).exists()
    assert not Post.objects.filter(posted_at__gt=NOW).exists()
    # Every post is on its case's timeline: inbound as "post added", outbound as "replied".
    for post in Post.objects.all():
        kind = CaseEvent.Kind.POST_ADDED if post.is_inbound else CaseEvent.Kind.REPLIED
        assert CaseEvent.objects.filter(post=post, kind=kind).exists(), post
    replies = Post.objects.outbound()
    assert replies.exists()
    assert not replies.exclude(send_status=Post.SendStatus.SENT).exists()
    assert not replies.filter(sent_by__is_staff=False).exists()
    assert Case.objects.filter(first_responded_at__isnull=False).count() == (
        Case.objects.filter(posts__direction=Post.Direction.OUTBOUND).distinct().count()
    )
    for kind in (CaseEvent.Kind.NOTE, CaseEvent.Kind.TAGS_CHANGED, CaseEvent.Kind.MERGED):
        assert CaseEvent.objects.filter(kind=kind).exists(), kind


def test_customers_with_several_identities(demo: dict[str, Any]) -> None:
    Customer = get_customer_model()
    several = Customer._default_manager.annotate(n=Count("social_identities")).filter(n__gte=2)
    assert several.count() >= 10
    names = set(Customer._default_manager.values_list(app_settings.CUSTOMER_NAME_FIELD, flat=True))
    assert {"Jonas Müller", "田中 健二", "Zoë Brooks 🎧"} <= names
    assert SocialIdentity.objects.unresolved().count() == demo["unresolved_identities"] > 0
    assert SocialIdentity.objects.filter(followers_count__gte=50_000).count() >= 3
    assert CustomerMerge.objects.count() == 1
    assert len(set(SocialIdentity.objects.values_list("platform", flat=True))) == 6
    channel = Channel.objects.get(name=MARKER_CHANNEL)
    assert channel.get_secret("webhook_secret").startswith("demo-")


def test_second_load_changes_nothing(demo: dict[str, Any]) -> None:
    before = [m.objects.count() for m in (Case, Post, CaseEvent, SocialIdentity)]
    assert load_demo_data(now=NOW) == {"created": False}
    assert [m.objects.count() for m in (Case, Post, CaseEvent, SocialIdentity)] == before


def _password(output: str) -> str:
    match = re.search(r"^\s*password\s+(\S+)", output, re.MULTILINE)
    assert match, output
    return match[1]


def test_command_creates_the_admin_and_prints_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SOCIALCARE_DEMO_PASSWORD", raising=False)
    out = StringIO()
    call_command("socialcare_demo", "--no-serve", stdout=out)
    password = _password(out.getvalue())
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.check_password(password)
    assert Channel.objects.filter(name=MARKER_CHANNEL).exists()
    assert "Loaded the Acme demo" in out.getvalue()


def test_command_again_resets_the_password_and_keeps_the_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    call_command("socialcare_demo", "--no-serve", stdout=StringIO())
    cases = Case.objects.count()
    monkeypatch.setenv("SOCIALCARE_DEMO_PASSWORD", "let-me-in-demo")
    out = StringIO()
    call_command("socialcare_demo", "--no-serve", stdout=out)
    assert _password(out.getvalue()) == "let-me-in-demo"
    assert get_user_model().objects.get(username="admin").check_password("let-me-in-demo")
    assert "already loaded" in out.getvalue()
    assert Case.objects.count() == cases


def test_command_refuses_a_bad_address_before_doing_anything() -> None:
    with pytest.raises(CommandError, match="not a port"):
        call_command("socialcare_demo", "--addrport", "localhost:http", stdout=StringIO())
    assert not Channel.objects.exists()
