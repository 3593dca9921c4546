"""The event feed (``GET /socialcare/api/v1/events/``): every event once, in order, across pages
and while events are written; late commits; the team rule; the outbound webhooks' payloads;
bad cursors, scopes, and a constant number of queries per page."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.contrib.auth.models import Permission
from django.db import connection, connections, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from socialcare.models import CaseEvent, OutboundEvent, Team, TeamMembership, WebhookSubscription
from socialcare.platforms.base import InboundIdentity, InboundPost
from socialcare.services import cases as case_services
from socialcare.services import event_feed
from socialcare.services.apikeys import create_api_key
from socialcare.services.ingest import ingest_post

pytestmark = pytest.mark.django_db

FEED = "/socialcare/api/v1/events/"


def grant(user, *codenames):
    perms = Permission.objects.filter(content_type__app_label="socialcare", codename__in=codenames)
    user.user_permissions.add(*perms)
    return user


@pytest.fixture
def client_for():
    def make(user, **options):
        _, plain = create_api_key(user, "tests", **options)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
        return client

    return make


@pytest.fixture
def api(agent, client_for):
    grant(agent, "view_case", "change_case")
    return client_for(agent)


@pytest.fixture
def make_case(channel, identity):
    def make(subject="Help", **fields):
        return case_services.open_case(
            channel=channel, identity=identity, subject=subject, **fields
        )

    return make


def read_all(client, url=FEED, *, max_pages=100):
    """Every item from ``url`` following ``next`` while ``has_more``; and the last ``next``."""
    items = []
    for _ in range(max_pages):
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        items += body["results"]
        url = body["next"]
        if not body["has_more"]:
            return items, url
    raise AssertionError("the feed never caught up")


def test_every_event_comes_once_in_order_across_pages(api, make_case):
    for n in range(4):
        case = make_case(f"Case {n}")
        case_services.change_priority(case, "high")
        case_services.add_note(case, f"note {n}")
    expected = list(CaseEvent.objects.order_by("pk").values_list("pk", flat=True))

    items, _ = read_all(api, f"{FEED}?limit=3")

    assert [item["id"] for item in items] == expected
    assert len(expected) >= 12


def test_a_write_between_pages_appears_on_a_later_page(api, make_case):
    first = make_case("First")
    make_case("Second")
    page = api.get(f"{FEED}?limit=1").json()
    assert page["has_more"] is True
    seen = [item["id"] for item in page["results"]]

    note = case_services.add_note(first, "written while the client pages")
    items, resume = read_all(api, page["next"])
    seen += [item["id"] for item in items]

    assert note.pk in seen
    assert len(seen) == len(set(seen)) == CaseEvent.objects.count()
    # Caught up: the stored ``next`` brings only what is written afterwards.
    later = case_services.add_note(first, "after catching up")
    body = api.get(resume).json()
    assert [item["id"] for item in body["results"]] == [later.pk]


def test_an_event_committed_late_is_not_skipped(api, make_case):
    """Ids are taken at insert and become visible at commit: id n can appear after n+1 was read
    (simulated by holding a row back and putting it in with its own id)."""
    case = make_case("Race")
    held = case_services.add_note(case, "in a slow transaction")
    ahead = case_services.add_note(case, "committed first")
    row = CaseEvent.objects.filter(pk=held.pk).values()[0]
    CaseEvent.objects.filter(pk=held.pk).delete()

    first, resume = read_all(api)
    assert ahead.pk in [item["id"] for item in first]
    assert held.pk not in [item["id"] for item in first]

    CaseEvent.objects.create(**row)  # the slow transaction commits
    late, resume = read_all(api, resume)
    assert [item["id"] for item in late] == [held.pk]
    again, _ = read_all(api, resume)
    assert again == []


def test_a_missing_id_is_given_up_after_the_wait(agent, make_case):
    grant(agent, "view_case")
    case = make_case("Rolled back")
    gone = case_services.add_note(case, "rolled back")
    case_services.add_note(case, "kept")
    CaseEvent.objects.filter(pk=gone.pk).delete()
    now = timezone.now().timestamp()

    page = event_feed.read_feed(agent, now=now)
    assert gone.pk in [gap for gap, _ in page.cursor.gaps]
    soon = event_feed.read_feed(agent, page.cursor, now=now + 5)
    assert gone.pk in [gap for gap, _ in soon.cursor.gaps]
    later = event_feed.read_feed(agent, soon.cursor, now=now + event_feed.GAP_WAIT + 1)
    assert later.cursor.gaps == ()


def test_the_team_rule_hides_other_teams_cases(api, make_case, make_user):
    mine = make_case("Mine")
    billing = Team.objects.create(name="Billing")
    TeamMembership.objects.create(team=billing, user=make_user("carol"))
    theirs = make_case("Theirs")
    case_services.set_team(theirs, billing)
    case_services.add_note(theirs, "billing only")

    items, _ = read_all(api)

    assert {item["case"] for item in items} == {mine.pk}
    assert not [item for item in items if item["data"].get("case", {}).get("id") == theirs.pk]


def test_filters_case_and_kind(api, make_case):
    one, two = make_case("One"), make_case("Two")
    note = case_services.add_note(two, "hello")
    case_services.add_note(one, "other")

    by_case, _ = read_all(api, f"{FEED}?case={two.pk}")
    assert {item["case"] for item in by_case} == {two.pk}
    by_kind, _ = read_all(api, f"{FEED}?kind=note&case={two.pk}")
    assert [item["id"] for item in by_kind] == [note.pk]
    assert by_kind[0]["event"] == "case.note"
    assert by_kind[0]["data"]["details"]["text"] == "hello"


@pytest.fixture
def webhooks():
    subscription = WebhookSubscription.objects.create(
        name="CRM", url="https://crm.example/hooks", secrets={"secret": "s"}
    )
    from socialcare.services import outbound

    outbound._subscriptions = None
    return subscription


def test_payloads_equal_the_outbound_webhooks(
    api, agent, other_agent, channel, identity, webhooks, django_capture_on_commit_callbacks
):
    billing = Team.objects.create(name="Billing")
    TeamMembership.objects.create(team=billing, user=agent)
    steps = [
        lambda case: case_services.change_status(case, "open", actor=agent),
        lambda case: case_services.change_priority(case, "urgent", actor=agent),
        lambda case: case_services.assign_case(case, other_agent, actor=agent),
        lambda case: case_services.set_team(case, billing, actor=agent),
        lambda case: case_services.set_tags(case, ["refund", "vip"], actor=agent),
        lambda case: case_services.set_customer(case, None, actor=agent),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        case = case_services.open_case(
            channel=channel, identity=identity, subject="Refund", actor=agent
        )
    _, resume = read_all(api, f"{FEED}?case={case.pk}")
    created = api.get(f"{FEED}?case={case.pk}&kind=created").json()["results"][0]
    assert created["event"] == "case.created"
    assert created["data"] == OutboundEvent.objects.get(type="case.created").payload

    checked = []
    for step in steps:
        before = set(OutboundEvent.objects.values_list("pk", flat=True))
        with django_capture_on_commit_callbacks(execute=True):
            step(case)
        webhooks = [
            (event.type, event.payload) for event in OutboundEvent.objects.exclude(pk__in=before)
        ]
        items, resume = read_all(api, resume)
        assert [(item["event"], item["data"]) for item in items] == webhooks
        checked.append(items[0]["data"].get("field", items[0]["event"]))
    assert checked == ["case.status_changed", "priority", "assignee", "team", "tags", "customer"]


def test_an_inbound_post_is_post_created_as_the_webhook(
    api, channel, webhooks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest_post(
            channel,
            InboundPost(
                platform="x",
                external_id="tw-1",
                author=InboundIdentity(platform="x", external_id="2002", handle="grace"),
                kind="mention",
                visibility="public",
                text="@acme my order never arrived",
                posted_at=timezone.now(),
            ),
        )
    items, _ = read_all(api, f"{FEED}?kind=post_added")
    webhook = OutboundEvent.objects.get(type="post.created")
    assert [item["data"] for item in items] == [webhook.payload]
    assert items[0]["data"]["case_created"] is True
    assert items[0]["data"]["post"]["id"] == result.post.pk


def test_sla_alerts_are_the_sla_webhooks(api, webhooks, django_capture_on_commit_callbacks):
    from socialcare.services.sla_scan import scan

    with django_capture_on_commit_callbacks(execute=True):
        case = case_services.open_case(
            subject="Late", opened_at=timezone.now() - dt.timedelta(hours=3)
        )
    before = set(OutboundEvent.objects.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        scan()
    webhooks = {
        event.type: event.payload
        for event in OutboundEvent.objects.exclude(pk__in=before)
        if event.type.startswith("case.sla_")
    }
    items, _ = read_all(api, f"{FEED}?case={case.pk}&kind=sla_breached&kind=escalated")
    assert items and {item["event"]: item["data"] for item in items} == webhooks


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers: PostgreSQL")
def test_a_transaction_committing_after_a_higher_id_is_not_skipped(api, make_case):
    """Another connection takes an id, a later one commits first and is read; the first
    commits afterwards: the next page brings it. (Bare inserts: case writes take the case's
    change number, which serializes them.)"""
    case, other = make_case("Race"), make_case("Other")  # (notes lock their case's row)
    taken, go, errors, held = threading.Event(), threading.Event(), [], []

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                held.append(CaseEvent.objects.create(case=case, kind="note", data={"text": "slow"}))
                taken.set()
                go.wait(10)
        except BaseException as exc:
            errors.append(exc)
        finally:
            taken.set()
            connections.close_all()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert taken.wait(10)
    fast = CaseEvent.objects.create(case=other, kind="note", data={"text": "fast"})
    try:
        first, resume = read_all(api)
    finally:
        go.set()
        thread.join()
    assert not errors, errors
    assert fast.pk in [item["id"] for item in first]
    assert held[0].pk < fast.pk and held[0].pk not in [item["id"] for item in first]
    late, _ = read_all(api, resume)
    assert [item["id"] for item in late] == [held[0].pk]


@pytest.mark.parametrize(
    "cursor",
    [
        "cD0yMDI2LTEyLTAx",  # a cursor of another list ("p=2026-12-01")
        "eyJ2IjoxLCJhIjo1LCJnIjpbXX0",  # the feed's body, unsigned
        "not a cursor",
    ],
)
def test_a_made_up_cursor_is_a_400(api, cursor):
    response = api.get(FEED, {"after": cursor})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and "after" in body["errors"]


def test_a_cursor_of_another_list_with_a_valid_signature_is_refused(api, settings):
    from django.core import signing

    forged = signing.dumps({"v": 1, "a": 5, "g": []}, salt="another.salt")
    assert api.get(FEED, {"after": forged}).status_code == 400


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=x", "case=x", "kind=nope"])
def test_bad_parameters_are_a_400(api, query):
    response = api.get(f"{FEED}?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_a_key_without_the_cases_scope_is_a_403(agent, client_for):
    grant(agent, "view_case")
    client = client_for(agent, scopes=["teams:read"])
    response = client.get(FEED)
    assert response.status_code == 403
    assert "cases:read" in response.json()["detail"]
    assert client_for(agent, scopes=["cases:read"]).get(FEED).status_code == 200


def test_without_view_case_permission_is_a_403(agent, client_for):
    assert client_for(agent).get(FEED).status_code == 403


def test_no_credentials_is_a_401():
    assert APIClient().get(FEED).status_code == 401


def mention(external_id, handle="grace"):
    return InboundPost(
        platform="x",
        external_id=external_id,
        author=InboundIdentity(platform="x", external_id=f"id-{handle}", handle=handle),
        kind="mention",
        visibility="public",
        text="@acme my order never arrived",
        posted_at=timezone.now(),
    )


def test_queries_per_page_are_constant(api, channel, make_case, django_assert_max_num_queries):
    def fill(n):
        for i in range(n):
            ingest_post(channel, mention(f"q-{n}-{i}", handle=f"h{n}{i}"))
            case = make_case(f"Case {i}")
            case_services.change_priority(case, "high")
            case_services.set_tags(case, ["a", "b"])
            case_services.add_note(case, f"see SC-{i:06d}")  # names a case: the team rule

    fill(2)
    with django_assert_max_num_queries(12) as small:
        assert api.get(f"{FEED}?limit=500").status_code == 200
    fill(20)
    with django_assert_max_num_queries(len(small.captured_queries)):
        body = api.get(f"{FEED}?limit=500").json()
    assert len(body["results"]) == CaseEvent.objects.count() > 100
    assert {"post.created", "case.updated", "case.note"} <= {i["event"] for i in body["results"]}


def test_the_feed_is_in_the_schema(agent, client):
    grant(agent, "view_case")
    client.force_login(agent)
    schema = client.get("/socialcare/api/schema/?format=json").json()
    operation = schema["paths"]["/socialcare/api/v1/events/"]["get"]
    assert {"200", "400", "401", "403"} <= set(operation["responses"])
    assert {p["name"] for p in operation["parameters"]} >= {"after", "limit", "case", "kind"}


def test_moderation_is_post_moderated_and_a_failure_its_own_event(api, agent, channel):
    from socialcare.services import outbound_payloads as payloads
    from socialcare.services.events import record_event

    post = ingest_post(channel, mention("mod-1")).post
    case = post.case
    done = record_event(
        case, "moderated", actor=agent, post=post, action="hide", outcome="done", reason="abuse"
    )
    failed = record_event(
        case, "moderated", actor=agent, post=post, action="delete", outcome="failed", error="no"
    )

    items = {item["id"]: item for item in read_all(api, f"{FEED}?kind=moderated")[0]}

    assert items[done.pk]["event"] == "post.moderated"
    assert items[done.pk]["data"] == {
        "post": payloads.post_data(post),
        "case": payloads.case_data(case),
        "action": "hide",
        "reason": "abuse",
        "source": None,
        "actor": payloads.user_data(agent),
    }
    assert items[failed.pk]["event"] == "post.moderation_failed"
    assert items[failed.pk]["data"]["details"]["error"] == "no"
