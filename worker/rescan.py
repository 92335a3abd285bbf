"""``adreview rescan``: judge stored OCR text again with the current rules, no OCR.

Every submission whose current verdict was made with another rule set version is judged
again from the OCR lines stored for that verdict's image and engine version, and the new
verdict is added to its history (``record_verdicts_bulk``, keyed like
``Store.record_verdict``). Submissions already judged with the current rule set are not
read at all, so a rescan that was interrupted continues where it stopped when run again,
and a finished one does nothing the second time. Error verdicts (no text to judge) and
verdicts whose OCR is not stored are left alone.

Rows are streamed from the database in chunks, judged in ``jobs`` processes (in-process
for one), and written in multi-row inserts of ``WRITE_BATCH``, one transaction each.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rules import RuleSet, load_ruleset
from rules.schema import Decision
from worker.db import Store
from worker.db.bulk import (
    CurrentWithOcr,
    count_current_with_ocr,
    current_with_ocr,
    record_verdicts_bulk,
)
from worker.db.records import lines_from_json
from worker.errors import ConfigError
from worker.pipeline import Judged, judge_lines

#: Stored ads handed to a judging process at a time.
JUDGE_CHUNK = 1000

#: What a judging process needs of one stored ad: (submission, sha256, engine,
#: engine version, OCR lines as JSON text).
Job = tuple[str, str, str, str, str]
#: What it gives back: (submission, decision, matches as JSON text of
#: ``Evidence.to_dict()``s, ready to store).
Outcome = tuple[str, str, str]
#: The ``timings`` stored with a rescan's verdicts: no OCR ran.
RESCAN_TIMINGS = json.dumps({"ocr_cached": 1.0})


def judge_stored(lines: str, ruleset: RuleSet, min_confidence: float) -> Judged:
    """Judge stored OCR lines (JSON text, as stored) with ``ruleset``."""
    return judge_lines(lines_from_json(json.loads(lines)), ruleset, min_confidence)


def _judge_jobs(jobs: Iterable[Job], ruleset: RuleSet, min_confidence: float) -> list[Outcome]:
    outcomes = []
    for submission, _sha, _engine, _version, lines in jobs:
        judged = judge_stored(lines, ruleset, min_confidence)
        matches = json.dumps([e.to_dict() for e in judged.evidence], ensure_ascii=False)
        outcomes.append((submission, judged.decision.value, matches))
    return outcomes


_child: tuple[RuleSet, float] | None = None


def _init_child(folder: str, version: str, min_confidence: float) -> None:
    global _child
    ruleset = load_ruleset(folder)
    if ruleset.version != version:
        raise ConfigError(f"the rules in {folder} changed during the rescan "
                          f"({version} became {ruleset.version}); run it again")
    _child = (ruleset, min_confidence)


def _judge_in_child(jobs: list[Job]) -> list[Outcome]:
    if _child is None:  # pragma: no cover - the initializer always runs first
        raise ConfigError("judging process started without its rule set")
    return _judge_jobs(jobs, *_child)


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


def _chunks(store: Store, ruleset: RuleSet, since: datetime | None,
            decision: Decision | str | None) -> Iterator[list[CurrentWithOcr]]:
    yield from current_with_ocr(store, since=since, decision=decision,
                                 not_ruleset=ruleset.version, chunk=JUDGE_CHUNK)


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

    def write(part: list[CurrentWithOcr], outcomes: list[Outcome]) -> None:
        now = datetime.now(UTC)
        rows = []
        for item, (submission, new, matches) in zip(part, outcomes, strict=True):
            old = item.decision.value
            summary.before[old] += 1
            summary.after[new] += 1
            summary.changed += new != old
            rows.append({
                "submission_id": submission, "decision": new, "matches": matches,
                "error_code": None, "error_message": None,
                "ruleset_version": ruleset.version, "engine": item.engine,
                "engine_version": item.engine_version, "sha256": item.sha256,
                "timings": RESCAN_TIMINGS, "created_at": now, "judged_at": now,
            })
        summary.written += record_verdicts_bulk(store, rows)
        summary.judged += len(part)
        if on_progress is not None:
            on_progress(len(part))

    def as_jobs(part: list[CurrentWithOcr]) -> list[Job]:
        return [(i.submission, i.sha256, i.engine, i.engine_version, i.lines) for i in part]

    if jobs <= 1:
        for part in _chunks(store, ruleset, since, decision):
            write(part, _judge_jobs(as_jobs(part), ruleset, min_confidence))
    else:
        if rules_dir is None:
            raise ConfigError("judging in several processes needs the rule folder")
        with ProcessPoolExecutor(
            jobs, initializer=_init_child,
            initargs=(str(rules_dir), ruleset.version, min_confidence),
        ) as pool:
            pending: list[tuple[list[CurrentWithOcr], Future[list[Outcome]]]] = []
            for part in _chunks(store, ruleset, since, decision):
                pending.append((part, pool.submit(_judge_in_child, as_jobs(part))))
                if len(pending) > 2 * jobs:
                    done, future = pending.pop(0)
                    write(done, future.result())
            for done, future in pending:
                write(done, future.result())
    summary.seconds = time.perf_counter() - started
    return summary


def default_jobs() -> int:
    """Judging processes by default: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


__all__ = ["JUDGE_CHUNK", "RescanSummary", "default_jobs", "judge_stored", "rescan"]
