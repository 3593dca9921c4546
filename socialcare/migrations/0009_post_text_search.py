"""Trigram indexes for the admin inbox search (``ILIKE '%word%'`` over post text and handles),
and the SLA scan's mark (how far the last scan got: ``services.sla_scan``).

PostgreSQL only: ``pg_trgm`` GIN indexes turn the search's scan of every post into an index
lookup of the matching ones. On other databases this migration does nothing (SQLite scans; its
sizes are small). The index is built with a plain ``CREATE INDEX`` (``CONCURRENTLY`` cannot run
inside a migration's transaction): on a large existing table it locks writes to posts while it
builds (about a minute per million posts), so run it in a quiet moment.
"""

from __future__ import annotations

from django.db import migrations, models

#: index -> (table, indexed expression). Django's ``icontains`` on PostgreSQL is
#: ``UPPER(column::text) LIKE UPPER('%word%')``: the index is on that very expression (the
#: planner matches expressions, not meanings).
INDEXES = {
    "socialcare_post_text_trgm": ("socialcare_post", 'UPPER("text")'),
    "socialcare_identity_handle_trgm": ("socialcare_socialidentity", 'UPPER("handle"::text)'),
}

NO_EXTENSION = (
    "socialcare migration 0009 needs the PostgreSQL extension pg_trgm (trigram indexes for the "
    "admin search) and could not create it: {error}. pg_trgm ships with PostgreSQL (Debian/"
    "Ubuntu: package postgresql-contrib on older releases) and is a trusted extension since "
    "PostgreSQL 13, so the database's owner may create it; otherwise ask a superuser to run "
    '"CREATE EXTENSION IF NOT EXISTS pg_trgm;" in this database, then run migrate again.'
)


def _has_trgm(cursor) -> bool:
    cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
    return cursor.fetchone() is not None


def create_indexes(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    from django.db import DatabaseError, transaction

    with connection.cursor() as cursor:
        if not _has_trgm(cursor):
            try:
                with transaction.atomic(using=connection.alias):
                    cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            except DatabaseError as exc:
                raise RuntimeError(NO_EXTENSION.format(error=str(exc).strip())) from exc
        for name, (table, expression) in INDEXES.items():
            cursor.execute(
                f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" '
                f"USING gin (({expression}) gin_trgm_ops)"
            )
            # Statistics of the indexed expression, so the planner knows how many rows a word
            # matches (without them it guesses a handful and picks the wrong plan).
            cursor.execute(f'ANALYZE "{table}"')


def drop_indexes(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for name in INDEXES:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
    # The extension stays: other objects of the database may use it.


class Migration(migrations.Migration):
    dependencies = [("socialcare", "0008_performance_indexes")]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
        migrations.CreateModel(
            name="SLAScanMark",
            fields=[
                ("name", models.CharField(max_length=20, primary_key=True, serialize=False)),
                (
                    "scanned_until",
                    models.DateTimeField(
                        help_text="The scan's `now`: due times up to it were seen."
                    ),
                ),
                (
                    "started_at",
                    models.DateTimeField(help_text="Wall clock when that scan started."),
                ),
                (
                    "full_scan_at",
                    models.DateTimeField(help_text="Wall clock of the last scan of every case."),
                ),
            ],
            options={"verbose_name": "SLA scan mark"},
        ),
    ]
