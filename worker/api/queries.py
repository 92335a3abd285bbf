"""Dashboard reads the ``Store`` has no method for: filtered, paginated verdicts and counts.

Every filter is SQL, so a page or a count costs one indexed query whatever the number of
verdicts. The category and rule filters look inside the JSON evidence: on PostgreSQL
with JSONB containment (``matches @> '[{"category": "medical"}]'``), which the GIN index
``ix_verdicts_matches`` serves; on SQLite with ``json_each``. Counts by category count
each verdict once per distinct category among its matches.

Pagination is keyset pagination on the verdict id, newest first. Verdict ids only grow
and a verdict row keeps its id for life (a re-judgement with the same rule set and engine
moves ``judged_at``, never the id), so a page boundary "ids below N" means the same thing
whatever is inserted meanwhile: new verdicts land above every cursor already handed out
and never shift later pages (no duplicates, no skipped rows). ``judged_at`` would not do:
it changes when a verdict is produced again.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Numeric,
    Select,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, aliased

from rules.schema import Decision
from worker.db import Store, StoredVerdict
from worker.db.migrate import translate_errors
from worker.db.models import Claim, OcrResult, ReviewRow, Submission, VerdictRow, utcnow
from worker.db.store import effective_decision, is_current_verdict, is_reviewed, with_reviews

#: Cursor format marker (lets the format change later without misreading old cursors).
CURSOR_PREFIX = "v1:"
#: Largest verdict id a cursor may name (a signed 64-bit integer, as both backends keep).
MAX_CURSOR_ID = 2**63 - 1
#: The largest verdict id each backend's column holds (PostgreSQL ``integer``, SQLite's
#: 64-bit rowid); a cursor above it bounds nothing.
LARGEST_ID = {"postgresql": 2**31 - 1, "sqlite": 2**63 - 1}
#: Longest cursor accepted (a cursor of this API is about 30 characters).
MAX_CURSOR_LENGTH = 64
_CURSOR_ID = re.compile(r"[0-9]{1,19}")


class BadCursor(ValueError):
    """A ``cursor`` that this API did not hand out."""


def encode_cursor(verdict_id: int) -> str:
    """The opaque cursor for "verdicts older than ``verdict_id``"."""
    raw = f"{CURSOR_PREFIX}{verdict_id}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> int:
    """Inverse of ``encode_cursor``; ``BadCursor`` for anything else (too long, not
    base64, not this format, or an id past ``MAX_CURSOR_ID``)."""
    bad = BadCursor(f"{cursor[:MAX_CURSOR_LENGTH]!r} is not a cursor from this API")
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad from None
    digits = raw.removeprefix(CURSOR_PREFIX)
    if not raw.startswith(CURSOR_PREFIX) or not _CURSOR_ID.fullmatch(digits):
        raise bad
    value = int(digits)
    if value > MAX_CURSOR_ID:
        raise bad
    return value


@dataclass(frozen=True)
class VerdictFilter:
    """What a dashboard asks for; None (or an empty tuple) means "any".

    A singular field and its plural both apply when both are given; the values of one
    plural field are alternatives (``categories=("a", "b")``: a match of either).
    """

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
    #: Keep verdicts with a match of any of these categories, rules, ad ids, industries.
    categories: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    ad_ids: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    #: Keep submissions a reviewer has (True) or has not (False) decided about.
    reviewed: bool | None = None
    #: Keep any of these effective decisions (the latest reviewer's, else the machine's).
    effective_decisions: tuple[Decision, ...] = ()
    #: Keep verdicts whose OCR text contains this (case-insensitive; ``q=``).
    text: str | None = None
    #: Keep submissions any of these reviewers has decided about.
    reviewers: tuple[str, ...] = ()
    #: Leave out submissions another reviewer than this one has an unexpired claim on.
    unclaimed_for: str | None = None
    #: Show identical images judged by the same rule set (undecided) once: the oldest.
    group_duplicates: bool = False
    #: Oldest first within priority (the submission's queue priority, 0 first); else
    #: newest first.
    oldest_first: bool = False

    def keeps(self, verdict: StoredVerdict) -> bool:
        """The evidence filters (categories and rules) applied to one verdict in Python."""
        matches = verdict.verdict.matches
        for wanted in _groups(self.category, self.categories):
            if not any(m.category in wanted for m in matches):
                return False
        return all(any(rule_matches(m.rule, wanted) for m in matches)
                   for wanted in _groups(self.rule, self.rules))

    @property
    def needs_submission(self) -> bool:
        """Whether the ad id filter needs the submissions table."""
        return self.ad_id is not None or bool(self.ad_ids)


def rule_matches(rule: str, wanted: frozenset[str]) -> bool:
    """Whether ``rule`` is one of ``wanted`` or under one of them (``absolute`` takes
    ``absolute.first``)."""
    return any(rule == w or rule.startswith(w + ".") for w in wanted)


def like_escape(value: str) -> str:
    """``value`` with LIKE's wildcards escaped (escape character ``\\``)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _groups(single: str | None, many: Sequence[str]) -> list[frozenset[str]]:
    """The alternatives each given field allows (every group must be met)."""
    groups = [] if single is None else [frozenset({single})]
    return [*groups, frozenset(many)] if many else groups


def _has_match(field: str, values: frozenset[str], backend: str) -> ColumnElement[bool]:
    """The verdict has a match whose ``field`` is one of ``values``."""
    ordered = sorted(values)
    if backend == "postgresql":
        document = type_coerce(VerdictRow.matches, JSONB)
        return or_(*(document.contains([{field: value}]) for value in ordered))
    each = func.json_each(VerdictRow.matches).table_valued("value").alias("match")
    return exists(
        select(literal(1)).select_from(each)
        .where(func.json_extract(each.c.value, f"$.{field}").in_(ordered))
    )


def _has_rule(values: frozenset[str], backend: str) -> ColumnElement[bool]:
    """The verdict has a match whose rule is one of ``values`` or under one of them."""
    ordered = sorted(values)
    if backend == "postgresql":
        each = func.jsonb_array_elements(type_coerce(VerdictRow.matches, JSONB)) \
            .table_valued("value").alias("match")
        rule: ColumnElement[Any] = each.c.value.op("->>")(literal("rule"))
    else:
        each = func.json_each(VerdictRow.matches).table_valued("value").alias("match")
        rule = func.json_extract(each.c.value, "$.rule")
    wanted = or_(*(or_(rule == v, rule.like(like_escape(v) + ".%", escape="\\"))
                   for v in ordered))
    return exists(select(literal(1)).select_from(each).where(wanted))


def has_text(text: str, backend: str) -> ColumnElement[bool]:
    """The verdict's OCR text (the engine version that judged it) contains ``text``,
    case-insensitively; PostgreSQL's trigram index serves the ``ILIKE``."""
    pattern = "%" + like_escape(text) + "%"
    stored = OcrResult.text.ilike(pattern, escape="\\") if backend == "postgresql" \
        else func.lower(OcrResult.text).like(pattern.lower(), escape="\\")
    return exists().where(OcrResult.sha256 == VerdictRow.sha256,
                          OcrResult.engine == VerdictRow.engine,
                          OcrResult.engine_version == VerdictRow.engine_version,
                          stored).correlate(VerdictRow)


def claimed_by_another(reviewer: str) -> ColumnElement[bool]:
    """Another reviewer than ``reviewer`` holds an unexpired claim on the submission."""
    return exists().where(Claim.submission_id == VerdictRow.submission_id,
                          Claim.reviewer != reviewer,
                          Claim.expires_at > utcnow()).correlate(VerdictRow)


def has_older_duplicate() -> ColumnElement[bool]:
    """An older undecided current verdict judged the same image with the same rule set."""
    other = aliased(VerdictRow)
    newer = aliased(VerdictRow)
    return exists().where(
        other.sha256 == VerdictRow.sha256,
        other.ruleset_version == VerdictRow.ruleset_version,
        other.id < VerdictRow.id,
        ~exists().where(newer.submission_id == other.submission_id,
                        or_(newer.judged_at > other.judged_at,
                            and_(newer.judged_at == other.judged_at, newer.id > other.id))),
        ~exists().where(ReviewRow.submission_id == other.submission_id),
    ).correlate(VerdictRow)


def priority(backend: str) -> ColumnElement[Any]:
    """The submission's queue priority (0-9, 0 first; 0 when it has none)."""
    if backend == "postgresql":
        document = type_coerce(Submission.meta, JSONB)
        value = document.op("->")(literal("priority"))
        number = cast(document.op("->>")(literal("priority")), Numeric)
        return case((func.jsonb_typeof(value) == "number", number), else_=0)
    kind = func.json_type(Submission.meta, "$.priority")
    return case((kind.in_(["integer", "real"]),
                 func.json_extract(Submission.meta, "$.priority")), else_=0)


def conditions(where: VerdictFilter, backend: str) -> list[ColumnElement[bool]]:
    """The SQL conditions of ``where`` on ``verdicts`` (and ``submissions`` for ad ids),
    the current-verdict condition first."""
    found: list[ColumnElement[bool]] = [is_current_verdict()]
    if where.decision is not None:
        found.append(VerdictRow.decision == where.decision.value)
    if where.decisions:
        found.append(VerdictRow.decision.in_(sorted({d.value for d in where.decisions})))
    for group in _groups(where.ad_id, where.ad_ids):
        found.append(Submission.ad_id.in_(sorted(group)))
    for group in _groups(where.industry, where.industries):
        found.append(VerdictRow.industry.in_(sorted(group)))
    if where.since is not None:
        found.append(VerdictRow.judged_at >= where.since)
    if where.until is not None:
        found.append(VerdictRow.judged_at < where.until)
    for group in _groups(where.category, where.categories):
        found.append(_has_match("category", group, backend))
    for group in _groups(where.rule, where.rules):
        found.append(_has_rule(group, backend))
    if where.reviewed is not None:
        found.append(is_reviewed() if where.reviewed else ~is_reviewed())
    if where.effective_decisions:
        found.append(effective_decision().in_(
            sorted({d.value for d in where.effective_decisions})))
    if where.text:
        found.append(has_text(where.text, backend))
    if where.reviewers:
        found.append(exists().where(ReviewRow.submission_id == VerdictRow.submission_id,
                                    ReviewRow.reviewer.in_(sorted(set(where.reviewers))))
                     .correlate(VerdictRow))
    if where.unclaimed_for is not None:
        found.append(~claimed_by_another(where.unclaimed_for))
    if where.group_duplicates:
        found.append(or_(VerdictRow.sha256.is_(None), ~has_older_duplicate()))
    return found


def _current(where: VerdictFilter, backend: str) -> Select[VerdictRow, Submission]:
    return (
        select(VerdictRow, Submission)
        .join(Submission, Submission.id == VerdictRow.submission_id)
        .where(*conditions(where, backend))
    )


def list_verdicts(
    store: Store, where: VerdictFilter, limit: int, before: int | None = None
) -> tuple[list[StoredVerdict], int | None]:
    """Up to ``limit`` current verdicts with ids below ``before``, newest first, and the
    id to continue below (None on the last page)."""
    query = _current(where, store.backend)
    if before is not None and before <= LARGEST_ID[store.backend]:
        query = query.where(VerdictRow.id < before)  # (above every possible id: no bound)
    query = query.order_by(VerdictRow.id.desc()).limit(limit + 1)
    with translate_errors(store.engine.url), Session(store.engine) as session:
        found = [StoredVerdict.from_rows(row, sub) for row, sub in session.execute(query)]
        found = with_reviews(session, found)
    if len(found) > limit:
        return found[:limit], found[limit - 1].id
    return found, None


def order_columns(where: VerdictFilter, backend: str) -> list[ColumnElement[Any]]:
    """The columns a console list is sorted on, ascending, the last one unique: (priority,
    id) oldest first within priority, else (-id) newest first."""
    if where.oldest_first:
        return [priority(backend), VerdictRow.id.expression]
    return [-VerdictRow.id]


def sort_key(store: Store, where: VerdictFilter, verdict_id: int) -> tuple[Any, ...] | None:
    """The values of ``order_columns`` for one verdict (None when it is gone)."""
    columns = order_columns(where, store.backend)
    query = (select(*columns).select_from(VerdictRow)
             .join(Submission, Submission.id == VerdictRow.submission_id)
             .where(VerdictRow.id == verdict_id))
    with translate_errors(store.engine.url), Session(store.engine) as session:
        row = session.execute(query).first()
    return None if row is None else tuple(row)


def ordered_page(store: Store, where: VerdictFilter, limit: int,
                 after: tuple[Any, ...] | None = None
                 ) -> tuple[list[StoredVerdict], tuple[Any, ...] | None]:
    """Up to ``limit`` current verdicts in the console's order (``order_columns``),
    those after the sort key ``after``; and the key to continue after (None at the
    end)."""
    columns = order_columns(where, store.backend)
    query = _current(where, store.backend).add_columns(
        *(c.label(f"sort_{n}") for n, c in enumerate(columns)))
    if after is not None:
        query = query.where(tuple_(*columns) > tuple_(*after))
    query = query.order_by(*columns).limit(limit + 1)
    with translate_errors(store.engine.url), Session(store.engine) as session:
        rows = session.execute(query).all()
        found = with_reviews(session, [StoredVerdict.from_rows(r[0], r[1]) for r in rows])
    if len(rows) > limit:
        return found[:limit], tuple(rows[limit - 1][2:])
    return found, None


def duplicate_counts(store: Store, verdicts: Sequence[StoredVerdict]) -> dict[int, int]:
    """For each verdict, how many undecided current verdicts (itself included) judged the
    same image with the same rule set."""
    keys = {(v.sha256, v.verdict.ruleset) for v in verdicts if v.sha256 is not None}
    if not keys:
        return {}
    hashes = sorted({sha for sha, _ in keys})
    query = (select(VerdictRow.sha256, VerdictRow.ruleset_version, func.count())
             .where(is_current_verdict(), ~is_reviewed(), VerdictRow.sha256.in_(hashes))
             .group_by(VerdictRow.sha256, VerdictRow.ruleset_version))
    with translate_errors(store.engine.url), Session(store.engine) as session:
        counts = {(sha, rules): int(n) for sha, rules, n in session.execute(query)}
    return {v.id: counts.get((v.sha256, v.verdict.ruleset), 1) for v in verdicts
            if v.sha256 is not None}


#: Most rows one CSV export holds.
CSV_LIMIT = 100_000
#: The CSV export's columns.
CSV_COLUMNS = ("submission", "ad_id", "decision", "effective_decision", "reviewed",
               "reviewer", "review_decision", "review_note", "reviewed_at", "rules",
               "matched_text", "ruleset", "engine", "industry", "error", "judged", "source")


def verdicts_csv(store: Store, where: VerdictFilter, before: int | None = None) -> bytes:
    """The verdicts ``where`` keeps, newest first, as UTF-8 CSV (with a byte-order mark,
    so that spreadsheet programs read the Chinese text right)."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)

    def cell(value: str) -> str:  # no formulas for spreadsheet programs
        return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value

    found, _ = list_verdicts(store, where, CSV_LIMIT, before)
    for item in found:
        review = item.review
        error = item.verdict.error
        writer.writerow([cell(str(v)) for v in (
            item.submission, item.ad_id or "", item.decision.value,
            item.effective_decision.value, "true" if item.reviewed else "false",
            "" if review is None else review.reviewer,
            "" if review is None else review.decision.value,
            "" if review is None else review.note or "",
            "" if review is None else review.created.isoformat(),
            " ".join(dict.fromkeys(m.rule for m in item.verdict.matches)),
            " | ".join(m.text for m in item.verdict.matches),
            item.verdict.ruleset, item.verdict.engine, item.verdict.industry or "",
            "" if error is None else error.code.value, item.judged.isoformat(), item.source,
        )])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _day(backend: str) -> ColumnElement[str]:
    """The UTC calendar day of ``judged_at`` as ``YYYY-MM-DD``."""
    if backend == "postgresql":
        return func.to_char(func.timezone("UTC", VerdictRow.judged_at), "YYYY-MM-DD")
    return func.substr(VerdictRow.judged_at, 1, 10)  # stored as UTC text, date first


def _per_category(base: Callable[..., Select[Any]], backend: str) -> Select[Any]:
    """Verdicts per category among their matches, each verdict once per category."""
    if backend == "postgresql":
        each = func.jsonb_array_elements(type_coerce(VerdictRow.matches, JSONB)) \
            .table_valued("value").alias("match")
        categories = (select(each.c.value.op("->>")(literal("category")).label("category"))
                      .distinct().lateral("categories"))
        return (base(categories.c.category, func.count()).join(categories, true())
                .group_by(categories.c.category))
    each = func.json_each(VerdictRow.matches).table_valued("value").alias("match")
    pairs = (base(VerdictRow.id, func.json_extract(each.c.value, "$.category")
                  .label("category")).join(each, true()).distinct().subquery())
    return select(pairs.c.category, func.count()).group_by(pairs.c.category)


def verdict_stats(store: Store, where: VerdictFilter, *, reviewers: bool = True
                  ) -> dict[str, Any]:
    """Counts of current verdicts by machine and effective decision, matched category and
    UTC day, and how many (and what share) a reviewer has decided about; ``reviewers``
    is ``reviewer_stats`` over the decisions made within the filter's times (None when
    not asked for: the console's lists do not need it)."""
    backend = store.backend
    found = conditions(where, backend)

    def base(*columns: Any) -> Select[Any]:
        query = select(*columns).select_from(VerdictRow)
        if where.needs_submission:
            query = query.join(Submission, Submission.id == VerdictRow.submission_id)
        return query.where(*found)

    day = _day(backend).label("day")
    per_day = base(day, VerdictRow.decision, func.count()).group_by(day, VerdictRow.decision)
    per_category = _per_category(base, backend)
    effective = effective_decision().label("effective")
    reviewed = is_reviewed().label("reviewed")
    per_effective = base(effective, reviewed, func.count()).group_by(effective, reviewed)
    with translate_errors(store.engine.url), Session(store.engine) as session, \
            session.begin():
        day_rows = session.execute(per_day).all()
        category_rows = session.execute(per_category).all()
        effective_rows = session.execute(per_effective).all()
    decisions = [d.value for d in Decision]
    by_day: dict[str, dict[str, int]] = {}
    by_decision = dict.fromkeys(decisions, 0)
    for when, decision, count in day_rows:
        by_day.setdefault(str(when), dict.fromkeys(decisions, 0))[decision] += int(count)
        by_decision[decision] += int(count)
    by_effective = dict.fromkeys(decisions, 0)
    reviewed_count = 0
    for decision, was_reviewed, count in effective_rows:
        by_effective[decision] += int(count)
        reviewed_count += int(count) if was_reviewed else 0
    total = sum(by_decision.values())
    return {
        "total": total,
        "by_decision": by_decision,
        "by_effective_decision": by_effective,
        "reviewed": reviewed_count,
        "reviewed_share": round(reviewed_count / total, 4) if total else 0.0,
        "by_category": {str(c): int(n) for c, n in sorted(category_rows, key=_by_name)
                        if c is not None},
        "by_day": [{"day": when, **counts} for when, counts in sorted(by_day.items())],
        "reviewers": reviewer_stats(store, where.since, where.until) if reviewers else None,
    }


def _quantile(ordered: Sequence[float], share: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1)


def reviewer_stats(store: Store, since: datetime | None = None,
                   until: datetime | None = None) -> dict[str, Any]:
    """Reviewer throughput over the decisions made in [``since``, ``until``): decisions
    per reviewer and per UTC hour, and seconds from the verdict to the decision."""
    query = (select(ReviewRow.reviewer, ReviewRow.action, ReviewRow.created_at,
                    VerdictRow.created_at)
             .join(VerdictRow, VerdictRow.id == ReviewRow.verdict_id))
    if since is not None:
        query = query.where(ReviewRow.created_at >= since)
    if until is not None:
        query = query.where(ReviewRow.created_at < until)
    with translate_errors(store.engine.url), Session(store.engine) as session:
        rows = session.execute(query).all()
    people: dict[str, dict[str, Any]] = {}
    waits: dict[str, list[float]] = {}
    hours: dict[str, int] = {}
    every: list[float] = []
    for reviewer, action, decided, judged in rows:
        person = people.setdefault(reviewer, {"decisions": 0, "confirmed": 0,
                                              "overridden": 0})
        person["decisions"] += 1
        person["confirmed" if action == "confirm" else "overridden"] += 1
        wait = max(0.0, (decided - judged).total_seconds())
        waits.setdefault(reviewer, []).append(wait)
        every.append(wait)
        hour = decided.strftime("%Y-%m-%dT%H:00:00+00:00")
        hours[hour] = hours.get(hour, 0) + 1
    for reviewer, person in people.items():
        ordered = sorted(waits[reviewer])
        person["median_seconds_to_decision"] = _quantile(ordered, 0.5)
    every.sort()
    return {
        "decisions": len(rows),
        "by_reviewer": dict(sorted(people.items())),
        "by_hour": [{"hour": h, "decisions": n} for h, n in sorted(hours.items())],
        "seconds_to_decision": {"median": _quantile(every, 0.5), "p90": _quantile(every, 0.9),
                                "mean": round(sum(every) / len(every), 1) if every else None},
    }


def _by_name(row: Any) -> str:
    return str(row[0])


__all__ = [
    "MAX_CURSOR_ID",
    "BadCursor",
    "VerdictFilter",
    "conditions",
    "decode_cursor",
    "duplicate_counts",
    "encode_cursor",
    "list_verdicts",
    "order_columns",
    "ordered_page",
    "reviewer_stats",
    "sort_key",
    "verdict_stats",
    "verdicts_csv",
]
