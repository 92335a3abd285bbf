"""Bulk paths for re-judging stored ads: stream current verdicts with their OCR, write many.

``current_with_ocr(store, ...)`` streams, in chunks, every submission's current verdict
together with the OCR lines it was judged from (the stored result of the verdict's image,
engine and engine version); error verdicts and verdicts whose OCR is not stored are left
out, since there is no text to judge again. The OCR lines and matches come back as raw
JSON text, so that the (expensive) parsing happens where the judging does.

``record_verdicts_bulk(store, rows)`` writes many verdicts with one multi-row
``INSERT ... ON CONFLICT`` per batch, keyed exactly as ``Store.record_verdict``:
(submission, rule set version, engine, engine version). A new key adds a row to the
history; a known one only moves its ``judged_at`` forward, making it current again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, String, Text, and_, cast, exists, func, or_, select
from sqlalchemy.orm import aliased

from rules.schema import Decision
from worker.db.migrate import translate_errors
from worker.db.models import OcrResult, Submission, VerdictRow
from worker.db.store import Store

#: Rows fetched from the database per round trip when streaming.
READ_CHUNK = 2000
#: Verdict rows per multi-row INSERT.
WRITE_BATCH = 1000


@dataclass(frozen=True)
class CurrentWithOcr:
    """A submission's current verdict, with the stored OCR it was judged from.

    ``lines`` is the stored OCR as JSON text (``lines_to_json`` form); ``matches`` the
    verdict's evidence as JSON text, or None when it was not asked for.
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


def _current_query(
    *,
    since: datetime | None,
    decision: Decision | None,
    not_ruleset: str | None,
    with_matches: bool,
    limit: int | None,
) -> Select[Any]:
    newer = aliased(VerdictRow)
    current = ~exists().where(
        newer.submission_id == VerdictRow.submission_id,
        or_(
            newer.judged_at > VerdictRow.judged_at,
            and_(newer.judged_at == VerdictRow.judged_at, newer.id > VerdictRow.id),
        ),
    )
    columns: list[Any] = [
        VerdictRow.id, VerdictRow.submission_id, Submission.source, Submission.ad_id,
        VerdictRow.decision, VerdictRow.ruleset_version, VerdictRow.engine,
        VerdictRow.engine_version, VerdictRow.sha256, VerdictRow.judged_at,
        cast(OcrResult.lines, Text),
        cast(VerdictRow.matches, Text) if with_matches else cast(None, String),
    ]
    query = (
        select(*columns)
        .join(Submission, Submission.id == VerdictRow.submission_id)
        .join(
            OcrResult,
            and_(
                OcrResult.sha256 == VerdictRow.sha256,
                OcrResult.engine == VerdictRow.engine,
                OcrResult.engine_version == VerdictRow.engine_version,
            ),
        )
        .where(current, VerdictRow.decision != Decision.ERROR.value)
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
) -> Iterator[list[CurrentWithOcr]]:
    """Current verdicts with their stored OCR, in chunks of up to ``chunk``.

    ``since`` keeps verdicts judged at or after it, ``decision`` those with that decision,
    ``not_ruleset`` those made with another rule set version (what a rescan still has to
    do); ``limit`` takes the newest ``limit`` only. Error verdicts are never included.

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
        for part in result.partitions():
            yield [
                CurrentWithOcr(row[0], row[1], row[2], row[3], Decision(row[4]), row[5], row[6],
                               row[7], row[8], row[9], row[10], row[11])
                for row in part
            ]


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
            "judged_at")
_JSON_COLUMNS = frozenset({"matches", "timings"})
_KEY = "submission_id, ruleset_version, engine, engine_version"


def _insert_sql(backend: str) -> str:
    """The multi-row upsert, in the driver's own parameter style (no per-row SQLAlchemy
    processing: that costs more than the judging)."""
    if backend == "sqlite":
        values = ", ".join("?" for _ in _COLUMNS)
    else:
        values = ", ".join("%s::jsonb" if c in _JSON_COLUMNS else "%s" for c in _COLUMNS)
    return (  # built from the constants above only, never from data
        f"INSERT INTO verdicts ({', '.join(_COLUMNS)}) VALUES ({values}) "  # noqa: S608
        f"ON CONFLICT ({_KEY}) DO UPDATE SET judged_at = excluded.judged_at "
        "WHERE verdicts.judged_at < excluded.judged_at"
    )


def _bind(value: Any, column: str, backend: str) -> Any:
    if column in _JSON_COLUMNS:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime):
        # As UtcDateTime stores it: aware UTC on PostgreSQL, naive UTC text on SQLite.
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None).isoformat(" ", "microseconds") \
            if backend == "sqlite" else value
    return value


def record_verdicts_bulk(
    store: Store, rows: Sequence[dict[str, Any]], batch: int = WRITE_BATCH
) -> int:
    """Write verdict rows in batches, one transaction each; returns ``len(rows)``.

    Each row holds the ``verdicts`` columns: ``submission_id``, ``decision``, ``matches``
    (a list of ``Evidence.to_dict()``, or that list as JSON text), ``error_code``,
    ``error_message``, ``ruleset_version`` (stored already: call ``store.save_ruleset``
    first), ``engine``, ``engine_version``, ``sha256``, ``timings`` (a dict or JSON
    text), ``created_at``, ``judged_at``. Idempotent like ``Store.record_verdict``: the
    same key again only moves ``judged_at`` forward, so writing rows twice adds nothing.
    """
    backend = store.backend
    sql = _insert_sql(backend)
    cache: dict[int, Any] = {}  # one conversion per shared value (e.g. a batch's time)
    for start in range(0, len(rows), batch):
        params = []
        for row in rows[start : start + batch]:
            values = []
            for column in _COLUMNS:
                value = row[column]
                if isinstance(value, datetime | dict):
                    key = id(value)
                    if key not in cache:
                        cache[key] = (value, _bind(value, column, backend))
                    values.append(cache[key][1])
                else:
                    values.append(_bind(value, column, backend))
            params.append(tuple(values))
        with translate_errors(store.engine.url), store.engine.begin() as connection:
            connection.exec_driver_sql(sql, params)
    return len(rows)


__all__ = [
    "READ_CHUNK",
    "WRITE_BATCH",
    "CurrentWithOcr",
    "count_current_with_ocr",
    "current_with_ocr",
    "record_verdicts_bulk",
]
