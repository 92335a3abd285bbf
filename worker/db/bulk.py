"""Bulk paths for re-judging stored ads: stream current verdicts with their OCR, write many.

``current_with_ocr(store, ...)`` streams, in chunks, every submission's current verdict
together with the OCR lines it was judged from (the stored result of the verdict's image,
engine and engine version) and the industry the submission declared; error verdicts and
verdicts whose OCR is not stored are left out, since there is no text to judge again -
except ``unknown_industry`` errors, whose text was read but not judged (the rule set no
longer declared the ad's industry), so that a later rule set can judge them. The OCR
lines and matches come back as raw JSON text, so that the (expensive) parsing happens
where the judging does.

``record_verdicts_bulk(store, rows)`` writes many verdicts with one multi-row
``INSERT ... ON CONFLICT`` per batch, keyed exactly as ``Store.record_verdict``:
(submission, rule set version, engine, engine version). A new key adds a row to the
history; a known one only moves its ``judged_at`` forward, making it current again.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Text,
    and_,
    bindparam,
    cast,
    func,
    or_,
    select,
)

from rules.schema import Decision
from worker.db.engine import safe_url
from worker.db.errors import DatabaseUnavailable, StorageError
from worker.db.migrate import translate_errors
from worker.db.models import OcrResult, Submission, VerdictRow
from worker.db.store import Store, is_current_verdict
from worker.errors import ErrorCode

#: Rows fetched from the database per round trip when streaming.
READ_CHUNK = 2000
#: Verdict rows per multi-row INSERT.
WRITE_BATCH = 1000


@dataclass(frozen=True)
class CurrentWithOcr:
    """A submission's current verdict, with the stored OCR it was judged from.

    ``lines`` is the stored OCR as JSON text (``lines_to_json`` form); ``matches`` the
    verdict's evidence as JSON text, or None when it was not asked for; ``industry`` the
    one the submission declared (what it is judged as again).
    """

    verdict_id: int
    submission: str
    source: str
    ad_id: str | None
    decision: Decision
    ruleset: str
    engine: str
    engine_version: str
    sha256: str
    judged: datetime
    lines: str
    matches: str | None
    industry: str | None = None


#: The stored OCR a verdict was judged on: same image, engine and engine version.
_READ_BY_THIS_ENGINE = and_(
    OcrResult.sha256 == VerdictRow.sha256,
    OcrResult.engine == VerdictRow.engine,
    OcrResult.engine_version == VerdictRow.engine_version,
)


def _judgeable() -> ColumnElement[bool]:
    """Verdicts with text to judge again: not errors, or errors only because the rule set
    did not declare the ad's industry (their OCR is stored)."""
    return or_(VerdictRow.decision != Decision.ERROR.value,
               VerdictRow.error_code == ErrorCode.UNKNOWN_INDUSTRY.value)


def _current_query(
    *,
    since: datetime | None,
    decision: Decision | None,
    not_ruleset: str | None,
    with_matches: bool,
    limit: int | None,
) -> Select[Any]:
    columns: list[Any] = [
        VerdictRow.id, VerdictRow.submission_id, Submission.source, Submission.ad_id,
        VerdictRow.decision, VerdictRow.ruleset_version, VerdictRow.engine,
        VerdictRow.engine_version, VerdictRow.sha256, VerdictRow.judged_at,
        cast(OcrResult.lines, Text),
        cast(VerdictRow.matches, Text) if with_matches else cast(None, String),
        Submission.industry,
    ]
    query = (
        select(*columns)
        .join(Submission, Submission.id == VerdictRow.submission_id)
        .join(OcrResult, _READ_BY_THIS_ENGINE)
        .where(is_current_verdict(), _judgeable())
    )
    if since is not None:
        query = query.where(VerdictRow.judged_at >= since)
    if decision is not None:
        query = query.where(VerdictRow.decision == decision.value)
    if not_ruleset is not None:
        query = query.where(VerdictRow.ruleset_version != not_ruleset)
    if limit is not None:
        return query.order_by(VerdictRow.judged_at.desc(), VerdictRow.id.desc()).limit(limit)
    return query.order_by(VerdictRow.submission_id)


def current_with_ocr(
    store: Store,
    *,
    since: datetime | None = None,
    decision: Decision | str | None = None,
    not_ruleset: str | None = None,
    with_matches: bool = False,
    limit: int | None = None,
    chunk: int = READ_CHUNK,
) -> Generator[list[CurrentWithOcr], None, None]:
    """Current verdicts with their stored OCR, in chunks of up to ``chunk``.

    ``since`` keeps verdicts judged at or after it, ``decision`` those with that decision,
    ``not_ruleset`` those made with another rule set version (what a rescan still has to
    do); ``limit`` takes the newest ``limit`` only. Error verdicts are not included,
    except ``unknown_industry`` ones.

    One read streams the whole result (a server-side cursor on PostgreSQL, a snapshot
    under WAL on SQLite), so writes made meanwhile through other connections neither
    block it nor show up in it.
    """
    wanted = None if decision is None else Decision(decision)
    query = _current_query(since=since, decision=wanted, not_ruleset=not_ruleset,
                           with_matches=with_matches, limit=limit)
    with translate_errors(store.engine.url), store.engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=chunk).execute(
            query
        )
        try:
            for part in result.partitions():
                yield [
                    CurrentWithOcr(row[0], row[1], row[2], row[3], Decision(row[4]), row[5],
                                   row[6], row[7], row[8], row[9], row[10], row[11], row[12])
                    for row in part
                ]
        finally:  # a reader that stops early closes the server-side cursor here
            result.close()


#: One stale verdict as the rescan reads it: (verdict id, submission, decision, engine,
#: engine version, sha256, stored OCR lines as JSON text, the submission's industry).
StaleVerdict = tuple[int, str, str, str, str, str, str, str | None]

#: Verdict rows encoded for the backend by ``encode_verdicts``: COPY text for PostgreSQL,
#: parameter tuples for SQLite.
EncodedVerdicts = bytes | list[tuple[Any, ...]]


def _stale_query(
    *, since: datetime | None, decision: Decision | None, not_ruleset: str,
    chunk: int | None,
) -> Select[Any]:
    columns: list[Any] = [
        VerdictRow.id, VerdictRow.submission_id, VerdictRow.decision, VerdictRow.engine,
        VerdictRow.engine_version, VerdictRow.sha256, cast(OcrResult.lines, Text),
        Submission.industry,
    ]
    query = (
        select(*columns)
        .join(OcrResult, _READ_BY_THIS_ENGINE)
        .join(Submission, Submission.id == VerdictRow.submission_id)
        .where(
            _judgeable(),
            VerdictRow.ruleset_version != not_ruleset,
            is_current_verdict(),
        )
    )
    if since is not None:
        query = query.where(VerdictRow.judged_at >= since)
    if decision is not None:
        query = query.where(VerdictRow.decision == decision.value)
    if chunk is None:
        return query
    return (query.where(VerdictRow.submission_id > bindparam("after"))
            .order_by(VerdictRow.submission_id).limit(chunk))


def stale_verdicts(
    store: Store,
    *,
    not_ruleset: str,
    since: datetime | None = None,
    decision: Decision | str | None = None,
    chunk: int = READ_CHUNK,
) -> Iterator[list[StaleVerdict]]:
    """Current verdicts made with another rule set than ``not_ruleset``, with their OCR.

    What ``rescan`` works through: the same rows as ``current_with_ocr`` with these
    filters, fewer columns, as plain tuples, in chunks of up to ``chunk``, in no
    particular order. Writes made meanwhile through other connections are safe:

    * on PostgreSQL one read streams the whole result through a server-side cursor (a
      snapshot: new verdicts neither block it nor show up in it);
    * on SQLite each chunk is its own short read, paged by verdict id, so that no read
      stays open while the new verdicts are written (a long read would keep the WAL from
      being checkpointed). A new verdict for a submission already read has a higher id
      but the new rule set; a submission not read yet keeps its current row.

    (PostgreSQL is not paged: without fresh statistics its planner runs the anti join
    over the whole table for every page.)
    """
    wanted = None if decision is None else Decision(decision)
    if store.backend != "sqlite":
        query = _stale_query(since=since, decision=wanted, not_ruleset=not_ruleset,
                             chunk=None)
        with translate_errors(store.engine.url), store.engine.connect() as connection:
            result = connection.execution_options(stream_results=True,
                                                  yield_per=chunk).execute(query)
            try:
                for part in result.partitions():
                    yield typing.cast(list[StaleVerdict], [tuple(row) for row in part])
            finally:  # a reader that stops early closes the server-side cursor here
                result.close()
        return
    query = _stale_query(since=since, decision=wanted, not_ruleset=not_ruleset, chunk=chunk)
    after = ""
    while True:
        with translate_errors(store.engine.url), store.engine.connect() as connection:
            rows = typing.cast(
                list[StaleVerdict],
                [tuple(row) for row in connection.execute(query, {"after": after})],
            )
        if not rows:
            return
        yield rows
        if len(rows) < chunk:
            return
        after = rows[-1][1]


def count_current_with_ocr(
    store: Store,
    *,
    since: datetime | None = None,
    decision: Decision | str | None = None,
    not_ruleset: str | None = None,
) -> int:
    """How many rows ``current_with_ocr`` would give with these filters (no ``limit``)."""
    wanted = None if decision is None else Decision(decision)
    query = _current_query(since=since, decision=wanted, not_ruleset=not_ruleset,
                           with_matches=False, limit=None).order_by(None)
    with translate_errors(store.engine.url), store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(query.subquery()))
                   .scalar_one())


_COLUMNS = ("submission_id", "decision", "matches", "error_code", "error_message",
            "ruleset_version", "engine", "engine_version", "sha256", "timings", "created_at",
            "judged_at", "industry")
_JSON_COLUMNS = frozenset({"matches", "timings"})
#: Columns a row given to ``record_verdicts_bulk`` may leave out (NULL).
_OPTIONAL_COLUMNS = frozenset({"industry"})
_KEY = "submission_id, ruleset_version, engine, engine_version"


_COLUMN_LIST = ", ".join(_COLUMNS)
#: Where PostgreSQL batches land before the upsert (one per session, emptied on commit).
_STAGING = "verdicts_incoming"
_STAGING_DDL = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGING} (submission_id varchar, "
    "decision varchar, matches jsonb, error_code varchar, error_message text, "
    "ruleset_version varchar, engine varchar, engine_version varchar, sha256 varchar, "
    "timings jsonb, created_at timestamptz, judged_at timestamptz, industry varchar) "
    "ON COMMIT DELETE ROWS"
)
_UPSERT = (
    f"ON CONFLICT ({_KEY}) DO UPDATE SET judged_at = excluded.judged_at "
    "WHERE verdicts.judged_at < excluded.judged_at"
)
#: Columns whose values are (nearly) all different: submission, sha256.
_DISTINCT = frozenset({_COLUMNS.index("submission_id"), _COLUMNS.index("sha256")})
#: COPY's text format: these characters are written as backslash escapes.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _sqlite_insert() -> str:
    """The upsert in the driver's own parameter style (no per-row SQLAlchemy processing:
    that costs more than the judging)."""
    values = ", ".join("?" for _ in _COLUMNS)
    # built from the constants above only, never from data
    return f"INSERT INTO verdicts ({_COLUMN_LIST}) VALUES ({values}) {_UPSERT}"  # noqa: S608


def _pg_upsert() -> str:
    """Staged rows into ``verdicts``; a key twice in one batch keeps its newest row."""
    return (  # built from the constants above only, never from data
        f"INSERT INTO verdicts ({_COLUMN_LIST}) "  # noqa: S608
        f"SELECT DISTINCT ON ({_KEY}) {_COLUMN_LIST} FROM {_STAGING} "
        f"ORDER BY {_KEY}, judged_at DESC {_UPSERT}"
    )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        # As UtcDateTime stores it: naive UTC text.
        return _utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")
    return value


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, datetime):
        return _utc(value).isoformat()
    return str(value).translate(_COPY_ESCAPES)


def encode_verdicts(backend: str, rows: Iterable[Sequence[Any]]) -> EncodedVerdicts:
    """Verdict rows, ready for ``write_encoded`` on ``backend``.

    Each row holds the ``verdicts`` columns in this order: ``submission_id``, ``decision``,
    ``matches`` (JSON text), ``error_code``, ``error_message``, ``ruleset_version``,
    ``engine``, ``engine_version``, ``sha256``, ``timings`` (JSON text), ``created_at``,
    ``judged_at``, ``industry``. Cheap enough to run where the rows are made (in judging processes),
    so that the process writing them only passes them on. Timestamps that several rows
    share (the same object) are converted once.
    """
    if backend == "sqlite":
        done: dict[int, tuple[datetime, Any]] = {}
        params: list[tuple[Any, ...]] = []
        for row in rows:
            values = []
            for value in row:
                if isinstance(value, datetime):
                    known = done.get(id(value))
                    if known is None:
                        known = done[id(value)] = (value, _sqlite_value(value))
                    value = known[1]
                values.append(value)
            params.append(tuple(values))
        return params
    # Most columns repeat within a batch (rule set, engine, timestamps, "[]" matches):
    # each distinct value is escaped once. Ids and hashes are always new.
    memo: dict[Any, str] = {}
    lines = []
    for row in rows:
        fields = []
        for column, value in enumerate(row):
            if column in _DISTINCT:
                fields.append(_copy_value(value))
                continue
            text = memo.get(value)
            if text is None:
                text = memo[value] = _copy_value(value)
            fields.append(text)
        lines.append("\t".join(fields))
    lines.append("")
    return "\n".join(lines).encode("utf-8")


def write_encoded(store: Store, encoded: EncodedVerdicts) -> None:
    """Write one batch from ``encode_verdicts`` in one transaction, keyed like
    ``Store.record_verdict``: a new key adds a row, a known one only moves its
    ``judged_at`` forward. PostgreSQL gets the batch through COPY into a temporary table
    and one ``INSERT ... SELECT ... ON CONFLICT``; SQLite one prepared upsert per row."""
    if not encoded:
        return
    with translate_errors(store.engine.url), store.engine.begin() as connection:
        if isinstance(encoded, list):
            connection.exec_driver_sql(_sqlite_insert(), encoded)
            return
        import psycopg

        driver = connection.connection.driver_connection
        if not isinstance(driver, psycopg.Connection):  # pragma: no cover - other drivers
            raise StorageError(f"bulk verdict writes need psycopg, not {type(driver)}")
        try:
            with driver.cursor() as cursor:
                cursor.execute(_STAGING_DDL)
                with cursor.copy(f"COPY {_STAGING} ({_COLUMN_LIST}) FROM STDIN") as copy:
                    copy.write(encoded)
                cursor.execute(_pg_upsert())
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(
                f"cannot use database {safe_url(store.engine.url)}: {exc}",
                url=safe_url(store.engine.url),
            ) from exc


def _json_text(value: Any) -> Any:
    return value if value is None or isinstance(value, str) \
        else json.dumps(value, ensure_ascii=False)


def record_verdicts_bulk(
    store: Store, rows: Sequence[dict[str, Any]], batch: int = WRITE_BATCH
) -> int:
    """Write verdict rows in batches, one transaction each; returns ``len(rows)``.

    Each row holds the ``verdicts`` columns: ``submission_id``, ``decision``, ``matches``
    (a list of ``Evidence.to_dict()``, or that list as JSON text), ``error_code``,
    ``error_message``, ``ruleset_version`` (stored already: call ``store.save_ruleset``
    first), ``engine``, ``engine_version``, ``sha256``, ``timings`` (a dict or JSON
    text), ``created_at``, ``judged_at`` and, optionally, ``industry``. Idempotent like
    ``Store.record_verdict``: the same key again only moves ``judged_at`` forward, so
    writing rows twice adds nothing.
    """
    for start in range(0, len(rows), batch):
        tuples = [
            tuple(_json_text(row[c]) if c in _JSON_COLUMNS
                  else row.get(c) if c in _OPTIONAL_COLUMNS else row[c] for c in _COLUMNS)
            for row in rows[start : start + batch]
        ]
        write_encoded(store, encode_verdicts(store.backend, tuples))
    return len(rows)


__all__ = [
    "READ_CHUNK",
    "WRITE_BATCH",
    "CurrentWithOcr",
    "EncodedVerdicts",
    "StaleVerdict",
    "count_current_with_ocr",
    "current_with_ocr",
    "encode_verdicts",
    "record_verdicts_bulk",
    "stale_verdicts",
    "write_encoded",
]
