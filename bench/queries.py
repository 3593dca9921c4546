"""Read-side figures on the data as built: the API, the admin, the SLA scan, the detector pass.

Every request goes through Django in-process (``django.test.Client``: URL routing, middleware,
authentication, permissions, the view, serialization/templates), which is the server time of a
request minus the socket. Each figure has a reference measured in the same run:

- API pages and admin pages: the floor cost of reading the same rows, a bare
  ``SELECT * ... ORDER BY ... LIMIT n`` over the same index on the same connection (what a
  hand-written page could not go below), p50 over the same cases;
- SLA scan: a plain ``COUNT(*)`` of the running cases whose first response is overdue, over the
  same (status, due time) index the scan's queries use;
- detector pass: a plain ``SUM`` of the counter rows of one detector's baseline window (one of
  the queries the pass itself makes), times the number of detectors.

Ratios are value / reference: how many times the floor the page costs.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.context import Context
from bench.figures import Figure

API = "/socialcare/api/v1"
ADMIN = "/admin/socialcare/case/"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    """Milliseconds of each of ``repeat`` calls of ``fn``."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def sql_ms(sql: str, params: list[Any], repeat: int) -> list[float]:
    from django.db import connection

    def run() -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            cursor.fetchall()

    return timed(run, repeat)


def count_queries(client: Any, url: str) -> tuple[int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    return response.status_code, len(queries)


def _superuser_client() -> Any:
    from django.contrib.auth import get_user_model
    from django.test import Client

    User = get_user_model()
    user = User.objects.filter(username="bench-boss").first() or User.objects.create_superuser(
        "bench-boss", "boss@example.com", "pw"
    )
    client = Client()
    client.force_login(user)
    return client


def _agent_client() -> Any:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.test import Client

    user = get_user_model().objects.get(username="bench-agent1")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_case", "change_case"]))
    client = Client()
    client.force_login(user)
    return client


def _sample_cases(n: int) -> list[int]:
    """Cases with long threads (the heavy end: timelines that need paging) and ordinary ones."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT case_id FROM socialcare_caseevent GROUP BY case_id "
            "ORDER BY count(*) DESC LIMIT %s",
            [n // 2],
        )
        heavy = [r[0] for r in cursor.fetchall()]
        cursor.execute(
            "SELECT id FROM socialcare_case ORDER BY random() LIMIT %s", [n - len(heavy)]
        )
        ordinary = [r[0] for r in cursor.fetchall()]
    return heavy + ordinary


def _figure(
    name: str,
    times: list[float],
    ref: list[float],
    ref_name: str,
    limit_ms: float,
    stat: str = "p95",
    notes: str = "",
) -> Figure:
    value = percentile(times, 95) if stat == "p95" else statistics.median(times)
    reference = percentile(ref, 95) if stat == "p95" else statistics.median(ref)
    return Figure(
        name=name,
        value=round(value, 2),
        unit="ms",
        target=f"< {limit_ms:g} ms",
        passed=value < limit_ms,
        reference_name=ref_name,
        reference_value=round(reference, 3),
        ratio=round(value / reference, 1) if reference else None,
        notes=notes,
    )


def api_figures(ctx: Context) -> list[Figure]:
    client = _superuser_client()
    repeat = 40 if ctx.quick else 200
    cases = _sample_cases(20)
    rng = random.Random(8)
    figures = []

    # Timeline page (100 events) of a case: p50/p95 over `repeat` requests.
    def timeline() -> None:
        response = client.get(f"{API}/cases/{rng.choice(cases)}/timeline/?page_size=100")
        assert response.status_code == 200, response.status_code

    timeline()  # warm: URL resolver, serializers, connection
    times = timed(timeline, repeat)
    ref = []
    for _ in range(repeat):
        ref += sql_ms(
            "SELECT * FROM socialcare_caseevent WHERE case_id = %s ORDER BY at, id LIMIT 100",
            [rng.choice(cases)],
            1,
        )
    counts = {
        size: count_queries(client, f"{API}/cases/{cases[0]}/timeline/?page_size={size}")
        for size in (10, 100)
    }
    note = (
        f"p50 {statistics.median(times):.1f} ms over {repeat} requests, cases with the longest "
        f"timelines and random ones; queries: {counts[10][1]} at 10 events, {counts[100][1]} at "
        "100"
    )
    figures.append(
        _figure(
            "API case timeline page (100 events), p95",
            times,
            ref,
            "bare SELECT of the 100 events, p95",
            25,
            notes=note,
        )
    )
    figures.append(_constant_queries("API case timeline", counts))

    # Filtered case list (50 cases): running, high/urgent, newest change first.
    params = "status=new&status=open&priority=high&priority=urgent&ordering=-updated_at"

    def case_list() -> None:
        response = client.get(f"{API}/cases/?{params}&page_size=50")
        assert response.status_code == 200, response.status_code

    case_list()
    times = timed(case_list, repeat)
    ref = sql_ms(
        "SELECT * FROM socialcare_case WHERE status IN ('new', 'open') AND priority IN "
        "('high', 'urgent') ORDER BY updated_at DESC, id DESC LIMIT 50",
        [],
        repeat,
    )
    counts = {
        size: count_queries(client, f"{API}/cases/?{params}&page_size={size}") for size in (10, 100)
    }
    figures.append(
        _figure(
            "API filtered case list (50 cases), p95",
            times,
            ref,
            "bare SELECT of the 50 cases, p95",
            25,
            notes=f"p50 {statistics.median(times):.1f} ms over {repeat} requests; ?{params}; "
            f"queries: {counts[10][1]} at 10 cases, {counts[100][1]} at 100",
        )
    )
    figures.append(_constant_queries("API filtered case list", counts))
    return figures


def _constant_queries(label: str, counts: dict[int, tuple[int, int]]) -> Figure:
    (small, (s_status, s_queries)), (big, (b_status, b_queries)) = sorted(counts.items())
    ok = s_status == b_status == 200 and s_queries == b_queries
    return Figure(
        name=f"{label}: queries at page size {big}",
        value=b_queries,
        unit="queries",
        target=f"= queries at page size {small}",
        passed=ok,
        reference_name=f"page size {small}",
        reference_value=s_queries,
        ratio=round(b_queries / s_queries, 2) if s_queries else None,
    )


def admin_figures(ctx: Context) -> list[Figure]:
    boss = _superuser_client()
    agent = _agent_client()
    repeat = 8 if ctx.quick else 20
    figures = []
    ref = sql_ms(
        "SELECT * FROM socialcare_case WHERE status IN ('new', 'open', 'waiting_on_customer') "
        "ORDER BY created_at DESC, id DESC LIMIT 50",
        [],
        repeat,
    )
    for label, client, query in [
        ("admin inbox (superuser, default view)", boss, ""),
        ("admin inbox (agent, team-scoped)", agent, ""),
        ("admin inbox (SLA breached filter)", boss, "?sla=breached"),
        ("admin inbox (search post text)", boss, "?q=refund"),
    ]:
        url = ADMIN + query
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        times = timed(lambda c=client, u=url: c.get(u), repeat)
        _, queries = count_queries(client, url)
        figures.append(
            _figure(
                f"{label}, median",
                times,
                ref,
                "bare SELECT of 50 open cases, median",
                250,
                stat="p50",
                notes=f"max {max(times):.0f} ms over {repeat}; {queries} queries",
            )
        )
    cases = _sample_cases(10)
    rng = random.Random(9)

    def case_page() -> None:
        response = boss.get(f"{ADMIN}{rng.choice(cases)}/change/")
        assert response.status_code == 200, response.status_code

    case_page()
    times = timed(case_page, repeat)
    ref = []
    for _ in range(repeat):
        ref += sql_ms(
            "SELECT * FROM socialcare_caseevent WHERE case_id = %s ORDER BY at, id LIMIT 100",
            [rng.choice(cases)],
            1,
        )
    _, queries = count_queries(boss, f"{ADMIN}{cases[0]}/change/")
    figures.append(
        _figure(
            "admin case page, median",
            times,
            ref,
            "bare SELECT of its 100 first events, median",
            250,
            stat="p50",
            notes=f"max {max(times):.0f} ms over {repeat} (cases with the longest timelines and "
            f"random ones); {queries} queries",
        )
    )
    return figures


def scheduled_figures(ctx: Context) -> list[Figure]:
    """The SLA scan and the detector pass, each inside a transaction rolled back after, so every
    repetition sees the same data (and other modules the data as built)."""
    from django.db import connection, transaction

    from socialcare.models import Case, Detector
    from socialcare.services import detectors, sla_scan

    repeat = 5 if ctx.quick else 15
    running = Case.objects.filter(status__in=sla_scan.RUNNING).count()
    # The data's alerts stop a minute before it was built; one committed scan catches up with the
    # minutes since, so the measured passes run in the state of a scan every minute.
    catch_up = sla_scan.scan()
    found: list[str] = []

    def scan() -> None:
        with transaction.atomic():
            found.append(str(sla_scan.scan()))
            transaction.set_rollback(True)

    scan()
    times = timed(scan, repeat)
    ref = sql_ms(
        "SELECT count(*) FROM socialcare_case WHERE status IN ('new', 'open') "
        "AND first_response_due_at <= now()",
        [],
        repeat,
    )
    figures = [
        _figure(
            "SLA scan, median",
            times,
            ref,
            "COUNT of overdue running cases, median",
            200,
            stat="p50",
            notes=f"{running:,} running cases; after a catch-up scan ({catch_up}, committed: "
            f"it leaves the mark the next scans start from), a pass finds {found[-1]}; max "
            f"{max(times):.0f} ms",
        )
    ]
    active = Detector.objects.filter(is_active=True).count()
    fired: list[int] = []

    def detector_pass() -> None:
        with transaction.atomic():
            fired.append(len(detectors.run_scheduled()))
            transaction.set_rollback(True)

    detector_pass()
    times = timed(detector_pass, repeat)
    detector = Detector.objects.filter(kind=Detector.Kind.VOLUME_SPIKE).first()
    ref_one = sql_ms(
        "SELECT sum(posts) FROM socialcare_detectorcount WHERE detector_id = %s "
        "AND minute >= now() - interval '24 hours'",
        [detector.pk if detector else 0],
        repeat,
    )
    ref = [t * active for t in ref_one]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM socialcare_detectorcount")
        counters = cursor.fetchone()[0]
    figures.append(
        _figure(
            "detector pass, median",
            times,
            ref,
            f"{active} x SUM of one detector's 24 h counters, median",
            200,
            stat="p50",
            notes=f"{active} detectors, {counters:,} counter rows, {running:,} running cases; "
            f"fired {fired[-1]}; max {max(times):.0f} ms",
        )
    )
    return figures


def _captured(fn: Callable[[], Any]) -> list[tuple[str, Any]]:
    """The SQL statements (and their parameters) ``fn`` runs."""
    from django.db import connection

    seen: list[tuple[str, Any]] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        fn()
    return seen


def _explain(title: str, fn: Callable[[], Any], *match: str) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the first statement of ``fn`` containing every ``match``."""
    from django.db import connection, transaction

    with transaction.atomic():
        statements = _captured(fn)
        transaction.set_rollback(True)
    for sql, params in statements:
        if all(m in sql for m in match) and sql.lstrip().upper().startswith("SELECT"):
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                plan = "\n".join(row[0] for row in cursor.fetchall())
                mogrify = getattr(cursor.cursor, "mogrify", None)
                text = mogrify(sql, params) if mogrify and params else sql
            return f"### {title}\n\n```sql\n{text}\n```\n\n```\n{plan}\n```\n"
    return f"### {title}\n\n(no statement containing {match!r} ran)\n"


def explain_hot_queries(ctx: Context) -> None:
    """Write the plans of the hot queries to ``<json dir>/explain.md`` (docs/performance.md)."""
    from socialcare.models import Detector
    from socialcare.services import detectors, sla_scan
    from socialcare.services.sla_scan import Level, Target

    boss = _superuser_client()
    case = _sample_cases(2)[0]
    detector = Detector.objects.filter(kind=Detector.Kind.VOLUME_SPIKE).first()
    parts = [
        _explain(
            "Admin inbox page (default view, superuser)",
            lambda: boss.get(ADMIN),
            'FROM "socialcare_case"',
            "ORDER BY",
            "LIMIT",
        ),
        _explain(
            "API case timeline page (100 events)",
            lambda: boss.get(f"{API}/cases/{case}/timeline/?page_size=100"),
            '"socialcare_caseevent"."kind"',
        ),
        _explain(
            "API filtered case list (50 cases)",
            lambda: boss.get(
                f"{API}/cases/?status=new&status=open&priority=high&priority=urgent"
                "&ordering=-updated_at&page_size=50"
            ),
            '"socialcare_case"."reference"',
            "LIMIT",
        ),
        _explain(
            "Admin inbox search over post text (?q=refund): the ids step",
            lambda: boss.get(ADMIN + "?q=refund"),
            'AS "pk" FROM "socialcare_case"',
            "LIKE",
        ),
        _explain(
            "SLA scan: first responses newly breached (a scan after the last one's mark)",
            lambda: list(
                sla_scan.due_cases(Target.FIRST_RESPONSE, Level.BREACH, _now(), _since_last_scan())
            ),
            "first_response_due_at",
        ),
        _explain(
            "Detector pass: a counter window (volume spike)",
            lambda: detectors.check_counts(detector, _now()) if detector else None,
            "socialcare_detectorcount",
        ),
    ]
    path = ctx.repo / "bench" / "results" / "explain.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts))
    ctx.log(f"queries: plans of the hot queries written to {path}")


def _since_last_scan() -> Any:
    """What a scan now may skip after the last committed scan (``sla_scan.Since`` or None)."""
    from socialcare.models.case import SLAScanMark
    from socialcare.services import sla_scan

    now = _now()
    return sla_scan._since(SLAScanMark.objects.filter(pk=sla_scan.MARK).first(), now, now)


def _now() -> Any:
    from django.utils import timezone

    return timezone.now()


def run(ctx: Context) -> list[Figure]:
    figures: list[Figure] = []
    for part in (api_figures, admin_figures, scheduled_figures, explain_hot_queries):
        ctx.log(f"queries: {part.__name__}")
        try:
            figures += part(ctx) or []
        except Exception as exc:
            import traceback

            ctx.log("".join(traceback.format_exception(exc)))
            figures.append(
                Figure(
                    name=f"queries.{part.__name__} (failed)",
                    value=float("nan"),
                    unit="",
                    target="runs",
                    passed=False,
                    notes=f"{type(exc).__name__}: {exc}",
                )
            )
    return figures
