"""``adreview rescan``: judge stored OCR text again with the current rules, no OCR.

Every submission whose current verdict was made with another rule set version is judged
again from the OCR lines stored for that verdict's image and engine version, and the new
verdict is added to its history (``record_verdicts_bulk``, keyed like
``Store.record_verdict``). Submissions already judged with the current rule set are not
read at all, so a rescan that was interrupted continues where it stopped when run again,
and a finished one does nothing the second time. Error verdicts (no text to judge) and
verdicts whose OCR is not stored are left alone, except ``unknown_industry`` errors.

Each ad is judged as the industry its submission declared. One the rule set does not
declare gives an ``unknown_industry`` error verdict (kept for a later rule set to judge).

Stale verdicts are read in chunks of ``JUDGE_CHUNK`` (each chunk its own short read),
judged in ``jobs`` processes (in-process for one), which also encode the new rows for
the backend, and each chunk is written in one transaction (COPY and one upsert on
PostgreSQL). Ads whose stored OCR text is identical are judged once per process.
"""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rules import RuleSet, load_ruleset
from rules.engine import UnknownIndustry
from rules.schema import Decision
from worker.db import Store
from worker.db.bulk import (
    EncodedVerdicts,
    StaleVerdict,
    count_current_with_ocr,
    encode_verdicts,
    stale_verdicts,
    write_encoded,
)
from worker.db.records import lines_from_json
from worker.errors import ConfigError, ErrorCode
from worker.pipeline import Judged, judge_lines

#: Stored ads read, handed to a judging process and written at a time.
JUDGE_CHUNK = 2000
#: Distinct OCR texts whose judgement a judging process remembers (ads that share an
#: image, or whose images read the same, are judged once).
JUDGED_CACHE = 20_000

#: The ``timings`` stored with a rescan's verdicts: no OCR ran.
RESCAN_TIMINGS = json.dumps({"ocr_cached": 1.0})


def judge_stored(lines: str, ruleset: RuleSet, min_confidence: float,
                 industry: str | None = None) -> Judged:
    """Judge stored OCR lines (JSON text, as stored) with ``ruleset``, as an ad of
    ``industry``; raises ``UnknownIndustry`` when the rule set does not declare it."""
    return judge_lines(lines_from_json(json.loads(lines)), ruleset, min_confidence, industry)


@dataclass
class _Judge:
    """Judges chunks of stale verdicts into encoded verdict rows (in a judging process,
    or in the rescanning one for ``jobs=1``)."""

    ruleset: RuleSet
    min_confidence: float
    backend: str
    #: (stored lines as JSON text, industry) -> (decision, matches as JSON text, error
    #: code, error message)
    judged: dict[tuple[str, str | None], tuple[str, str, str | None, str | None]] = field(
        default_factory=dict)

    def __call__(self, rows: list[StaleVerdict]) -> _Batch:
        now = datetime.now(UTC)
        version = self.ruleset.version
        judged = self.judged
        out = []
        before: Counter[str] = Counter()
        after: Counter[str] = Counter()
        changed = 0
        for _id, submission, old, engine, engine_version, sha256, lines, industry in rows:
            known = judged.get((lines, industry))
            if known is None:
                known = self._judge(lines, industry)
                if len(judged) >= JUDGED_CACHE:
                    judged.clear()
                judged[(lines, industry)] = known
            new, matches, code, message = known
            before[old] += 1
            after[new] += 1
            changed += new != old
            out.append((submission, new, matches, code, message, version, engine,
                        engine_version, sha256, RESCAN_TIMINGS, now, now, industry))
        return _Batch(encode_verdicts(self.backend, out), len(rows), before, after, changed)

    def _judge(self, lines: str, industry: str | None
               ) -> tuple[str, str, str | None, str | None]:
        try:
            verdict = judge_stored(lines, self.ruleset, self.min_confidence, industry)
        except UnknownIndustry as exc:
            return Decision.ERROR.value, "[]", ErrorCode.UNKNOWN_INDUSTRY.value, str(exc)
        return (verdict.decision.value,
                json.dumps([e.to_dict() for e in verdict.evidence], ensure_ascii=False),
                None, None)


@dataclass
class _Batch:
    """A judged chunk: its verdict rows encoded for writing, and its counts."""

    rows: EncodedVerdicts
    judged: int
    before: Counter[str]
    after: Counter[str]
    changed: int


_child: _Judge | None = None


def _init_child(folder: str, version: str, min_confidence: float, backend: str) -> None:
    global _child
    ruleset = load_ruleset(folder)
    if ruleset.version != version:
        raise ConfigError(f"the rules in {folder} changed during the rescan "
                          f"({version} became {ruleset.version}); run it again")
    _child = _Judge(ruleset, min_confidence, backend)


def _judge_in_child(rows: list[StaleVerdict]) -> _Batch:
    if _child is None:  # pragma: no cover - the initializer always runs first
        raise ConfigError("judging process started without its rule set")
    return _child(rows)


@dataclass
class RescanSummary:
    """What a rescan did: ads judged, verdicts written, decisions before and after."""

    ruleset: str
    judged: int = 0
    written: int = 0
    changed: int = 0
    before: Counter[str] = field(default_factory=Counter)
    after: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Ads judged per second."""
        return self.judged / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """As JSON."""
        return {"ruleset": self.ruleset, "judged": self.judged, "written": self.written,
                "changed": self.changed, "before": dict(self.before),
                "after": dict(self.after), "seconds": round(self.seconds, 3)}


def rescan(
    store: Store,
    ruleset: RuleSet,
    *,
    rules_dir: Path | None = None,
    min_confidence: float = 0.0,
    since: datetime | None = None,
    decision: Decision | str | None = None,
    jobs: int = 1,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RescanSummary:
    """Judge again every stored ad whose current verdict used another rule set version.

    ``since`` and ``decision`` filter on the current verdict (judged at or after, with
    that decision). ``jobs`` > 1 judges in that many processes, each loading the rules
    from ``rules_dir`` (which must still hold ``ruleset``). ``on_start`` gets the number
    of ads to judge, ``on_progress`` each written batch's size.
    """
    started = time.perf_counter()
    summary = RescanSummary(ruleset.version)
    store.save_ruleset(ruleset)
    if on_start is not None:
        on_start(count_current_with_ocr(store, since=since, decision=decision,
                                        not_ruleset=ruleset.version))
    chunks = stale_verdicts(store, not_ruleset=ruleset.version, since=since,
                            decision=decision, chunk=JUDGE_CHUNK)

    def write(batch: _Batch) -> None:
        write_encoded(store, batch.rows)
        summary.before.update(batch.before)
        summary.after.update(batch.after)
        summary.changed += batch.changed
        summary.judged += batch.judged
        summary.written += batch.judged
        if on_progress is not None:
            on_progress(batch.judged)

    if jobs <= 1:
        judge = _Judge(ruleset, min_confidence, store.backend)
        for part in chunks:
            write(judge(part))
    else:
        if rules_dir is None:
            raise ConfigError("judging in several processes needs the rule folder")
        with ProcessPoolExecutor(
            jobs, initializer=_init_child,
            initargs=(str(rules_dir), ruleset.version, min_confidence, store.backend),
        ) as pool:
            pending: deque[Future[_Batch]] = deque()
            for part in chunks:
                pending.append(pool.submit(_judge_in_child, part))
                if len(pending) > 2 * jobs:
                    write(pending.popleft().result())
            while pending:
                write(pending.popleft().result())
    summary.seconds = time.perf_counter() - started
    return summary


def default_jobs() -> int:
    """Judging processes by default: the cores this process may use."""
    from models.rapidocr import available_cores

    return available_cores()


__all__ = ["JUDGE_CHUNK", "RescanSummary", "default_jobs", "judge_stored", "rescan"]
