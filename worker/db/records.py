"""What the store hands back: typed records, ids, and the JSON forms of OCR lines.

``StoredVerdict.to_dict()`` is the ``adreview verdicts --json`` object (DESIGN.md).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models.base import TextLine
from rules import RuleSet
from rules.schema import Decision
from worker.db.models import (
    AuditEntry,
    Claim,
    ReviewAction,
    ReviewRow,
    Submission,
    SubmissionStatus,
    VerdictRow,
)
from worker.errors import ErrorCode
from worker.verdict import Evidence, Verdict, VerdictError

_SCAN_NAMESPACE = uuid.UUID("6f1d3c2e-6a55-4d3e-9b7e-2d1c0a7e5a10")


def new_id() -> str:
    """A new submission id: a UUIDv7 (millisecond time first, so ids sort by creation)."""
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def scan_submission_id(source: str, sha256: str | None, industry: str | None = None) -> str:
    """The id a scan gives an image: the same file content at the same place, scanned as
    the same industry, the same id (scans without an industry keep their old ids)."""
    key = f"{source}\0{sha256 or ''}" + ("" if industry is None else f"\0{industry}")
    return str(uuid.uuid5(_SCAN_NAMESPACE, key))


def lines_to_json(lines: Iterable[TextLine]) -> list[dict[str, Any]]:
    """OCR lines as stored: ``[{"text", "box": [[x, y] * 4], "score"}]``, with
    ``first_read`` for a line a second look read again and ``frame`` for a line of an
    animation (lines stored before either existed load without them)."""
    stored = []
    for line in lines:
        item: dict[str, Any] = {
            "text": line.text, "box": [[x, y] for x, y in line.box], "score": line.score}
        if line.first_read is not None:
            item["first_read"] = line.first_read
        if line.frame is not None:
            item["frame"] = line.frame
        stored.append(item)
    return stored


def lines_from_json(data: Iterable[dict[str, Any]]) -> list[TextLine]:
    """Inverse of ``lines_to_json``."""
    lines = []
    for item in data:
        box = tuple((float(x), float(y)) for x, y in item["box"])
        score = item.get("score")
        frame = item.get("frame")
        lines.append(
            TextLine(item["text"], box, None if score is None else float(score),  # type: ignore[arg-type]
                     item.get("first_read"), None if frame is None else int(frame))
        )
    return lines


def ruleset_content(ruleset: RuleSet) -> dict[str, Any]:
    """What is stored of a rule set: its categories, declared industries and rule specs,
    as JSON."""
    return {
        "categories": [c.model_dump(mode="json") for c in ruleset.categories.values()],
        "industries": [i.model_dump(mode="json") for i in ruleset.industries.values()],
        "rules": [r.spec.model_dump(mode="json") for r in ruleset.rules],
    }


@dataclass(frozen=True)
class StoredSubmission:
    """A submission as stored."""

    id: str
    source: str
    sha256: str | None
    ad_id: str | None
    status: SubmissionStatus
    attempts: int
    metadata: dict[str, Any] | None
    created: datetime
    updated: datetime
    #: The industry the ad declared, or None.
    industry: str | None = None
    #: The id of the HTTP API key it came in with, or None (scans, the Python client).
    api_key_id: int | None = None

    @classmethod
    def from_row(cls, row: Submission) -> StoredSubmission:
        """Copy an ORM row."""
        return cls(row.id, row.source, row.sha256, row.ad_id, SubmissionStatus(row.status),
                   row.attempts, row.meta, row.created_at, row.updated_at, row.industry,
                   row.api_key_id)


@dataclass(frozen=True)
class StoredVerdict:
    """A verdict read back, with the submission it is about.

    ``verdict.created`` is when this verdict was first produced, ``judged`` the last time
    the same rule set and engine version produced it again.
    """

    id: int
    submission: str
    ad_id: str | None
    source: str
    verdict: Verdict
    judged: datetime
    #: The submission's latest reviewer decision, None before anyone reviewed it.
    review: StoredReview | None = None

    @property
    def sha256(self) -> str | None:
        """The reviewed image's content hash."""
        return self.verdict.sha256

    @property
    def decision(self) -> Decision:
        """The machine decision."""
        return self.verdict.decision

    @property
    def reviewed(self) -> bool:
        """Whether a reviewer has decided about the submission."""
        return self.review is not None

    @property
    def effective_decision(self) -> Decision:
        """The latest reviewer decision when there is one, else the machine's."""
        return self.verdict.decision if self.review is None else self.review.decision

    def to_dict(self) -> dict[str, Any]:
        """The ``adreview verdicts --json`` object (DESIGN.md contract, plus extras)."""
        return {
            "submission": self.submission,
            "ad_id": self.ad_id,
            **self.verdict.to_dict(),
            "engine_version": self.verdict.engine_version,
            "source": self.source,
            "sha256": self.verdict.sha256,
            "created": self.verdict.created.isoformat(),
            "judged": self.judged.isoformat(),
            "verdict_id": self.id,
            "effective_decision": self.effective_decision.value,
            "reviewed": self.reviewed,
            "review": None if self.review is None else self.review.to_dict(),
        }

    @classmethod
    def from_rows(cls, row: VerdictRow, submission: Submission) -> StoredVerdict:
        """Rebuild the ``Verdict`` (evidence through ``Evidence.from_dict``)."""
        error = None
        if row.error_code is not None:
            error = VerdictError(ErrorCode(row.error_code), row.error_message or "")
        verdict = Verdict(
            decision=Decision(row.decision),
            matches=tuple(Evidence.from_dict(m) for m in row.matches),
            ruleset=row.ruleset_version,
            engine=row.engine,
            engine_version=row.engine_version,
            sha256=row.sha256,
            error=error,
            timings={k: float(v) for k, v in (row.timings or {}).items()},
            created=row.created_at,
            industry=row.industry,
        )
        return cls(row.id, submission.id, submission.ad_id, submission.source, verdict,
                   row.judged_at)


@dataclass(frozen=True)
class StoredReview:
    """A human reviewer's decision about one verdict."""

    id: int
    submission: str
    verdict_id: int
    reviewer: str
    action: ReviewAction
    decision: Decision
    note: str | None
    created: datetime

    @classmethod
    def from_row(cls, row: ReviewRow) -> StoredReview:
        """Copy an ORM row."""
        return cls(row.id, row.submission_id, row.verdict_id, row.reviewer,
                   ReviewAction(row.action), Decision(row.decision), row.note, row.created_at)

    def to_dict(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "id": self.id,
            "submission": self.submission,
            "verdict_id": self.verdict_id,
            "reviewer": self.reviewer,
            "action": self.action.value,
            "decision": self.decision.value,
            "note": self.note,
            "created": self.created.isoformat(),
        }


@dataclass(frozen=True)
class PendingCallback:
    """A callback of the outbox waiting for delivery."""

    id: int
    submission: str
    seq: int
    url: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class StoredClaim:
    """Who is looking at a submission, until when."""

    submission: str
    reviewer: str
    created: datetime
    expires: datetime

    @classmethod
    def from_row(cls, row: Claim) -> StoredClaim:
        """Copy an ORM row."""
        return cls(row.submission_id, row.reviewer, row.created_at, row.expires_at)

    def to_dict(self) -> dict[str, Any]:
        """As JSON."""
        return {"submission": self.submission, "reviewer": self.reviewer,
                "created": self.created.isoformat(), "expires": self.expires.isoformat()}


@dataclass(frozen=True)
class StoredAuditEntry:
    """One line of the audit log."""

    id: int
    created: datetime
    actor: str
    action: str
    subject: str | None
    detail: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: AuditEntry) -> StoredAuditEntry:
        """Copy an ORM row."""
        return cls(row.id, row.created_at, row.actor, row.action, row.subject, row.detail)

    def to_dict(self) -> dict[str, Any]:
        """As JSON."""
        return {"id": self.id, "created": self.created.isoformat(), "actor": self.actor,
                "action": self.action, "subject": self.subject, "detail": self.detail}


@dataclass(frozen=True)
class DecisionOutcome:
    """What ``Store.decide`` did: the review that stands, whether it is new (False for a
    repeated press of the same decision), and the effective decision before and after."""

    review: StoredReview
    created: bool
    before: Decision
    after: Decision


__all__ = [
    "DecisionOutcome",
    "PendingCallback",
    "StoredAuditEntry",
    "StoredClaim",
    "StoredReview",
    "StoredSubmission",
    "StoredVerdict",
    "lines_from_json",
    "lines_to_json",
    "new_id",
    "ruleset_content",
    "scan_submission_id",
]
