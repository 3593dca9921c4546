"""The cases API: auth and the team rule, every filter, create/update through the services, the
timeline, replies, notes, merges, bad input (400, never 500), 409s and constant query counts."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from socialcare.api.pagination import SyncCursorPagination
from socialcare.models import Case, CaseEvent, Post, Team, TeamMembership
from socialcare.services import cases as case_services
from socialcare.services.apikeys import create_api_key

pytestmark = pytest.mark.django_db

API = "/socialcare/api/v1"
WORK = ("view_case", "add_case", "change_case", "view_post")


def grant(user, *codenames):
    perms = Permission.objects.filter(content_type__app_label="socialcare", codename__in=codenames)
    user.user_permissions.add(*perms)
    return user


def assert_error(response, status, code=None):
    """The one error shape, with the expected status (and code)."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) <= {"code", "detail", "errors"}
    assert body["code"] and body["detail"]
    if code:
        assert body["code"] == code
    return body


def ids(response):
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


@pytest.fixture
def client_for():
    def make(user, **options):
        _, plain = create_api_key(user, "tests", **options)
        client = APIClient()
        client.default_format = "json"
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
        return client

    return make


@pytest.fixture
def api(agent, client_for):
    """Alice, an agent of team Care with the permissions of everyday work."""
    grant(agent, *WORK)
    return client_for(agent)


@pytest.fixture
def other_team(make_user):
    team = Team.objects.create(name="Billing")
    TeamMembership.objects.create(team=team, user=make_user("carol"))
    return team


@pytest.fixture
def make_case(channel, identity):
    def make(subject="Help", *, tags=(), **fields):
        case = case_services.open_case(channel=channel, identity=identity, subject=subject)
        if tags:
            case_services.set_tags(case, tags)
        if fields:
            Case.objects.filter(pk=case.pk).update(**fields)
        case.refresh_from_db()
        return case

    return make


@pytest.fixture
def make_post(channel, identity):
    def make(case, text="My order never arrived", **fields):
        fields.setdefault("direction", Post.Direction.INBOUND)
        fields.setdefault("kind", Post.Kind.MENTION)
        fields.setdefault("visibility", "public")
        fields.setdefault("author", identity)
        return Post.objects.create(platform="x", channel=channel, text=text, case=case, **fields)

    return make


# Authentication and permissions ----------------------------------------------------------------


def test_anonymous_is_401_in_the_error_shape(case):
    response = APIClient().get(f"{API}/cases/")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Api-Key")


def test_non_staff_user_is_403(make_user, client_for):
    client = client_for(grant(make_user("eve", is_staff=False), *WORK))
    assert_error(client.get(f"{API}/cases/"), 403, "permission_denied")


def test_missing_model_permission_is_403(agent, client_for, case):
    client = client_for(agent)
    assert_error(client.get(f"{API}/cases/"), 403)
    grant(agent, "view_case")
    assert client.get(f"{API}/cases/").status_code == 200
    assert_error(client.patch(f"{API}/cases/{case.pk}/", {"priority": "high"}), 403)
    assert_error(client.post(f"{API}/cases/", {"identity": case.identity_id}), 403)


def test_read_only_key_reads_but_never_writes(agent, client_for, case):
    client = client_for(grant(agent, *WORK), read_only=True)
    assert client.get(f"{API}/cases/{case.pk}/").status_code == 200
    body = assert_error(client.post(f"{API}/cases/{case.pk}/notes/", {"text": "hi"}), 403)
    assert body["detail"] == "This API key is read-only."
    assert_error(client.patch(f"{API}/cases/{case.pk}/", {"priority": "high"}), 403)
    assert not CaseEvent.objects.filter(kind=CaseEvent.Kind.NOTE).exists()


@pytest.mark.parametrize("state", ["revoked", "expired", "unknown"])
def test_revoked_expired_or_unknown_key_is_401(agent, state, case):
    key, plain = create_api_key(grant(agent, *WORK), "crm")
    if state == "revoked":
        key.revoked_at = timezone.now()
    elif state == "expired":
        key.expires_at = timezone.now() - dt.timedelta(seconds=1)
    else:
        plain = plain[:-4] + "AAAA"
    key.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    assert_error(client.get(f"{API}/cases/"), 401, "authentication_failed")


def test_session_clients_use_the_api_too(client, agent, case):
    client.force_login(grant(agent, *WORK))
    assert client.get(f"{API}/cases/{case.pk}/").json()["reference"] == case.reference


def test_agent_sees_own_teams_teamless_and_assigned_cases_only(api, agent, make_case, other_team):
    mine = make_case("Mine")
    pool = make_case("Nobody's", team=None)
    theirs = make_case("Billing's", team=other_team)
    handed = make_case("Billing's, assigned to Alice", team=other_team, assignee=agent)
    assert sorted(ids(api.get(f"{API}/cases/"))) == sorted([mine.pk, pool.pk, handed.pk])
    for path in ("", "timeline/"):
        assert_error(api.get(f"{API}/cases/{theirs.pk}/{path}"), 404, "not_found")
    assert_error(api.patch(f"{API}/cases/{theirs.pk}/", {"priority": "high"}), 404)
    assert_error(api.post(f"{API}/cases/{theirs.pk}/notes/", {"text": "x"}), 404)
    assert api.get(f"{API}/cases/{handed.pk}/").status_code == 200
    assert Case.objects.get(pk=theirs.pk).priority == "normal"


def test_supervisor_with_view_all_cases_sees_every_case(
    make_user, client_for, make_case, other_team
):
    theirs = make_case(team=other_team)
    boss = client_for(grant(make_user("sam"), "view_case", "view_all_cases"))
    assert ids(boss.get(f"{API}/cases/")) == [theirs.pk]
    assert boss.get(f"{API}/cases/{theirs.pk}/").status_code == 200


def test_replies_and_notes_need_change_case_and_merge_needs_merge_case(
    agent, client_for, make_case
):
    source, target = make_case(), make_case()
    client = client_for(grant(agent, "view_case", "add_case"))
    assert_error(client.post(f"{API}/cases/{source.pk}/notes/", {"text": "x"}), 403)
    assert_error(client.post(f"{API}/cases/{source.pk}/replies/", {"text": "x"}), 403)
    grant(agent, "change_case")
    assert_error(client.post(f"{API}/cases/{source.pk}/merge/", {"into": target.pk}), 403)
    assert client.post(f"{API}/cases/{source.pk}/notes/", {"text": "x"}).status_code == 201
    grant(agent, "merge_case")
    assert client.post(f"{API}/cases/{source.pk}/merge/", {"into": target.pk}).status_code == 200


def test_too_many_requests_are_429(api, case, socialcare_settings):
    cache.clear()
    try:
        with socialcare_settings(API_THROTTLE_RATE="2/min"):
            for _ in range(2):
                assert api.get(f"{API}/cases/").status_code == 200
            response = api.get(f"{API}/cases/")
        assert_error(response, 429, "throttled")
        assert int(response["Retry-After"]) > 0
    finally:
        cache.clear()


# Listing and filtering -------------------------------------------------------------------------


def test_filter_by_status_and_priority_takes_several_values(api, make_case):
    new = make_case()
    open_ = make_case(status="open", priority="high")
    make_case(status="closed", priority="urgent")
    assert sorted(ids(api.get(f"{API}/cases/?status=new&status=open"))) == [new.pk, open_.pk]
    assert ids(api.get(f"{API}/cases/?priority=high&priority=low")) == [open_.pk]


def test_filter_by_platform_channel_team_and_visibility(api, make_case, channel, team):
    mastodon = type(channel).objects.create(
        name="Acme on Mastodon", platform="mastodon", account_id="m"
    )
    on_x = make_case()
    toot = make_case(channel=mastodon, visibility="private", team=None)
    assert ids(api.get(f"{API}/cases/?platform=mastodon")) == [toot.pk]
    assert ids(api.get(f"{API}/cases/?channel={channel.pk}")) == [on_x.pk]
    assert ids(api.get(f"{API}/cases/?team={team.pk}")) == [on_x.pk]
    assert ids(api.get(f"{API}/cases/?visibility=private")) == [toot.pk]


def test_filter_by_assignee_id_me_or_none(api, agent, other_agent, make_case):
    mine, bobs, nobodys = make_case(assignee=agent), make_case(assignee=other_agent), make_case()
    assert ids(api.get(f"{API}/cases/?assignee=me")) == [mine.pk]
    assert ids(api.get(f"{API}/cases/?assignee={other_agent.pk}")) == [bobs.pk]
    assert ids(api.get(f"{API}/cases/?assignee=none")) == [nobodys.pk]


def test_filter_by_customer_and_case_insensitive_handle(
    api, make_case, make_customer, make_identity
):
    ada = make_case()
    grace = make_customer("Grace Hopper")
    other = make_case(identity=make_identity("2002", "GraceH"), customer=grace)
    assert ids(api.get(f"{API}/cases/?customer={grace.pk}")) == [other.pk]
    assert ids(api.get(f"{API}/cases/?handle=@graceh")) == [other.pk]
    assert ids(api.get(f"{API}/cases/?handle=ADA")) == [ada.pk]


def test_filter_by_tag_any_case(api, make_case):
    tagged = make_case(tags=["Refund", "VIP"])
    make_case(tags=["delivery"])
    assert ids(api.get(f"{API}/cases/?tag=refund")) == [tagged.pk]


def test_filter_by_sla_state(api, make_case):
    now = timezone.now()
    cases = {
        "ok": make_case(first_response_due_at=now + dt.timedelta(hours=1)),
        "due_soon": make_case(first_response_due_at=now + dt.timedelta(minutes=10)),
        "breached": make_case(status="open", first_response_due_at=now - dt.timedelta(minutes=1)),
        "met": make_case(
            first_response_due_at=now, first_responded_at=now - dt.timedelta(minutes=5)
        ),
        "missed": make_case(
            first_response_due_at=now - dt.timedelta(hours=2),
            first_responded_at=now - dt.timedelta(hours=1),
        ),
    }
    make_case(status="closed", first_response_due_at=now - dt.timedelta(hours=1))  # none
    for state, case in cases.items():
        assert ids(api.get(f"{API}/cases/?sla_state={state}")) == [case.pk], state
        assert api.get(f"{API}/cases/{case.pk}/").json()["sla_state"] == state


def test_filter_by_created_and_updated_ranges(api, make_case):
    old = make_case(created_at=timezone.now() - dt.timedelta(days=3))
    Case.objects.filter(pk=old.pk).update(updated_at=timezone.now() - dt.timedelta(days=2))
    fresh = make_case()
    since = (timezone.now() - dt.timedelta(days=1)).isoformat()
    query = {"created_after": since}
    assert ids(api.get(f"{API}/cases/", query)) == [fresh.pk]
    assert ids(api.get(f"{API}/cases/", {"created_before": since})) == [old.pk]
    assert ids(api.get(f"{API}/cases/", {"updated_since": since})) == [fresh.pk]
    assert ids(api.get(f"{API}/cases/", {"updated_before": since})) == [old.pk]


def test_search_on_reference_subject_and_handle(api, make_case, make_identity):
    refund = make_case("Refund for order 1009")
    other = make_case("Login trouble", identity=make_identity("3003", "zed"))
    assert ids(api.get(f"{API}/cases/?search=order 1009")) == [refund.pk]
    assert ids(api.get(f"{API}/cases/?search={other.reference}")) == [other.pk]
    assert ids(api.get(f"{API}/cases/?search=zed")) == [other.pk]


def walk(api, url):
    """Every id of a list, following ``next`` from ``url``."""
    seen = []
    while url:
        response = api.get(url)
        seen += ids(response)
        url = response.json()["next"]
    return seen


def test_ordering_by_priority_rank_and_due_time_pages_by_cursor(api, make_case):
    now = timezone.now()
    urgent = make_case(priority="urgent", first_response_due_at=None)
    low = make_case(priority="low", first_response_due_at=now + dt.timedelta(hours=2))
    high = make_case(priority="high", first_response_due_at=now + dt.timedelta(hours=1))
    normal = make_case(priority="normal", first_response_due_at=now + dt.timedelta(hours=3))
    also_high = make_case(priority="high", first_response_due_at=now + dt.timedelta(hours=4))
    by_rank = [urgent.pk, also_high.pk, high.pk, normal.pk, low.pk]  # ties: latest id first
    assert ids(api.get(f"{API}/cases/?ordering=-priority")) == by_rank
    assert walk(api, f"{API}/cases/?ordering=-priority&page_size=1") == by_rank
    by_due = [high.pk, low.pk, normal.pk, also_high.pk, urgent.pk]  # no due time: last
    assert walk(api, f"{API}/cases/?ordering=first_response_due_at&page_size=2") == by_due
    assert walk(api, f"{API}/cases/?ordering=-created_at&page_size=2") == [
        also_high.pk,
        normal.pk,
        high.pk,
        low.pk,
        urgent.pk,
    ]


def test_default_order_is_oldest_change_first_and_next_resumes(api, make_case):
    first, second, third = make_case(), make_case(), make_case()
    case_services.change_priority(first, "high")  # now the latest change
    page = api.get(f"{API}/cases/?page_size=2").json()
    assert [c["id"] for c in page["results"]] == [second.pk, third.pk]
    assert ids(api.get(page["next"])) == [first.pk]


def test_page_size_over_the_maximum_is_capped(api, make_case, monkeypatch):
    monkeypatch.setattr(SyncCursorPagination, "max_page_size", 2)
    for _ in range(3):
        make_case()
    assert len(ids(api.get(f"{API}/cases/?page_size=100000"))) == 2
    assert len(ids(api.get(f"{API}/cases/?page_size=nonsense"))) == 3  # default size


@pytest.mark.parametrize(
    "query",
    [
        "status=later",
        "priority=5",
        "platform=myspace",
        "visibility=secret",
        "channel=abc",
        "team=-1",
        "channel=99999999999999999999999999",
        "assignee=someone",
        "assignee=%C2%B3",
        "handle=a%00",
        "customer=abc",
        "sla_state=late",
        "created_after=yesterday",
        "updated_since=2025-13-45",
    ],
)
def test_bad_filter_values_are_400_with_field_errors(api, case, query):
    body = assert_error(api.get(f"{API}/cases/?{query}"), 400, "invalid")
    assert query.split("=")[0] in body["errors"]


@pytest.mark.parametrize("cursor", ["garbage", base64.b64encode(b"p=not-a-date").decode()])
def test_bad_cursor_is_400(api, case, cursor):
    body = assert_error(api.get(f"{API}/cases/", {"cursor": cursor}), 400)
    assert "cursor" in body["errors"]


def test_retrieve_shows_people_tags_sla_and_counts(api, make_case, make_post, agent):
    case = make_case(tags=["refund"], assignee=agent)
    make_post(case)
    make_post(case, "Thanks!", direction="outbound", kind="reply", author=None)
    case_services.add_note(case, "VIP", actor=agent)
    body = api.get(f"{API}/cases/{case.pk}/").json()
    assert body["reference"] == case.reference
    assert body["customer"]["name"] == "Ada Lovelace"
    assert body["customer"]["email"] == "ada@example.com"
    assert body["identity"]["handle"] == "ada"
    assert body["channel"]["platform"] == "x"
    assert body["team"]["name"] == "Care"
    assert body["assignee"] == {"id": agent.pk, "username": "alice", "name": "Alice Agent"}
    assert body["tags"] == ["refund"]
    assert (body["post_count"], body["inbound_count"], body["outbound_count"]) == (2, 1, 1)
    assert body["note_count"] == 1
    assert body["first_response_due_at"].endswith("Z")


# Creating and changing -------------------------------------------------------------------------


def test_open_a_case_for_a_post_without_one(make_user, client_for, make_post):
    post = make_post(None, "  Where is   my parcel?")
    boss = grant(make_user("sam"), *WORK, "view_all_cases")
    response = client_for(boss).post(f"{API}/cases/", {"post": post.pk, "priority": "high"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["subject"], body["priority"], body["post_count"]) == (
        "Where is my parcel?",
        "high",
        1,
    )
    assert body["identity"]["handle"] == "ada" and body["customer"]["name"] == "Ada Lovelace"
    post.refresh_from_db()
    assert post.case_id == body["id"]
    added = CaseEvent.objects.get(case_id=body["id"], kind=CaseEvent.Kind.POST_ADDED)
    assert (added.post_id, added.actor_id) == (post.pk, boss.pk)


def test_posts_of_cases_or_unseen_posts_are_refused(api, case, make_post):
    taken = make_post(case)
    body = assert_error(api.post(f"{API}/cases/", {"post": taken.pk}), 400)
    assert "post" in body["errors"]
    caseless = make_post(None)  # only supervisors see posts outside cases
    assert "post" in assert_error(api.post(f"{API}/cases/", {"post": caseless.pk}), 400)["errors"]


def test_open_a_plain_case_through_the_service(api, identity, channel, team, agent):
    response = api.post(
        f"{API}/cases/", {"identity": identity.pk, "channel": channel.pk, "subject": "Call back"}
    )
    assert response.status_code == 201, response.content
    case = Case.objects.get(pk=response.json()["id"])
    assert case.reference == response.json()["reference"]
    assert (case.customer, case.team, case.first_response_due_at is not None) == (
        identity.customer,
        team,
        True,
    )
    assert CaseEvent.objects.get(case=case, kind=CaseEvent.Kind.CREATED).actor == agent


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "non_field_errors"),
        ({"subject": "just a subject"}, "non_field_errors"),
        ({"post": 1, "channel": 1}, "channel"),
        ({"identity": "one"}, "identity"),
        ({"channel": 10**30}, "channel"),
        ({"identity": 1, "priority": "asap"}, "priority"),
        ({"identity": 1, "reference": "SC-1"}, "reference"),
    ],
)
def test_create_with_bad_input_is_400(api, case, body, field, make_post):
    make_post(case)
    assert field in assert_error(api.post(f"{API}/cases/", body, format="json"), 400)["errors"]


def test_patch_changes_through_the_services_with_events(
    api, case, other_agent, make_customer, agent
):
    grace = make_customer("Grace Hopper")
    body = {
        "status": "waiting_on_customer",
        "priority": "urgent",
        "assignee": other_agent.pk,
        "tags": ["Refund", "refund", "VIP"],
        "customer": grace.pk,
        "subject": "Refund for order 1009",
        "team": None,
    }
    response = api.patch(f"{API}/cases/{case.pk}/", body, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["status"], data["priority"], data["subject"]) == (
        "waiting_on_customer",
        "urgent",
        "Refund for order 1009",
    )
    assert (data["assignee"]["id"], data["tags"], data["team"]) == (
        other_agent.pk,
        ["Refund", "VIP"],
        None,
    )
    assert data["customer"]["name"] == "Grace Hopper"
    kinds = set(CaseEvent.objects.filter(case=case, actor=agent).values_list("kind", flat=True))
    assert {"status_changed", "priority_changed", "assignee_changed", "tags_changed"} <= kinds
    assert {"customer_changed", "team_changed"} <= kinds


def test_illegal_transition_is_409_and_changes_nothing(api, make_case):
    case = make_case(status="closed")
    response = api.patch(f"{API}/cases/{case.pk}/", {"priority": "high", "status": "open"})
    assert (
        "cannot go from Closed to Open"
        in assert_error(response, 409, "illegal_transition")["detail"]
    )
    assert Case.objects.get(pk=case.pk).priority == "normal"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"status": "later"}, "status"),
        ({"priority": 5}, "priority"),
        ({"tags": "refund"}, "tags"),
        ({"tags": ["x" * 51]}, "tags"),
        ({"assignee": "abc"}, "assignee"),
        ({"assignee": 10**30}, "assignee"),
        ({"team": 999}, "team"),
        ({"customer": "abc"}, "customer"),
        ({"subject": None}, "subject"),
        ({"subject": "a\x00b"}, "subject"),
        ({"reference": "SC-9"}, "reference"),
        ([1, 2], "non_field_errors"),
    ],
)
def test_patch_with_bad_input_is_400(api, case, body, field):
    response = api.patch(f"{API}/cases/{case.pk}/", body, format="json")
    assert field in assert_error(response, 400, "invalid")["errors"]


def test_malformed_or_non_json_bodies_are_4xx_in_the_error_shape(api, case):
    url = f"{API}/cases/{case.pk}/"
    assert_error(api.patch(url, '{"status": ', content_type="application/json"), 400, "parse_error")
    assert_error(api.patch(url, "status=open", content_type="text/plain"), 415)


def test_inactive_assignee_is_400(api, case, make_user):
    gone = make_user("gone", is_active=False)
    body = assert_error(api.patch(f"{API}/cases/{case.pk}/", {"assignee": gone.pk}), 400)
    assert "assignee" in body["errors"]


def test_no_put_and_no_delete(api, case):
    assert_error(api.put(f"{API}/cases/{case.pk}/", {"priority": "high"}), 405)
    assert_error(api.delete(f"{API}/cases/{case.pk}/"), 405)
    assert Case.objects.filter(pk=case.pk).exists()
