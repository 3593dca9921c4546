"""Synthetic data at scale, built with set-based SQL (INSERT ... SELECT over generate_series).

``build(scale)`` makes, on PostgreSQL, for the default scale (1M posts / 100k cases / 200k
identities) in a few minutes:

- identities: 200k on 6 platforms (X-heavy), followers log-normal (median ~150, a tail of
  accounts with millions: ``exp(5 + 2.2 N(0,1))``); one customer per two identities;
- cases: 100k over two years, growing linearly (twice the average rate today) plus 8% in six three-hour
  crisis bursts; a returning-customer skew (a few identities own many cases); statuses, priorities,
  8 teams, 60 agents (1 in 8 cases unassigned, 1 in 6 without a team); SLA due times from the
  priority (15 min to 24 h), so old running cases are breached, recent ones due soon or ok; 37.5%
  of cases are DM conversations (private);
- posts: each case a thread of a log-normal number of posts (median ~5, capped at 300), every
  post after the first a reply to the one before (``parent``, ``in_reply_to_external_id``), 40%
  of replies outbound (sent by the agent); the rest of the 1M are mentions that never became a
  case; text in en, es, fr, de, ja, pt, ar, ko, it, zh, with sentiment skewed negative in bursts;
- the timeline: ``created`` per case, ``post_added`` / ``replied`` per case post;
- steady state for the scheduled jobs: a breach alert for every target already overdue (the scan
  found them in earlier runs), five detectors and their per-minute counters for the last 25 h.

Random values come from ``setseed`` so two builds are the same. ``build_sqlite(cases)`` builds a
small version of the same shapes through the ORM for the SQLite figures (SQLite has no
``generate_series`` in Django's build and serialises writers; 5k cases / 50k posts by default).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, models, transaction

from socialcare.conf import app_settings
from socialcare.models import (
    Case,
    CaseEvent,
    Channel,
    Detector,
    DetectorCount,
    Playbook,
    Post,
    SLAAlert,
    SocialIdentity,
    Team,
    TeamMembership,
    get_customer_model,
)

#: (platform, weight) — the share of identities and cases on each.
PLATFORMS = [("x", 35), ("facebook", 20), ("instagram", 20), ("mastodon", 8), ("bluesky", 7)]
PLATFORMS += [("email", 10)]
#: (language, weight, texts) — texts with {n} (an order number) filled in.
LANGUAGES: list[tuple[str, int, list[str]]] = [
    (
        "en",
        40,
        [
            "My order {n} never arrived, can you help?",
            "Refund for {n} still missing",
            "Thanks, that fixed it!",
            "App crashes on login again",
            "Where is parcel {n}?",
        ],
    ),
    (
        "es",
        12,
        [
            "Mi pedido {n} no ha llegado",
            "¿Dónde está mi reembolso?",
            "Gracias por la ayuda",
            "La aplicación no funciona",
        ],
    ),
    (
        "fr",
        8,
        [
            "Ma commande {n} n'est jamais arrivée",
            "Toujours pas de remboursement",
            "Merci beaucoup !",
            "Impossible de me connecter",
        ],
    ),
    (
        "de",
        8,
        [
            "Meine Bestellung {n} ist nicht angekommen",
            "Wo bleibt meine Erstattung?",
            "Danke für die schnelle Hilfe",
            "Die App stürzt ständig ab",
        ],
    ),
    ("pt", 8, ["Meu pedido {n} não chegou", "Cadê meu reembolso?", "Obrigado pela ajuda"]),
    ("ja", 6, ["注文{n}がまだ届きません", "返金はいつですか？", "ありがとうございました"]),
    ("ar", 5, ["طلبي {n} لم يصل بعد", "أين استرداد أموالي؟", "شكرا على المساعدة"]),
    ("ko", 4, ["주문 {n}이 아직 도착하지 않았어요", "환불은 언제 되나요?", "감사합니다"]),
    ("it", 5, ["Il mio ordine {n} non è arrivato", "Grazie mille!"]),
    ("zh", 4, ["我的订单{n}还没到", "退款什么时候到账？", "谢谢帮助"]),
]
STATUSES = [("new", 22), ("open", 38), ("waiting_on_customer", 10), ("resolved", 15)]
STATUSES += [("closed", 15)]
PRIORITIES = [("low", 20), ("normal", 55), ("high", 18), ("urgent", 7)]
#: minutes to a first response, by priority
FIRST_RESPONSE_MINUTES = {"low": 1440, "normal": 240, "high": 60, "urgent": 15}
TEAMS = 8
AGENTS = 60
#: DM cases; their posts are 0.8 x 37.5% = 30% of all posts (the rest are public mentions)
DM_SHARE = 0.375
BURSTS = 6
BURST_SHARE = 0.08
HISTORY_DAYS = 730
SEED = 0.42
DETECTORS = 5

SQLITE_CASES = 5_000


# Generic set-based inserts ---------------------------------------------------------------------
def literal(field: models.Field) -> str:
    """SQL for a column nobody named: its default, NULL, or '' for text."""
    if field.has_default():
        value = field.get_default()
        if isinstance(value, dt.datetime):
            return "now()"
        if isinstance(field, models.JSONField):
            return f"'{json.dumps(value)}'::jsonb"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float | Decimal):
            return str(value)
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return "now()"
    if field.null:
        return "NULL"
    if isinstance(field, models.CharField | models.TextField | models.FileField):
        return "''"  # a file field stores its name as text
    raise ValueError(
        f"bench data: no value for NOT NULL column {field.model.__name__}.{field.column}"
    )


def insert_series(
    model: type[models.Model], count: int, values: dict[str, str], source: str = ""
) -> int:
    """Insert rows of ``model`` with one INSERT ... SELECT; returns the id before the first one.

    ``values`` maps field names to SQL over ``g`` (the row number, 1..count) and ``{id}`` (the new
    primary key, ``base + g``). ``source`` replaces the default ``generate_series(1, count) AS g``
    with any FROM clause that yields a column ``g`` numbering the rows 1..count.
    """
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')
        base = cursor.fetchone()[0]
        columns, exprs = [], []
        for field in model._meta.concrete_fields:
            columns.append(f'"{field.column}"')
            if field.primary_key:
                exprs.append(f"{base} + g")
            elif field.name in values:
                exprs.append(values[field.name].replace("{id}", f"({base} + g)"))
            else:
                exprs.append(literal(field))
        unknown = set(values) - {f.name for f in model._meta.concrete_fields}
        if unknown:
            raise ValueError(f"bench data: {model.__name__} has no fields {sorted(unknown)}")
        source = source or f"generate_series(1, {count}) AS g"
        cursor.execute(
            f'INSERT INTO "{table}" ({", ".join(columns)}) SELECT {", ".join(exprs)} FROM {source}'
        )
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
            f'(SELECT COALESCE(MAX(id), 1) FROM "{table}"))'
        )
    return base


def sql_array(values: list[Any]) -> str:
    return "ARRAY[" + ", ".join(_quote(v) for v in values) + "]"


def _quote(value: Any) -> str:
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def weighted(pairs: list[tuple[Any, int]], u: str) -> str:
    """SQL picking one of ``pairs`` (value, weight) with the uniform [0, 1) expression ``u``."""
    total = sum(w for _, w in pairs)
    expanded = [v for v, w in pairs for _ in range(w * 100 // total)]
    return f"({sql_array(expanded)})[1 + floor(({u}) * {len(expanded)})::int]"


def normal(u1: str = "random()", u2: str = "random()") -> str:
    """A standard normal variate (Box-Muller) in SQL."""
    return f"(sqrt(-2 * ln(1 - {u1})) * cos(2 * pi() * {u2}))"


def _hash01(expr: str, salt: int) -> str:
    """A deterministic uniform [0, 1) from an integer expression (the same row, the same value)."""
    return f"((({expr})::bigint * 2654435761 + {salt * 40503}) % 1000003) / 1000003.0"


# The build -------------------------------------------------------------------------------------
def scale_for(posts: int, cases: int, identities: int) -> dict[str, int]:
    return {"posts": posts, "cases": cases, "identities": identities}


def build(
    scale: dict[str, int] | None = None, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Build the data set in the default database (PostgreSQL). Returns a summary."""
    scale = scale or scale_for(1_000_000, 100_000, 200_000)
    posts, cases, identities = scale["posts"], scale["cases"], scale["identities"]
    if connection.vendor != "postgresql":
        raise RuntimeError("bench.data.build needs PostgreSQL; use build_sqlite() on SQLite")
    timings: dict[str, float] = {}

    def step(name: str, fn: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = fn()
        timings[name] = round(time.perf_counter() - started, 2)
        log(f"data: {name} in {timings[name]:.1f} s")
        return result

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [SEED])
        # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: checked row by row at COMMIT,
        # ~7M checks (over a minute). As a superuser the build turns the per-row triggers off
        # for its transaction and checks every foreign key with one anti-join instead (the
        # usual bulk-load practice); otherwise the commit checks them.
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        fast_keys = bool(cursor.fetchone()[0])
        if fast_keys:
            cursor.execute("SET LOCAL session_replication_role = replica")
        # Trigram indexes (migration 0009) cost more to maintain row by row than to build once.
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'socialcare\\_%%\\_trgm'"
        )
        trigram = cursor.fetchall()
        for name, _definition in trigram:
            cursor.execute(f'DROP INDEX "{name}"')
        setup = step("teams, agents, channels, detectors", _setup)
        people = step("customers and identities", lambda: _people(identities))
        case_base = step("cases", lambda: _cases(cases, identities, people, setup))
        step(
            "posts (threads, DMs, languages, bursts)",
            lambda: _posts(posts, case_base, people, setup),
        )
        if trigram:
            step(
                "trigram indexes rebuilt",
                lambda: [cursor.execute(definition) for _name, definition in trigram],
            )
        step("case timestamps from their posts", lambda: _case_times(case_base))
        step("timeline events", lambda: _events(case_base))
        step("SLA alerts already sent (steady state)", _alerts)
        step("detector counters (last 25 h)", lambda: _counters(setup["detectors"]))
        if fast_keys:
            step("foreign keys checked (one anti-join each)", check_foreign_keys)
    with connection.cursor() as cursor:
        step("ANALYZE", lambda: cursor.execute("ANALYZE"))
    seconds = round(time.perf_counter() - started, 1)
    summary = describe()
    summary["seconds"] = seconds
    summary["steps"] = timings
    return summary


def _setup() -> dict[str, Any]:
    User = get_user_model()
    teams = [Team.objects.create(name=f"Bench team {i}") for i in range(TEAMS)]
    agents = []
    for i in range(AGENTS):
        user = User.objects.create_user(
            f"bench-agent{i}", password="pw", is_staff=True, first_name="Agent", last_name=str(i)
        )
        TeamMembership.objects.create(team=teams[i % TEAMS], user=user)
        agents.append(user)
    channels = {}
    for i, (platform, _) in enumerate(PLATFORMS):
        channels[platform] = [
            Channel.objects.create(
                name=f"Bench {platform} {n}",
                platform=platform,
                account_id=f"bench-{platform}-{n}",
                handle=f"brand_{platform}_{n}",
                default_team=teams[(i + n) % TEAMS],
            )
            for n in range(2)
        ]
    playbook = Playbook.objects.create(name="Bench playbook")
    detectors = [
        Detector.objects.create(
            name="Volume spike", kind=Detector.Kind.VOLUME_SPIKE, threshold=500, playbook=playbook
        ),
        Detector.objects.create(
            name="Negative surge on X",
            kind=Detector.Kind.NEGATIVE_SURGE,
            platform="x",
            threshold=400,
            playbook=playbook,
        ),
        Detector.objects.create(
            name="Breach cluster",
            kind=Detector.Kind.SLA_BREACH_CLUSTER,
            threshold=100_000,
            playbook=playbook,
        ),
        Detector.objects.create(
            name="Influencers",
            kind=Detector.Kind.INFLUENCER,
            threshold=1_000_000,
            playbook=playbook,
        ),
        Detector.objects.create(
            name="Watch words",
            kind=Detector.Kind.WATCH_WORDS,
            watch_words="lawsuit\nboycott\n炎上",
            playbook=playbook,
        ),
    ]
    return {"teams": teams, "agents": agents, "channels": channels, "detectors": detectors}


def _people(identities: int) -> dict[str, int]:
    customers = max(1, identities // 2)
    customer_base = insert_series(
        get_customer_model(),
        customers,
        {
            app_settings.CUSTOMER_NAME_FIELD: "'Customer ' || g",
            app_settings.CUSTOMER_EMAIL_FIELD: "'customer' || g || '@example.com'",
        },
    )
    platform = weighted(PLATFORMS, _hash01("g", 1))
    followers = f"least(50000000, floor(exp(5 + 2.2 * {normal()})))::bigint"
    identity_base = insert_series(
        SocialIdentity,
        identities,
        {
            "platform": platform,
            "external_id": "'bench-' || g",
            "handle": "'user' || g",
            "display_name": "'Person ' || g",
            "followers_count": followers,
            "platform_verified": "random() < 0.01",
            "customer": f"{customer_base} + (g - 1) / 2 + 1",
            "first_seen_at": f"now() - interval '{HISTORY_DAYS} days' * random()",
        },
    )
    return {"customers": customer_base, "identities": identity_base, "count": identities}


def _case_platform_sql(u: str) -> str:
    return weighted(PLATFORMS, u)


def _cases(cases: int, identities: int, people: dict[str, int], setup: dict[str, Any]) -> int:
    teams = sql_array([t.pk for t in setup["teams"]])
    agents = sql_array([a.pk for a in setup["agents"]])
    channel_of = {p: [c.pk for c in cs] for p, cs in setup["channels"].items()}
    # A temporary table of the random draws, so each column below reads the same draw.
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_case_draw")
        bursts = ", ".join(
            f"now() - interval '{d} days'" for d in (1, 9, 40, 120, 300, 600)[:BURSTS]
        )
        cursor.execute(
            f"""
            CREATE TEMP TABLE bench_case_draw AS
            SELECT g,
                   -- a returning-customer skew: low identity ids open many cases
                   1 + floor({identities} * power(random(), 2.5))::int AS who,
                   CASE WHEN random() < {BURST_SHARE}
                        THEN (ARRAY[{bursts}])[1 + floor(random() * {BURSTS})::int]
                             + interval '3 hours' * random()
                        ELSE now() - interval '{HISTORY_DAYS} days' * (1 - sqrt(random()))
                   END AS created,
                   {weighted(STATUSES, "random()")} AS status,
                   {weighted(PRIORITIES, "random()")} AS priority,
                   random() < {DM_SHARE} AS dm,
                   random() AS u
            FROM generate_series(1, {cases}) AS g
            """
        )
        # Old cases are mostly done; a case opened in the last 2 days is still running.
        cursor.execute(
            "UPDATE bench_case_draw SET status = CASE WHEN u < 0.5 THEN 'new' ELSE 'open' END "
            "WHERE created > now() - interval '2 days'"
        )
        cursor.execute("ALTER TABLE bench_case_draw ADD PRIMARY KEY (g)")
    identity_table, identity_base = SocialIdentity._meta.db_table, people["identities"]
    platform = f"(SELECT platform FROM {identity_table} WHERE id = {identity_base} + d0.who)"
    channel = (
        "CASE d.plat "
        + " ".join(
            f"WHEN '{p}' THEN ({sql_array(ids)})[1 + d.g % {len(ids)}]"
            for p, ids in channel_of.items()
        )
        + " END"
    )
    due_minutes = (
        "CASE d.priority "
        + " ".join(f"WHEN '{p}' THEN {m}" for p, m in FIRST_RESPONSE_MINUTES.items())
        + " END"
    )
    first_due = f"d.created + interval '1 minute' * {due_minutes}"
    running = "d.status IN ('new', 'open')"
    responded = f"(d.status NOT IN ('new') AND (NOT ({running}) OR d.u < 0.7))"
    source = f"(SELECT d0.*, {platform} AS plat FROM bench_case_draw d0) AS d"
    return insert_series(
        Case,
        cases,
        {
            "reference": f"'{app_settings.CASE_REFERENCE_PREFIX}' || "
            "lpad(({id})::text, greatest(6, length(({id})::text)), '0')",
            "customer": f"{people['customers']} + (d.who - 1) / 2 + 1",
            "identity": f"{people['identities']} + d.who",
            "channel": channel,
            "subject": "'Case ' || d.g",
            "status": "d.status",
            "priority": "d.priority",
            "visibility": "CASE WHEN d.dm THEN 'private' ELSE 'public' END",
            "team": f"CASE WHEN d.g % 6 = 0 THEN NULL ELSE ({teams})[1 + d.g % {TEAMS}] END",
            "assignee": f"CASE WHEN d.g % 8 = 0 THEN NULL ELSE ({agents})[1 + d.g % {AGENTS}] END",
            "first_response_due_at": first_due,
            "first_responded_at": f"CASE WHEN {responded} THEN d.created + "
            f"interval '1 minute' * {due_minutes} * d.u * 1.3 END",
            "next_response_due_at": f"CASE WHEN {running} AND {responded} THEN "
            "d.created + interval '1 day' * (1 + d.u * 3) END",
            "resolution_due_at": f"CASE WHEN {running} THEN d.created + interval '3 days' END",
            "resolved_at": "CASE WHEN d.status IN ('resolved', 'closed') "
            "THEN d.created + interval '2 days' * d.u END",
            "closed_at": "CASE WHEN d.status = 'closed' THEN d.created + interval '3 days' END",
            "created_at": "d.created",
            "updated_at": "d.created",
        },
        source=f"{source}",
    )


def _text_sql(lang_index: str, variant: str, number: str) -> tuple[str, str]:
    """SQL for (language, text): ``lang_index`` picks a language by weight, ``variant`` a text."""
    langs = [(i, w) for i, (_, w, _) in enumerate(LANGUAGES)]
    pick = weighted(langs, lang_index)
    codes = sql_array([code for code, _, _ in LANGUAGES])
    texts = (
        "CASE {pick} "
        + " ".join(
            f"WHEN {i} THEN replace(({sql_array(t)})[1 + floor({variant} * {len(t)})::int], "
            f"'{{n}}', {number}::text)"
            for i, (_, _, t) in enumerate(LANGUAGES)
        )
        + " END"
    )
    return f"({codes})[1 + {pick}]", texts.replace("{pick}", pick)


def _posts(posts: int, case_base: int, people: dict[str, int], setup: dict[str, Any]) -> None:
    case_table = Case._meta.db_table
    identity_table = SocialIdentity._meta.db_table
    agents = sql_array([a.pk for a in setup["agents"]])
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_case_draw")
        cases = cursor.fetchone()[0]
        # Thread length per case: log-normal (median ~5), capped; scaled so case posts take at
        # most 80% of the total and the rest are mentions that never became a case.
        cursor.execute("DROP TABLE IF EXISTS bench_thread")
        cursor.execute(
            f"""
            CREATE TEMP TABLE bench_thread AS
            SELECT g, least(300, 1 + floor(exp(1.8 + 0.9 * {normal()})))::int AS n
            FROM generate_series(1, {cases}) AS g
            """
        )
        cursor.execute("SELECT sum(n) FROM bench_thread")
        total = cursor.fetchone()[0] or 0
        budget = int(posts * 0.8)
        if total > budget:
            cursor.execute(
                "UPDATE bench_thread SET n = greatest(1, floor(n * %s)::int)", [budget / total]
            )
        cursor.execute(
            "CREATE TEMP TABLE bench_slot AS SELECT g, n, "
            "(sum(n) OVER (ORDER BY g) - n)::bigint AS start FROM bench_thread"
        )
        cursor.execute("ALTER TABLE bench_slot ADD PRIMARY KEY (g)")
        cursor.execute("SELECT COALESCE(sum(n), 0) FROM bench_slot")
        case_posts = min(cursor.fetchone()[0], posts)
    lang, text = _text_sql(_hash01("s.cid", 7), _hash01("s.g", 11), "(s.g % 90000 + 10000)")
    outbound = f"(s.k > 1 AND {_hash01('s.g', 3)} < 0.4)"
    source = f"""(
        SELECT s0.start + k AS g, k, s0.n, s0.start, c.id AS cid, c.identity_id, c.channel_id,
               c.created_at, c.visibility, c.assignee_id, ch.platform, i.followers_count,
               c.status
        FROM bench_slot s0
        JOIN {case_table} c ON c.id = {case_base} + s0.g
        JOIN {Channel._meta.db_table} ch ON ch.id = c.channel_id
        JOIN {identity_table} i ON i.id = c.identity_id
        CROSS JOIN LATERAL generate_series(1, s0.n) AS k
        WHERE s0.start + k <= {posts}
    ) AS s"""
    dm = "s.visibility = 'private'"
    # A thread of a recent case that would run past now is spread over the time it has had
    # instead (clamping it to now() would pile thousands of posts in the last minute).
    # Replies 25-35 minutes apart, in order.
    step = _hash01("s.g", 5)
    offset = f"((s.k - 1) * interval '25 minutes' + interval '10 minutes' * {step})"
    posted = (
        f"CASE WHEN s.created_at + {offset} > now() THEN s.created_at + (now() - s.created_at) "
        f"* (s.k - 1 + {step}) / s.n ELSE s.created_at + {offset} END"
    )
    insert_series(
        Post,
        case_posts,
        {
            "platform": "s.platform",
            "external_id": "'bench-' || s.g",
            "channel": "s.channel_id",
            "author": f"CASE WHEN {outbound} THEN NULL ELSE s.identity_id END",
            "direction": f"CASE WHEN {outbound} THEN 'outbound' ELSE 'inbound' END",
            "kind": f"CASE WHEN {dm} THEN 'direct_message' WHEN s.platform = 'email' THEN 'email' "
            "WHEN s.k = 1 THEN 'mention' ELSE 'reply' END",
            "visibility": "s.visibility",
            "text": f"CASE WHEN {outbound} THEN 'Sorry about that — we are on it (' || s.g || ')' "
            f"ELSE {text} END",
            "language": f"CASE WHEN {outbound} THEN 'en' ELSE {lang} END",
            "in_reply_to_external_id": "CASE WHEN s.k > 1 THEN 'bench-' || (s.g - 1) ELSE '' END",
            "parent": "CASE WHEN s.k > 1 THEN {id} - 1 END",
            "conversation_id": "'bench-conv-' || s.cid",
            "posted_at": posted,
            "received_at": posted,
            "sentiment": f"greatest(-1, least(1, 0.45 * {normal()} - 0.15))",
            "reach": f"CASE WHEN {outbound} THEN 0 ELSE least(s.followers_count, 2000000000) END",
            "case": "s.cid",
            "sent_by": f"CASE WHEN {outbound} THEN coalesce(s.assignee_id, ({agents})[1]) END",
            "send_status": f"CASE WHEN {outbound} THEN 'sent' ELSE '' END",
        },
        source=source,
    )
    rest = posts - case_posts
    if rest <= 0:
        return
    lang, text = _text_sql("random()", "random()", "(m.g % 90000 + 10000)")
    bursts = ", ".join(f"now() - interval '{d} days'" for d in (1, 9, 40, 120, 300, 600)[:BURSTS])
    when = (
        f"CASE WHEN random() < {BURST_SHARE * 2} THEN (ARRAY[{bursts}])[1 + floor(random() * "
        f"{BURSTS})::int] + interval '3 hours' * random() "
        f"ELSE now() - interval '{HISTORY_DAYS} days' * (1 - sqrt(random())) END"
    )
    channels = [c.pk for cs in setup["channels"].values() for c in cs]
    platforms = [p for p, cs in setup["channels"].items() for _ in cs]
    source = f"""(
        SELECT g, 1 + floor(random() * {len(channels)})::int AS ch,
               1 + floor({people["count"]} * power(random(), 1.5))::int AS who, {when} AS at
        FROM generate_series(1, {rest}) AS g
    ) AS m"""
    insert_series(
        Post,
        rest,
        {
            "platform": f"({sql_array(platforms)})[m.ch]",
            "external_id": "'bench-m-' || m.g",
            "channel": f"({sql_array(channels)})[m.ch]",
            "author": f"{people['identities']} + m.who",
            "direction": "'inbound'",
            "kind": "'mention'",
            "visibility": "'public'",
            "text": text,
            "language": lang,
            "conversation_id": "'bench-m-' || m.g",
            "posted_at": "m.at",
            "received_at": "m.at",
            "sentiment": f"greatest(-1, least(1, 0.4 * {normal()}))",
            "reach": "floor(exp(5 + 2 * random()))::int",
        },
        source=source,
    )


def _case_times(case_base: int) -> None:
    post_table, case_table = Post._meta.db_table, Case._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {case_table} c SET
                last_inbound_at = p.last_in, last_outbound_at = p.last_out,
                updated_at = greatest(c.created_at, coalesce(p.last_any, c.created_at))
            FROM (
                SELECT case_id,
                       max(posted_at) FILTER (WHERE direction = 'inbound') AS last_in,
                       max(posted_at) FILTER (WHERE direction = 'outbound') AS last_out,
                       max(posted_at) AS last_any
                FROM {post_table} WHERE case_id > {case_base} GROUP BY case_id
            ) p
            WHERE c.id = p.case_id
            """
        )


def _events(case_base: int) -> None:
    case_table, post_table = Case._meta.db_table, Post._meta.db_table
    insert_series(
        CaseEvent,
        0,
        {"case": "c.id", "kind": "'created'", "at": "c.created_at"},
        source=f"(SELECT row_number() OVER (ORDER BY id) AS g, id, created_at FROM {case_table} "
        f"WHERE id > {case_base}) AS c",
    )
    insert_series(
        CaseEvent,
        0,
        {
            "case": "p.case_id",
            "kind": "CASE WHEN p.direction = 'inbound' THEN 'post_added' ELSE 'replied' END",
            "actor": "p.sent_by_id",
            "post": "p.id",
            "at": "p.posted_at",
        },
        source=f"(SELECT row_number() OVER (ORDER BY id) AS g, id, case_id, direction, "
        f"sent_by_id, posted_at FROM {post_table} WHERE case_id > {case_base}) AS p",
    )


def _alerts() -> None:
    """The alerts the scans of the minutes before sent: a breach for every target overdue by more
    than a minute, a warning for every target that entered the warning window more than a minute
    ago. A scan then finds only what crossed a line in the last minute: the steady state it runs
    in every minute."""
    case_table = Case._meta.db_table
    window = int(app_settings.SLA_WARNING_WINDOW.total_seconds())
    levels = [
        ("breach", "{due} <= now() - interval '1 minute'", "{due} + interval '1 minute'"),
        (
            "warning",
            f"{{due}} > now() AND {{due}} <= now() + interval '{window} seconds' "
            "- interval '1 minute'",
            f"{{due}} - interval '{window} seconds'",
        ),
    ]
    for target, due, running in [
        ("first_response", "first_response_due_at", "first_responded_at IS NULL"),
        ("next_response", "next_response_due_at", "true"),
        ("resolution", "resolution_due_at", "true"),
    ]:
        for level, condition, created in levels:
            insert_series(
                SLAAlert,
                0,
                {
                    "case": "c.id",
                    "target": f"'{target}'",
                    "level": f"'{level}'",
                    "due_at": f"c.{due}",
                    "created_at": created.format(due=f"c.{due}"),
                },
                source=f"(SELECT row_number() OVER (ORDER BY id) AS g, id, {due} "
                f"FROM {case_table} WHERE status IN ('new', 'open') AND {running} "
                f"AND {condition.format(due=due)}) AS c",
            )


def _counters(detectors: list[Detector]) -> None:
    post_table = Post._meta.db_table
    for detector in detectors:
        if detector.kind not in (Detector.Kind.VOLUME_SPIKE, Detector.Kind.NEGATIVE_SURGE):
            continue
        scope = f"AND platform = '{detector.platform}'" if detector.platform else ""
        insert_series(
            DetectorCount,
            0,
            {
                "detector": str(detector.pk),
                "minute": "m.minute",
                "posts": "m.posts",
                "negative": "m.negative",
            },
            source=f"""(
                SELECT row_number() OVER (ORDER BY minute) AS g, minute, posts, negative FROM (
                    SELECT date_trunc('minute', posted_at) AS minute, count(*) AS posts,
                           count(*) FILTER (WHERE sentiment <= {detector.negative_below})
                               AS negative
                    FROM {post_table}
                    WHERE direction = 'inbound' AND case_id IS NOT NULL {scope}
                      AND posted_at >= now() - interval '25 hours'
                    GROUP BY 1
                ) x
            ) AS m""",
        )


BUILT = (
    get_customer_model,
    lambda: SocialIdentity,
    lambda: Case,
    lambda: Post,
    lambda: CaseEvent,
    lambda: SLAAlert,
    lambda: DetectorCount,
)


def check_foreign_keys() -> None:
    """Every foreign key of the bulk-built tables points at a row (raises otherwise)."""
    with connection.cursor() as cursor:
        for get_model in BUILT:
            model = get_model()
            for field in model._meta.concrete_fields:
                if not field.is_relation or not field.many_to_one:
                    continue
                target = field.related_model._meta
                sql = (
                    f'SELECT count(*) FROM "{model._meta.db_table}" c '
                    f'WHERE c."{field.column}" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM '
                    f'"{target.db_table}" t WHERE t."{target.pk.column}" = c."{field.column}")'
                )
                cursor.execute(sql)
                missing = cursor.fetchone()[0]
                if missing:
                    raise RuntimeError(
                        f"bench data: {missing} rows of {model.__name__}.{field.name} point "
                        "at no row"
                    )


def describe() -> dict[str, Any]:
    """What was built: row counts and the distributions the generator promises."""
    with connection.cursor() as cursor:

        def one(sql: str) -> Any:
            cursor.execute(sql)
            return cursor.fetchone()

        p, c, i = Post._meta.db_table, Case._meta.db_table, SocialIdentity._meta.db_table
        posts, dms, replies, outbound = one(
            f"SELECT count(*), count(*) FILTER (WHERE kind = 'direct_message'), "
            f"count(*) FILTER (WHERE parent_id IS NOT NULL), "
            f"count(*) FILTER (WHERE direction = 'outbound') FROM {p}"
        )
        # GROUP BY (a hash aggregate), not count(DISTINCT) (a sort of every row)
        (langs,) = one(f"SELECT count(*) FROM (SELECT language FROM {p} GROUP BY 1) x")
        (platforms,) = one(f"SELECT count(*) FROM (SELECT platform FROM {p} GROUP BY 1) x")
        cases, running, breached = one(
            f"SELECT count(*), count(*) FILTER (WHERE status IN ('new', 'open')), "
            f"count(*) FILTER (WHERE status IN ('new', 'open') AND first_responded_at IS NULL "
            f"AND first_response_due_at < now()) FROM {c}"
        )
        identities, median, p99, top = one(
            f"SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY followers_count), "
            f"percentile_cont(0.99) WITHIN GROUP (ORDER BY followers_count), "
            f"max(followers_count) FROM {i}"
        )
        (busiest_hour,) = one(
            f"SELECT max(n) FROM (SELECT count(*) AS n FROM {p} "
            f"GROUP BY date_trunc('hour', posted_at)) h"
        )
        (events,) = one(f"SELECT count(*) FROM {CaseEvent._meta.db_table}")
    return {
        "posts": posts,
        "cases": cases,
        "identities": identities,
        "events": events,
        "running_cases": running,
        "first_response_breached": breached,
        "dm_share": round(dms / max(posts, 1), 3),
        "reply_share": round(replies / max(posts, 1), 3),
        "outbound_share": round(outbound / max(posts, 1), 3),
        "languages": langs,
        "platforms": platforms,
        "followers_median": median,
        "followers_p99": p99,
        "followers_max": top,
        "busiest_hour_posts": busiest_hour,
        "mean_hour_posts": round(posts / (HISTORY_DAYS * 24), 1),
    }


# SQLite: the same shapes, smaller, through the ORM ----------------------------------------------
def _pick(rng: Any, pairs: list[tuple[Any, int]]) -> Any:
    return rng.choices([v for v, _ in pairs], weights=[w for _, w in pairs])[0]


def build_sqlite(cases: int = SQLITE_CASES, seed: int = 8) -> dict[str, Any]:
    """The same distributions as ``build`` at a SQLite-sized scale (``cases`` cases, ~10 posts
    each, two identities per case), with ``bulk_create`` (SQLite has no generate_series and no
    PostgreSQL functions). Works on any database; used by tests/test_bench.py and for figures that
    apply to SQLite (the demo's database)."""
    import math
    import random

    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    with transaction.atomic():
        setup = _setup()
        Customer = get_customer_model()
        n_people = cases * 2
        customers = Customer.objects.bulk_create(
            [
                Customer(
                    **{
                        app_settings.CUSTOMER_NAME_FIELD: f"Customer {g}",
                        app_settings.CUSTOMER_EMAIL_FIELD: f"customer{g}@example.com",
                    }
                )
                for g in range(n_people // 2)
            ],
            batch_size=500,
        )
        identities = SocialIdentity.objects.bulk_create(
            [
                SocialIdentity(
                    platform=_pick(rng, PLATFORMS),
                    external_id=f"bench-{g}",
                    handle=f"user{g}",
                    display_name=f"Person {g}",
                    followers_count=min(50_000_000, int(math.exp(5 + 2.2 * rng.gauss(0, 1)))),
                    customer=customers[g // 2],
                )
                for g in range(n_people)
            ],
            batch_size=500,
        )
        bursts = [now - dt.timedelta(days=d) for d in (1, 9, 40, 120, 300, 600)[:BURSTS]]
        new_cases = []
        for g in range(cases):
            who = identities[int(n_people * rng.random() ** 2.5)]
            if rng.random() < BURST_SHARE:
                created = rng.choice(bursts) + dt.timedelta(hours=3 * rng.random())
            else:
                created = now - dt.timedelta(days=HISTORY_DAYS * (1 - math.sqrt(rng.random())))
            status = _pick(rng, STATUSES)
            if created > now - dt.timedelta(days=2):
                status = rng.choice(["new", "open"])
            priority = _pick(rng, PRIORITIES)
            due = created + dt.timedelta(minutes=FIRST_RESPONSE_MINUTES[priority])
            channel = rng.choice(setup["channels"][who.platform])
            new_cases.append(
                Case(
                    customer_id=who.customer_id,
                    identity=who,
                    channel=channel,
                    subject=f"Case {g}",
                    status=status,
                    priority=priority,
                    visibility="private" if rng.random() < DM_SHARE else "public",
                    team=None if g % 6 == 0 else setup["teams"][g % TEAMS],
                    assignee=None if g % 8 == 0 else setup["agents"][g % AGENTS],
                    first_response_due_at=due,
                    first_responded_at=None if status == "new" else due - dt.timedelta(minutes=5),
                    created_at=created,
                )
            )
        new_cases = Case.objects.bulk_create(new_cases, batch_size=500)
        for case in new_cases:
            case.reference = f"{app_settings.CASE_REFERENCE_PREFIX}{case.pk:06d}"
        Case.objects.bulk_update(new_cases, ["reference"], batch_size=500)
        posts, events = [], []
        for case in new_cases:
            n = min(300, 1 + int(math.exp(1.8 + 0.9 * rng.gauss(0, 1))))
            code, _, texts = rng.choices(LANGUAGES, weights=[w for _, w, _ in LANGUAGES])[0]
            for k in range(n):
                outbound = k > 0 and rng.random() < 0.4
                step = rng.random()
                at = case.created_at + dt.timedelta(minutes=25 * k + 10 * step)
                if at > now:
                    at = case.created_at + (now - case.created_at) * (k + step) / n
                posts.append(
                    Post(
                        platform=case.channel.platform,
                        external_id=f"bench-{case.pk}-{k}",
                        channel=case.channel,
                        author=None if outbound else case.identity,
                        direction="outbound" if outbound else "inbound",
                        kind="direct_message"
                        if case.visibility == "private"
                        else ("mention" if k == 0 else "reply"),
                        visibility=case.visibility,
                        text="Sorry about that, we are on it"
                        if outbound
                        else rng.choice(texts).replace("{n}", str(rng.randrange(10000, 99999))),
                        language="en" if outbound else code,
                        in_reply_to_external_id=f"bench-{case.pk}-{k - 1}" if k else "",
                        conversation_id=f"bench-conv-{case.pk}",
                        posted_at=at,
                        received_at=at,
                        sentiment=max(-1.0, min(1.0, 0.45 * rng.gauss(0, 1) - 0.15)),
                        case=case,
                        sent_by=case.assignee if outbound else None,
                        send_status="sent" if outbound else "",
                    )
                )
        channels = [c for cs in setup["channels"].values() for c in cs]
        mentions = []
        for g in range(len(posts) // 4):  # mentions that never became a case: 20% of posts
            at = now - dt.timedelta(days=HISTORY_DAYS * (1 - math.sqrt(rng.random())))
            channel = rng.choice(channels)
            code, _, texts = rng.choices(LANGUAGES, weights=[w for _, w, _ in LANGUAGES])[0]
            mentions.append(
                Post(
                    platform=channel.platform,
                    external_id=f"bench-m-{g}",
                    channel=channel,
                    author=identities[int(n_people * rng.random() ** 1.5)],
                    direction="inbound",
                    kind="mention",
                    visibility="public",
                    text=rng.choice(texts).replace("{n}", str(rng.randrange(10000, 99999))),
                    language=code,
                    posted_at=at,
                    received_at=at,
                    sentiment=max(-1.0, min(1.0, 0.4 * rng.gauss(0, 1))),
                )
            )
        Post.objects.bulk_create(mentions, batch_size=500)
        posts = Post.objects.bulk_create(posts, batch_size=500)
        previous: Post | None = None
        for post in posts:
            if previous is not None and previous.case_id == post.case_id:
                post.parent = previous
            previous = post
        Post.objects.bulk_update([p for p in posts if p.parent_id], ["parent"], batch_size=500)
        events = [CaseEvent(case=c, kind="created", at=c.created_at) for c in new_cases]
        events += [
            CaseEvent(
                case_id=p.case_id,
                kind="post_added" if p.direction == "inbound" else "replied",
                post=p,
                actor=p.sent_by,
                at=p.posted_at,
            )
            for p in posts
        ]
        CaseEvent.objects.bulk_create(events, batch_size=500)
    summary = describe_portable()
    summary["seconds"] = round(time.perf_counter() - started, 1)
    return summary


def describe_portable() -> dict[str, Any]:
    """``describe`` through the ORM (any database): counts and shares."""
    from django.db.models import Count, Q

    agg = Post.objects.aggregate(
        posts=Count("pk"),
        dms=Count("pk", filter=Q(kind="direct_message")),
        replies=Count("pk", filter=Q(parent__isnull=False)),
        outbound=Count("pk", filter=Q(direction="outbound")),
    )
    followers = sorted(SocialIdentity.objects.values_list("followers_count", flat=True))
    n = max(len(followers), 1)
    return {
        "posts": agg["posts"],
        "cases": Case.objects.count(),
        "identities": len(followers),
        "events": CaseEvent.objects.count(),
        "dm_share": round(agg["dms"] / max(agg["posts"], 1), 3),
        "reply_share": round(agg["replies"] / max(agg["posts"], 1), 3),
        "outbound_share": round(agg["outbound"] / max(agg["posts"], 1), 3),
        "languages": Post.objects.exclude(language="").values("language").distinct().count(),
        "platforms": Post.objects.values("platform").distinct().count(),
        "followers_median": followers[n // 2] if followers else 0,
        "followers_p99": followers[min(n - 1, n * 99 // 100)] if followers else 0,
        "followers_max": followers[-1] if followers else 0,
    }
