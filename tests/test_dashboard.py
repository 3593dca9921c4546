"""The support dashboard: its numbers on a small known data set, bounded queries, the page with its
six SVG figures, filters and bad parameters, permissions and team scoping."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from socialcare.models import Case, Channel, Incident, Post, Team
from socialcare.services.dashboard import build_dashboard, percentile

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
URL = "/admin/socialcare/supportdashboard/"


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 6, day, hour, minute, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def superuser():
    return get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")


def make_case(channel, team, status, created, due=None, responded=None, **fields):
    return Case.objects.create(
        channel=channel, team=team, status=status, created_at=created,
        first_response_due_at=due, first_responded_at=responded, **fields,
    )  # fmt: skip


def post(channel, case, when, sentiment=None, direction="inbound"):
    return Post.objects.create(
        platform=channel.platform, channel=channel, direction=direction, kind="mention",
        visibility="public", text="hello", posted_at=when, sentiment=sentiment, case=case,
    )  # fmt: skip


@pytest.fixture
def data(channel, team):
    """Care (alice's team) and Billing; X and Mastodon; 7 days to 15 June 12:00 UTC."""
    billing = Team.objects.create(name="Billing")
    mastodon = Channel.objects.create(
        name="Acme on Mastodon", platform="mastodon", account_id="m1", handle="acme"
    )
    care = team
    a = make_case(channel, care, "open", at(14, 10), at(14, 11), at(14, 10, 30))  # 30 min, met
    b = make_case(channel, care, "resolved", at(14, 12), at(14, 13), at(14, 14))  # 120, missed
    c = make_case(mastodon, care, "open", at(15, 9), at(15, 10), at(15, 9, 10))  # 10, met
    d = make_case(channel, billing, "new", at(15, 8), at(15, 9))  # breached, open
    e = make_case(channel, None, "open", at(13, 8))  # no due time: ok
    f = make_case(channel, care, "closed", at(10, 8), at(10, 9), at(10, 8, 20))  # 20, met
    old = make_case(channel, care, "closed", at(1, 8), at(1, 9), at(1, 8, 5))  # out of range
    post(channel, a, at(14, 10), -0.8)
    post(channel, a, at(14, 11), 0.5)
    post(channel, b, at(14, 12))
    post(mastodon, c, at(14, 23), -0.5)
    post(channel, d, at(15, 8), -0.9)
    post(channel, d, at(15, 9), -0.1)
    post(channel, old, at(1, 8), -1.0)  # out of range
    post(channel, a, at(15, 10), direction="outbound")  # replies are not volume
    active = Incident.objects.create(title="Outage", severity="high", opened_at=at(14, 9))
    Case.objects.filter(pk__in=[a.pk, d.pk]).update(incident=active)
    Incident.objects.create(
        title="Old", severity="low", status="resolved", opened_at=at(12, 9), scope="old"
    )
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f, "billing": billing, "care": care}


def index(dashboard, day):
    return dashboard.days.index(dt.date(2026, 6, day))


# Numbers --------------------------------------------------------------------------------------
def test_percentile_interpolates_like_percentile_cont():
    assert percentile([], 0.5) is None
    assert percentile([10], 0.9) == 10
    assert percentile([30, 120], 0.5) == 75
    assert percentile([30, 120], 0.9) == pytest.approx(111)
    assert percentile([1, 2, 3, 4], 0.5) == 2.5


def test_metrics_on_a_known_data_set(data, superuser):
    d = build_dashboard(superuser, days=7)
    assert d.days[0] == dt.date(2026, 6, 9) and d.days[-1] == dt.date(2026, 6, 15)
    # Volume: inbound posts in range by day and platform.
    assert d.platforms == ["x", "mastodon"]
    assert d.volume["x"][index(d, 14)] == 3
    assert d.volume["x"][index(d, 15)] == 2
    assert d.volume["mastodon"][index(d, 14)] == 1
    assert sum(d.volume["x"]) == 5 and d.totals["posts"] == 6
    # First-response percentiles (minutes) per day of the case's creation.
    assert d.p50[index(d, 14)] == 75 and d.p90[index(d, 14)] == 111
    assert d.p50[index(d, 15)] == 10 and d.p50[index(d, 10)] == 20
    assert d.p50[index(d, 13)] is None
    assert d.target_minutes == 60
    # Compliance: met of responded; breached open now.
    assert d.compliance[index(d, 14)] == 50
    assert d.compliance[index(d, 15)] == 100
    assert d.compliance[index(d, 12)] is None
    assert (d.totals["met"], d.totals["responded"], d.totals["compliance"]) == (3, 4, 75)
    assert d.breached_open == 1
    # Sentiment: share of scored posts below -0.3, and the average.
    assert d.negative_share[index(d, 14)] == pytest.approx(66.7)
    assert d.negative_share[index(d, 15)] == 50
    assert d.avg_sentiment[index(d, 14)] == pytest.approx(-0.27)
    assert d.avg_sentiment[index(d, 15)] == -0.5
    assert d.negative_share[index(d, 12)] is None
    # Open cases by team (current), incidents.
    assert d.open_by_team == [("Care", 2), ("Billing", 1), ("No team", 1)]
    assert d.active_incident_count == 1
    assert [i.title for i in d.active_incidents] == ["Outage"]
    assert d.active_incidents[0].visible_cases == 2
    assert d.incidents_opened[index(d, 14)] == 1 and d.incidents_opened[index(d, 12)] == 1


def test_days_are_counted_in_the_current_time_zone(data, superuser):
    # The Mastodon post at 23:00 UTC on the 14th is on the 15th in Berlin (UTC+2).
    with timezone.override("Europe/Berlin"):
        d = build_dashboard(superuser, days=7)
    assert d.volume["mastodon"][index(d, 15)] == 1
    assert d.volume["mastodon"][index(d, 14)] == 0


def test_filters_by_team_and_platform(data, superuser):
    d = build_dashboard(superuser, days=7, team=data["care"])
    assert d.totals["posts"] == 4  # Billing's case D has the two posts of the 15th
    assert d.breached_open == 0
    assert d.open_by_team == [("Care", 2)]
    d = build_dashboard(superuser, days=7, platform="mastodon")
    assert d.platforms == ["mastodon"] and d.totals["posts"] == 1
    assert d.totals["responded"] == 1 and d.p50[index(d, 15)] == 10
    d = build_dashboard(superuser, days=30)
    assert len(d.days) == 30 and d.totals["posts"] == 7  # now includes the 1st


def test_an_agent_counts_only_cases_they_can_see(data, agent):
    d = build_dashboard(agent, days=7)  # alice: Care, plus cases of no team
    assert d.volume["x"][index(d, 15)] == 0  # Billing's posts are not hers
    assert d.breached_open == 0
    assert ("Billing", 1) not in d.open_by_team
    assert dict(d.open_by_team) == {"Care": 2, "No team": 1}
    assert d.active_incidents[0].visible_cases == 1


def test_query_count_does_not_depend_on_data_size(data, superuser, channel):
    with CaptureQueriesContext(connection) as small:
        build_dashboard(superuser, days=7)
    for i in range(40):
        case = make_case(channel, data["care"], "open", at(15, 1, i), at(15, 2), at(15, 1, i + 5))
        post(channel, case, at(15, 1, i), -0.5)
        Incident.objects.create(
            title=f"Wave {i}", severity="low", opened_at=at(13, 1), scope=str(i)
        )
    with CaptureQueriesContext(connection) as large:
        d = build_dashboard(superuser, days=7)
    assert d.volume["x"][index(d, 15)] == 42
    assert d.active_incident_count == 41
    queue = 1  # the team queue and time to assignment (services.routing.queue_figures)
    csat = 1  # CSAT per day, team and platform (services.csat.stats), one GROUP BY
    assert len(large.captured_queries) == len(small.captured_queries) <= 8 + queue + csat


# The page -------------------------------------------------------------------------------------
def grant(user, *codenames):
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="socialcare", codename__in=codenames)
    )
    return type(user).objects.get(pk=user.pk)


def figures(body):
    return re.findall(
        r'<figure class="sc-chart" data-chart="([a-z_]+)"[^>]*>\s*<figcaption>[^<]+</figcaption>'
        r'\s*<svg xmlns="http://www.w3.org/2000/svg" role="img"[^>]* aria-label="[^"]+"',
        body,
    )


def test_page_renders_six_figures(client, data, superuser, django_assert_max_num_queries):
    client.force_login(superuser)
    with django_assert_max_num_queries(14 + 1 + 1):  # +1: the team queue, +1: CSAT (#20)
        response = client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert figures(body) == [
        "volume",
        "first_response",
        "sla_compliance",
        "sentiment",
        "open_by_team",
        "incidents",
    ]
    assert body.count('<details class="sc-chart__data">') == 6
    assert "Target 60 min" in body
    assert '<dd id="sc-breached-open">1</dd>' in body
    assert f"#{Incident.objects.get(title='Outage').pk} Outage" in body
    assert 'value="14" selected' in body  # the default range
    # The admin index lists it in the sidebar.
    assert URL in client.get("/admin/").content.decode()


def test_range_team_and_platform_filters(client, data, superuser):
    client.force_login(superuser)
    body = client.get(URL, {"days": "7", "platform": "mastodon"}).content.decode()
    assert "1 posts in 7 days" in body
    assert "Nov" not in body and "Jun 9" in body and "Jun 8" not in body
    body = client.get(URL, {"days": "30", "team": data["billing"].pk}).content.decode()
    assert "2 posts in 30 days" in body


def test_bad_parameters_show_an_error_and_use_the_default(client, data, superuser):
    client.force_login(superuser)
    response = client.get(URL, {"days": "365", "team": "nope", "platform": "myspace"})
    assert response.status_code == 200
    text = " ".join(str(m) for m in response.context["messages"])
    assert "Range: Select a valid choice. 365 is not one of the available choices." in text
    assert "Team:" in text and "Platform:" in text and "The default is shown instead." in text
    assert "6 posts in 14 days" in response.content.decode()


def test_the_page_needs_a_view_permission(client, data, make_user):
    nobody = make_user("nobody")
    client.force_login(nobody)
    assert client.get(URL).status_code == 403
    assert URL not in client.get("/admin/").content.decode()
    client.force_login(grant(nobody, "view_supportdashboard"))
    assert client.get(URL).status_code == 200
    viewer = grant(make_user("viewer"), "view_case")
    client.force_login(viewer)
    assert client.get(URL).status_code == 200


def test_nothing_can_be_added_or_changed(client, data, superuser):
    client.force_login(superuser)
    assert client.get(URL + "add/").status_code == 404
    assert client.get(URL + f"{data['a'].pk}/change/").status_code == 404
    assert client.post(URL, {"action": "delete_selected"}).status_code == 405


def test_an_agent_page_is_scoped(client, data, agent):
    client.force_login(grant(agent, "view_case"))
    body = client.get(URL).content.decode()
    assert "4 posts in 14 days" in body
    assert '<dd id="sc-breached-open">0</dd>' in body
    assert reverse("admin:socialcare_supportdashboard_changelist") == URL


def test_incident_titles_are_escaped(client, data, superuser):
    Incident.objects.create(title="<script>alert(1)</script>", severity="high", scope="xss")
    client.force_login(superuser)
    body = client.get(URL).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
