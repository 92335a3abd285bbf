"""Building the SQLAlchemy engine: SQLite tuned for concurrent writers, PostgreSQL pooled.

SQLite (the embedded default) gets WAL journaling so readers never block the writer,
a busy timeout so writers queue instead of failing with "database is locked",
foreign keys on and ``synchronous=NORMAL`` (safe with WAL). SQLAlchemy emits BEGIN
itself (sqlite3's legacy transaction handling is switched off), so a write transaction
can start with ``BEGIN IMMEDIATE``: it takes the write lock up front, waiting out the
busy timeout, instead of failing half way when a read lock cannot be upgraded.
PostgreSQL uses psycopg 3 with ``pool_pre_ping``, so connections dropped by a server
restart are replaced instead of failing the next task, and TCP keepalives with a user
timeout (``KEEPALIVE``), so that a connection whose peer vanished without closing it (a
half-open connection: a crashed host, a dropped NAT entry) fails within a minute instead
of hanging a pre-ping or a query for the kernel's default of hours. Pooled connections
are also replaced after ``POOL_RECYCLE`` seconds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from worker.errors import ConfigError

#: How long a SQLite writer waits for the lock before giving up (seconds).
SQLITE_BUSY_TIMEOUT = 30.0
#: How long connecting to PostgreSQL may take before it counts as unreachable (seconds).
CONNECT_TIMEOUT = 10
#: Execution option naming how a SQLite transaction begins ("DEFERRED" or "IMMEDIATE").
SQLITE_BEGIN = "adreview_sqlite_begin"
#: libpq parameters that detect a dead peer on an idle or busy PostgreSQL connection:
#: probe after 30 s idle, every 10 s, give up after 3 unanswered probes, and drop a
#: connection whose sent data stays unacknowledged for 60 s. A URL's own values win.
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
             "keepalives_count": 3, "tcp_user_timeout": 60_000}
#: Seconds after which a pooled PostgreSQL connection is replaced.
POOL_RECYCLE = 1800


def parse_url(url: str | URL) -> URL:
    """The URL as a SQLAlchemy ``URL``; ``ConfigError`` when it is not one."""
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"database URL {safe_url(url)!r} is not a valid URL: {exc}") from exc


def safe_url(url: str | URL) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        text = str(url)
        # Not parseable: hide whatever lies between "://user:" and "@".
        scheme, sep, rest = text.partition("://")
        if sep and "@" in rest:
            credentials, _, host = rest.rpartition("@")
            user = credentials.split(":", 1)[0]
            return f"{scheme}://{user}:***@{host}"
        return text


def make_engine(url: str | URL, *, echo: bool = False, pool_size: int | None = None,
                max_overflow: int | None = None, pool_timeout: float | None = None) -> Engine:
    """An engine for ``url``, configured for this backend (see the module docstring).

    ``postgresql://`` and ``postgres://`` URLs use the psycopg 3 driver. ``pool_size``,
    ``max_overflow`` and ``pool_timeout`` (seconds to wait for a free connection before
    ``sqlalchemy.exc.TimeoutError``) size the connection pool; None keeps SQLAlchemy's
    defaults (5, 10 and 30 s). In-memory SQLite has no such pool and ignores them.
    """
    parsed = parse_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    kwargs: dict[str, Any] = {"echo": echo}
    backend = parsed.get_backend_name()
    pooled = backend != "sqlite" or parsed.database not in (None, "", ":memory:")
    for name, value in (("pool_size", pool_size), ("max_overflow", max_overflow),
                        ("pool_timeout", pool_timeout)):
        if value is not None and pooled:
            kwargs[name] = value
    if backend == "sqlite":
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT}
    elif backend == "postgresql":
        kwargs["pool_pre_ping"] = True
        kwargs["pool_recycle"] = POOL_RECYCLE
        if parsed.get_driver_name() in ("psycopg", "psycopg2"):
            connect_args: dict[str, Any] = {
                name: value for name, value in KEEPALIVE.items() if name not in parsed.query}
            if "connect_timeout" not in parsed.query:
                connect_args["connect_timeout"] = CONNECT_TIMEOUT
            kwargs["connect_args"] = connect_args
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise ConfigError(f"database URL {safe_url(parsed)!r} cannot be used: {exc}") from exc
    if backend == "sqlite":
        _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy emits BEGIN itself (below); sqlite3 must not.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {'IMMEDIATE' if mode == 'IMMEDIATE' else 'DEFERRED'}")


__all__ = ["CONNECT_TIMEOUT", "KEEPALIVE", "POOL_RECYCLE", "SQLITE_BUSY_TIMEOUT", "make_engine",
           "parse_url", "safe_url"]
