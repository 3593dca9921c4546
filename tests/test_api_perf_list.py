"""The case list's cheaper read path gives what the plain ORM reading gives: tag names (one
query for the page, in ``Tag``'s order), the looked-up columns and counts, datetimes in the
current zone, filters that validate and apply as before, and a query count that does not grow
with the page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Count, Q
from django.test import override_settings
from rest_framework import serializers

from socialcare.api.case_filters import CaseFilter
from socialcare.models import Case, CaseEvent, Incident, Post, Tag
from socialcare.services import cases as case_services
from tests.test_api_cases import API, assert_error, ids
from tests.test_api_cases import api as api
from tests.test_api_cases import client_for as client_for
from tests.test_api_cases import make_case as make_case
from tests.test_api_cases import make_post as make_post

pytestmark = pytest.mark.django_db

AWKWARD_TAGS = ["zeta", "Alpha", "beta", "Émile", 'say "hi" \\ back', "10%"]


def listed(api, query=""):
    response = api.get(f"{API}/cases/?page_size=100{query}")
    assert response.status_code == 200, response.content
    return {item["id"]: item for item in response.json()["results"]}


def test_tags_come_in_the_page_in_the_tag_order(api, make_case):
    tagged = make_case("Tagged", tags=AWKWARD_TAGS)
    bare = make_case("Bare")
    expected = list(Tag.objects.filter(cases=tagged).values_list("name", flat=True))
    assert sorted(expected) == sorted(AWKWARD_TAGS)

    page = listed(api)
    assert page[tagged.pk]["tags"] == expected
    assert page[bare.pk]["tags"] == []
    assert api.get(f"{API}/cases/{tagged.pk}/").json()["tags"] == expected
    assert ids(api.get(f"{API}/cases/?tag=%C3%89mile")) == [tagged.pk]


def test_looked_up_columns_and_counts_match_the_rows(api, make_case, make_post, agent):
    target = make_case("Kept")
    case = make_case("Busy", incident=Incident.objects.create(title="Outage"))
    make_post(case, external_id="in1")
    make_post(case, "Sorry", external_id="out1", direction=Post.Direction.OUTBOUND)
    make_post(case, "Again", external_id="in2")
    case_services.add_note(case, "Call back", actor=agent)
    Case.objects.filter(pk=case.pk).update(merged_into=target, team=None)

    page = listed(api)
    for pk, item in page.items():
        row = Case.objects.annotate(
            n_posts=Count("posts", distinct=True),
            n_inbound=Count("posts", filter=Q(posts__direction="inbound"), distinct=True),
            n_outbound=Count("posts", filter=Q(posts__direction="outbound"), distinct=True),
        ).get(pk=pk)
        notes = CaseEvent.objects.filter(case_id=pk, kind=CaseEvent.Kind.NOTE).count()
        assert (
            item["post_count"],
            item["inbound_count"],
            item["outbound_count"],
            item["note_count"],
        ) == (row.n_posts, row.n_inbound, row.n_outbound, notes)
        channel = row.channel
        assert item["channel"] == (
            None
            if channel is None
            else {
                "id": channel.pk,
                "name": channel.name,
                "platform": channel.platform,
                "handle": channel.handle,
            }
        )
        assert item["team"] == (
            None if row.team_id is None else {"id": row.team_id, "name": row.team.name}
        )
        assert item["merged_into_reference"] == (
            row.merged_into.reference if row.merged_into_id else None
        )
        assert item["incident"] == (
            None if row.incident_id is None else {"id": row.incident_id, "title": "Outage"}
        )
    busy = page[case.pk]
    assert (busy["post_count"], busy["inbound_count"], busy["outbound_count"]) == (3, 2, 1)
    assert busy["note_count"] == 1
    assert busy["merged_into_reference"] == target.reference
    assert busy["team"] is None


@override_settings(TIME_ZONE="America/St_Johns")
def test_datetimes_render_in_the_current_zone_as_drf_does(api, make_case):
    case = make_case("Zoned")
    half_hour_zone = dt.datetime(2026, 3, 1, 12, 0, 30, 123456, tzinfo=dt.UTC)
    Case.objects.filter(pk=case.pk).update(first_response_due_at=half_hour_zone)
    case.refresh_from_db()

    item = listed(api)[case.pk]
    drf = serializers.DateTimeField()
    assert item["first_response_due_at"] == drf.to_representation(half_hour_zone)
    assert item["first_response_due_at"] == "2026-03-01T08:30:30.123456-03:30"
    assert item["created_at"] == drf.to_representation(case.created_at)


def test_filters_validate_and_apply_as_before(api, make_case, robustness):
    urgent = make_case("Urgent", priority="urgent")
    low = make_case("Low", priority="low")

    assert ids(api.get(f"{API}/cases/?priority=urgent")) == [urgent.pk]
    assert sorted(ids(api.get(f"{API}/cases/?priority=urgent&priority=low&nonsense=1"))) == sorted(
        [urgent.pk, low.pk]
    )
    assert ids(api.get(f"{API}/cases/?priorityx=1&priority=low")) == [low.pk]
    robustness.bad_inputs(3)  # an unknown priority, a date that is none, an unknown assignee
    body = assert_error(api.get(f"{API}/cases/?priority=extreme"), 400, "invalid")
    assert list(body["errors"]) == ["priority"]
    body = assert_error(
        api.get(f"{API}/cases/?created_after=yesterday&assignee=someone"), 400, "invalid"
    )
    assert sorted(body["errors"]) == ["assignee", "created_after"]


def test_a_filterset_builds_only_the_filters_given():
    assert len(CaseFilter.base_filters) > 10
    given = CaseFilter(data={"status": ["new"], "updated_since": "2026-01-01T00:00Z"})
    assert sorted(given.filters) == ["status", "updated_since"]
    assert CaseFilter(data={}).filters == {}
    assert sorted(CaseFilter().filters) == sorted(CaseFilter.base_filters)  # unbound: all


def test_a_page_costs_the_same_queries_whatever_its_size(
    api, make_case, make_post, django_assert_num_queries
):
    for n in range(30):
        case = make_case(f"Case {n}", tags=["vip", f"t{n}"])
        make_post(case, external_id=f"p{n}")
    api.get(f"{API}/cases/?page_size=1")  # the key's last use is recorded once a minute
    # key + user, user and group permissions, the page (its tags in it)
    for size in (2, 30):
        with django_assert_num_queries(4):
            page = api.get(f"{API}/cases/?page_size={size}&status=new")
        assert len(ids(page)) == size
        assert all(sorted(item["tags"])[-1] == "vip" for item in page.json()["results"])
