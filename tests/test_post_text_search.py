"""Migration 0009: the trigram indexes the admin inbox search uses on PostgreSQL, and a clear
message when the pg_trgm extension cannot be created."""

from __future__ import annotations

import importlib

import pytest
from django.db import DatabaseError, connection

from socialcare.models import Post

pytestmark = pytest.mark.django_db

migration = importlib.import_module("socialcare.migrations.0009_post_text_search")


class RefusingCursor:
    """A PostgreSQL cursor of a role that may not create extensions."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __enter__(self) -> RefusingCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, sql: str, params: object = None) -> None:
        self.statements.append(sql)
        if sql.startswith("CREATE EXTENSION"):
            raise DatabaseError('permission denied to create extension "pg_trgm"')

    def fetchone(self) -> None:
        return None  # pg_trgm is not installed


class FakeConnection:
    vendor = "postgresql"
    alias = "default"

    def __init__(self) -> None:
        self.cursor_ = RefusingCursor()

    def cursor(self) -> RefusingCursor:
        return self.cursor_


class FakeSchemaEditor:
    def __init__(self) -> None:
        self.connection = FakeConnection()


def test_without_the_extension_the_migration_says_what_to_do():
    editor = FakeSchemaEditor()
    with pytest.raises(RuntimeError) as raised:
        migration.create_indexes(None, editor)
    message = str(raised.value)
    assert "pg_trgm" in message
    assert "permission denied" in message
    assert "CREATE EXTENSION IF NOT EXISTS pg_trgm;" in message
    assert "migrate again" in message
    assert not any("CREATE INDEX" in sql for sql in editor.connection.cursor_.statements)


def test_other_databases_are_left_alone():
    editor = FakeSchemaEditor()
    editor.connection.vendor = "sqlite"
    migration.create_indexes(None, editor)
    migration.drop_indexes(None, editor)
    assert editor.connection.cursor_.statements == []


@pytest.mark.postgres
def test_the_admin_search_over_post_text_uses_the_trigram_index(admin_client, channel):
    if connection.vendor != "postgresql":
        pytest.skip("trigram indexes are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE %s",
            ["socialcare_%_trgm"],
        )
        indexes = dict(cursor.fetchall())
    assert set(indexes) == set(migration.INDEXES)
    assert "gin_trgm_ops" in indexes["socialcare_post_text_trgm"]
    Post.objects.bulk_create(
        Post(
            platform="x", channel=channel, external_id=f"p{n}", direction="inbound",
            kind="mention", visibility="public", text=f"post number {n} about shipping",
        )
        for n in range(300)
    )  # fmt: skip
    statements = []

    def capture(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        assert admin_client.get("/admin/socialcare/case/?q=refund").status_code == 200
    [(sql, params)] = [(s, p) for s, p in statements if 'AS "pk"' in s and "LIKE" in s][:1]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE socialcare_post")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "socialcare_post_text_trgm" in plan, plan
