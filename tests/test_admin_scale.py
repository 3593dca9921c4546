"""The inbox and the case page stay fast with 100,000 cases and 1,000,000 posts (PostgreSQL).

The data is built once per module with set-based SQL (``tests/scale_data.py``) inside a
transaction that is rolled back when the module ends, so other test modules never see it. Query
counts are asserted; render times are printed (run with ``-s``), not asserted.

    SOCIALCARE_TEST_DB=postgres PGHOST=... PGPORT=... pytest tests/test_admin_scale.py -s
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import Client

from socialcare.admin.cases import CaseAdmin
from socialcare.models import Case, Post
from tests import scale_data

pytestmark = [
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="scale test: needs PostgreSQL (set SOCIALCARE_TEST_DB=postgres); the data is "
        "built with generate_series",
    ),
    pytest.mark.django_db,
]

CASES = 100_000
URL = "/admin/socialcare/case/"
#: Measured on PostgreSQL 15: the inbox 6 queries (superuser; a search too: its EXPLAIN takes the
#: place of the COUNT), 8 (agent: two permission lookups more); the case page 20. Plus a small
#: margin.
INBOX_QUERIES = 12
CASE_PAGE_QUERIES = 24
DASHBOARD = "/admin/socialcare/supportdashboard/"
#: The dashboard page: measured 14 on small data (tests/test_dashboard.py); same at scale.
DASHBOARD_QUERIES = 16


@pytest.fixture(scope="module")
def big(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            started = time.perf_counter()
            data = scale_data.build(CASES)
            with connection.cursor() as cursor:
                # Check the deferred foreign keys of the new rows now, once: left pending, every
                # test's teardown (Django's check_constraints) would check 2M rows again.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            data["superuser"] = get_user_model().objects.create_superuser(
                "scale-boss", "boss@example.com", "pw"
            )
            print(
                f"\nscale data: {CASES:,} cases, {Post.objects.count():,} posts built in "
                f"{time.perf_counter() - started:.1f} s"
            )
            yield data
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def timed_get(client: Client, url: str, label: str, **params: Any) -> Any:
    started = time.perf_counter()
    response = client.get(url, params)
    elapsed = (time.perf_counter() - started) * 1000
    print(f"  {label}: {elapsed:.0f} ms")
    return response


@pytest.fixture
def boss(big: dict[str, Any]) -> Client:
    client = Client()
    client.force_login(big["superuser"])
    return client


@pytest.fixture
def agent(big: dict[str, Any]) -> Client:
    from django.contrib.auth.models import Permission

    user = big["staff"][1]
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_case", "change_case"]))
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("label", "params", "rows", "capped"),
    [
        ("default", {}, 50, True),
        ("SLA breached", {"sla": "breached"}, 50, True),
        ("search post text", {"q": "invoice"}, 50, True),
        ("search a handle", {"q": "@handle4242"}, 22, False),
        ("search a reference", {"q": "REF"}, 1, False),
        (
            "unassigned, low, on X",
            {"assignee": "none", "priority": "low", "platform": "x"},
            50,
            False,
        ),
        ("sorted by SLA, descending", {"o": "-2"}, 50, True),
    ],
)
def test_inbox_on_a_big_table(
    boss, big, label, params, rows, capped, django_assert_max_num_queries
):
    if params.get("q") == "REF":
        params = {"q": Case.objects.get(pk=big["first_case"] + 54320).reference}
    with django_assert_max_num_queries(INBOX_QUERIES) as queries:
        response = timed_get(boss, URL, f"superuser inbox, {label}", **params)
    print(f"    {len(queries)} queries")
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == rows
    # A search counts up to CaseAdmin.search_count_limit from its ids step; the rest up to
    # 10,000 (BoundedPaginator).
    cap = f"{CaseAdmin.search_count_limit}+ cases" if "q" in params else "10,000+ cases"
    assert (cap in response.content.decode()) is capped


def test_agent_inbox_on_a_big_table(agent, django_assert_max_num_queries):
    with django_assert_max_num_queries(INBOX_QUERIES) as queries:
        response = timed_get(agent, URL, "agent inbox, default (team-scoped)")
    print(f"    {len(queries)} queries")
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 50
    with django_assert_max_num_queries(INBOX_QUERIES):
        response = timed_get(agent, URL, "agent inbox, SLA due soon", sla="due_soon")
    assert response.status_code == 200


def test_case_page_on_a_big_table(boss, big, django_assert_max_num_queries):
    case = Case.objects.get(pk=big["first_case"] + CASES // 2)
    url = f"/admin/socialcare/case/{case.pk}/change/"
    with django_assert_max_num_queries(CASE_PAGE_QUERIES) as queries:
        response = timed_get(boss, url, "case page")
    print(f"  case page: {len(queries)} queries")
    assert response.status_code == 200
    assert case.reference in response.content.decode()


def test_scale_data_is_what_the_test_claims(big):
    assert Case.objects.count() == CASES
    assert Post.objects.filter(case__isnull=False).count() == CASES * scale_data.POSTS_PER_CASE
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT status), count(DISTINCT priority) FROM socialcare_case"
        )
        assert cursor.fetchone() == (5, 4)


@pytest.mark.parametrize("name", ["post", "caseevent"])
def test_history_lists_on_a_big_table(boss, name, django_assert_max_num_queries):
    with django_assert_max_num_queries(8) as queries:
        response = timed_get(boss, f"/admin/socialcare/{name}/", f"{name} list")
    print(f"    {len(queries)} queries")
    assert response.status_code == 200
    assert response.context["cl"].paginator.capped  # counted up to 10,001 rows, not 1,000,000
    assert len(response.context["cl"].result_list) == 100


@pytest.mark.parametrize("days", ["14", "30"])
def test_dashboard_on_a_big_table(boss, days, django_assert_max_num_queries):
    # Every scale post falls inside the range: the worst case for the aggregates.
    with django_assert_max_num_queries(DASHBOARD_QUERIES) as queries:
        response = timed_get(boss, DASHBOARD, f"dashboard, {days} days", days=days)
    print(f"    {len(queries)} queries")
    assert response.status_code == 200
    assert response.content.decode().count('class="sc-chart"') == 6
