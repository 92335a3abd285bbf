"""Dashboard reads the ``Store`` has no method for: filtered, paginated verdicts and counts.

Pagination is keyset pagination on the verdict id, newest first. Verdict ids only grow
and a verdict row keeps its id for life (a re-judgement with the same rule set and engine
moves ``judged_at``, never the id), so a page boundary "ids below N" means the same thing
whatever is inserted meanwhile: new verdicts land above every cursor already handed out
and never shift later pages (no duplicates, no skipped rows). ``judged_at`` would not do:
it changes when a verdict is produced again.

The category and rule filters look inside the JSON evidence, which is done in Python on
batches of rows (portable between SQLite and PostgreSQL); everything else is SQL.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from rules.schema import Decision
from worker.db import Store, StoredVerdict
from worker.db.migrate import translate_errors
from worker.db.models import Submission, VerdictRow
from worker.db.store import current_verdicts_query

#: Rows read per batch while filling a page.
BATCH = 200
#: Cursor format marker (lets the format change later without misreading old cursors).
CURSOR_PREFIX = "v1:"


class BadCursor(ValueError):
    """A ``cursor`` that this API did not hand out."""


def encode_cursor(verdict_id: int) -> str:
    """The opaque cursor for "verdicts older than ``verdict_id``"."""
    raw = f"{CURSOR_PREFIX}{verdict_id}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> int:
    """Inverse of ``encode_cursor``; ``BadCursor`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor(f"{cursor!r} is not a cursor from this API") from None
    if not raw.startswith(CURSOR_PREFIX) or not raw[len(CURSOR_PREFIX):].isdigit():
        raise BadCursor(f"{cursor!r} is not a cursor from this API")
    return int(raw[len(CURSOR_PREFIX):])


@dataclass(frozen=True)
class VerdictFilter:
    """What a dashboard asks for; None means "any"."""

    decision: Decision | None = None
    category: str | None = None
    rule: str | None = None
    ad_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: Keep any of these decisions (together with ``decision`` when both are given).
    decisions: tuple[Decision, ...] = ()
    #: Keep verdicts judged as ads of this industry.
    industry: str | None = None

    def keeps(self, verdict: StoredVerdict) -> bool:
        """The JSON-side filters (category, rule)."""
        matches = verdict.verdict.matches
        if self.category is not None and not any(m.category == self.category for m in matches):
            return False
        return self.rule is None or any(m.rule == self.rule for m in matches)


def _current(where: VerdictFilter) -> Select[VerdictRow, Submission]:
    query = current_verdicts_query()
    if where.decision is not None:
        query = query.where(VerdictRow.decision == where.decision.value)
    if where.decisions:
        query = query.where(VerdictRow.decision.in_([d.value for d in where.decisions]))
    if where.ad_id is not None:
        query = query.where(Submission.ad_id == where.ad_id)
    if where.industry is not None:
        query = query.where(VerdictRow.industry == where.industry)
    if where.since is not None:
        query = query.where(VerdictRow.judged_at >= where.since)
    if where.until is not None:
        query = query.where(VerdictRow.judged_at < where.until)
    return query


def list_verdicts(
    store: Store, where: VerdictFilter, limit: int, before: int | None = None
) -> tuple[list[StoredVerdict], int | None]:
    """Up to ``limit`` current verdicts with ids below ``before``, newest first, and the
    id to continue below (None on the last page)."""
    found: list[StoredVerdict] = []
    after_batch = before
    base = _current(where)
    with translate_errors(store.engine.url), Session(store.engine) as session:
        while len(found) <= limit:
            query = base
            if after_batch is not None:
                query = query.where(VerdictRow.id < after_batch)
            rows = session.execute(query.order_by(VerdictRow.id.desc()).limit(BATCH)).all()
            for row, submission in rows:
                item = StoredVerdict.from_rows(row, submission)
                if where.keeps(item):
                    found.append(item)
            if len(rows) < BATCH:
                break
            after_batch = rows[-1][0].id
    if len(found) > limit:
        return found[:limit], found[limit - 1].id
    return found, None


def verdict_stats(store: Store, where: VerdictFilter) -> dict[str, Any]:
    """Counts of current verdicts by decision, matched category and UTC day."""
    by_decision: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    by_day: dict[str, Counter[str]] = {}
    before: int | None = None
    base = _current(where)
    with translate_errors(store.engine.url), Session(store.engine) as session:
        while True:
            query = base if before is None else base.where(VerdictRow.id < before)
            rows = session.execute(query.order_by(VerdictRow.id.desc()).limit(BATCH)).all()
            for row, submission in rows:
                item = StoredVerdict.from_rows(row, submission)
                if not where.keeps(item):
                    continue
                decision = item.decision.value
                by_decision[decision] += 1
                for category in sorted({m.category for m in item.verdict.matches}):
                    by_category[category] += 1
                day = item.judged.date().isoformat()
                by_day.setdefault(day, Counter())[decision] += 1
            if len(rows) < BATCH:
                break
            before = rows[-1][0].id
    decisions = [d.value for d in Decision]
    return {
        "total": sum(by_decision.values()),
        "by_decision": {d: by_decision[d] for d in decisions},
        "by_category": dict(sorted(by_category.items())),
        "by_day": [{"day": day, **{d: counts[d] for d in decisions}}
                   for day, counts in sorted(by_day.items())],
    }


__all__ = [
    "BadCursor",
    "VerdictFilter",
    "decode_cursor",
    "encode_cursor",
    "list_verdicts",
    "verdict_stats",
]
