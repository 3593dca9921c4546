"""The posts API: read-only, posts of visible cases only, every filter, bad input, query counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from socialcare.models import Post
from tests.test_api_cases import API, WORK, assert_error, grant, ids
from tests.test_api_cases import api as api
from tests.test_api_cases import client_for as client_for
from tests.test_api_cases import make_case as make_case
from tests.test_api_cases import make_post as make_post
from tests.test_api_cases import other_team as other_team

pytestmark = pytest.mark.django_db


def test_read_only_list_and_retrieve(api, case, make_post, agent):
    inbound = make_post(case, raw={"secret": "payload"})
    reply = make_post(
        case, "On it!", direction="outbound", kind="reply", author=None, sent_by=agent
    )
    Post.objects.filter(pk=reply.pk).update(send_status="queued")
    assert ids(api.get(f"{API}/posts/")) == [inbound.pk, reply.pk]
    body = api.get(f"{API}/posts/{reply.pk}/").json()
    assert (body["direction"], body["send_status"], body["case_reference"]) == (
        "outbound",
        "queued",
        case.reference,
    )
    assert body["sent_by"]["username"] == "alice" and body["author"] is None
    assert body["channel"] == {
        "id": case.channel_id,
        "name": "Acme on X",
        "platform": "x",
        "handle": "acme",
    }
    first = api.get(f"{API}/posts/{inbound.pk}/").json()
    assert first["author"]["handle"] == "ada" and "raw" not in first
    assert_error(api.post(f"{API}/posts/", {"text": "hi"}), 405)
    assert_error(api.patch(f"{API}/posts/{inbound.pk}/", {"text": "hi"}), 405)
    assert_error(api.delete(f"{API}/posts/{inbound.pk}/"), 405)


def test_posts_follow_the_team_rule(api, make_case, make_post, other_team, make_user, client_for):
    mine = make_post(make_case())
    theirs = make_post(make_case(team=other_team))
    caseless = make_post(None)
    assert ids(api.get(f"{API}/posts/")) == [mine.pk]
    assert_error(api.get(f"{API}/posts/{theirs.pk}/"), 404, "not_found")
    assert_error(api.get(f"{API}/posts/{caseless.pk}/"), 404)
    boss = client_for(grant(make_user("sam"), "view_post", "view_all_cases"))
    assert ids(boss.get(f"{API}/posts/")) == [mine.pk, theirs.pk, caseless.pk]


def test_posts_need_authentication_and_view_post(agent, client_for, make_user, case, make_post):
    make_post(case)
    assert_error(APIClient().get(f"{API}/posts/"), 401, "not_authenticated")
    assert_error(client_for(grant(agent, "view_case")).get(f"{API}/posts/"), 403)
    clerk = grant(make_user("clerk", is_staff=False), *WORK)
    assert_error(client_for(clerk).get(f"{API}/posts/"), 403)
    reader = client_for(grant(agent, "view_post"), read_only=True)
    assert reader.get(f"{API}/posts/").status_code == 200
    assert_error(reader.post(f"{API}/posts/", {}), 403)


def test_filters_on_direction_kind_visibility_platform_and_send_status(api, case, make_post):
    mention = make_post(case)
    dm = make_post(case, "psst", kind="direct_message", visibility="private")
    sent = make_post(
        case, "Hi!", direction="outbound", kind="reply", author=None, send_status="sent"
    )
    failed = make_post(
        case, "Hi?", direction="outbound", kind="reply", author=None, send_status="failed"
    )
    assert ids(api.get(f"{API}/posts/?direction=inbound")) == [mention.pk, dm.pk]
    assert ids(api.get(f"{API}/posts/?kind=direct_message")) == [dm.pk]
    assert ids(api.get(f"{API}/posts/?visibility=private")) == [dm.pk]
    assert ids(api.get(f"{API}/posts/?send_status=sent&send_status=failed")) == [sent.pk, failed.pk]
    assert ids(api.get(f"{API}/posts/?platform=x")) == [mention.pk, dm.pk, sent.pk, failed.pk]
    assert ids(api.get(f"{API}/posts/?platform=mastodon")) == []


def test_filters_on_channel_case_author_and_handle(
    api, make_case, make_post, make_identity, channel
):
    first, second = make_case(), make_case()
    grace = make_identity("2002", "GraceH")
    by_ada = make_post(first)
    by_grace = make_post(second, author=grace)
    assert ids(api.get(f"{API}/posts/?case={second.pk}")) == [by_grace.pk]
    assert ids(api.get(f"{API}/posts/?author={grace.pk}")) == [by_grace.pk]
    assert ids(api.get(f"{API}/posts/?handle=@graceh")) == [by_grace.pk]
    assert ids(api.get(f"{API}/posts/?channel={channel.pk}")) == [by_ada.pk, by_grace.pk]
    assert ids(api.get(f"{API}/posts/?channel={channel.pk + 1}")) == []


def test_filters_on_time_and_updated_since(api, case, make_post):
    now = timezone.now()
    days = dt.timedelta(days=1)
    old = make_post(case, posted_at=now - 3 * days, received_at=now - 3 * days)
    edited = make_post(case, posted_at=now - 3 * days, received_at=now - 3 * days, edited_at=now)
    deleted = make_post(case, posted_at=now - 3 * days, received_at=now - 3 * days, deleted_at=now)
    late = make_post(case, posted_at=now - 3 * days)  # received now
    fresh = make_post(case)
    since = (now - days).isoformat()
    assert ids(api.get(f"{API}/posts/", {"posted_after": since})) == [fresh.pk]
    assert ids(api.get(f"{API}/posts/", {"posted_before": since})) == [
        old.pk,
        edited.pk,
        deleted.pk,
        late.pk,
    ]
    synced = ids(api.get(f"{API}/posts/", {"updated_since": since}))
    assert synced == [edited.pk, deleted.pk, late.pk, fresh.pk]


def test_search_and_ordering(api, case, make_post):
    now = timezone.now()
    older = make_post(case, "Refund please", posted_at=now - dt.timedelta(hours=1))
    newer = make_post(case, "Thanks, all good", posted_at=now - dt.timedelta(hours=2))
    assert ids(api.get(f"{API}/posts/?search=refund")) == [older.pk]
    assert ids(api.get(f"{API}/posts/?ordering=posted_at")) == [newer.pk, older.pk]
    assert ids(api.get(f"{API}/posts/?ordering=-received_at")) == [newer.pk, older.pk]


def test_default_order_is_arrival_and_next_resumes(api, case, make_post):
    posts = [make_post(case, f"n{n}") for n in range(3)]
    page = api.get(f"{API}/posts/?page_size=2").json()
    assert [p["id"] for p in page["results"]] == [posts[0].pk, posts[1].pk]
    assert ids(api.get(page["next"])) == [posts[2].pk]


@pytest.mark.parametrize(
    "query",
    [
        "direction=sideways",
        "kind=tweet",
        "visibility=secret",
        "platform=myspace",
        "send_status=lost",
        "case=abc",
        "author=0",
        "channel=1.5",
        "posted_after=yesterday",
        "updated_since=2025-02-30",
    ],
)
def test_bad_filter_values_are_400(api, case, query):
    body = assert_error(api.get(f"{API}/posts/?{query}"), 400, "invalid")
    assert query.split("=")[0] in body["errors"]


def test_bad_cursor_is_400(api, case):
    assert "cursor" in assert_error(api.get(f"{API}/posts/?cursor=garbage"), 400)["errors"]


def test_list_pages_cost_the_same_queries_whatever_their_size(
    api, case, make_post, agent, django_assert_num_queries
):
    for n in range(55):
        make_post(case, f"post {n}", external_id=f"in{n}")
        make_post(
            case, f"reply {n}", direction="outbound", kind="reply", author=None, sent_by=agent
        )
    api.get(f"{API}/posts/?page_size=1")  # the key's last use is recorded once a minute
    # key + user, user and group permissions, the page
    for size in (5, 50):
        with django_assert_num_queries(4):
            assert len(ids(api.get(f"{API}/posts/?page_size={size}"))) == size
