"""Creating and upgrading the schema with Alembic; the configuration is built in code.

The migration scripts live in the ``worker/migrations/`` package;
``upgrade(url)`` runs them up to the newest revision. It is safe to call from several
processes at once: SQLite serialises them on its write lock, PostgreSQL on an advisory
lock, and a database already at the newest revision is left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DataError, DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout

if TYPE_CHECKING:
    from alembic.config import Config

from worker.db.engine import SQLITE_BEGIN, make_engine, safe_url
from worker.db.errors import (
    DatabaseBusy,
    DatabaseFull,
    DatabaseUnavailable,
    InvalidRecord,
    SchemaOutdated,
    StorageError,
)

# Alembic logs one INFO line per autogenerate plugin it sets up (seven, at every first
# migration of a process): a set-up detail, not a fact about the database.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

#: The Alembic script folder (the ``worker.migrations`` package).
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
#: Key of the PostgreSQL advisory lock held while migrating (any constant will do).
MIGRATION_LOCK_KEY = 0x616472657669  # "adrevi"
#: The newest migration's revision id (a test checks it against the scripts). Knowing it
#: lets ``upgrade`` skip importing Alembic when the database is already current, which
#: is every open but the first.
HEAD_REVISION = "0007"


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic ``Config`` pointing at the migrations (and at ``url`` when given)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        rendered = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
        # ConfigParser interpolation: a literal % must be doubled.
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision the migration scripts know."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the project always ships migrations
        raise StorageError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


#: How drivers say the database's disk is full (SQLite; PostgreSQL's class 53 errors).
DISK_FULL = ("database or disk is full", "no space left on device", "could not extend file",
             "disk full")


@contextmanager
def translate_errors(url: str | URL) -> Iterator[None]:
    """Turn driver connection failures into ``DatabaseUnavailable`` naming the URL safely,
    a pool with no free connection into ``DatabaseBusy`` and a value the database cannot
    hold (a NUL character in PostgreSQL text, a number out of range) into ``InvalidRecord``."""
    try:
        yield
    except PoolTimeout as exc:
        raise DatabaseBusy(
            f"database {safe_url(url)}: no pooled connection came free ({exc})",
            url=safe_url(url),
        ) from exc
    except DataError as exc:
        reason = str(exc.orig).strip() if exc.orig is not None else str(exc)
        raise InvalidRecord(
            f"database {safe_url(url)} cannot hold a value: {reason}", url=safe_url(url)
        ) from exc
    except OperationalError as exc:
        reason = str(exc.orig).strip() if exc.orig is not None else str(exc)
        if any(words in reason.lower() for words in DISK_FULL):
            raise DatabaseFull(f"database {safe_url(url)} is full: {reason}",
                               url=safe_url(url)) from exc
        raise DatabaseUnavailable(
            f"cannot use database {safe_url(url)}: {reason}", url=safe_url(url)
        ) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise DatabaseUnavailable(
                f"lost the connection to database {safe_url(url)}: {exc.orig}",
                url=safe_url(url),
            ) from exc
        raise


def upgrade(target: str | URL | Engine, revision: str = "head") -> None:
    """Migrate the database at ``target`` (a URL or an engine) up to ``revision``."""
    engine = target if isinstance(target, Engine) else make_engine(target)
    try:
        if revision == "head" and _at_head(engine):
            return
        from alembic import command

        with translate_errors(engine.url):
            begin = engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
            with begin.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                config = alembic_config()
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
    finally:
        if engine is not target:
            engine.dispose()


def _at_head(engine: Engine) -> bool:
    """Whether the database already records the newest revision (read without Alembic)."""
    with translate_errors(engine.url), engine.connect() as connection:
        try:
            found = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        except ProgrammingError:  # PostgreSQL: no such table yet
            return False
        except OperationalError as exc:  # SQLite: no such table yet
            if "no such table" in str(exc.orig):
                return False
            raise
    return [row[0] for row in found] == [HEAD_REVISION]


def check_schema(engine: Engine) -> None:
    """Raise ``SchemaOutdated`` unless the database is at the newest revision."""
    head = head_revision()
    with translate_errors(engine.url), engine.connect() as connection:
        current = current_revision(connection)
    if current != head:
        url = safe_url(engine.url)
        raise SchemaOutdated(
            f"database {url} is at schema revision {current or 'none (empty)'}, "
            f"this code needs {head}: run the migrations (`adreview` opens the database "
            "with migrate=True, or `alembic upgrade head`)",
            url=url,
        )


__all__ = [
    "HEAD_REVISION",
    "MIGRATIONS_DIR",
    "alembic_config",
    "check_schema",
    "current_revision",
    "head_revision",
    "translate_errors",
    "upgrade",
]
