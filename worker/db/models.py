"""The tables, as SQLAlchemy 2 typed models. Alembic migrations create them; code never does.

::

    submissions ──< verdicts ──< reviews         rulesets ──< verdicts
        (one image to review)  (machine verdicts,   (human decisions,
                                history kept)         never editing verdicts)
    ocr_results   (what an engine version read in an image, keyed by content hash)
    fetched_images (the bytes of images fetched by URL, one per submission)
    api_keys ──< review_sessions   (HTTP API keys; signed-in reviewers of the pages)

Every write is idempotent on a natural key: ``ocr_results`` on (sha256, engine,
engine_version), ``verdicts`` on (submission_id, ruleset_version, engine, engine_version),
``rulesets`` on the version hash, ``submissions`` on their id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from rules.schema import Decision

#: Constraint and index names are spelled out by convention so migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: JSON documents: JSONB on PostgreSQL, JSON (text) on SQLite; Python None is SQL NULL.
JsonDoc = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class SubmissionStatus(StrEnum):
    """Where a submission is in its life."""

    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    ERROR = "error"


class ApiRole(StrEnum):
    """What an API key may do; ``admin`` may do everything."""

    PRODUCER = "producer"
    REVIEWER = "reviewer"
    RULE_EDITOR = "rule-editor"
    ADMIN = "admin"


class ReviewAction(StrEnum):
    """What a human reviewer did with a machine verdict."""

    CONFIRM = "confirm"
    OVERRIDE = "override"


def _in(column: str, values: type[StrEnum]) -> str:
    """A CHECK expression limiting ``column`` to the enum's values."""
    return f"{column} IN ({', '.join(repr(m.value) for m in values)})"


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    PostgreSQL keeps ``timestamptz``; SQLite keeps naive UTC text, which sorts and
    compares correctly because every value is written in the same form.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware -> UTC (naive values are taken to be UTC already).

        A time whose UTC form falls outside the years 1-9999 (``0001-01-01T00:00+00:01``)
        is clamped to the first or last representable instant, which compares with every
        stored time exactly as the unclamped value would.
        """
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        else:
            try:
                value = value.astimezone(UTC)
            except OverflowError:
                edge = datetime.min if value.year == datetime.min.year else datetime.max
                value = edge.replace(tzinfo=UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Give back an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base holding the shared metadata (with the naming convention)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JsonDoc,
    }


class Submission(Base):
    """One image handed in for review: by a scan, an upload, or a URL."""

    __tablename__ = "submissions"
    __table_args__ = (
        CheckConstraint(_in("status", SubmissionStatus), name="status"),
        Index(None, "ad_id"),
        Index(None, "sha256"),
        Index(None, "source"),
        Index(None, "status", "updated_at"),
        Index(None, "api_key_id"),
    )

    #: A uuid7-like text id (time-sortable); deterministic for scans (see ``scan_submission_id``).
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ad_id: Mapped[str | None] = mapped_column(String(255))
    sha256: Mapped[str | None] = mapped_column(String(64))
    #: Where the image came from: ``scan:/path``, ``upload``, ``url:https://...``.
    source: Mapped[str] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(16), default=SubmissionStatus.QUEUED.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JsonDoc)
    #: The industry the ad declared (an id of the rule set's ``industries``), or None.
    industry: Mapped[str | None] = mapped_column(String(64))
    #: The API key (``api_keys.id``) the submission came in with; None for scans, the
    #: Python client and the command line. Producers' keys see only their own.
    api_key_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OcrResult(Base):
    """The lines one engine version read in one image (the OCR cache, keyed by content)."""

    __tablename__ = "ocr_results"
    __table_args__ = (
        UniqueConstraint("sha256", "engine", "engine_version"),
        # ``q=`` searches: a trigram index on PostgreSQL; on SQLite the same name is an
        # empty partial index (see migration 0007).
        Index("ix_ocr_results_text_trgm", "text", postgresql_using="gin",
              postgresql_ops={"text": "gin_trgm_ops"}, sqlite_where=text("0")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64))
    engine: Mapped[str] = mapped_column(String(64))
    engine_version: Mapped[str] = mapped_column(String(255))
    #: ``[{"text": ..., "box": [[x, y] * 4], "score": float | null}, ...]`` in reading order.
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The lines' text joined by newlines (what ``q=`` searches).
    text: Mapped[str | None] = mapped_column(Text, default=None)


class RulesetVersion(Base):
    """A rule set as it was when verdicts were made with it, keyed by its content hash."""

    __tablename__ = "rulesets"

    version: Mapped[str] = mapped_column(String(128), primary_key=True)
    #: The rules themselves (categories and rule specs); null until someone stores them.
    content: Mapped[Any | None] = mapped_column(JsonDoc)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class VerdictRow(Base):
    """A machine verdict. Rows are never edited except ``judged_at``; history is kept.

    ``judged_at`` is the last time this exact verdict (same rule set and engine version)
    was produced; the row with the newest ``judged_at`` is the submission's current one.
    """

    __tablename__ = "verdicts"
    __table_args__ = (
        UniqueConstraint("submission_id", "ruleset_version", "engine", "engine_version"),
        CheckConstraint(_in("decision", Decision), name="decision"),
        Index(None, "created_at"),
        Index(None, "judged_at"),
        Index(None, "decision", "judged_at"),
        Index(None, "industry", "judged_at"),
        Index(None, "submission_id", "judged_at"),
        # The category and rule filters: GIN containment on PostgreSQL. SQLite has no
        # such index; there the same name is an empty partial index (see migration 0004).
        Index("ix_verdicts_matches", "matches", postgresql_using="gin",
              postgresql_ops={"matches": "jsonb_path_ops"}, sqlite_where=text("0")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE")
    )
    decision: Mapped[str] = mapped_column(String(16))
    #: ``Evidence.to_dict()`` of every match.
    matches: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    ruleset_version: Mapped[str] = mapped_column(ForeignKey("rulesets.version"))
    engine: Mapped[str] = mapped_column(String(64))
    engine_version: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str | None] = mapped_column(String(64))
    timings: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    #: The industry the ad was judged as (None: undeclared, every rule applied).
    industry: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    judged_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReviewRow(Base):
    """A human reviewer's decision about a verdict, stored beside it."""

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint(_in("action", ReviewAction), name="action"),
        CheckConstraint(_in("decision", Decision), name="decision"),
        Index(None, "submission_id", "created_at"),
        Index(None, "verdict_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE")
    )
    verdict_id: Mapped[int] = mapped_column(ForeignKey("verdicts.id", ondelete="CASCADE"))
    reviewer: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FetchedImage(Base):
    """The bytes of an image a worker fetched by URL, kept for the reviewers' pages."""

    __tablename__ = "fetched_images"

    submission_id: Mapped[str] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SendOutbox(Base):
    """A submission whose review message is not yet on the queue (written with the
    submission, deleted once the message is sent; the workers' relay sends the rest)."""

    __tablename__ = "send_outbox"
    __table_args__ = (Index(None, "created_at"),)

    submission_id: Mapped[str] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CallbackOutbox(Base):
    """A callback to deliver, written in the transaction of the change it reports (a
    reviewer decision that changed the effective decision) and numbered per submission
    (``seq``, from 1); the workers deliver each submission's rows in ``seq`` order."""

    __tablename__ = "callback_outbox"
    __table_args__ = (
        UniqueConstraint("submission_id", "seq"),
        Index(None, "delivered_at", "next_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(2048))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()
    #: Why the last attempt failed; with ``delivered_at`` set, why it was given up.
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Claim(Base):
    """A reviewer looking at a submission, until ``expires_at`` (renewed while the page is
    open, released by a decision). Other reviewers' queues skip a claimed submission."""

    __tablename__ = "claims"
    __table_args__ = (Index(None, "expires_at"),)

    submission_id: Mapped[str] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True
    )
    reviewer: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class AuditEntry(Base):
    """One line of the audit log: who did what to which subject, when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "created_at"), Index(None, "subject"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(255))
    #: ``decision``, ``decision.undo``, ``claim``, ``key.create``, ``key.revoke``,
    #: ``ruleset.new``, ``requeue``, ``rejudge``.
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)


class ApiKey(Base):
    """An HTTP API key. Only the SHA-256 of the (high-entropy, random) key is stored."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(_in("role", ApiRole), name="role"),
        UniqueConstraint("key_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    #: Hex SHA-256 of the whole key.
    key_hash: Mapped[str] = mapped_column(String(64))
    #: The key's first characters, so that people can tell their keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class ReviewSession(Base):
    """A signed-in reviewer of the ``/review`` pages. The cookie holds a random session id;
    only its SHA-256 is stored. It ends at ``expires_at``, on sign-out (``revoked_at``) or
    when its key is revoked."""

    __tablename__ = "review_sessions"
    __table_args__ = (Index(None, "expires_at"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


__all__ = [
    "ApiKey",
    "ApiRole",
    "AuditEntry",
    "Base",
    "Claim",
    "FetchedImage",
    "OcrResult",
    "ReviewAction",
    "ReviewRow",
    "ReviewSession",
    "RulesetVersion",
    "Submission",
    "SubmissionStatus",
    "UtcDateTime",
    "VerdictRow",
    "utcnow",
]
