"""A large support database built with set-based SQL (PostgreSQL only): ``INSERT ... SELECT
generate_series``. Column lists come from each model's ``_meta``, so a NOT NULL column added
later gets its default (or the build fails naming it) instead of silently breaking the data.

Shape (``build(cases=100_000)``): 50 staff in 5 teams, 6 channels (one per platform), one
customer and one social identity per two cases, 10 posts per case (7 inbound, 3 outbound), one
"created" event per case; case statuses, priorities, teams, assignees and first-response due
times spread so every inbox filter and SLA state has plenty of rows.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection

from bench.data import insert_series
from socialcare.conf import app_settings
from socialcare.models import (
    Case,
    CaseEvent,
    Channel,
    Post,
    SocialIdentity,
    Team,
    TeamMembership,
    get_customer_model,
)

PLATFORMS = ["x", "facebook", "instagram", "mastodon", "bluesky", "email"]
WORDS = ["refund", "broken", "thanks", "help", "where", "late", "invoice", "password"]
POSTS_PER_CASE = 10


def build(cases: int = 100_000) -> dict[str, Any]:
    """Build the data set; returns the staff, teams and a few ids the tests use."""
    User = get_user_model()
    teams = [Team.objects.create(name=f"Scale team {i}") for i in range(5)]
    staff = []
    for i in range(50):
        user = User.objects.create_user(
            f"scale{i}", password="pw", is_staff=True, first_name="Agent", last_name=str(i)
        )
        TeamMembership.objects.create(team=teams[i % 5], user=user)
        staff.append(user)
    channels = []
    for i, platform in enumerate(PLATFORMS):
        channels.append(
            Channel.objects.create(
                name=f"Scale {platform}",
                platform=platform,
                account_id=f"scale-{i}",
                handle=f"brand{i}",
                default_team=teams[i % 5],
            )
        )
    people = cases // 2
    customers = insert_series(
        get_customer_model(),
        people,
        {
            app_settings.CUSTOMER_NAME_FIELD: "'Customer ' || g",
            app_settings.CUSTOMER_EMAIL_FIELD: "'customer' || g || '@example.com'",
        },
    )
    platforms = "ARRAY[" + ", ".join(f"'{p}'" for p in PLATFORMS) + "]"
    identities = insert_series(
        SocialIdentity,
        people,
        {
            "platform": f"({platforms})[g % 6 + 1]",
            "external_id": "'scale-' || g",
            "handle": "'handle' || g",
            "display_name": "'Person ' || g",
            "followers_count": "(g::bigint * 7919) % 250000",
            "customer": f"{customers} + g",
        },
    )
    team_ids = "ARRAY[" + ", ".join(str(t.pk) for t in teams) + "]"
    user_ids = "ARRAY[" + ", ".join(str(u.pk) for u in staff[:7]) + "]"
    channel_ids = "ARRAY[" + ", ".join(str(c.pk) for c in channels) + "]"
    statuses = "ARRAY['new','new','new','new','open','open','waiting_on_customer','resolved','resolved','closed']"
    due = "now() - interval '2 days' + ((g * 37) % 3600) * interval '1 minute'"
    responded = "(g % 10 >= 7 OR g % 10 = 5)"
    case_base = insert_series(
        Case,
        cases,
        {
            "reference": f"'{app_settings.CASE_REFERENCE_PREFIX}' || "
            "lpad(({id})::text, greatest(6, length(({id})::text)), '0')",
            "customer": f"{customers} + (g - 1) % {people} + 1",
            "identity": f"{identities} + (g - 1) % {people} + 1",
            "channel": f"({channel_ids})[g % 6 + 1]",
            "subject": "'Scale case ' || g",
            "status": f"({statuses})[g % 10 + 1]",
            "priority": "(ARRAY['low','normal','high','urgent'])[g % 4 + 1]",
            "team": f"CASE WHEN g % 6 = 0 THEN NULL ELSE ({team_ids})[g % 6] END",
            "assignee": f"CASE WHEN g % 8 = 0 THEN NULL ELSE ({user_ids})[g % 8] END",
            "first_response_due_at": due,
            "first_responded_at": f"CASE WHEN {responded} THEN {due} - interval '20 minutes' END",
            "last_inbound_at": f"{due} - interval '1 hour'",
            "created_at": f"{due} - interval '1 hour'",
            "updated_at": "now()",
        },
    )
    inbound = f"(g % {POSTS_PER_CASE}) NOT IN (3, 7)"
    case_of = f"({case_base} + (g - 1) / {POSTS_PER_CASE} + 1)"
    words = "ARRAY[" + ", ".join(f"'{w}'" for w in WORDS) + "]"
    insert_series(
        Post,
        cases * POSTS_PER_CASE,
        {
            "platform": f"({platforms})[((g - 1) / {POSTS_PER_CASE} + 1) % 6 + 1]",
            "external_id": "'scale-post-' || g",
            "channel": f"({channel_ids})[((g - 1) / {POSTS_PER_CASE} + 1) % 6 + 1]",
            "author": f"CASE WHEN {inbound} THEN {identities} + ((g - 1) / {POSTS_PER_CASE}) "
            f"% {people} + 1 END",
            "direction": f"CASE WHEN {inbound} THEN 'inbound' ELSE 'outbound' END",
            "kind": "'mention'",
            "visibility": "'public'",
            "text": f"'Order ' || (g % 5000) || ' ' || ({words})[g % 8 + 1] || ' again, "
            "please look at it' || chr(10) || 'Sent from my phone #' || g",
            "posted_at": f"now() - interval '3 days' + (g % {POSTS_PER_CASE * 1000}) * "
            "interval '1 minute'",
            "received_at": "now()",
            "sentiment": "((g % 200) - 100) / 100.0",
            "reach": "(g::bigint * 7919) % 100000",
            "case": case_of,
            "send_status": f"CASE WHEN {inbound} THEN '' ELSE 'sent' END",
        },
    )
    insert_series(
        CaseEvent,
        cases,
        {"case": f"{case_base} + g", "kind": "'created'", "at": "now() - interval '3 days'"},
    )
    with connection.cursor() as cursor:
        for model in (get_customer_model(), SocialIdentity, Case, Post, CaseEvent):
            cursor.execute(f'ANALYZE "{model._meta.db_table}"')
    return {
        "teams": teams,
        "staff": staff,
        "channels": channels,
        "first_case": case_base + 1,
        "cases": cases,
    }
