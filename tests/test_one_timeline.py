"""One timeline (issue #19): the admin case page, the API timeline and the customer export list
the same posts and events of a case, in the same order (``services.timeline``): out-of-order
deliveries, merges, every case of the demo, and the data migration that gives old posts their
events."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from importlib import import_module
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from socialcare.demo import load_demo_data
from socialcare.models import Case, CaseEvent, Post, get_customer_model
from socialcare.platforms.base import InboundIdentity, InboundPost
from socialcare.services import cases as case_services
from socialcare.services.apikeys import create_api_key
from socialcare.services.ingest import ingest_post
from socialcare.services.privacy_export import export_customer
from socialcare.services.replies import send_reply
from socialcare.services.timeline import TIMELINE_MAX, build_timeline, record_post_events

pytestmark = pytest.mark.django_db

API = "/socialcare/api/v1"
T0 = dt.datetime(2026, 3, 11, 9, 0, tzinfo=dt.UTC)
ADA = InboundIdentity(platform="x", external_id="2002", handle="ada")
BRAND = InboundIdentity(platform="x", external_id="brand-1", handle="acme")
POST_KINDS = {CaseEvent.Kind.POST_ADDED, CaseEvent.Kind.REPLIED}


def item(external_id: str, minutes: int, *, reply_to: str = "", brand: bool = False) -> InboundPost:
    return InboundPost(
        platform="x",
        external_id=external_id,
        author=BRAND if brand else ADA,
        kind="reply" if reply_to else "mention",
        visibility="public",
        text=f"post {external_id}",
        posted_at=T0 + dt.timedelta(minutes=minutes),
        direction="outbound" if brand else "inbound",
        in_reply_to=reply_to,
        raw={},
    )


#: The customer's complaint, the brand's answer made on X (seen coming back as outbound) and the
#: customer's answer to it.
THREAD = {
    "root": item("100", 0),
    "brand": item("101", 10, reply_to="100", brand=True),
    "answer": item("102", 20, reply_to="101"),
}


@pytest.fixture
def boss(django_user_model):
    return django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")


@pytest.fixture
def api(boss):
    _, plain = create_api_key(boss, "timeline tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    return client


def api_rows(api: APIClient, case: Case, query: str = "", page_size: int = 3) -> list[dict]:
    """Every row of the API timeline, following ``next`` (small pages: ties cross pages)."""
    url, rows = f"{API}/cases/{case.pk}/timeline/?page_size={page_size}{query}", []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        rows += response.json()["results"]
        url = response.json()["next"]
    return rows


def api_entries(api: APIClient, case: Case, **kwargs: Any) -> list[tuple]:
    return [
        (r["id"], r["kind"], (r["post"] or {}).get("id")) for r in api_rows(api, case, **kwargs)
    ]


def page_entries(case: Case) -> list[tuple]:
    """What the case page lists: (event id, kind, post id) per entry; a post without its event
    would be (None, direction, post id) and never match the API."""
    entries = []
    for entry in build_timeline(case, limit=TIMELINE_MAX).items:
        event = entry.event
        if event is None:
            entries.append((None, entry.kind, entry.post.pk))
        else:
            entries.append((event.pk, event.kind, entry.post.pk if entry.post else event.post_id))
    return entries


def page_posts(case: Case) -> list[int]:
    return [entry.post.pk for entry in build_timeline(case, limit=TIMELINE_MAX).items if entry.post]


def assert_one_timeline(api: APIClient, case: Case, *, opened_first: bool = True) -> list[tuple]:
    """The page and the API agree; every post of the case is listed once; "Case opened" first
    (unless something on the case happened before it opened)."""
    listed = page_entries(case)
    assert api_entries(api, case) == listed, case.reference
    assert sorted(page_posts(case)) == sorted(
        Post.objects.filter(case=case).values_list("pk", flat=True)
    )
    if opened_first:
        assert listed[0][1] == CaseEvent.Kind.CREATED, case.reference
    return listed


# Out-of-order deliveries ---------------------------------------------------------------------


@pytest.mark.parametrize("order", list(itertools.permutations(THREAD)), ids="-".join)
def test_the_page_and_the_api_agree_in_every_arrival_order(order, channel, api, client, boss):
    for name in order:
        ingest_post(channel, THREAD[name])
    [case] = Case.objects.filter(merged_into__isnull=True)
    listed = assert_one_timeline(api, case)
    # The conversation in the order it happened, the brand's on-platform reply included.
    posts = Post.objects.in_bulk([post for _, kind, post in listed if kind in POST_KINDS])
    assert [posts[p].external_id for _, kind, p in listed if kind in POST_KINDS] == [
        "100",
        "101",
        "102",
    ]
    brand = Post.objects.get(external_id="101")
    assert brand.case_id == case.pk
    [replied] = CaseEvent.objects.filter(case=case, post=brand)
    assert (replied.kind, replied.at, replied.data.get("via")) == (
        "replied",
        brand.posted_at,
        "platform",
    )
    # The rendered page shows the posts in that order too.
    client.force_login(boss)
    body = client.get(reverse("admin:socialcare_case_change", args=[case.pk])).content.decode()
    timeline = body.split('id="sc-timeline"', 1)[1].split("</ol>", 1)[0]
    shown = [
        int(p)
        for p in re.findall(
            r'sc-timeline__item[^"]*" data-kind="\w+" data-post-id="(\d+)"', timeline
        )
    ]
    assert shown == [p for _, kind, p in listed if kind in POST_KINDS]


def test_a_brand_reply_seen_before_any_case_joins_with_its_event(channel, api):
    ingest_post(channel, THREAD["brand"])
    assert not CaseEvent.objects.filter(post__external_id="101").exists()  # no case yet
    ingest_post(channel, THREAD["answer"])
    case = Case.objects.get()
    # The brand's post (09:10) before the case its answer opened (09:20) and that answer.
    listed = assert_one_timeline(api, case, opened_first=False)
    assert [kind for _, kind, _ in listed][:3] == ["replied", "created", "post_added"]


# The order rule -------------------------------------------------------------------------------


def test_at_equal_times_case_opened_then_posts_then_what_they_caused(channel, identity, agent, api):
    case = case_services.open_case(channel=channel, identity=identity, opened_at=T0)
    case_services.add_note(case, "Called her", actor=agent)
    post = Post.objects.create(
        platform="x", external_id="7", channel=channel, author=identity, direction="inbound",
        kind="mention", visibility="public", text="Hello?", posted_at=T0, case=case,
    )  # fmt: skip
    # The note and the post event written after "case opened", all at the same instant.
    CaseEvent.objects.filter(case=case).update(at=T0)
    assert record_post_events(case) == 1
    assert record_post_events(case) == 0  # never twice
    kinds = [kind for _, kind, _ in assert_one_timeline(api, case)]
    assert kinds[:2] == ["created", "post_added"] and kinds[-1] == "note"
    assert (CaseEvent.objects.get(post=post).at, kinds.count("post_added")) == (T0, 1)


def test_a_held_reply_is_placed_when_it_was_written_on_the_page_and_in_the_api(
    channel, case, agent, api
):
    CaseEvent.objects.filter(case=case).update(at=T0 - dt.timedelta(minutes=1))
    first = Post.objects.create(
        platform="x", external_id="8", channel=channel, author=case.identity,
        direction="inbound", kind="mention", visibility="public", text="Where is it?",
        posted_at=T0, case=case,
    )  # fmt: skip
    record_post_events(case)
    reply = send_reply(case, "We are on it.", actor=agent)
    # Written at 09:05, published at 11:00 (held for approval), after the customer's 10:00 post.
    Post.objects.filter(pk=reply.pk).update(posted_at=T0 + dt.timedelta(hours=2))
    CaseEvent.objects.filter(post=reply).update(at=T0 + dt.timedelta(minutes=5))
    later = Post.objects.create(
        platform="x", external_id="9", channel=channel, author=case.identity,
        direction="inbound", kind="reply", visibility="public", text="Hello??",
        posted_at=T0 + dt.timedelta(hours=1), case=case,
    )  # fmt: skip
    record_post_events(case, [later.pk])
    listed = assert_one_timeline(api, case)
    assert [p for _, kind, p in listed if kind in POST_KINDS] == [first.pk, reply.pk, later.pk]
    ats = [row["at"] for row in api_rows(api, case)]
    assert ats == sorted(ats)


# Merges and opening a case for a post ----------------------------------------------------------


def test_merged_posts_are_on_the_target_timeline_once(channel, identity, agent, api):
    kept = case_services.open_case(channel=channel, identity=identity, opened_at=T0)
    moved = case_services.open_case(channel=channel, identity=identity, opened_at=T0)
    post = Post.objects.create(
        platform="x", external_id="m1", channel=channel, author=identity, direction="inbound",
        kind="mention", visibility="public", text="Again", posted_at=T0, case=moved,
    )  # fmt: skip
    record_post_events(moved)
    case_services.merge_cases(moved, kept, actor=agent)
    assert CaseEvent.objects.filter(case=kept, post=post, kind="post_added").count() == 1
    assert_one_timeline(api, kept)
    everything = api_entries(api, kept, query="&include_merged=true")
    assert [p for _, kind, p in everything if kind in POST_KINDS] == [post.pk]  # listed once
    # The merged case's own timeline still says the post came there.
    assert (None, "post_added", post.pk) not in page_entries(moved)
    assert api_entries(api, moved) == page_entries(moved)


def test_opening_a_case_for_a_brand_post_records_a_reply_at_its_time(channel, agent, api):
    brand = Post.objects.create(
        platform="x", external_id="b1", channel=channel, direction="outbound", kind="mention",
        visibility="public", text="We are down, sorry", posted_at=T0, send_status="sent",
    )  # fmt: skip
    case = case_services.open_case_for_post(brand, actor=agent)
    event = CaseEvent.objects.get(case=case, post=brand)
    assert (event.kind, event.at, event.data["via"]) == ("replied", T0, "platform")
    assert api_entries(api, case) == page_entries(case)


# The data migration ---------------------------------------------------------------------------


def test_migration_0024_gives_old_posts_their_events_once(channel, case, agent, api):
    migration = import_module("socialcare.migrations.0024_timeline_post_events")
    editor = SimpleNamespace(connection=connection)
    inbound = Post.objects.create(
        platform="x", external_id="o1", channel=channel, author=case.identity,
        direction="inbound", kind="mention", visibility="public", text="Old", posted_at=T0,
        case=case,
    )  # fmt: skip
    brand = Post.objects.create(
        platform="x", external_id="o2", channel=channel, direction="outbound", kind="reply",
        visibility="public", text="Brand", posted_at=T0 + dt.timedelta(minutes=3), case=case,
    )  # fmt: skip
    mine = Post.objects.create(
        platform="x", external_id="o3", channel=channel, direction="outbound", kind="reply",
        visibility="public", text="Mine", posted_at=T0 + dt.timedelta(minutes=4), case=case,
        sent_by=agent,
    )  # fmt: skip
    Post.objects.create(
        platform="x", external_id="o4", channel=channel, direction="inbound", kind="mention",
        visibility="public", text="No case", posted_at=T0,
    )  # fmt: skip
    assert (None, "inbound", inbound.pk) in page_entries(case)  # shown, but not in the API
    assert api_entries(api, case) != page_entries(case)

    migration.add_missing_post_events(apps, editor)
    migration.add_missing_post_events(apps, editor)  # again: nothing more

    made = {e.post_id: e for e in CaseEvent.objects.filter(post__isnull=False)}
    assert len(made) == 3 and CaseEvent.objects.filter(post__isnull=False).count() == 3
    assert (made[inbound.pk].kind, made[inbound.pk].at) == ("post_added", T0)
    assert made[inbound.pk].data["author"] == "@ada (X (Twitter))"
    assert (made[brand.pk].kind, made[brand.pk].data["via"]) == ("replied", "platform")
    assert (made[mine.pk].kind, made[mine.pk].actor_id) == ("replied", agent.pk)
    assert api_entries(api, case) == page_entries(case)


# The demo and the export --------------------------------------------------------------------


def test_every_demo_case_lists_the_same_timeline_on_the_page_in_the_api_and_the_export(api):
    load_demo_data(now=dt.datetime(2026, 3, 11, 14, 30, tzinfo=dt.UTC))
    cases = list(Case.objects.order_by("pk"))
    assert len(cases) > 40
    listed = {case.reference: assert_one_timeline(api, case) for case in cases}
    compared = set()
    for customer in get_customer_model().objects.all():
        exported: dict[str, list[tuple]] = {}
        for row in export_customer(customer)["case_events"]:
            exported.setdefault(row["case"], []).append((row["id"], row["kind"], row["post"]))
        for reference, rows in exported.items():
            assert rows == listed[reference], reference
            compared.add(reference)
    assert len(compared) >= len([c for c in cases if c.customer_id])
