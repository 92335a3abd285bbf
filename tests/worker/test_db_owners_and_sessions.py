"""Storage for the HTTP API on SQLite and PostgreSQL: migration 0004 adds the submitting
key, the reviewer sessions and the dashboards' indexes to an existing database and
keeps its rows (and is undone cleanly); the store records the submitting key and refuses
unstorable values with ``InvalidRecord``."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text

from worker.db import InvalidRecord, Store, make_engine, upgrade
from worker.db.migrate import alembic_config, head_revision


def test_migration_0004_adds_owners_sessions_and_indexes_and_keeps_rows(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0003")
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO submissions (id, source, status, attempts, created_at, updated_at)"
                " VALUES ('old-1', 'upload', 'queued', 0, :now, :now)"), {"now": "2026-11-01"})
        upgrade(engine)
        schema = inspect(engine)
        assert "api_key_id" in {c["name"] for c in schema.get_columns("submissions")}
        assert "review_sessions" in schema.get_table_names()
        indexes = {i["name"] for i in schema.get_indexes("verdicts")}
        assert {"ix_verdicts_submission_id_judged_at", "ix_verdicts_matches"} <= indexes
        if engine.dialect.name == "postgresql":
            with engine.connect() as connection:
                definition = connection.execute(text(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_verdicts_matches'"
                    " AND schemaname = current_schema()"
                )).scalar_one()
            assert "USING gin" in definition and "jsonb_path_ops" in definition
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")
                                      ).scalar_one() == head_revision()
    finally:
        engine.dispose()
    with Store.open(database_url) as store:
        old = store.get_submission("old-1")
    assert old is not None and old.api_key_id is None


def test_migration_0004_is_undone_cleanly(database_url: str) -> None:
    with Store.open(database_url) as store:
        store.add_submission(None, "upload", api_key_id=7)
        config = alembic_config(store.engine.url)
        command.downgrade(config, "0003")
        schema = inspect(store.engine)
        assert "review_sessions" not in schema.get_table_names()
        assert "api_key_id" not in {c["name"] for c in schema.get_columns("submissions")}
        assert "ix_verdicts_matches" not in {i["name"] for i in schema.get_indexes("verdicts")}
        with store.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM submissions")).scalar() == 1
    upgrade(database_url)


def test_a_submission_keeps_the_key_it_came_in_with(store: Store) -> None:
    made = store.add_submission(None, "upload", api_key_id=42)
    found = store.get_submission(made)
    assert found is not None and found.api_key_id == 42
    plain = store.get_submission(store.add_submission(None, "upload"))
    assert plain is not None and plain.api_key_id is None


def test_values_the_database_cannot_hold_are_invalid_records(store: Store) -> None:
    if store.backend != "postgresql":
        pytest.skip("SQLite holds NUL characters")
    with pytest.raises(InvalidRecord) as raised:
        store.add_submission(None, "upload", ad_id="a\x00b")
    assert "NUL" in str(raised.value)
