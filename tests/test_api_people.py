"""The people API: customers (merge, history), identities (link, unlink), teams, SLA policies and
webhook subscriptions; their filters, permissions and query counts. Runs with the default and the
swapped customer model."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from socialcare.conf import app_settings
from socialcare.models import (
    Case,
    CaseEvent,
    CustomerMerge,
    OutboundEvent,
    Post,
    SLAPolicy,
    SocialIdentity,
    Team,
    TeamMembership,
    WebhookSubscription,
    get_customer_model,
)
from socialcare.models.fields import EncryptedJSONField
from socialcare.services import cases as case_services
from socialcare.services import outbound
from socialcare.services.apikeys import create_api_key
from socialcare.services.events import record_event

pytestmark = pytest.mark.django_db

V1 = "/socialcare/api/v1"


@pytest.fixture(autouse=True)
def _fresh_throttle() -> Any:
    cache.clear()
    yield
    cache.clear()


def customer_perm(action: str) -> str:
    """``app_label.<action>_<model>`` of the active (possibly swapped) customer model."""
    opts = get_customer_model()._meta
    return f"{opts.app_label}.{action}_{opts.model_name}"


def grant(user: Any, *perms: str) -> Any:
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


@pytest.fixture
def client_for() -> Callable[..., APIClient]:
    def make(user: Any, *, read_only: bool = False) -> APIClient:
        _, plain = create_api_key(user, f"key of {user}", read_only=read_only)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
        return client

    return make


@pytest.fixture
def admin_user(make_user: Callable[..., Any]) -> Any:
    return make_user("root", is_superuser=True)


@pytest.fixture
def api(client_for: Callable[..., APIClient], admin_user: Any) -> APIClient:
    return client_for(admin_user)


def results(response: Any) -> list[dict]:
    assert response.status_code == 200, response.json()
    return response.json()["results"]


def ids(response: Any) -> list[int]:
    return [row["id"] for row in results(response)]


def assert_error(response: Any, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) <= {"code", "detail", "errors"} and {"code", "detail"} <= set(body)
    if code:
        assert body["code"] == code
    return body


def query_counts(
    api: APIClient, url: str, sizes: tuple[int, int], expect: Callable[[list], None] | None = None
) -> list[int]:
    """Queries of one list page at two page sizes (after a warm-up request, which also records
    the key's last use)."""
    api.get(url, {"page_size": 1})
    counts = []
    for size in sizes:
        with CaptureQueriesContext(connection) as queries:
            rows = results(api.get(url, {"page_size": size}))
        assert len(rows) == size
        if expect:
            expect(rows)
        counts.append(len(queries))
    return counts


def add_post(case: Case, text: str, *, direction: str = "inbound", **fields: Any) -> Post:
    post = Post.objects.create(
        platform="x",
        external_id=fields.pop("external_id", None),
        channel=case.channel,
        author=case.identity if direction == "inbound" else None,
        direction=direction,
        kind="mention" if direction == "inbound" else "reply",
        visibility="public",
        text=text,
        case=case,
        **fields,
    )
    kind = CaseEvent.Kind.POST_ADDED if direction == "inbound" else CaseEvent.Kind.REPLIED
    record_event(case, kind, post=post, text=text)
    return post


# Customers --------------------------------------------------------------------------------------


def test_customer_list_and_detail_nest_identities_and_count_open_cases(
    api: APIClient, customer: Any, identity: SocialIdentity, case: Case
) -> None:
    rows = results(api.get(f"{V1}/customers/"))
    assert [row["id"] for row in rows] == [customer.pk]
    row = rows[0]
    assert row["name"] == "Ada Lovelace" and row["email"] == "ada@example.com"
    assert row["open_cases"] == 1
    assert [i["handle"] for i in row["identities"]] == ["ada"]
    assert api.get(f"{V1}/customers/{customer.pk}/").json() == row


def test_customer_fields_follow_the_model(api: APIClient, customer: Any) -> None:
    row = api.get(f"{V1}/customers/{customer.pk}/").json()
    model = get_customer_model()
    for name in ("created_at", "updated_at", "merged_into"):
        present = any(f.name == name for f in model._meta.get_fields())
        assert (name in row) == present


def test_customer_list_query_count_is_constant(
    api: APIClient, make_customer: Callable[..., Any], make_identity: Callable[..., Any]
) -> None:
    for n in range(12):
        person = make_customer(f"Person {n}", f"p{n}@example.com")
        make_identity(f"x-{n}", f"p{n}", customer=person)
        make_identity(f"m-{n}", f"p{n}", platform="mastodon", customer=person)

    def two_identities(rows: list) -> None:
        assert all(len(row["identities"]) == 2 for row in rows)

    counts = query_counts(api, f"{V1}/customers/", (2, 10), two_identities)
    assert counts[0] == counts[1]


def test_customer_pagination_follows_next_and_bounds_page_size(
    api: APIClient, make_customer: Callable[..., Any]
) -> None:
    made = [make_customer(f"P{n}").pk for n in range(5)]
    seen, url = [], f"{V1}/customers/?page_size=2"
    while url:
        body = api.get(url).json()
        assert len(body["results"]) <= 2
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(made)
    assert len(results(api.get(f"{V1}/customers/", {"page_size": 100000}))) == 5
    body = assert_error(api.get(f"{V1}/customers/", {"cursor": "garbage"}), 400, "invalid")
    assert "cursor" in body["errors"]


def test_customer_search(
    api: APIClient, make_customer: Callable[..., Any], make_identity: Callable[..., Any]
) -> None:
    ada = make_customer("Ada Lovelace", "ada@example.com")
    grace = make_customer("Grace Hopper", "grace@navy.example")
    make_identity("1", "countess", customer=ada)
    assert ids(api.get(f"{V1}/customers/", {"search": "lovelace"})) == [ada.pk]
    assert ids(api.get(f"{V1}/customers/", {"search": "navy.example"})) == [grace.pk]
    assert ids(api.get(f"{V1}/customers/", {"search": "countess"})) == [ada.pk]
    assert ids(api.get(f"{V1}/customers/", {"search": "nobody"})) == []


def test_customer_filters(
    api: APIClient,
    make_customer: Callable[..., Any],
    make_identity: Callable[..., Any],
    channel: Any,
) -> None:
    ada = make_customer("Ada")
    grace = make_customer("Grace")
    make_identity("1", "Ada_L", customer=ada)
    make_identity("2", "gracie", platform="mastodon", customer=grace)
    case_services.open_case(channel=channel, customer=ada)
    closed = case_services.open_case(channel=channel, customer=grace)
    Case.objects.filter(pk=closed.pk).update(status=Case.Status.CLOSED)

    def filtered(**params: Any) -> list[int]:
        return ids(api.get(f"{V1}/customers/", params))

    assert filtered(platform="mastodon") == [grace.pk]
    assert filtered(handle="@ada_l") == [ada.pk]
    assert filtered(has_open_case="true") == [ada.pk]
    assert filtered(has_open_case="false") == [grace.pk]
    body = assert_error(api.get(f"{V1}/customers/", {"platform": "myspace"}), 400, "invalid")
    assert "platform" in body["errors"]


def test_customer_date_filters(api: APIClient, make_customer: Callable[..., Any]) -> None:
    model = get_customer_model()
    field_names = {f.name for f in model._meta.get_fields()}
    old, new = make_customer("Old"), make_customer("New")
    if "updated_at" not in field_names:
        # The swapped model has no timestamps: `created_*` are not offered (unknown params are
        # ignored), lists fall back to id order, and `updated_since` finds the customers that
        # socialcare's own records changed (merges into them, their cases; tests/test_api_sync.py).
        assert ids(api.get(f"{V1}/customers/", {"created_after": "2000-01-01T00:00:00Z"})) == [
            old.pk,
            new.pk,
        ]
        assert ids(api.get(f"{V1}/customers/", {"updated_since": "2000-01-01T00:00:00Z"})) == []
        return
    earlier = timezone.now() - dt.timedelta(days=3)
    model.objects.filter(pk=old.pk).update(created_at=earlier, updated_at=earlier)
    since = (timezone.now() - dt.timedelta(days=1)).isoformat()
    assert ids(api.get(f"{V1}/customers/", {"updated_since": since})) == [new.pk]
    assert ids(api.get(f"{V1}/customers/", {"created_after": since})) == [new.pk]
    assert ids(api.get(f"{V1}/customers/", {"created_before": since})) == [old.pk]
    # Oldest change first by default; ordering by -id on request.
    assert ids(api.get(f"{V1}/customers/")) == [old.pk, new.pk]
    assert ids(api.get(f"{V1}/customers/", {"ordering": "-id"})) == [new.pk, old.pk]
    body = assert_error(api.get(f"{V1}/customers/", {"updated_since": "yesterday"}), 400)
    assert "updated_since" in body["errors"]
    # Parses, but overflows when converted to UTC: still a 400, never a 500.
    out_of_range = api.get(f"{V1}/customers/", {"created_after": "0001-01-01T00:00:00+05:00"})
    assert_error(out_of_range, 400)


def test_customer_create_and_partial_update(api: APIClient) -> None:
    response = api.post(
        f"{V1}/customers/", {"name": "Ada", "email": "ada@example.com"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "Ada" and body["identities"] == [] and body["open_cases"] == 0
    customer = get_customer_model().objects.get(pk=body["id"])
    assert getattr(customer, app_settings.CUSTOMER_EMAIL_FIELD) == "ada@example.com"

    response = api.patch(
        f"{V1}/customers/{customer.pk}/",
        {"email": "ada@lovelace.example", "open_cases": 9, "id": 999},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["email"] == "ada@lovelace.example"
    assert response.json()["open_cases"] == 0 and response.json()["id"] == customer.pk
    customer.refresh_from_db()
    assert getattr(customer, app_settings.CUSTOMER_EMAIL_FIELD) == "ada@lovelace.example"

    body = assert_error(
        api.patch(f"{V1}/customers/{customer.pk}/", {"email": "not-an-email"}, format="json"), 400
    )
    assert "email" in body["errors"]
    assert_error(api.put(f"{V1}/customers/{customer.pk}/", {"name": "X"}, format="json"), 405)
    assert_error(api.delete(f"{V1}/customers/{customer.pk}/"), 405)


def test_customer_not_found(api: APIClient) -> None:
    assert_error(api.get(f"{V1}/customers/999999/"), 404, "not_found")
    assert_error(api.get(f"{V1}/customers/abc/"), 404, "not_found")
    assert_error(api.get(f"{V1}/customers/99999999999999999999999/"), 404, "not_found")


def test_merge_customers(
    api: APIClient,
    admin_user: Any,
    make_customer: Callable[..., Any],
    make_identity: Callable[..., Any],
    channel: Any,
) -> None:
    keep = make_customer("Ada Lovelace", "")
    dup = make_customer("A. Lovelace", "ada@example.com")
    make_identity("1", "ada", customer=dup)
    case_services.open_case(channel=channel, customer=dup)

    response = api.post(f"{V1}/customers/{dup.pk}/merge/", {"into": keep.pk}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["customer"]["id"] == keep.pk
    assert body["customer"]["email"] == "ada@example.com"  # filled from the merged record
    assert [i["handle"] for i in body["customer"]["identities"]] == ["ada"]
    assert body["customer"]["open_cases"] == 1
    merge = CustomerMerge.objects.get()
    assert body["merge"]["id"] == merge.pk and body["merge"]["source_id"] == str(dup.pk)
    assert body["merge"]["target"] == keep.pk and body["merge"]["merged_by"] == admin_user.pk
    assert body["merge"]["identities_moved"] == 1 and body["merge"]["cases_moved"] == 1
    assert body["merge"]["target_ref"] == str(keep.pk)
    filled = [app_settings.CUSTOMER_EMAIL_FIELD]
    assert body["merge"]["relations"] == {"moved": [], "left": [], "filled": filled}

    # On any customer model, merging the merged record again is refused, with the reason.
    again = api.post(f"{V1}/customers/{dup.pk}/merge/", {"into": keep.pk}, format="json")
    body = assert_error(again, 409, "merge_refused")
    assert body["detail"].startswith("A. Lovelace was merged into Ada Lovelace on ")
    assert CustomerMerge.objects.count() == 1


def test_reverse_and_cyclic_merges_are_refused(
    api: APIClient, make_customer: Callable[..., Any], channel: Any
) -> None:
    a, b, c = make_customer("Ada"), make_customer("Ada L."), make_customer("A. Lovelace")
    case = case_services.open_case(channel=channel, customer=a)

    def merge(source: Any, into: Any) -> Any:
        return api.post(f"{V1}/customers/{source.pk}/merge/", {"into": into.pk}, format="json")

    assert merge(b, a).status_code == 200
    back = assert_error(merge(a, b), 409, "merge_refused")
    assert "merging Ada back into it would undo that merge" in back["detail"]
    assert Case.objects.get(pk=case.pk).customer == a
    assert merge(a, c).status_code == 200
    cycle = assert_error(merge(c, b), 409, "merge_refused")
    assert "Ada L. was merged into Ada on" in cycle["detail"]
    assert cycle["detail"].endswith("merging A. Lovelace into it would make a cycle.")
    assert CustomerMerge.objects.count() == 2
    # Linking an identity to a merged record is refused, naming the record to use.
    identity = SocialIdentity.objects.create(platform="x", external_id="9", handle="ada")
    link = api.post(f"{V1}/identities/{identity.pk}/link/", {"customer": b.pk}, format="json")
    body = assert_error(link, 400, "customer_merged")
    assert body["detail"] == "Ada L. was merged into Ada; link it to A. Lovelace."


def test_merging_a_host_contact_with_tags_and_deals(
    api: APIClient, make_customer: Callable[..., Any]
) -> None:
    """The issue's 500: a host customer model with a many-to-many ``tags`` field."""
    if get_customer_model()._meta.label != "testapp.Contact":
        pytest.skip("needs --ds=tests.settings_swapped")
    from tests.testapp.models import ContactProfile, Deal, Tag

    keep, dup = make_customer("Grace Hopper"), make_customer("G. Hopper")
    dup.tags.add(Tag.objects.create(name="vip"))
    Deal.objects.create(contact=dup, title="Renewal")
    ContactProfile.objects.create(contact=dup)
    response = api.post(f"{V1}/customers/{dup.pk}/merge/", {"into": keep.pk}, format="json")
    assert response.status_code == 200, response.content
    merge = response.json()["merge"]
    assert merge["source_snapshot"]["tags"] == [Tag.objects.get().pk]
    assert merge["relations"]["moved"] == [
        {"relation": "testapp.Contact.tags", "count": 1},
        {"relation": "testapp.Deal.contact", "count": 1},
    ]
    assert [(r["relation"], r["count"]) for r in merge["relations"]["left"]] == [
        ("testapp.ContactProfile.contact", 1)
    ]
    assert keep.deals.count() == 1 and list(keep.tags.values_list("name", flat=True)) == ["vip"]


def test_merge_refusals(api: APIClient, customer: Any) -> None:
    itself = api.post(f"{V1}/customers/{customer.pk}/merge/", {"into": customer.pk}, format="json")
    assert_error(itself, 409, "merge_refused")
    body = assert_error(
        api.post(f"{V1}/customers/{customer.pk}/merge/", {"into": 999999}, format="json"), 400
    )
    assert "into" in body["errors"]
    body = assert_error(api.post(f"{V1}/customers/{customer.pk}/merge/", {}, format="json"), 400)
    assert "into" in body["errors"]
    assert_error(
        api.post(f"{V1}/customers/999999/merge/", {"into": customer.pk}, format="json"), 404
    )


def test_customer_permissions(
    client_for: Callable[..., APIClient],
    make_user: Callable[..., Any],
    make_customer: Callable[..., Any],
) -> None:
    a, b = make_customer("A"), make_customer("B")
    nobody = client_for(make_user("nobody"))
    assert_error(nobody.get(f"{V1}/customers/"), 403, "permission_denied")
    viewer_user = grant(make_user("viewer"), customer_perm("view"))
    viewer = client_for(viewer_user)
    assert viewer.get(f"{V1}/customers/").status_code == 200
    assert_error(viewer.post(f"{V1}/customers/", {"name": "C"}, format="json"), 403)
    assert_error(viewer.patch(f"{V1}/customers/{a.pk}/", {"name": "C"}, format="json"), 403)
    merge = viewer.post(f"{V1}/customers/{a.pk}/merge/", {"into": b.pk}, format="json")
    assert_error(merge, 403)
    # History needs view_case as well.
    assert_error(viewer.get(f"{V1}/customers/{a.pk}/history/"), 403)

    editor = client_for(grant(make_user("editor"), customer_perm("view"), customer_perm("change")))
    assert editor.patch(f"{V1}/customers/{a.pk}/", {"name": "A2"}, format="json").status_code == 200
    assert_error(editor.post(f"{V1}/customers/", {"name": "C"}, format="json"), 403)
    response = editor.post(f"{V1}/customers/{a.pk}/merge/", {"into": b.pk}, format="json")
    assert response.status_code == 200
    adder = client_for(grant(make_user("adder"), customer_perm("add")))
    assert adder.post(f"{V1}/customers/", {"name": "C"}, format="json").status_code == 201


def test_customer_history(
    api: APIClient, admin_user: Any, customer: Any, identity: SocialIdentity, channel: Any
) -> None:
    first = case_services.open_case(
        channel=channel,
        identity=identity,
        subject="Late parcel",
        opened_at=timezone.now() - dt.timedelta(days=2),
    )
    inbound = add_post(first, "Where is my parcel?", external_id="t1")
    case_services.add_note(first, "Checked the courier", actor=admin_user)
    reply = add_post(first, "It arrives tomorrow", direction="outbound", sent_by=admin_user)
    second = case_services.open_case(channel=channel, identity=identity, subject="Refund")
    other_customer_case = case_services.open_case(channel=channel, subject="Someone else")

    body = api.get(f"{V1}/customers/{customer.pk}/history/").json()
    assert body["next"] is None
    cases = body["results"]
    assert [c["reference"] for c in cases] == [first.reference, second.reference]
    assert other_customer_case.reference not in [c["reference"] for c in cases]
    history = cases[0]
    assert history["status"] == "new" and history["subject"] == "Late parcel"
    assert [e["kind"] for e in history["events"]] == ["created", "post_added", "note", "replied"]
    note = history["events"][2]
    assert note["summary"] == "Checked the courier" and note["actor"]
    assert history["events"][0]["actor"] is None
    assert [p["id"] for p in history["posts"]] == [inbound.pk, reply.pk]
    assert history["posts"][0]["author_handle"] == "ada"
    assert history["posts"][1]["sent_by"] and history["posts"][1]["direction"] == "outbound"

    page = api.get(f"{V1}/customers/{customer.pk}/history/", {"page_size": 1}).json()
    assert [c["id"] for c in page["results"]] == [first.pk]
    assert [c["id"] for c in api.get(page["next"]).json()["results"]] == [second.pk]


def test_customer_history_query_count_is_constant(
    api: APIClient, customer: Any, identity: SocialIdentity, channel: Any
) -> None:
    for n in range(6):
        case = case_services.open_case(channel=channel, identity=identity, subject=f"#{n}")
        add_post(case, f"post {n}", external_id=f"h{n}")
        add_post(case, f"reply {n}", direction="outbound")

    def timelines(rows: list) -> None:
        assert all(len(row["events"]) == 3 and len(row["posts"]) == 2 for row in rows)

    counts = query_counts(api, f"{V1}/customers/{customer.pk}/history/", (2, 5), timelines)
    assert counts[0] == counts[1]


def test_customer_history_follows_the_team_rule(
    client_for: Callable[..., APIClient],
    make_user: Callable[..., Any],
    customer: Any,
    channel: Any,
    team: Team,
) -> None:
    other_team = Team.objects.create(name="Billing")
    mine = case_services.open_case(channel=channel, customer=customer, team=team)
    triage = case_services.open_case(customer=customer)
    theirs = case_services.open_case(customer=customer, team=other_team)
    outsider = grant(make_user("carol"), customer_perm("view"), "socialcare.view_case")
    TeamMembership.objects.create(team=team, user=outsider)
    seen = [
        c["id"]
        for c in client_for(outsider)
        .get(f"{V1}/customers/{customer.pk}/history/")
        .json()["results"]
    ]
    assert sorted(seen) == sorted([mine.pk, triage.pk])
    supervisor = grant(
        make_user("sue"), customer_perm("view"), "socialcare.view_case", "socialcare.view_all_cases"
    )
    seen = [
        c["id"]
        for c in client_for(supervisor)
        .get(f"{V1}/customers/{customer.pk}/history/")
        .json()["results"]
    ]
    assert sorted(seen) == sorted([mine.pk, triage.pk, theirs.pk])


# Identities -------------------------------------------------------------------------------------


def test_identity_list_filters(
    api: APIClient, make_identity: Callable[..., Any], customer: Any
) -> None:
    linked = make_identity("1", "Ada_L", customer=customer)
    verified = make_identity(
        "2",
        "gracie",
        platform="mastodon",
        owner_verified_at=timezone.now(),
        owner_verified_via="mastodon",
    )
    stale = make_identity("3", "old", last_seen_at=timezone.now() - dt.timedelta(days=30))

    def filtered(**params: Any) -> list[int]:
        return sorted(ids(api.get(f"{V1}/identities/", params)))

    assert filtered() == sorted([linked.pk, verified.pk, stale.pk])
    assert filtered(platform="mastodon") == [verified.pk]
    assert filtered(handle="@ADA_L") == [linked.pk]
    assert filtered(customer=customer.pk) == [linked.pk]
    assert filtered(linked="true") == [linked.pk]
    assert filtered(linked="false") == sorted([verified.pk, stale.pk])
    assert filtered(verified="true") == [verified.pk]
    assert filtered(verified="false") == sorted([linked.pk, stale.pk])
    since = (timezone.now() - dt.timedelta(days=1)).isoformat()
    assert filtered(updated_since=since) == sorted([linked.pk, verified.pk])
    assert filtered(search="graci") == [verified.pk]
    # Offsets Python parses but PostgreSQL refuses (beyond ±15:59) are converted to UTC first.
    assert len(filtered(updated_since="2000-01-01T00:00:00+16:44")) == 3
    assert_error(api.get(f"{V1}/identities/", {"updated_since": "0001-01-01T00:00:00+05:00"}), 400)
    # Oldest last_seen_at first.
    assert ids(api.get(f"{V1}/identities/"))[0] == stale.pk
    body = assert_error(api.get(f"{V1}/identities/", {"customer": "1.5"}), 400)
    assert "customer" in body["errors"]
    body = assert_error(api.get(f"{V1}/identities/", {"customer": str(2**80)}), 400)  # no 500
    assert "customer" in body["errors"]


def test_identity_list_query_count_is_constant(
    api: APIClient, make_identity: Callable[..., Any], make_customer: Callable[..., Any]
) -> None:
    for n in range(12):
        make_identity(f"q{n}", f"h{n}", customer=make_customer(f"C{n}"))
    counts = query_counts(api, f"{V1}/identities/", (2, 10))
    assert counts[0] == counts[1]


def test_identity_create(api: APIClient, customer: Any) -> None:
    data = {
        "platform": "x",
        "external_id": "1450098211",
        "handle": "@ada",
        "display_name": "Ada L.",
        "profile_url": "https://x.com/ada",
        "followers_count": 1520,
        # Read-only: verification comes with OAuth; the customer through link.
        "owner_verified_at": "2026-01-01T00:00:00Z",
        "customer": customer.pk,
    }
    response = api.post(f"{V1}/identities/", data, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["handle"] == "ada" and body["followers_count"] == 1520
    assert body["owner_verified_at"] is None and body["customer"] is None
    identity = SocialIdentity.objects.get(pk=body["id"])
    assert identity.owner_verified_at is None and identity.customer_id is None

    duplicate = assert_error(api.post(f"{V1}/identities/", data, format="json"), 400, "invalid")
    assert list(duplicate["errors"]) == ["external_id"]
    bad = assert_error(
        api.post(f"{V1}/identities/", {"platform": "myspace", "external_id": ""}, format="json"),
        400,
    )
    assert {"platform", "external_id"} <= set(bad["errors"])
    assert api.get(f"{V1}/identities/{identity.pk}/").json() == body
    assert_error(api.delete(f"{V1}/identities/{identity.pk}/"), 405)
    assert_error(api.put(f"{V1}/identities/{identity.pk}/", data, format="json"), 405)


def test_identity_link_and_unlink(
    api: APIClient,
    make_identity: Callable[..., Any],
    make_customer: Callable[..., Any],
    channel: Any,
) -> None:
    identity = make_identity("77", "newbie")
    case = case_services.open_case(channel=channel, identity=identity)
    customer = make_customer("Newbie")
    response = api.post(
        f"{V1}/identities/{identity.pk}/link/", {"customer": customer.pk}, format="json"
    )
    assert response.status_code == 200 and response.json()["customer"] == customer.pk
    case.refresh_from_db()
    assert case.customer_id == customer.pk  # the identity's unowned cases follow it

    response = api.post(f"{V1}/identities/{identity.pk}/unlink/")
    assert response.status_code == 200 and response.json()["customer"] is None
    case.refresh_from_db()
    assert case.customer_id == customer.pk  # history stays
    assert_error(api.post(f"{V1}/identities/{identity.pk}/unlink/"), 400, "invalid")
    body = assert_error(
        api.post(f"{V1}/identities/{identity.pk}/link/", {"customer": 999999}, format="json"), 400
    )
    assert "customer" in body["errors"]
    assert_error(
        api.post(f"{V1}/identities/999999/link/", {"customer": customer.pk}, format="json"), 404
    )


def test_identity_permissions(
    client_for: Callable[..., APIClient],
    make_user: Callable[..., Any],
    make_identity: Callable[..., Any],
    customer: Any,
) -> None:
    identity = make_identity("5", "someone")
    viewer = client_for(grant(make_user("viewer"), "socialcare.view_socialidentity"))
    assert viewer.get(f"{V1}/identities/{identity.pk}/").status_code == 200
    link = f"{V1}/identities/{identity.pk}/link/"
    assert_error(viewer.post(link, {"customer": customer.pk}, format="json"), 403)
    assert_error(viewer.post(f"{V1}/identities/{identity.pk}/unlink/"), 403)
    assert_error(
        viewer.post(f"{V1}/identities/", {"platform": "x", "external_id": "9"}, format="json"), 403
    )
    changer = client_for(grant(make_user("changer"), "socialcare.change_socialidentity"))
    assert changer.post(link, {"customer": customer.pk}, format="json").status_code == 200
    adder = client_for(grant(make_user("adder"), "socialcare.add_socialidentity"))
    response = adder.post(f"{V1}/identities/", {"platform": "x", "external_id": "9"}, format="json")
    assert response.status_code == 201


# Teams ------------------------------------------------------------------------------------------


def test_teams(api: APIClient, team: Team, agent: Any, other_agent: Any) -> None:
    TeamMembership.objects.filter(team=team, user=other_agent).update(on_duty=False)
    Team.objects.create(name="Billing")
    rows = results(api.get(f"{V1}/teams/"))
    assert [row["name"] for row in rows] == ["Billing", "Care"]
    care = rows[1]
    routing = {"capacity": 5, "languages": [], "platforms": [], "status": "offline"}  # #20
    assert care["members"] == [
        {"user": agent.pk, "username": "alice", "name": "Alice Agent", "on_duty": True, **routing},
        {
            "user": other_agent.pk,
            "username": "bob",
            "name": "Bob Backup",
            "on_duty": False,
            **routing,
        },
    ]
    assert api.get(f"{V1}/teams/{team.pk}/").json() == care
    assert ids(api.get(f"{V1}/teams/", {"search": "bill"})) == [rows[0]["id"]]
    assert_error(api.post(f"{V1}/teams/", {"name": "New"}, format="json"), 405)


def test_team_query_count_is_constant(api: APIClient, make_user: Callable[..., Any]) -> None:
    for n in range(8):
        team = Team.objects.create(name=f"T{n}")
        for m in range(2):
            TeamMembership.objects.create(team=team, user=make_user(f"u{n}-{m}"))

    def two_members(rows: list) -> None:
        assert all(len(row["members"]) == 2 for row in rows)

    counts = query_counts(api, f"{V1}/teams/", (2, 6), two_members)
    assert counts[0] == counts[1]


def test_team_permissions(
    client_for: Callable[..., APIClient], make_user: Callable[..., Any], team: Team
) -> None:
    assert_error(client_for(make_user("nope")).get(f"{V1}/teams/"), 403)
    viewer = client_for(grant(make_user("viewer"), "socialcare.view_team"))
    assert viewer.get(f"{V1}/teams/{team.pk}/").status_code == 200


# SLA policies -----------------------------------------------------------------------------------


def test_sla_policies_read_in_order_and_filter(api: APIClient) -> None:
    late = SLAPolicy.objects.create(name="Catch-all", order=100)
    urgent = SLAPolicy.objects.create(name="Urgent", order=10, priority="urgent", platform="x")
    off = SLAPolicy.objects.create(name="Old", order=50, is_active=False)
    assert ids(api.get(f"{V1}/sla-policies/")) == [urgent.pk, off.pk, late.pk]
    assert ids(api.get(f"{V1}/sla-policies/", {"is_active": "false"})) == [off.pk]
    assert ids(api.get(f"{V1}/sla-policies/", {"priority": "urgent"})) == [urgent.pk]
    assert ids(api.get(f"{V1}/sla-policies/", {"platform": "x"})) == [urgent.pk]
    assert api.get(f"{V1}/sla-policies/{urgent.pk}/").json()["first_response_minutes"] == 60
    assert_error(api.delete(f"{V1}/sla-policies/{urgent.pk}/"), 405)  # deactivate instead


def test_sla_policy_write_needs_permissions(
    client_for: Callable[..., APIClient], make_user: Callable[..., Any]
) -> None:
    data = {"name": "VIP", "order": 5, "priority": "high", "first_response_minutes": 15}
    viewer = client_for(grant(make_user("viewer"), "socialcare.view_slapolicy"))
    assert_error(viewer.post(f"{V1}/sla-policies/", data, format="json"), 403)
    lead = client_for(
        grant(
            make_user("lead"),
            "socialcare.view_slapolicy",
            "socialcare.add_slapolicy",
            "socialcare.change_slapolicy",
        )
    )
    response = lead.post(f"{V1}/sla-policies/", data, format="json")
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    response = lead.patch(f"{V1}/sla-policies/{pk}/", {"first_response_minutes": 10}, format="json")
    assert response.status_code == 200 and SLAPolicy.objects.get(pk=pk).first_response_minutes == 10
    body = assert_error(
        lead.patch(f"{V1}/sla-policies/{pk}/", {"priority": "asap"}, format="json"), 400
    )
    assert "priority" in body["errors"]
    assert_error(lead.post(f"{V1}/sla-policies/", data, format="json"), 400)  # unique name
    # No delete (deactivate instead); permissions are checked first, as everywhere in DRF.
    assert_error(lead.delete(f"{V1}/sla-policies/{pk}/"), 403)


# Webhook subscriptions --------------------------------------------------------------------------


def test_webhook_subscription_secret_is_generated_and_shown_once(api: APIClient) -> None:
    data = {"name": "CRM", "url": "https://crm.example.com/hook", "event_types": ["case.created"]}
    response = api.post(f"{V1}/webhook-subscriptions/", data, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    subscription = WebhookSubscription.objects.get(pk=body["id"])
    assert body["secret"].startswith("whsec_") and body["secret"] == subscription.secret
    assert body["event_types"] == ["case.created"]
    # Encrypted at rest.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT secrets FROM {WebhookSubscription._meta.db_table} WHERE id = %s",
            [subscription.pk],
        )
        assert body["secret"] not in cursor.fetchone()[0]
    # Never again.
    assert "secret" not in api.get(f"{V1}/webhook-subscriptions/{subscription.pk}/").json()
    assert all("secret" not in row for row in results(api.get(f"{V1}/webhook-subscriptions/")))
    patched = api.patch(
        f"{V1}/webhook-subscriptions/{subscription.pk}/", {"name": "CRM 2"}, format="json"
    )
    assert patched.status_code == 200 and "secret" not in patched.json()


def test_webhook_subscription_given_secret_and_rotation(api: APIClient) -> None:
    given = "s" * 40
    response = api.post(
        f"{V1}/webhook-subscriptions/",
        {"name": "CRM", "url": "https://crm.example.com/hook", "secret": given},
        format="json",
    )
    assert response.status_code == 201 and response.json()["secret"] == given
    pk = response.json()["id"]
    assert response.json()["event_types"] == []
    rotated = "r" * 40
    response = api.patch(f"{V1}/webhook-subscriptions/{pk}/", {"secret": rotated}, format="json")
    assert response.status_code == 200 and "secret" not in response.json()
    assert WebhookSubscription.objects.get(pk=pk).secret == rotated
    body = assert_error(
        api.patch(f"{V1}/webhook-subscriptions/{pk}/", {"secret": "short"}, format="json"), 400
    )
    assert "secret" in body["errors"]


def test_webhook_subscription_validation(api: APIClient) -> None:
    url = f"{V1}/webhook-subscriptions/"
    body = assert_error(
        api.post(
            url,
            {"name": "x", "url": "https://a.example", "event_types": ["case.eaten"]},
            format="json",
        ),
        400,
    )
    assert "event_types" in body["errors"]
    body = assert_error(api.post(url, {"name": "x", "url": "ftp://a.example/"}, format="json"), 400)
    assert "url" in body["errors"]
    body = assert_error(
        api.post(
            url,
            {"name": "x", "url": "https://a.example", "event_types": "case.created"},
            format="json",
        ),
        400,
    )
    assert "event_types" in body["errors"]
    response = api.post(
        url,
        {"name": "x", "url": "https://a.example", "event_types": ["case.created", "case.created"]},
        format="json",
    )
    assert response.json()["event_types"] == ["case.created"]


def test_webhook_subscription_reenable_delete_and_filter(api: APIClient) -> None:
    sub = WebhookSubscription.objects.create(
        name="Dead",
        url="https://dead.example/",
        secrets={"secret": "x" * 32},
        is_active=False,
        disabled_at=timezone.now(),
        disabled_reason="410 Gone",
        consecutive_failures=12,
    )
    live = WebhookSubscription.objects.create(
        name="Live", url="https://live.example/", secrets={"secret": "y" * 32}
    )
    assert ids(api.get(f"{V1}/webhook-subscriptions/", {"is_active": "false"})) == [sub.pk]
    response = api.patch(
        f"{V1}/webhook-subscriptions/{sub.pk}/", {"is_active": True}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert (
        body["disabled_at"] is None
        and body["disabled_reason"] == ""
        and body["consecutive_failures"] == 0
    )
    put = api.put(
        f"{V1}/webhook-subscriptions/{live.pk}/",
        {"name": "Live 2", "url": "https://live.example/2"},
        format="json",
    )
    assert put.status_code == 200 and put.json()["url"] == "https://live.example/2"
    assert WebhookSubscription.objects.get(pk=live.pk).secret == "y" * 32
    assert api.delete(f"{V1}/webhook-subscriptions/{sub.pk}/").status_code == 204
    assert not WebhookSubscription.objects.filter(pk=sub.pk).exists()


def test_webhook_subscription_undecryptable_secret_can_be_replaced(api: APIClient) -> None:
    sub = WebhookSubscription.objects.create(
        name="Old key", url="https://a.example/", secrets={"secret": "z" * 32}
    )
    with connection.cursor() as cursor:  # encrypted with a key no longer configured
        cursor.execute(
            f"UPDATE {WebhookSubscription._meta.db_table} SET secrets = %s WHERE id = %s",
            ["not-a-fernet-token", sub.pk],
        )
    assert WebhookSubscription.objects.get(pk=sub.pk).secrets == {
        EncryptedJSONField.UNDECRYPTABLE: "not-a-fernet-token"
    }
    assert "secret" not in api.get(f"{V1}/webhook-subscriptions/{sub.pk}/").json()
    response = api.patch(
        f"{V1}/webhook-subscriptions/{sub.pk}/", {"secret": "n" * 32}, format="json"
    )
    assert response.status_code == 200
    assert WebhookSubscription.objects.get(pk=sub.pk).secret == "n" * 32


def test_webhook_subscription_permissions(
    client_for: Callable[..., APIClient], make_user: Callable[..., Any]
) -> None:
    sub = WebhookSubscription.objects.create(
        name="A", url="https://a.example/", secrets={"secret": "x" * 32}
    )
    url = f"{V1}/webhook-subscriptions/"
    assert_error(client_for(make_user("nope")).get(url), 403)
    viewer = client_for(grant(make_user("viewer"), "socialcare.view_webhooksubscription"))
    assert viewer.get(f"{url}{sub.pk}/").status_code == 200
    assert_error(viewer.post(url, {"name": "B", "url": "https://b.example/"}, format="json"), 403)
    assert_error(viewer.delete(f"{url}{sub.pk}/"), 403)
    assert_error(viewer.patch(f"{url}{sub.pk}/", {"name": "C"}, format="json"), 403)
    owner = client_for(
        grant(
            make_user("owner"),
            "socialcare.add_webhooksubscription",
            "socialcare.delete_webhooksubscription",
        )
    )
    assert (
        owner.post(url, {"name": "B", "url": "https://b.example/"}, format="json").status_code
        == 201
    )
    assert owner.delete(f"{url}{sub.pk}/").status_code == 204


def test_docs_signature_snippet_verifies_real_deliveries(api: APIClient) -> None:
    """The verification code in docs/api.md accepts what socialcare sends, and nothing else."""
    docs = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    snippet = next(
        block
        for block in re.findall(r"```python\n(.*?)```", docs, re.S)
        if "def verify_socialcare_webhook" in block
    )
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)
    verify, invalid = namespace["verify_socialcare_webhook"], namespace["InvalidSignature"]

    secret = api.post(
        f"{V1}/webhook-subscriptions/",
        {"name": "CRM", "url": "https://crm.example.com/hook"},
        format="json",
    ).json()["secret"]
    event = OutboundEvent.objects.create(type="case.created", payload={"case": {"id": 1}})
    body = outbound.event_body(event)
    headers = outbound.request_headers(event, secret, body)
    assert verify(secret, headers, body) == str(event.id)

    with pytest.raises(invalid):
        verify(secret, headers, body.replace(b'"id":1', b'"id":2'))
    with pytest.raises(invalid):
        verify("whsec_other", headers, body)
    stale = int(time.time()) - 301
    old = {
        **headers,
        "X-Socialcare-Timestamp": str(stale),
        "X-Socialcare-Signature": outbound.sign(secret, stale, body),
    }
    with pytest.raises(invalid):
        verify(secret, old, body)
