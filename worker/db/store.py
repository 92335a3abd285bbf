"""The ``Store``: everything adreview reads from and writes to its database.

One ``Store`` per process holds the engine and its connection pool; open it with
``Store.open(url)``, which migrates the schema first unless told not to. Writes are
idempotent on natural keys (dialect-specific ``INSERT ... ON CONFLICT``), so a task
delivered twice, or a scan run twice, stores nothing twice:

- OCR results on (image sha256, engine, engine version) - the cache that means an
  image is never read twice by the same engine version;
- verdicts on (submission, rule set version, engine, engine version) - a new rule set or
  engine version adds a row to the submission's history, the same one only marks the
  existing row as judged again; the row judged last is the submission's current verdict;
- rule sets on their version hash, submissions on their id (deterministic for scans).

Reviewer decisions are rows of their own and never touch the verdict they are about.
"""

from __future__ import annotations

import os
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    Table,
    and_,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from models.base import TextLine
from rules import RuleSet
from rules.schema import Decision
from worker.db.engine import SQLITE_BEGIN, make_engine, safe_url
from worker.db.errors import DecisionConflict, DecisionRequired, InvalidRecord, NotFound
from worker.db.migrate import check_schema, translate_errors, upgrade
from worker.db.models import (
    AuditEntry,
    CallbackOutbox,
    Claim,
    FetchedImage,
    OcrResult,
    ReviewAction,
    ReviewRow,
    RulesetVersion,
    SendOutbox,
    Submission,
    SubmissionStatus,
    VerdictRow,
    utcnow,
)
from worker.db.records import (
    DecisionOutcome,
    PendingCallback,
    StoredAuditEntry,
    StoredClaim,
    StoredReview,
    StoredSubmission,
    StoredVerdict,
    lines_from_json,
    lines_to_json,
    new_id,
    ruleset_content,
    scan_submission_id,
)
from worker.errors import ConfigError
from worker.verdict import Verdict

#: (image sha256, engine name, engine version): what an OCR result is keyed by.
OcrKey = tuple[str, str, str]

#: Backends the upserts are written for.
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
#: Keys per ``IN (...)`` list in bulk lookups (well under every backend's limit).
LOOKUP_CHUNK = 500

# The tables, typed for Core inserts (the upserts are Core statements).
SUBMISSIONS = cast(Table, Submission.__table__)
OCR_RESULTS = cast(Table, OcrResult.__table__)
RULESETS = cast(Table, RulesetVersion.__table__)
VERDICTS = cast(Table, VerdictRow.__table__)
FETCHED_IMAGES = cast(Table, FetchedImage.__table__)
SEND_OUTBOX = cast(Table, SendOutbox.__table__)
CLAIMS = cast(Table, Claim.__table__)

#: ``Store.decide``'s ``base_review`` when the caller names no base (no conflict check).
UNSEEN: Any = object()



_E = TypeVar("_E", SubmissionStatus, ReviewAction, Decision)


def _enum(kind: type[_E], value: _E | str) -> _E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidRecord(f"{value!r} is not a {kind.__name__}; expected one of {allowed}") \
            from None


def is_current_verdict() -> ColumnElement[bool]:
    """The condition that a verdict row is its submission's current one: no verdict of the
    same submission was judged later (ties broken by the higher id)."""
    newer = aliased(VerdictRow)
    return ~exists().where(
        newer.submission_id == VerdictRow.submission_id,
        or_(
            newer.judged_at > VerdictRow.judged_at,
            and_(newer.judged_at == VerdictRow.judged_at, newer.id > VerdictRow.id),
        ),
    )


def latest_review_decision() -> ColumnElement[str | None]:
    """The decision of the verdict's submission's latest reviewer decision (NULL before
    any), correlated with ``verdicts``."""
    return (
        select(ReviewRow.decision)
        .where(ReviewRow.submission_id == VerdictRow.submission_id)
        .order_by(ReviewRow.created_at.desc(), ReviewRow.id.desc())
        .limit(1)
        .correlate(VerdictRow)
        .scalar_subquery()
    )


def effective_decision() -> ColumnElement[str]:
    """The submission's effective decision: its latest reviewer decision when there is
    one, else the machine decision of the verdict row."""
    return func.coalesce(latest_review_decision(), VerdictRow.decision)


def is_reviewed() -> ColumnElement[bool]:
    """The condition that a reviewer has decided about the verdict's submission."""
    return exists().where(ReviewRow.submission_id == VerdictRow.submission_id) \
        .correlate(VerdictRow)


def with_reviews(session: Session, verdicts: Sequence[StoredVerdict]) -> list[StoredVerdict]:
    """``verdicts`` with each submission's latest reviewer decision attached."""
    ids = sorted({v.submission for v in verdicts})
    latest: dict[str, StoredReview] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        rows = session.scalars(
            select(ReviewRow)
            .where(ReviewRow.submission_id.in_(ids[start : start + LOOKUP_CHUNK]))
            .order_by(ReviewRow.created_at, ReviewRow.id)
        )
        for row in rows:
            latest[row.submission_id] = StoredReview.from_row(row)
    return [replace(v, review=latest.get(v.submission)) for v in verdicts]


def current_verdicts_query() -> Select[VerdictRow, Submission]:
    """Each submission's current verdict (the last judged) with its submission row."""
    return (
        select(VerdictRow, Submission)
        .join(Submission, Submission.id == VerdictRow.submission_id)
        .where(is_current_verdict())
    )


def _dialect_insert(backend: str) -> Any:
    """The dialect's ``insert`` (with ``on_conflict_*``), imported only for the backend used."""
    if backend == "sqlite":
        from sqlalchemy.dialects.sqlite import insert

        return insert
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    return pg_insert


class Store:
    """The database of one process: an engine, its pool, and typed reads and writes.

    Build it with ``Store.open(url)``; ``close()`` it (or use ``with``) when done. A
    process that forks after opening keeps the parent's connections out of the child.
    """

    def __init__(self, engine: Engine) -> None:
        backend = engine.dialect.name
        if backend not in SUPPORTED_BACKENDS:
            raise ConfigError(
                f"database {safe_url(engine.url)}: backend {backend!r} is not supported "
                f"(use one of {', '.join(SUPPORTED_BACKENDS)})"
            )
        self.engine = engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(
            engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"}), expire_on_commit=False
        )
        self._insert = _dialect_insert(backend)
        # A forked child must not use (or close) the parent's pooled connections.
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _forget_pool(ref))

    @classmethod
    def open(cls, url: str | URL, *, migrate: bool = True, echo: bool = False,
             pool_size: int | None = None, max_overflow: int | None = None,
             pool_timeout: float | None = None) -> Store:
        """Connect to ``url``; migrate the schema to the newest revision when ``migrate``.

        ``pool_size``, ``max_overflow`` and ``pool_timeout`` size the connection pool
        (``make_engine``); a read or write that finds no free connection within
        ``pool_timeout`` raises ``DatabaseBusy``. Raises ``ConfigError`` for an unusable
        URL, ``DatabaseUnavailable`` when the database cannot be reached,
        ``SchemaOutdated`` when ``migrate`` is False and the schema is not current.
        """
        engine = make_engine(url, echo=echo, pool_size=pool_size, max_overflow=max_overflow,
                             pool_timeout=pool_timeout)
        try:
            store = cls(engine)
            if migrate:
                upgrade(engine)
            else:
                check_schema(engine)
        except BaseException:
            engine.dispose()
            raise
        return store

    @property
    def url(self) -> str:
        """The database URL with the password hidden."""
        return safe_url(self.engine.url)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @contextmanager
    def _session(self, write: bool = False) -> Iterator[Session]:
        with translate_errors(self.engine.url):
            try:
                with (self._write if write else self._read)() as session, session.begin():
                    yield session
            except IntegrityError as exc:
                raise InvalidRecord(
                    f"database {self.url} refused the write: {exc.orig}", url=self.url
                ) from exc

    # -- rule sets ---------------------------------------------------------------------

    def ensure_ruleset(self, version: str, content: Any = None) -> None:
        """Record a rule set version (idempotent); ``content`` fills in a row stored without."""
        with self._session(write=True) as session:
            self._ensure_ruleset(session, version, content)

    def save_ruleset(self, ruleset: RuleSet, actor: str = "worker") -> None:
        """``ensure_ruleset`` for a loaded rule set, storing its rules; a version seen for
        the first time goes into the audit log (``ruleset.new``)."""
        with self._session(write=True) as session:
            known = session.scalar(select(RulesetVersion.version)
                                   .where(RulesetVersion.version == ruleset.version))
            self._ensure_ruleset(session, ruleset.version, ruleset_content(ruleset))
            if known is None:
                self._audit(session, actor, "ruleset.new", ruleset.version,
                            {"rules": len(ruleset.rules)})

    def get_ruleset(self, version: str) -> Any:
        """The stored content of a rule set version (None when unknown or stored without)."""
        with self._session() as session:
            return session.scalar(
                select(RulesetVersion.content).where(RulesetVersion.version == version)
            )

    def _ensure_ruleset(self, session: Session, version: str, content: Any) -> None:
        table = RULESETS
        stmt = self._insert(table).values(version=version, content=content, created_at=utcnow())
        if content is None:
            session.execute(stmt.on_conflict_do_nothing(index_elements=["version"]))
        else:
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["version"],
                    set_={"content": stmt.excluded.content},
                    where=table.c.content.is_(None),
                )
            )

    # -- OCR results -------------------------------------------------------------------

    def get_ocr(self, sha256: str, engine: str, version: str) -> list[TextLine] | None:
        """The lines ``engine``/``version`` read in the image, or None if it has not."""
        return self.get_ocr_many([(sha256, engine, version)]).get((sha256, engine, version))

    def get_ocr_many(self, keys: Iterable[OcrKey]) -> dict[OcrKey, list[TextLine]]:
        """Bulk lookup: the stored lines for every key that has some."""
        by_engine: dict[tuple[str, str], set[str]] = defaultdict(set)
        for sha256, engine, version in keys:
            by_engine[(engine, version)].add(sha256)
        found: dict[OcrKey, list[TextLine]] = {}
        with self._session() as session:
            for (engine, version), hashes in by_engine.items():
                ordered = sorted(hashes)
                for start in range(0, len(ordered), LOOKUP_CHUNK):
                    rows = session.execute(
                        select(OcrResult.sha256, OcrResult.lines).where(
                            OcrResult.engine == engine,
                            OcrResult.engine_version == version,
                            OcrResult.sha256.in_(ordered[start : start + LOOKUP_CHUNK]),
                        )
                    )
                    for sha256, lines in rows:
                        found[(sha256, engine, version)] = lines_from_json(lines)
        return found

    def put_ocr(self, sha256: str, engine: str, version: str, lines: Sequence[TextLine],
                size: tuple[int, int], seconds: float) -> bool:
        """Store what an engine read (idempotent: the first result stays). True if new."""
        return self.put_ocr_many([(sha256, engine, version, lines, size, seconds)]) == 1

    def put_ocr_many(
        self,
        results: Iterable[tuple[str, str, str, Sequence[TextLine], tuple[int, int], float]],
    ) -> int:
        """Store several OCR results in one transaction; returns how many were new."""
        rows = [
            {"sha256": sha256, "engine": engine, "engine_version": version,
             "lines": lines_to_json(lines), "text": "\n".join(line.text for line in lines),
             "width": int(size[0]), "height": int(size[1]),
             "seconds": float(seconds), "created_at": utcnow()}
            for sha256, engine, version, lines, size, seconds in results
        ]
        if not rows:
            return 0
        added = 0
        with self._session(write=True) as session:
            for row in rows:
                stmt = (
                    self._insert(OCR_RESULTS)
                    .values(**row)
                    .on_conflict_do_nothing(index_elements=["sha256", "engine", "engine_version"])
                    .returning(OCR_RESULTS.c.id)
                )
                added += session.execute(stmt).first() is not None
        return added

    def ocr_cache(self) -> StoreOcrCache:
        """This store as the pipeline's ``OcrCache``."""
        return StoreOcrCache(self)

    # -- submissions -------------------------------------------------------------------

    def add_submission(
        self,
        sha256: str | None,
        source: str,
        ad_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        submission_id: str | None = None,
        status: SubmissionStatus | str = SubmissionStatus.QUEUED,
        industry: str | None = None,
        api_key_id: int | None = None,
        unsent: bool = False,
    ) -> str:
        """Record a submission and return its id; a known ``submission_id`` is kept as is.

        ``unsent`` puts it in the send outbox in the same transaction (its review message
        is to be sent: ``mark_sent`` once it is, the workers' relay otherwise).

        Without ``submission_id`` a new time-sortable id is made; scans pass
        ``scan_submission_id(source, sha256, industry)`` (or use ``add_scan_submission``)
        so that scanning the same file again reuses its submission. ``industry`` is the
        one the ad declares (checked against the rule set by the caller), ``api_key_id``
        the HTTP API key it came in with.
        """
        state = _enum(SubmissionStatus, status)
        ident = submission_id or new_id()
        now = utcnow()
        with self._session(write=True) as session:
            session.execute(
                self._insert(SUBMISSIONS)
                .values(id=ident, ad_id=ad_id, sha256=sha256, source=source, status=state.value,
                        attempts=0, metadata=metadata, industry=industry,
                        api_key_id=api_key_id, created_at=now, updated_at=now)
                .on_conflict_do_nothing(index_elements=["id"])
            )
            if unsent:
                session.execute(
                    self._insert(SEND_OUTBOX).values(submission_id=ident, created_at=now)
                    .on_conflict_do_nothing(index_elements=["submission_id"]))
        return ident

    def mark_sent(self, submission_id: str) -> None:
        """The submission's review message is on the queue: out of the send outbox."""
        with self._session(write=True) as session:
            session.execute(delete(SendOutbox).where(SendOutbox.submission_id == submission_id))

    def unsent_submissions(self, older_than: timedelta, limit: int = 500
                           ) -> list[StoredSubmission]:
        """Submissions in the send outbox for at least ``older_than``, oldest first."""
        cutoff = utcnow() - older_than
        query = (select(Submission).join(SendOutbox, SendOutbox.submission_id == Submission.id)
                 .where(SendOutbox.created_at <= cutoff)
                 .order_by(SendOutbox.created_at, SendOutbox.submission_id).limit(limit))
        with self._session() as session:
            return [StoredSubmission.from_row(row) for row in session.scalars(query)]

    def add_scan_submission(self, path: str, sha256: str | None,
                            industry: str | None = None) -> str:
        """The submission of a scanned file (``source`` = ``scan:<path>``), made once per
        content and industry."""
        source = f"scan:{path}"
        return self.add_submission(sha256, source, industry=industry,
                                   submission_id=scan_submission_id(source, sha256, industry))

    def get_submission(self, submission_id: str) -> StoredSubmission | None:
        """The submission with this id, or None."""
        with self._session() as session:
            row = session.get(Submission, submission_id)
            return None if row is None else StoredSubmission.from_row(row)

    def find_submissions(
        self,
        *,
        source: str | None = None,
        sha256: str | None = None,
        ad_id: str | None = None,
        limit: int | None = None,
    ) -> list[StoredSubmission]:
        """Submissions matching every given field, newest first."""
        query = select(Submission)
        if source is not None:
            query = query.where(Submission.source == source)
        if sha256 is not None:
            query = query.where(Submission.sha256 == sha256)
        if ad_id is not None:
            query = query.where(Submission.ad_id == ad_id)
        query = query.order_by(Submission.created_at.desc(), Submission.id.desc()).limit(limit)
        with self._session() as session:
            return [StoredSubmission.from_row(row) for row in session.scalars(query)]

    def find_submission_by_source(self, source: str) -> StoredSubmission | None:
        """The newest submission from ``source`` (e.g. ``scan:/path/ad.jpg``), or None."""
        found = self.find_submissions(source=source, limit=1)
        return found[0] if found else None

    def find_submission_by_sha(self, sha256: str) -> StoredSubmission | None:
        """The newest submission of the image with this content hash, or None."""
        found = self.find_submissions(sha256=sha256, limit=1)
        return found[0] if found else None

    def start_attempt(self, submission_id: str) -> int:
        """Mark the submission ``processing`` and count the attempt; returns the count.

        A task delivered again after a crash sees the count grow, so a poison image can
        be given up on (an ``error`` verdict) instead of looping forever.
        """
        with self._session(write=True) as session:
            attempts = session.scalar(
                update(Submission)
                .where(Submission.id == submission_id)
                .values(attempts=Submission.attempts + 1,
                        status=SubmissionStatus.PROCESSING.value, updated_at=utcnow())
                .returning(Submission.attempts)
            )
        if attempts is None:
            raise NotFound(f"no submission {submission_id!r} in {self.url}", url=self.url)
        return int(attempts)

    def set_status(self, submission_id: str, status: SubmissionStatus | str) -> None:
        """Set a submission's status (``record_verdict`` sets done/error by itself)."""
        state = _enum(SubmissionStatus, status)
        with self._session(write=True) as session:
            changed = session.execute(
                update(Submission)
                .where(Submission.id == submission_id)
                .values(status=state.value, updated_at=utcnow())
                .returning(Submission.id)
            ).first()
        if changed is None:
            raise NotFound(f"no submission {submission_id!r} in {self.url}", url=self.url)

    def stale_submissions(
        self, older_than: timedelta, limit: int | None = None
    ) -> list[StoredSubmission]:
        """Submissions queued or processing with no progress for ``older_than``, oldest first."""
        cutoff = utcnow() - older_than
        query = (
            select(Submission)
            .where(
                Submission.status.in_(
                    [SubmissionStatus.QUEUED.value, SubmissionStatus.PROCESSING.value]
                ),
                Submission.updated_at < cutoff,
            )
            .order_by(Submission.updated_at, Submission.id)
            .limit(limit)
        )
        with self._session() as session:
            return [StoredSubmission.from_row(row) for row in session.scalars(query)]

    def submissions_with_ocr(
        self, engine: str, version: str, batch: int = LOOKUP_CHUNK
    ) -> Iterator[tuple[StoredSubmission, list[TextLine]]]:
        """Every submission whose image this engine version has read, with the lines.

        For re-judging stored ads after a rule change without running OCR again. Reads in
        batches (keyset pagination on the submission id), so memory stays flat.
        """
        after = ""
        while True:
            query = (
                select(Submission, OcrResult.lines)
                .join(OcrResult, OcrResult.sha256 == Submission.sha256)
                .where(OcrResult.engine == engine, OcrResult.engine_version == version,
                       Submission.id > after)
                .order_by(Submission.id)
                .limit(batch)
            )
            with self._session() as session:
                page = [(StoredSubmission.from_row(sub), lines_from_json(lines))
                        for sub, lines in session.execute(query)]
            yield from page
            if len(page) < batch:
                return
            after = page[-1][0].id

    # -- verdicts ----------------------------------------------------------------------

    def record_verdict(self, submission_id: str, verdict: Verdict) -> tuple[int, bool]:
        """Store a verdict for the submission; returns (verdict id, whether it is new).

        The same submission, rule set version and engine version give the same row back
        (its ``judged`` time moves forward); anything new adds a row to the history.
        The submission becomes ``done`` (``error`` for an error verdict).
        """
        table = VERDICTS
        key = (
            VerdictRow.submission_id == submission_id,
            VerdictRow.ruleset_version == verdict.ruleset,
            VerdictRow.engine == verdict.engine,
            VerdictRow.engine_version == verdict.engine_version,
        )
        with self._session(write=True) as session:
            submission = session.get(Submission, submission_id)
            if submission is None:
                raise NotFound(f"no submission {submission_id!r} in {self.url}", url=self.url)
            self._ensure_ruleset(session, verdict.ruleset, None)
            existing = session.execute(select(VerdictRow.id, VerdictRow.judged_at).where(*key))
            row = existing.first()
            created = False
            if row is None:
                verdict_id = session.scalar(
                    self._insert(table)
                    .values(
                        submission_id=submission_id,
                        decision=verdict.decision.value,
                        matches=[m.to_dict() for m in verdict.matches],
                        error_code=None if verdict.error is None else verdict.error.code.value,
                        error_message=None if verdict.error is None else verdict.error.message,
                        ruleset_version=verdict.ruleset,
                        engine=verdict.engine,
                        engine_version=verdict.engine_version,
                        sha256=verdict.sha256,
                        timings=dict(verdict.timings),
                        industry=verdict.industry,
                        created_at=verdict.created,
                        judged_at=verdict.created,
                    )
                    .on_conflict_do_nothing(
                        index_elements=["submission_id", "ruleset_version", "engine",
                                        "engine_version"]
                    )
                    .returning(table.c.id)
                )
                created = verdict_id is not None
                if verdict_id is None:  # another writer won the race (PostgreSQL)
                    verdict_id = session.execute(select(VerdictRow.id).where(*key)).scalar_one()
            else:
                verdict_id = row.id
                if verdict.created > row.judged_at:
                    session.execute(
                        update(VerdictRow)
                        .where(VerdictRow.id == verdict_id)
                        .values(judged_at=verdict.created)
                    )
            error = verdict.decision is Decision.ERROR
            submission.status = (SubmissionStatus.ERROR if error else SubmissionStatus.DONE).value
            submission.updated_at = utcnow()
            if submission.sha256 is None and verdict.sha256 is not None:
                submission.sha256 = verdict.sha256
        return verdict_id, created

    def _verdicts(self, query: Select[VerdictRow, Submission]) -> list[StoredVerdict]:
        with self._session() as session:
            found = [StoredVerdict.from_rows(v, s) for v, s in session.execute(query)]
            return with_reviews(session, found)

    def current_verdicts(
        self,
        decision: Decision | str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        industry: str | None = None,
        *,
        reviewed: bool | None = None,
        effective: Decision | str | None = None,
    ) -> list[StoredVerdict]:
        """The current (last judged) verdict of every submission, newest first, each with
        the submission's latest reviewer decision.

        ``decision`` keeps those with that machine decision, ``effective`` those with that
        effective decision, ``reviewed`` those a reviewer has (True) or has not (False)
        decided about, ``since`` those judged at or after it, ``industry`` those judged as
        ads of that industry.
        """
        query = current_verdicts_query()
        if decision is not None:
            query = query.where(VerdictRow.decision == _enum(Decision, decision).value)
        if effective is not None:
            query = query.where(effective_decision() == _enum(Decision, effective).value)
        if reviewed is not None:
            query = query.where(is_reviewed() if reviewed else ~is_reviewed())
        if industry is not None:
            query = query.where(VerdictRow.industry == industry)
        if since is not None:
            query = query.where(VerdictRow.judged_at >= since)
        query = query.order_by(VerdictRow.judged_at.desc(), VerdictRow.id.desc()).limit(limit)
        return self._verdicts(query)

    def verdict_history(self, submission_id: str) -> list[StoredVerdict]:
        """Every verdict of the submission, current first."""
        query = (
            select(VerdictRow, Submission)
            .join(Submission, Submission.id == VerdictRow.submission_id)
            .where(VerdictRow.submission_id == submission_id)
            .order_by(VerdictRow.judged_at.desc(), VerdictRow.id.desc())
        )
        return self._verdicts(query)

    def current_verdict(self, submission_id: str) -> StoredVerdict | None:
        """The submission's current verdict, or None before it has one."""
        history = self.verdict_history(submission_id)
        return history[0] if history else None

    # -- fetched images ----------------------------------------------------------------

    def keep_fetched_image(self, submission_id: str, sha256: str, data: bytes) -> None:
        """Keep the bytes a worker fetched for a URL submission (the first copy stays)."""
        with self._session(write=True) as session:
            session.execute(
                self._insert(FETCHED_IMAGES)
                .values(submission_id=submission_id, sha256=sha256, data=data,
                        created_at=utcnow())
                .on_conflict_do_nothing(index_elements=["submission_id"])
            )

    def fetched_image(self, submission_id: str) -> bytes | None:
        """The kept bytes of a URL submission's image, or None."""
        with self._session() as session:
            return session.scalar(
                select(FetchedImage.data).where(FetchedImage.submission_id == submission_id)
            )

    # -- reviewer decisions ------------------------------------------------------------

    def add_review(
        self,
        submission_id: str,
        reviewer: str,
        action: ReviewAction | str,
        decision: Decision | str | None = None,
        note: str | None = None,
        verdict_id: int | None = None,
        callback: Callable[[StoredVerdict], dict[str, Any]] | None = None,
    ) -> StoredReview:
        """Store a reviewer's decision about a verdict (the current one by default).

        ``confirm`` agrees with the machine decision (``decision`` may be left out);
        ``override`` replaces it for the humans' purposes with a different ``decision``.
        The verdict row itself is never changed.

        The submission's row is locked first, so that concurrent decisions about one
        submission are serialised and each sees the effective decision the previous one
        left. With ``callback``, a decision that changes the effective decision while the
        submission has a ``callback_url`` writes ``callback(verdict with this review)``
        to the callback outbox in the same transaction, numbered after the submission's
        earlier callbacks (``"sequence"`` in the payload): exactly one callback per
        change, in the order of the changes, or none when the transaction fails.
        """
        act = _enum(ReviewAction, action)
        chosen = None if decision is None else _enum(Decision, decision)
        with self._session(write=True) as session:
            locked = session.scalars(select(Submission).where(Submission.id == submission_id)
                                     .with_for_update()).first()
            query = select(VerdictRow).where(VerdictRow.submission_id == submission_id)
            if verdict_id is not None:
                query = query.where(VerdictRow.id == verdict_id)
            target = session.scalars(
                query.order_by(VerdictRow.judged_at.desc(), VerdictRow.id.desc()).limit(1)
            ).first()
            if target is None:
                what = "no verdict" if verdict_id is None else f"no verdict {verdict_id}"
                raise NotFound(f"{what} for submission {submission_id!r} in {self.url}",
                               url=self.url)
            machine = Decision(target.decision)
            if act is ReviewAction.CONFIRM:
                if chosen is not None and chosen is not machine:
                    raise InvalidRecord(
                        f"cannot confirm {chosen.value!r}: the verdict says {machine.value!r} "
                        "(use override)"
                    )
                chosen = machine
            elif chosen is None or chosen is machine or chosen is Decision.ERROR:
                choices = [d.value for d in (Decision.PASS, Decision.REVIEW, Decision.REJECT)
                           if d is not machine]
                raise InvalidRecord(
                    f"an override needs a decision other than {machine.value!r} "
                    f"({' or '.join(choices)})"
                )
            before = session.scalar(
                select(ReviewRow.decision).where(ReviewRow.submission_id == submission_id)
                .order_by(ReviewRow.created_at.desc(), ReviewRow.id.desc()).limit(1))
            current = latest = session.scalars(
                select(VerdictRow).where(VerdictRow.submission_id == submission_id)
                .order_by(VerdictRow.judged_at.desc(), VerdictRow.id.desc()).limit(1)).first()
            row = ReviewRow(submission_id=submission_id, verdict_id=target.id,
                            reviewer=reviewer, action=act.value, decision=chosen.value,
                            note=note, created_at=utcnow())
            session.add(row)
            session.flush()
            review = StoredReview.from_row(row)
            effective_before = before if before is not None else (
                None if latest is None else latest.decision)
            url = (locked.meta or {}).get("callback_url") if locked is not None else None
            if (callback is not None and current is not None and locked is not None
                    and isinstance(url, str) and url and effective_before != chosen.value):
                stored = replace(StoredVerdict.from_rows(current, locked), review=review)
                self._add_callback(session, submission_id, url, callback(stored))
            return review

    def _add_callback(self, session: Session, submission_id: str, url: str,
                      payload: dict[str, Any]) -> int:
        """Write one callback to the outbox, numbered after the submission's others (the
        caller holds the submission's row lock); returns its sequence number."""
        last = session.scalar(select(func.max(CallbackOutbox.seq))
                              .where(CallbackOutbox.submission_id == submission_id))
        seq = int(last or 0) + 1
        now = utcnow()
        session.add(CallbackOutbox(submission_id=submission_id, seq=seq, url=url,
                                   payload={**payload, "sequence": seq}, attempts=0,
                                   next_at=now, created_at=now))
        return seq

    def due_callbacks(self, limit: int = 100) -> list[PendingCallback]:
        """Callbacks to deliver now: of each submission, its undelivered callback with the
        lowest sequence number, when its back-off has passed (so that a submission's
        callbacks go out in order), oldest first."""
        earlier = aliased(CallbackOutbox)
        blocked = exists().where(earlier.submission_id == CallbackOutbox.submission_id,
                                 earlier.delivered_at.is_(None),
                                 earlier.seq < CallbackOutbox.seq)
        query = (select(CallbackOutbox)
                 .where(CallbackOutbox.delivered_at.is_(None),
                        CallbackOutbox.next_at <= utcnow(), ~blocked)
                 .order_by(CallbackOutbox.next_at, CallbackOutbox.id).limit(limit))
        with self._session() as session:
            return [PendingCallback(r.id, r.submission_id, r.seq, r.url, dict(r.payload),
                                    r.attempts) for r in session.scalars(query)]

    def callback_done(self, callback_id: int, error: str | None = None) -> None:
        """The callback was delivered (``error`` None) or given up (``error`` says why)."""
        with self._session(write=True) as session:
            session.execute(update(CallbackOutbox).where(CallbackOutbox.id == callback_id)
                            .values(delivered_at=utcnow(),
                                    last_error=None if error is None else error[:1000]))

    def callback_failed(self, callback_id: int, error: str, retry_at: datetime) -> None:
        """An attempt failed; the callback is tried again at ``retry_at``."""
        with self._session(write=True) as session:
            session.execute(update(CallbackOutbox).where(CallbackOutbox.id == callback_id)
                            .values(attempts=CallbackOutbox.attempts + 1, next_at=retry_at,
                                    last_error=error[:1000]))

    def decide(
        self,
        submission_id: str,
        reviewer: str,
        decision: Decision | str | None = None,
        *,
        action: ReviewAction | str | None = None,
        note: str | None = None,
        base_review: int | None = UNSEEN,
        callback: Callable[[StoredVerdict], dict[str, Any]] | None = None,
    ) -> DecisionOutcome:
        """A reviewer's decision about the submission's current verdict: the one way the
        API and the console record decisions (single, batch and duplicates alike).

        ``decision`` is ``pass`` or ``reject`` (with ``action`` left out, it confirms when
        it is the machine's, else overrides); ``action="confirm"`` alone confirms the
        machine decision. A reviewed item ends in ``pass`` or ``reject``: confirming a
        ``review`` verdict, or overriding to ``review``, raises ``DecisionRequired``.

        ``base_review`` is the id of the latest decision the reviewer saw (None: none);
        when another decision landed since, ``DecisionConflict`` carries it. The same
        reviewer's same decision pressed twice gives the first one back (``created``
        False). In one transaction, holding the submission's row lock: the effective
        decision before and after, the review row, the claim released, the audit line and,
        with ``callback``, when the effective decision changes and the submission has a
        ``callback_url``, ``callback(verdict with this review)`` written to the callback
        outbox (numbered after the submission's earlier callbacks: exactly one per change,
        in order, or none when the transaction fails).
        """
        act = None if action is None else _enum(ReviewAction, action)
        chosen = None if decision is None else _enum(Decision, decision)
        text = note or None
        with self._session(write=True) as session:
            locked = session.scalars(select(Submission).where(Submission.id == submission_id)
                                     .with_for_update()).first()
            if locked is None:
                raise NotFound(f"no submission {submission_id!r} in {self.url}", url=self.url)
            target = session.scalars(
                select(VerdictRow).where(VerdictRow.submission_id == submission_id)
                .order_by(VerdictRow.judged_at.desc(), VerdictRow.id.desc()).limit(1)
            ).first()
            if target is None:
                raise NotFound(f"no verdict for submission {submission_id!r} in {self.url}",
                               url=self.url)
            machine = Decision(target.decision)
            if act is None:
                if chosen is None:
                    raise InvalidRecord("a decision needs `decision` (pass or reject) or "
                                        "`action: confirm`")
                act = ReviewAction.CONFIRM if chosen is machine else ReviewAction.OVERRIDE
            if act is ReviewAction.CONFIRM:
                if chosen is not None and chosen is not machine:
                    raise InvalidRecord(f"cannot confirm {chosen.value!r}: the verdict says "
                                        f"{machine.value!r} (use override)")
                chosen = machine
            elif chosen is None or chosen is machine or chosen is Decision.ERROR:
                choices = [d.value for d in (Decision.PASS, Decision.REJECT) if d is not machine]
                raise InvalidRecord(f"an override needs a decision other than "
                                    f"{machine.value!r} ({' or '.join(choices)})")
            if chosen is Decision.REVIEW:
                raise DecisionRequired(
                    "a reviewed item ends in pass or reject: choose one "
                    + ("(the machine said review; confirming it decides nothing)"
                       if act is ReviewAction.CONFIRM else "(not review)"))
            latest_row = session.scalars(
                select(ReviewRow).where(ReviewRow.submission_id == submission_id)
                .order_by(ReviewRow.created_at.desc(), ReviewRow.id.desc()).limit(1)
            ).first()
            latest = None if latest_row is None else StoredReview.from_row(latest_row)
            before = machine if latest is None else latest.decision
            if (latest is not None and latest.reviewer == reviewer
                    and latest.decision is chosen and latest.verdict_id == target.id
                    and (latest.note or None) == text):
                return DecisionOutcome(latest, False, before, before)  # a second press
            if base_review is not UNSEEN:
                if latest is not None and latest.id != base_review:
                    raise DecisionConflict(
                        f"submission {submission_id}: {latest.reviewer} decided "
                        f"{latest.decision.value} at {latest.created.isoformat()} since the "
                        "state this decision was made on", latest, url=self.url)
                if latest is None and base_review is not None:
                    raise InvalidRecord(f"base_review {base_review} is no decision about "
                                        f"submission {submission_id}")
            row = ReviewRow(submission_id=submission_id, verdict_id=target.id,
                            reviewer=reviewer, action=act.value, decision=chosen.value,
                            note=text, created_at=utcnow())
            session.add(row)
            session.flush()
            review = StoredReview.from_row(row)
            session.execute(CLAIMS.delete().where(CLAIMS.c.submission_id == submission_id))
            self._audit(session, reviewer, "decision", submission_id,
                        {"review": review.id, "action": act.value, "decision": chosen.value,
                         "before": before.value, "base_review": None
                         if base_review is UNSEEN else base_review, "note": text})
            url = (locked.meta or {}).get("callback_url")
            if callback is not None and before is not chosen and isinstance(url, str) and url:
                stored = replace(StoredVerdict.from_rows(target, locked), review=review)
                self._add_callback(session, submission_id, url, callback(stored))
            return DecisionOutcome(review, True, before, chosen)

    def undo_decision(
        self, submission_id: str, reviewer: str, within: timedelta,
        callback: Callable[[StoredVerdict], dict[str, Any]] | None = None,
    ) -> StoredReview | None:
        """Take back ``reviewer``'s decision when it is the submission's latest and was made
        less than ``within`` ago; returns it (None when there is nothing to undo). The
        audit log keeps what was undone. With ``callback``, an undo that changes the
        effective decision writes its callback to the outbox, as ``decide`` does."""
        with self._session(write=True) as session:
            locked = session.scalars(select(Submission).where(Submission.id == submission_id)
                                     .with_for_update()).first()
            rows = session.scalars(
                select(ReviewRow).where(ReviewRow.submission_id == submission_id)
                .order_by(ReviewRow.created_at.desc(), ReviewRow.id.desc()).limit(2)
            ).all()
            row = rows[0] if rows else None
            if row is None or row.reviewer != reviewer or row.created_at < utcnow() - within:
                return None
            review = StoredReview.from_row(row)
            session.delete(row)
            self._audit(session, reviewer, "decision.undo", submission_id, review.to_dict())
            current = session.scalars(
                select(VerdictRow).where(VerdictRow.submission_id == submission_id)
                .order_by(VerdictRow.judged_at.desc(), VerdictRow.id.desc()).limit(1)
            ).first()
            url = None if locked is None else (locked.meta or {}).get("callback_url")
            if (callback is not None and current is not None and locked is not None
                    and isinstance(url, str) and url):
                earlier = StoredReview.from_row(rows[1]) if len(rows) > 1 else None
                after = Decision(current.decision) if earlier is None else earlier.decision
                if after is not review.decision:
                    stored = replace(StoredVerdict.from_rows(current, locked), review=earlier)
                    self._add_callback(session, submission_id, url, callback(stored))
            return review

    # -- claims ------------------------------------------------------------------------

    def claim(self, submission_id: str, reviewer: str, lease: timedelta) -> StoredClaim:
        """Claim the submission for ``reviewer`` for ``lease`` (renewing their own claim);
        returns the claim that holds: another reviewer's unexpired one is left alone."""
        now = utcnow()
        with self._session(write=True) as session:
            locked = session.scalar(select(Submission.id).where(Submission.id == submission_id)
                                    .with_for_update())
            if locked is None:
                raise NotFound(f"no submission {submission_id!r} in {self.url}", url=self.url)
            held = session.get(Claim, submission_id)
            if held is not None and held.reviewer != reviewer and held.expires_at > now:
                return StoredClaim.from_row(held)
            if held is None:
                held = Claim(submission_id=submission_id, reviewer=reviewer, created_at=now,
                             expires_at=now + lease)
                session.add(held)
                self._audit(session, reviewer, "claim", submission_id, None)
            else:
                if held.reviewer != reviewer or held.expires_at <= now:
                    held.created_at = now
                    self._audit(session, reviewer, "claim", submission_id,
                                {"after": held.reviewer})
                held.reviewer = reviewer
                held.expires_at = now + lease
            session.flush()
            return StoredClaim.from_row(held)

    def claim_of(self, submission_id: str) -> StoredClaim | None:
        """The unexpired claim on the submission, or None."""
        with self._session() as session:
            held = session.get(Claim, submission_id)
            if held is None or held.expires_at <= utcnow():
                return None
            return StoredClaim.from_row(held)

    def release_claim(self, submission_id: str, reviewer: str) -> None:
        """Drop ``reviewer``'s claim on the submission (another's stays)."""
        with self._session(write=True) as session:
            session.execute(CLAIMS.delete().where(CLAIMS.c.submission_id == submission_id,
                                                  CLAIMS.c.reviewer == reviewer))

    # -- duplicates --------------------------------------------------------------------

    def duplicates(self, submission_id: str) -> list[str]:
        """The other undecided submissions whose current verdict judged the same image
        (sha256) with the same rule set version as this one's, oldest first."""
        current = self.current_verdict(submission_id)
        if current is None or current.sha256 is None:
            return []
        query = (
            select(VerdictRow.submission_id)
            .where(is_current_verdict(), ~is_reviewed(),
                   VerdictRow.sha256 == current.sha256,
                   VerdictRow.ruleset_version == current.verdict.ruleset,
                   VerdictRow.submission_id != submission_id)
            .order_by(VerdictRow.id)
        )
        with self._session() as session:
            return list(session.scalars(query))

    # -- audit log ---------------------------------------------------------------------

    def _audit(self, session: Session, actor: str, action: str, subject: str | None,
               detail: dict[str, Any] | None) -> None:
        session.add(AuditEntry(created_at=utcnow(), actor=actor, action=action,
                               subject=subject, detail=detail))

    def audit(self, actor: str, action: str, subject: str | None = None,
              detail: dict[str, Any] | None = None) -> None:
        """Add a line to the audit log."""
        with self._session(write=True) as session:
            self._audit(session, actor, action, subject, detail)

    def audit_log(self, *, limit: int = 100, before: int | None = None,
                  action: str | None = None, subject: str | None = None,
                  actor: str | None = None) -> list[StoredAuditEntry]:
        """Audit lines, newest first (ids below ``before``), filtered by action (a prefix:
        ``decision`` keeps ``decision.undo`` too), subject and actor."""
        query = select(AuditEntry)
        if before is not None:
            query = query.where(AuditEntry.id < before)
        if action is not None:
            query = query.where(or_(AuditEntry.action == action,
                                    AuditEntry.action.startswith(action + ".")))
        if subject is not None:
            query = query.where(AuditEntry.subject == subject)
        if actor is not None:
            query = query.where(AuditEntry.actor == actor)
        query = query.order_by(AuditEntry.id.desc()).limit(limit)
        with self._session() as session:
            return [StoredAuditEntry.from_row(row) for row in session.scalars(query)]

    def reviews(self, submission_id: str) -> list[StoredReview]:
        """Every reviewer decision about the submission, oldest first."""
        query = (
            select(ReviewRow)
            .where(ReviewRow.submission_id == submission_id)
            .order_by(ReviewRow.created_at, ReviewRow.id)
        )
        with self._session() as session:
            return [StoredReview.from_row(row) for row in session.scalars(query)]


def _forget_pool(ref: weakref.ref[Store]) -> None:
    store = ref()
    if store is not None:
        store.engine.dispose(close=False)


class StoreOcrCache:
    """The pipeline's ``OcrCache`` over a ``Store``: OCR results kept in the database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, sha256: str, engine: str, version: str) -> list[TextLine] | None:
        """The stored lines, or None when this engine version has not read the image."""
        return self.store.get_ocr(sha256, engine, version)

    def put(self, sha256: str, engine: str, version: str, lines: list[TextLine],
            size: tuple[int, int], seconds: float) -> None:
        """Keep the lines the engine read (a second put of the same key is ignored)."""
        self.store.put_ocr(sha256, engine, version, lines, size, seconds)


__all__ = [
    "UNSEEN",
    "DecisionOutcome",
    "OcrKey",
    "Store",
    "StoreOcrCache",
    "StoredReview",
    "StoredSubmission",
    "StoredVerdict",
    "lines_from_json",
    "lines_to_json",
    "new_id",
    "ruleset_content",
    "scan_submission_id",
]
