"""The inbox's triage order as an index, and trigram indexes for the rest of its search.

``socialcare_case_triage`` (every database): the expressions the inbox sorts by
(``socialcare/admin/cases.py``: open first, the nearest reply due time, then newest), so a page
walks the index and stops after its rows instead of sorting every case.

PostgreSQL only (like migration 0009, whose ``pg_trgm`` extension they use): GIN trigram indexes
on the other texts the inbox search compares with ``icontains`` (the case subject, the
identity's display name, the built-in customer's name and email; a swapped customer model's
table belongs to its project: index it there if its search is slow), and a btree on
``UPPER(reference)`` (the search's ``iexact``). With them a search for a rare word finds its
cases by index lookups on every field. Built with a plain ``CREATE INDEX``
(a few seconds per 100,000 rows; writes to those tables wait meanwhile).
"""

from __future__ import annotations

import swapper
from django.conf import settings
from django.db import migrations, models

#: index -> (table, indexed expression): Django's ``icontains`` on PostgreSQL compares
#: ``UPPER(column::text)``, so that is what is indexed. Named ``*_trigram``, not ``*_trgm``:
#: migration 0009's ``*_trgm`` indexes are the posts' and handles' (which bulk loads drop and
#: rebuild, and tests/test_post_text_search.py lists).
INDEXES = {
    "socialcare_case_subject_trigram": ("socialcare_case", 'UPPER("subject"::text)'),
    "socialcare_identity_name_trigram": (
        "socialcare_socialidentity",
        'UPPER("display_name"::text)',
    ),
}
CUSTOMER_INDEXES = {
    "socialcare_customer_name_trigram": ("socialcare_customer", 'UPPER("name"::text)'),
    "socialcare_customer_email_trigram": ("socialcare_customer", 'UPPER("email"::text)'),
}

REFERENCE_INDEX = "socialcare_case_reference_upper"


def _indexes() -> dict[str, tuple[str, str]]:
    if swapper.is_swapped("socialcare", "Customer"):
        return dict(INDEXES)
    return {**INDEXES, **CUSTOMER_INDEXES}


def create_indexes(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    indexes = _indexes()
    with connection.cursor() as cursor:
        for name, (table, expression) in indexes.items():
            cursor.execute(
                f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" '
                f"USING gin (({expression}) gin_trgm_ops)"
            )
        # The search's "reference, any case" (``iexact``: UPPER(reference) = UPPER(word)).
        cursor.execute(
            f'CREATE INDEX IF NOT EXISTS "{REFERENCE_INDEX}" ON "socialcare_case" '
            '(UPPER("reference"::text))'
        )
        # Statistics of the indexed expressions (the planner's estimate of a word's matches).
        for table in sorted({table for table, _expression in indexes.values()}):
            cursor.execute(f'ANALYZE "{table}"')


def drop_indexes(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for name in [*INDEXES, *CUSTOMER_INDEXES, REFERENCE_INDEX]:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')


OPEN = ["new", "open", "waiting_on_customer"]


class Migration(migrations.Migration):
    dependencies = [
        ("socialcare", "0012_unsent_replies_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                models.Case(
                    models.When(status__in=OPEN, then=models.Value(0)),
                    default=models.Value(1),
                    output_field=models.IntegerField(),
                ),
                models.Case(
                    models.When(
                        status__in=OPEN,
                        first_responded_at__isnull=True,
                        then=models.F("first_response_due_at"),
                    ),
                    models.When(status__in=OPEN, then=models.F("next_response_due_at")),
                    default=None,
                    output_field=models.DateTimeField(),
                ),
                models.OrderBy(models.F("created_at"), descending=True),
                models.OrderBy(models.F("id"), descending=True),
                name="socialcare_case_triage",
            ),
        ),
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
