"""The case actions of the API (timeline, replies, notes, merge), constant query counts, and the
OpenAPI schema of the case endpoints."""

from __future__ import annotations

import pytest
from drf_spectacular.drainage import GENERATOR_STATS

from socialcare.api.pagination import TimelinePagination
from socialcare.models import Case, CaseEvent, Post, ReplyTemplate
from socialcare.services import cases as case_services
from socialcare.services.events import record_event
from tests.test_api_cases import API, assert_error, grant, ids, walk
from tests.test_api_cases import api as api
from tests.test_api_cases import client_for as client_for
from tests.test_api_cases import make_case as make_case
from tests.test_api_cases import make_post as make_post
from tests.test_api_cases import other_team as other_team

pytestmark = pytest.mark.django_db


def timeline(api, case, query=""):
    response = api.get(f"{API}/cases/{case.pk}/timeline/{query}")
    assert response.status_code == 200, response.content
    return response.json()["results"]


# Timeline ---------------------------------------------------------------------------------


def test_timeline_is_the_case_history_in_order_with_posts(api, case, make_post, agent):
    post = make_post(case, url="https://x.com/ada/status/1")
    record_event(case, CaseEvent.Kind.POST_ADDED, post=post, text=post.text)
    case_services.add_note(case, "Called her back", actor=agent)
    case_services.change_status(case, "open", actor=agent)
    events = timeline(api, case)
    assert [e["kind"] for e in events] == ["created", "post_added", "note", "status_changed"]
    assert events[1]["post"] == {
        "id": post.pk,
        "direction": "inbound",
        "kind": "mention",
        "visibility": "public",
        "author_handle": "ada",
        "text": "My order never arrived",
        "url": "https://x.com/ada/status/1",
        "send_status": "",
        "send_error": "",
        "posted_at": post.posted_at.isoformat().replace("+00:00", "Z"),
        "deleted_at": None,
    }
    assert events[0]["post"] is None and events[0]["actor"] is None
    assert events[2]["actor"]["username"] == "alice"
    assert (events[2]["summary"], events[3]["summary"]) == (
        "Called her back",
        "Status changed: new → open",
    )


def test_timeline_with_merged_cases(api, make_case, agent):
    kept, middle, oldest = make_case("Kept"), make_case("Middle"), make_case("Oldest")
    case_services.add_note(oldest, "From the oldest", actor=agent)
    case_services.merge_cases(oldest, middle, actor=agent)
    case_services.merge_cases(middle, kept, actor=agent)
    own = timeline(api, kept)
    assert {e["case"] for e in own} == {kept.pk}
    everything = timeline(api, kept, "?include_merged=true")
    assert {e["case_reference"] for e in everything} == {
        kept.reference,
        middle.reference,
        oldest.reference,
    }
    assert "From the oldest" in [e["summary"] for e in everything]
    ats = [e["at"] for e in everything]
    assert ats == sorted(ats)


def test_timeline_pages_by_cursor_and_caps_the_page_size(api, case, agent, monkeypatch):
    for n in range(5):
        case_services.add_note(case, f"note {n}", actor=agent)
    every = [e["id"] for e in timeline(api, case)]
    assert walk(api, f"{API}/cases/{case.pk}/timeline/?page_size=2") == every
    assert len(every) == 6
    monkeypatch.setattr(TimelinePagination, "max_page_size", 3)
    assert len(timeline(api, case, "?page_size=1000")) == 3


@pytest.mark.parametrize("query", ["?include_merged=maybe", "?cursor=bm9wZQ", "?cursor=cD14"])
def test_timeline_bad_query_is_400(api, case, query):
    assert_error(api.get(f"{API}/cases/{case.pk}/timeline/{query}"), 400, "invalid")


def test_timeline_ignores_list_ordering(api, case, agent):
    case_services.add_note(case, "later", actor=agent)
    assert [e["kind"] for e in timeline(api, case, "?ordering=-at")] == ["created", "note"]


# Replies ----------------------------------------------------------------------------------


def test_public_reply_is_queued_as_an_outbound_post(api, case, make_post, agent):
    customer_post = make_post(case, external_id="1893345")
    response = api.post(f"{API}/cases/{case.pk}/replies/", {"text": "  Sorry, Ada!  "})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["direction"], body["kind"], body["visibility"]) == ("outbound", "reply", "public")
    assert (body["text"], body["send_status"], body["parent"]) == (
        "Sorry, Ada!",
        "queued",
        customer_post.pk,
    )
    assert (body["case"], body["case_reference"]) == (case.pk, case.reference)
    assert body["sent_by"]["id"] == agent.pk
    assert body["in_reply_to_external_id"] == "1893345"
    event = CaseEvent.objects.get(case=case, kind=CaseEvent.Kind.REPLIED)
    assert (event.post_id, event.actor_id) == (body["id"], agent.pk)


def test_private_reply_from_a_template(api, case):
    template = ReplyTemplate.objects.create(name="On it", text="Hi {{ customer }}, we are on it.")
    response = api.post(
        f"{API}/cases/{case.pk}/replies/", {"template": template.pk, "visibility": "private"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["text"], body["kind"]) == ("Hi Ada Lovelace, we are on it.", "direct_message")


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "hi", "visibility": "loud"}, "visibility"),
        ({"text": "hi", "template": 999}, "template"),
        ({"text": "hi", "in_reply_to": "x"}, "in_reply_to"),
        ({"text": "hi", "cc": "boss"}, "cc"),
    ],
)
def test_reply_with_bad_input_is_400(api, case, make_post, body, field):
    make_post(case)
    response = api.post(f"{API}/cases/{case.pk}/replies/", body)
    assert field in assert_error(response, 400, "invalid")["errors"]


def test_reply_refused_by_the_service_is_400(api, case, make_post, make_case):
    other_post = make_post(make_case())
    make_post(case)
    response = api.post(
        f"{API}/cases/{case.pk}/replies/", {"text": "hi", "in_reply_to": other_post.pk}
    )
    assert "in_reply_to" in assert_error(response, 400)["errors"]
    too_long = api.post(f"{API}/cases/{case.pk}/replies/", {"text": "x" * 281})
    assert "280-character limit" in assert_error(too_long, 400)["detail"]
    Case.objects.filter(pk=case.pk).update(status="closed")
    closed = api.post(f"{API}/cases/{case.pk}/replies/", {"text": "hi"})
    assert "is closed" in assert_error(closed, 400)["detail"]
    assert not Post.objects.filter(direction="outbound").exists()


# Notes and merges -------------------------------------------------------------------------


def test_note_is_added_to_the_timeline(api, case, agent):
    response = api.post(f"{API}/cases/{case.pk}/notes/", {"text": "VIP, be quick"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["summary"], body["case_reference"]) == (
        "note",
        "VIP, be quick",
        case.reference,
    )
    assert body["actor"]["id"] == agent.pk
    assert_error(api.post(f"{API}/cases/{case.pk}/notes/", {"text": ""}), 400)
    assert_error(api.post(f"{API}/cases/{case.pk}/notes/", {"text": 5.5, "x": 1}), 400)


@pytest.fixture
def merger(agent, client_for):
    return client_for(grant(agent, "view_case", "change_case", "merge_case"))


def test_merge_returns_the_kept_case(merger, make_case, make_post):
    source, target = make_case("Dup"), make_case("Kept")
    make_post(source)
    response = merger.post(f"{API}/cases/{source.pk}/merge/", {"into": target.pk})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["post_count"]) == (target.pk, 1)
    source.refresh_from_db()
    assert (source.merged_into_id, source.status) == (target.pk, "closed")
    merged = merger.get(f"{API}/cases/{source.pk}/").json()
    assert merged["merged_into_reference"] == target.reference


def test_merge_refused_by_the_workflow_is_409(merger, make_case, make_customer):
    case = make_case()
    assert_error(
        merger.post(f"{API}/cases/{case.pk}/merge/", {"into": case.pk}), 409, "merge_refused"
    )
    stranger = make_case(customer=make_customer("Grace Hopper"))
    response = merger.post(f"{API}/cases/{case.pk}/merge/", {"into": stranger.pk})
    assert "different customers" in assert_error(response, 409, "merge_refused")["detail"]


@pytest.mark.parametrize("into", [None, "abc", 10**30, "missing", "other team"])
def test_merge_into_a_bad_or_unseen_case_is_400(merger, make_case, other_team, into):
    case = make_case()
    if into == "missing":
        into = case.pk + 1000
    elif into == "other team":
        into = make_case(team=other_team).pk
    response = merger.post(f"{API}/cases/{case.pk}/merge/", {"into": into})
    assert "into" in assert_error(response, 400, "invalid")["errors"]
    assert Case.objects.get(pk=case.pk).merged_into_id is None


# Query counts and schema ------------------------------------------------------------------


def test_list_and_timeline_pages_cost_the_same_queries_whatever_their_size(
    api, make_case, make_post, agent, other_agent, django_assert_num_queries
):
    for n in range(55):
        case = make_case(f"Case {n}", tags=["vip", f"t{n}"], assignee=(agent, other_agent)[n % 2])
        make_post(case, external_id=f"p{n}")
        case_services.add_note(case, "seen", actor=agent)
    busy = Case.objects.first()
    for n in range(55):
        post = make_post(busy, f"Again {n}", external_id=f"again{n}")
        record_event(busy, CaseEvent.Kind.POST_ADDED, post=post, actor=agent)
    api.get(f"{API}/cases/?page_size=1")  # the key's last use is recorded once a minute
    # key + user, user and group permissions, the page (its tags in it)
    for query in ("", "&ordering=-priority&status=new&search=Case&sla_state=ok"):
        for size in (5, 50):
            with django_assert_num_queries(4):
                assert len(ids(api.get(f"{API}/cases/?page_size={size}{query}"))) == size
    # key + user, permissions, the case, the page
    for size in (5, 50):
        with django_assert_num_queries(5):
            assert len(timeline(api, busy, f"?page_size={size}")) == size
        with django_assert_num_queries(6):  # + the cases merged into it
            assert len(timeline(api, busy, f"?page_size={size}&include_merged=1")) == size


def test_schema_documents_the_case_endpoints_without_warnings(api, agent):
    GENERATOR_STATS.reset()
    response = api.get("/socialcare/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path in ("cases/", "cases/{id}/", "cases/{id}/timeline/", "posts/", "posts/{id}/"):
        assert f"/socialcare/api/v1/{path}" in paths
    patch = paths["/socialcare/api/v1/cases/{id}/"]["patch"]
    assert {"200", "400", "401", "403", "404", "409", "429"} <= set(patch["responses"])
    error = patch["responses"]["409"]["content"]["application/json"]
    assert error["schema"]["$ref"] == "#/components/schemas/Error"
    assert "put" not in paths["/socialcare/api/v1/cases/{id}/"]
    assert "delete" not in paths["/socialcare/api/v1/cases/{id}/"]
    ours = [w for w in GENERATOR_STATS._warn_cache if "CaseViewSet" in w or "PostViewSet" in w]
    assert not ours and not GENERATOR_STATS._error_cache
