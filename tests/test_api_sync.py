"""Syncing cases by cursor misses nothing (issue #24, items 1, 3 and 4; docs/api.md, "Sync").

A client pages the case list (ordered by ``change_seq``) while cases change: every case comes at
least once per pass, a case changed between two pages comes again later in the same pass (with
its new ``change_seq``), no case comes twice with the same ``change_seq``, and the incremental
pass from the largest ``change_seq`` seen (``changed_after``) brings the client level with the
database. Cursors are the server's own: made-up, edited or old-format cursors are 400s.
"""

from __future__ import annotations

import base64
import datetime as dt
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django.db import connection, connections
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from socialcare.api.pagination import CURSOR_SALT
from socialcare.models import Case, get_customer_model
from socialcare.models.fields import has_field
from socialcare.services import cases as case_services
from socialcare.services.apikeys import create_api_key
from socialcare.services.customers import merge_customers

API = "/socialcare/api/v1"


@pytest.fixture
def api(admin_user: Any) -> APIClient:
    _, plain = create_api_key(admin_user, "sync")
    client = APIClient()
    client.default_format = "json"
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    return client


@pytest.fixture
def open_cases(channel: Any, identity: Any) -> Any:
    def make(count: int) -> list[Case]:
        return [
            case_services.open_case(channel=channel, identity=identity, subject=f"Case {i}")
            for i in range(count)
        ]

    return make


def get(api: APIClient, url: str, **params: Any) -> dict[str, Any]:
    response = api.get(url, params or None)
    assert response.status_code == 200, response.content
    return response.json()


def cursor_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["cursor"][0]


class Client:
    """A CRM's sync job: pages, keeps what it saw, remembers its high-water mark."""

    def __init__(self, api: APIClient, page_size: int = 2) -> None:
        self.api = api
        self.page_size = page_size
        self.known: dict[int, int] = {}  # case id -> the change_seq last seen
        self.high_water = 0

    def pages(self, **params: Any) -> Any:
        """Yield each page of one pass (the caller may change cases between pages)."""
        body = get(self.api, f"{API}/cases/", page_size=self.page_size, **params)
        while True:
            yield body["results"]
            if not body["next"]:
                return
            body = get(self.api, body["next"])

    def sync(self, between_pages: Any = None, **params: Any) -> list[tuple[int, int]]:
        """One pass; returns the (id, change_seq) rows in the order they came."""
        seen: list[tuple[int, int]] = []
        for page in self.pages(**params):
            for row in page:
                seen.append((row["id"], row["change_seq"]))
                self.known[row["id"]] = row["change_seq"]
                self.high_water = max(self.high_water, row["change_seq"])
            if between_pages:
                between_pages()
        return seen

    def incremental(self, between_pages: Any = None) -> list[tuple[int, int]]:
        return self.sync(between_pages, changed_after=self.high_water)


def assert_pass_is_sound(seen: list[tuple[int, int]]) -> None:
    """Strictly increasing change numbers: no row twice in one state, nothing out of order."""
    seqs = [seq for _, seq in seen]
    assert seqs == sorted(set(seqs)), seen


def assert_level_with_database(client: Client) -> None:
    assert client.known == dict(Case.objects.values_list("id", "change_seq"))


# Item 1 ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_case_changed_between_pages_skips_nothing_and_comes_again(api, open_cases):
    """Page 1 ends at case 3, whose updated_at equals case 4's; a note is added to case 3 before
    page 2: page 2 still brings case 4 (and 5), then case 3 again; the incremental pass from the
    high-water mark brings back a case changed after the pass."""
    cases = open_cases(5)
    same_time = timezone.now() - dt.timedelta(hours=1)
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(updated_at=same_time)
    client = Client(api, page_size=3)
    pages = client.pages()
    first = next(pages)
    assert [row["id"] for row in first] == [c.pk for c in cases[:3]]
    assert first[-1]["updated_at"] == get(api, f"{API}/cases/{cases[3].pk}/")["updated_at"]

    api.post(f"{API}/cases/{cases[2].pk}/notes/", {"text": "called the customer"})
    rest = [row["id"] for page in pages for row in page]
    assert rest == [cases[3].pk, cases[4].pk, cases[2].pk]

    client.sync()
    case_services.add_note(cases[3], "after the pass")
    again = client.incremental()
    assert [case_id for case_id, _ in again] == [cases[3].pk]
    assert_level_with_database(client)


@pytest.mark.django_db
def test_changed_after_and_ordering_change_seq(api, open_cases):
    cases = open_cases(3)
    seqs = [c.change_seq for c in Case.objects.order_by("pk")]
    assert seqs == sorted(set(seqs))
    body = get(api, f"{API}/cases/", changed_after=seqs[0], ordering="change_seq")
    assert [row["id"] for row in body["results"]] == [c.pk for c in cases[1:]]
    body = get(api, f"{API}/cases/", ordering="-change_seq")
    assert [row["id"] for row in body["results"]] == [c.pk for c in reversed(cases)]
    bad = api.get(f"{API}/cases/", {"changed_after": "-1"})
    assert bad.status_code == 400 and "changed_after" in bad.json()["errors"]


@pytest.mark.django_db
def test_every_change_a_client_syncs_moves_the_case(
    api, open_cases, agent, make_customer, django_capture_on_commit_callbacks
):
    """Status, assignment, notes, a customer merge and an identity link each give the case a
    new change_seq (and move updated_at)."""
    (case,) = open_cases(1)

    def seq() -> tuple[int, Any]:
        return tuple(Case.objects.values_list("change_seq", "updated_at").get(pk=case.pk))

    before = seq()
    steps = [
        lambda: case_services.change_status(case, Case.Status.OPEN),
        lambda: case_services.assign_case(case, agent),
        lambda: case_services.add_note(case, "a note"),
        lambda: merge_customers(make_customer("Ada again"), case.customer),
    ]
    for step in steps:
        with django_capture_on_commit_callbacks(execute=True):
            step()
        after = seq()
        assert after[0] > before[0] and after[1] >= before[1]
        before = after


# Item 4 ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_customers_updated_since_finds_the_customer_merged_into(api, make_customer):
    """With the host's model's ``updated_at``; without one (tests/settings_swapped.py), by the
    merge's own record."""
    kept, merged = make_customer("Ada"), make_customer("Ada L.")
    model = get_customer_model()
    if has_field(model, "updated_at"):
        long_ago = timezone.now() - dt.timedelta(days=3)
        model.objects.filter(pk__in=[kept.pk, merged.pk]).update(updated_at=long_ago)
    since = (timezone.now() - dt.timedelta(minutes=1)).isoformat()
    assert get(api, f"{API}/customers/", updated_since=since)["results"] == []
    merge_customers(merged, kept)
    found = [row["id"] for row in get(api, f"{API}/customers/", updated_since=since)["results"]]
    assert kept.pk in found


# Item 3: cursors ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "cursor",
    [
        "cD0yMDI2LTEyLTAx",  # "p=2026-12-01": decodes, was answered with a page
        base64.b64encode(b"o=1&p=2026-01-01").decode(),
        base64.b64encode(b"p=5").decode(),
    ],
)
def test_old_format_and_made_up_cursors_are_400_saying_restart(api, open_cases, cursor):
    open_cases(1)
    response = api.get(f"{API}/cases/", {"cursor": cursor})
    assert response.status_code == 400, response.content
    assert "restart the sync" in response.json()["errors"]["cursor"][0]


@pytest.mark.django_db
def test_tampered_and_foreign_cursors_are_400(api, open_cases):
    open_cases(3)
    next_url = get(api, f"{API}/cases/", page_size=1)["next"]
    good = cursor_of(next_url)
    payload, signature = good.split(":", 1)
    forged = signing.dumps({"v": 2, "o": 0, "r": 0, "p": "0", "k": ["change_seq", "id"]})
    other_salt = signing.dumps(signing.loads(good, salt=CURSOR_SALT), salt="elsewhere")
    other_ordering = cursor_of(
        get(api, f"{API}/cases/", page_size=1, ordering="created_at")["next"]
    )
    for bad in [
        payload + "x:" + signature,
        payload + ":" + signature[:-2],
        forged,
        other_salt,
        other_ordering,
        "garbage",
        "",
    ]:
        response = api.get(f"{API}/cases/", {"cursor": bad, "page_size": 1})
        assert response.status_code == 400, (bad, response.content)
        body = response.json()
        assert body["code"] and "cursor" in body["errors"]
    assert api.get(next_url).status_code == 200


# Random writes between pages ---------------------------------------------------------------

WRITES = st.lists(
    st.tuples(
        st.sampled_from(["note", "status", "merge", "open", "nothing"]),
        st.integers(min_value=0, max_value=50),
    ),
    max_size=12,
)


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(writes=WRITES, page_size=st.integers(min_value=1, max_value=4))
def test_random_writes_between_pages_miss_nothing(
    api, open_cases, channel, identity, make_customer, writes, page_size
):
    if not Case.objects.exists():
        open_cases(6)
    client = Client(api, page_size=page_size)
    queue = list(writes)

    def write() -> None:
        if not queue:
            return
        kind, n = queue.pop(0)
        cases = list(Case.objects.order_by("pk"))
        case = cases[n % len(cases)]
        if kind == "note":
            case_services.add_note(case, f"note {n}")
        elif kind == "status":
            allowed = sorted(case_services.allowed_transitions(case))
            if allowed:
                case_services.change_status(case, allowed[n % len(allowed)])
        elif kind == "merge" and case.customer is not None:
            merge_customers(make_customer(f"Dup {n}"), case.customer)
        elif kind == "open":
            case_services.open_case(channel=channel, identity=identity, subject=f"New {n}")

    first = client.sync(between_pages=write)
    assert_pass_is_sound(first)
    while queue:
        assert_pass_is_sound(client.incremental(between_pages=write))
    assert_pass_is_sound(client.incremental())
    assert_level_with_database(client)


# Concurrent writers (PostgreSQL) -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers: PostgreSQL")
def test_other_connections_writing_while_paging_miss_nothing(api, open_cases, make_customer):
    """Two writer threads (own connections): notes and status changes on single cases, and
    customer merges that change every case of the kept customer in one transaction."""
    open_cases(20)
    ids = list(Case.objects.values_list("pk", flat=True))
    kept = Case.objects.get(pk=ids[0]).customer
    stop = threading.Event()
    errors: list[BaseException] = []

    def notes() -> None:
        for i in range(300):
            if stop.is_set():
                return
            case = Case.objects.get(pk=ids[i % len(ids)])
            case_services.add_note(case, f"concurrent {i}")
            allowed = sorted(case_services.allowed_transitions(case))
            if allowed and i % 3 == 0:
                case_services.change_status(case, allowed[i % len(allowed)])

    def merges() -> None:
        for i in range(40):
            if stop.is_set():
                return
            merge_customers(make_customer(f"Dup {i}"), kept)

    def run(work: Any) -> None:
        try:
            work()
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(work,)) for work in (notes, merges)]
    for thread in threads:
        thread.start()
    client = Client(api, page_size=3)
    try:
        for _ in range(4):
            assert_pass_is_sound(client.incremental())
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors, errors
    assert_pass_is_sound(client.incremental())
    assert_level_with_database(client)


# The migration -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_numbers_existing_cases_in_their_old_sync_order(channel, identity):
    from django.db.migrations.executor import MigrationExecutor

    before, after = ("socialcare", "0021_identity_spaces"), ("socialcare", "0022_change_seq")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    try:
        old = executor.loader.project_state([before]).apps.get_model("socialcare", "Case")
        at = timezone.now() - dt.timedelta(days=1)
        made = [
            old.objects.create(channel_id=channel.pk, identity_id=identity.pk, reference=f"R{i}")
            for i in range(4)
        ]
        # Old sync order: updated_at, then id: R2 (oldest), R0 and R3 tied, R1 (newest).
        for case, minutes in zip(made, [1, 5, 0, 1], strict=True):
            old.objects.filter(pk=case.pk).update(updated_at=at + dt.timedelta(minutes=minutes))
        executor = MigrationExecutor(connection)
        executor.migrate([after])
        new = executor.loader.project_state([after]).apps
        numbered = new.get_model("socialcare", "Case").objects.order_by("change_seq")
        assert [c.reference for c in numbered] == ["R2", "R0", "R3", "R1"]
        assert [c.change_seq for c in numbered] == [1, 2, 3, 4]
        counter = new.get_model("socialcare", "ChangeCounter").objects.get(name="case")
        assert counter.value == 4
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    fresh = Case.objects.create(channel=channel, identity=identity, reference="R5")
    assert fresh.change_seq == 5


@pytest.mark.django_db
def test_next_cursor_is_the_cursor_of_next_and_pages_alike(api, open_cases):
    """A generated client passes ``cursor`` to the list operation: ``next_cursor`` is that
    parameter, so following it pages exactly as following ``next`` does."""
    cases = open_cases(5)
    by_cursor, cursor = [], None
    while True:
        page = get(api, f"{API}/cases/", page_size=2, **({"cursor": cursor} if cursor else {}))
        by_cursor += [row["id"] for row in page["results"]]
        if page["next"] is None:
            assert page["next_cursor"] is None
            break
        assert page["next_cursor"] == parse_qs(urlsplit(page["next"]).query)["cursor"][0]
        cursor = page["next_cursor"]
    assert by_cursor == [c.pk for c in cases]
    assert page["previous_cursor"] == parse_qs(urlsplit(page["previous"]).query)["cursor"][0]
