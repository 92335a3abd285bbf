"""``adreview scan``: review local images in-process, in parallel, in a stable order.

The parent process walks the paths, hashes each file and looks its OCR up in the
database (an image already read by the same engine version is never read again); only
the images still unread go to a pool of worker processes, each holding one OCR engine
and one rule set for its lifetime. Every result comes back to the parent, which alone
writes to the database (one writer suits SQLite) and yields results in input order.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from models.base import OcrEngine, TextLine
from rules import RuleSet, load_ruleset
from worker.db.engine import safe_url
from worker.db.records import lines_to_json
from worker.errors import AdreviewError, ErrorCode
from worker.pipeline import review
from worker.settings import Settings
from worker.verdict import Verdict, VerdictError

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"}
)


def find_images(paths: Iterable[Path]) -> list[Path]:
    """Files named directly (whatever their suffix) and image files under folders, sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(
                    p for p in path.rglob("*")
                    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                )
            )
        else:
            found.append(path)
    return found


@dataclass
class MemoryCache:
    """An OCR cache kept in memory: seeded from the database, collecting what was read."""

    known: dict[tuple[str, str, str], list[TextLine]] = field(default_factory=dict)
    added: list[tuple[str, str, str, list[TextLine], tuple[int, int], float]] = field(
        default_factory=list
    )

    def get(self, sha256: str, engine: str, version: str) -> list[TextLine] | None:
        """Lines already known for this image and engine version."""
        return self.known.get((sha256, engine, version))

    def put(self, sha256: str, engine: str, version: str, lines: list[TextLine],
            size: tuple[int, int], seconds: float) -> None:
        """Remember freshly read lines (the parent stores them)."""
        self.known[(sha256, engine, version)] = lines
        self.added.append((sha256, engine, version, lines, size, seconds))


@dataclass(frozen=True)
class ScanResult:
    """One image's outcome: the path as given or found, and its verdict."""

    path: Path
    verdict: Verdict
    submission: str | None = None
    read: list[tuple[str, str, str, list[TextLine], tuple[int, int], float]] = field(
        default_factory=list
    )


# One engine and rule set per worker process, built lazily in the child.
_STATE: dict[str, object] = {}


def _init_worker(settings: Settings, processes: int) -> None:
    os.environ["ADREVIEW_WORKER_PROCESSES"] = str(processes)
    _STATE.clear()
    _STATE["settings"] = settings


def _worker_review(path: Path, data: bytes, industry: str | None = None) -> ScanResult:
    from models.registry import create_engine

    settings = _STATE["settings"]
    assert isinstance(settings, Settings)  # noqa: S101 - set by _init_worker
    if "engine" not in _STATE:
        _STATE["engine"] = create_engine(settings.ocr_engine, settings)
        _STATE["ruleset"] = load_ruleset(settings.rules_dir)
    engine = _STATE["engine"]
    ruleset = _STATE["ruleset"]
    cache = MemoryCache()
    verdict = review(data, engine, ruleset, settings, cache,  # type: ignore[arg-type]
                     industry)
    return ScanResult(path, verdict, read=cache.added)


class Scanner:
    """Reviews batches of local files with one engine and rule set, ``jobs`` processes wide,
    as ads of ``industry`` (None: undeclared)."""

    def __init__(self, settings: Settings, engine: OcrEngine, ruleset: RuleSet,
                 jobs: int = 1, cache: MemoryCache | None = None,
                 industry: str | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.ruleset = ruleset
        self.industry = industry
        self.jobs = max(1, jobs)
        self.cache = cache if cache is not None else MemoryCache()
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Scanner:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def _review_here(self, path: Path, data: bytes) -> ScanResult:
        cache = MemoryCache(known=self.cache.known)
        verdict = review(data, self.engine, self.ruleset, self.settings, cache, self.industry)
        return ScanResult(path, verdict, read=cache.added)

    def run(self, paths: Sequence[Path]) -> Iterator[ScanResult]:
        """Review every path; yields in input order as results become available."""
        pending: list[Future[ScanResult] | ScanResult] = []
        for path in paths:
            try:
                data = path.read_bytes()
            except OSError as exc:
                pending.append(self._unreadable(path, exc))
                continue
            sha256 = hashlib.sha256(data).hexdigest()
            cached = self.cache.get(sha256, self.engine.name, self.engine.version)
            if cached is not None or self.jobs == 1:
                pending.append(self._review_here(path, data))
            else:
                pending.append(
                    self._pool_or_start().submit(_worker_review, path, data, self.industry))
            # Yield finished results at the front of the line to keep memory bounded.
            while pending and (not isinstance(pending[0], Future) or pending[0].done()):
                yield self._resolve(pending.pop(0))
            while len(pending) > 4 * self.jobs and isinstance(pending[0], Future):
                yield self._resolve(pending.pop(0))
        for item in pending:
            yield self._resolve(item)

    def _resolve(self, item: Future[ScanResult] | ScanResult) -> ScanResult:
        result = item.result() if isinstance(item, Future) else item
        for sha256, engine, version, lines, _size, _seconds in result.read:
            self.cache.known[(sha256, engine, version)] = lines
        return result

    def _pool_or_start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs, initializer=_init_worker,
                initargs=(self.settings, self.jobs),
            )
        return self._pool

    def _unreadable(self, path: Path, exc: OSError) -> ScanResult:
        error = VerdictError(ErrorCode.FETCH_FAILED, f"cannot read {path}: {exc.strerror or exc}")
        verdict = Verdict.failed(error, ruleset=self.ruleset.version, engine=self.engine.name,
                                 engine_version=self.engine.version, sha256=None,
                                 industry=self.industry)
        return ScanResult(path, verdict)


def default_jobs() -> int:
    """All cores: OCR dominates the cost of a scan."""
    return max(1, os.cpu_count() or 1)


@dataclass
class ScanSummary:
    """What a scan did, for the closing table."""

    images: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    ocr_read: int = 0
    ocr_cached: int = 0
    seconds: float = 0.0


def run_scan(
    paths: Sequence[Path],
    settings: Settings,
    *,
    jobs: int | None = None,
    as_json: bool = False,
    out: Console,
    err: Console,
    industry: str | None = None,
    fail_on: Collection[str] = (),
    with_lines: bool = False,
    on_ruleset: Callable[[RuleSet], None] | None = None,
) -> int:
    """``adreview scan``: review, store, print. Returns the exit status: 0 when all ran,
    1 when an image's decision is one of ``fail_on`` (``--fail-on``), 2 when the paths
    hold no image file.

    With ``as_json`` every image gives one JSON object on its own line of ``out``, in input
    order; otherwise a terminal gets a progress bar, a table of results and a summary.
    Images that cannot be reviewed are results (``error`` verdicts), not failures.
    ``with_lines`` adds every OCR line to each JSON object (``lines``: text, box, score,
    and ``first_read`` for a line the second look changed). ``industry`` is the ads'
    industry; one the rule set does not declare raises
    ``UnknownIndustry`` before anything is read or stored. ``on_ruleset`` is called with
    the rule set once it is loaded.
    """
    from models.registry import create_engine
    from worker.db import Store

    started = time.perf_counter()
    images = find_images(paths)
    if not images:
        err.print("error: no image files found under the given paths", markup=False)
        return 2
    ruleset = load_ruleset(settings.rules_dir)
    if on_ruleset is not None:
        on_ruleset(ruleset)
    ruleset.check_industry(industry)
    engine = create_engine(settings.ocr_engine, settings)
    workers = min(jobs or default_jobs(), len(images))
    summary = ScanSummary()
    table = Table("image", "decision", "evidence (rule: text as read)", show_lines=False)
    with Store.open(settings.database_url) as store:
        store.save_ruleset(ruleset)
        cache = MemoryCache(known=_stored_ocr(store, images, engine))
        with (
            Scanner(settings, engine, ruleset, jobs=workers, cache=cache,
                    industry=industry) as scanner,
            progress_bar(err) as progress,
        ):
            task = progress.add_task("scanning", total=len(images))
            for result in scanner.run(images):
                if result.read:
                    store.put_ocr_many(result.read)
                    summary.ocr_read += 1
                elif result.verdict.sha256 is not None and result.verdict.error is None:
                    summary.ocr_cached += 1
                submission = store.add_scan_submission(
                    str(result.path.resolve()), result.verdict.sha256, industry
                )
                store.record_verdict(submission, result.verdict)
                _count(summary, result.verdict)
                if as_json:
                    line = {"image": str(result.path), **result.verdict.to_dict(),
                            "submission": submission}
                    if with_lines:
                        read = cache.known.get(
                            (result.verdict.sha256 or "", engine.name, engine.version), [])
                        line["lines"] = lines_to_json(read)
                    out.print(json.dumps(line, ensure_ascii=False), markup=False,
                              highlight=False, soft_wrap=True)
                else:
                    table.add_row(str(result.path), *_describe(result.verdict))
                progress.advance(task)
    summary.seconds = time.perf_counter() - started
    if not as_json:
        out.print(table)
        out.print(_summary_line(summary, workers, settings), markup=False, highlight=False)
    failing = sum(summary.decisions[d] for d in set(fail_on))
    if failing:
        named = " or ".join(d for d in ("reject", "review", "error") if d in fail_on)
        err.print(f"{failing} of {summary.images} images are {named}", markup=False,
                  highlight=False)
        return 1
    return 0


def progress_bar(console: Console) -> Progress:
    """The progress bar of long commands: drawn on ``console`` only when it is a terminal,
    and gone when the work is done."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def _stored_ocr(
    store: Any, images: Sequence[Path], engine: OcrEngine
) -> dict[tuple[str, str, str], list[TextLine]]:
    """The OCR already stored for these files (hashing them once, here in the parent)."""
    keys = []
    for path in images:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            continue
        keys.append((digest, engine.name, engine.version))
    found: dict[tuple[str, str, str], list[TextLine]] = store.get_ocr_many(keys)
    return found


def _count(summary: ScanSummary, verdict: Verdict) -> None:
    summary.images += 1
    summary.decisions[verdict.decision.value] += 1
    if verdict.error is not None:
        summary.errors[verdict.error.code.value] += 1


STYLES = {"pass": "green", "review": "yellow", "reject": "bold red", "error": "magenta"}


def _describe(verdict: Verdict) -> tuple[Text, Text]:
    decision = Text(verdict.decision.value, style=STYLES[verdict.decision.value])
    if verdict.error is not None:
        return decision, Text(f"{verdict.error.code.value}: {verdict.error.message}")
    evidence = "\n".join(f"{m.rule}: {m.text}" for m in verdict.matches)
    return decision, Text(evidence or "-")


def _summary_line(summary: ScanSummary, workers: int, settings: Settings) -> str:
    counts = ", ".join(
        f"{summary.decisions[d]} {d}" for d in ("reject", "review", "pass", "error")
        if summary.decisions[d]
    )
    rate = summary.images / summary.seconds if summary.seconds > 0 else 0.0
    errors = "; errors: " + ", ".join(
        f"{n} {code}" for code, n in sorted(summary.errors.items())
    ) if summary.errors else ""
    return (
        f"{summary.images} images: {counts}{errors}. OCR run on {summary.ocr_read}, "
        f"{summary.ocr_cached} from the cache. {summary.seconds:.1f} s "
        f"({rate:.2f} images/s, {workers} process{'es' if workers > 1 else ''}). "
        f"Verdicts stored in {safe_url(settings.database_url)}."
    )


__all__ = [
    "AdreviewError",
    "MemoryCache",
    "ScanResult",
    "ScanSummary",
    "Scanner",
    "default_jobs",
    "find_images",
    "progress_bar",
    "run_scan",
]
