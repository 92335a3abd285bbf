"""The verdict a review produces: decision, evidence, and where it came from.

These are the typed results every shell (CLI, Celery task, HTTP API) stores and prints;
``Verdict.to_dict`` is the CLI's JSON contract (see DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from models.base import Box
from rules.schema import Decision, Severity
from worker.errors import ErrorCode


@dataclass(frozen=True)
class Evidence:
    """One match, tied to the OCR line(s) it was read from.

    ``text`` is the original OCR text of the match; ``line`` the full text of the line(s)
    it lies on; ``box`` four (x, y) points in pixels of the original image around just the
    matched characters; ``score`` the lowest OCR confidence among those lines (None when
    the engine gives none); ``uncertain`` marks evidence that counts as ``review`` only,
    with its ``reason``: ``low_confidence`` (a reject match read with low confidence) or
    ``ocr_near_miss`` (a claim read with one character dropped or confused). ``frame`` is
    the animation frame (its index in the file) the match was read in, where ``box`` lies;
    None for a still image.
    """

    rule: str
    category: str
    severity: Severity
    phrase: str
    text: str
    line: str
    box: Box
    score: float | None = None
    uncertain: bool = False
    reason: str | None = None
    frame: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The contract's match object (with the extra ``line``, ``score``, ``uncertain``,
        ``reason``, ``frame``)."""
        return {
            "rule": self.rule,
            "category": self.category,
            "severity": self.severity.value,
            "phrase": self.phrase,
            "text": self.text,
            "box": [[round(x, 1), round(y, 1)] for x, y in self.box],
            "line": self.line,
            "score": None if self.score is None else round(self.score, 4),
            "uncertain": self.uncertain,
            "reason": self.reason,
            "frame": self.frame,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        """Inverse of ``to_dict`` (for verdicts read back from storage)."""
        box = tuple((float(x), float(y)) for x, y in data["box"])
        return cls(
            rule=data["rule"],
            category=data["category"],
            severity=Severity(data["severity"]),
            phrase=data["phrase"],
            text=data["text"],
            line=data.get("line", data["text"]),
            box=box,  # type: ignore[arg-type]
            score=data.get("score"),
            uncertain=bool(data.get("uncertain", False)),
            reason=data.get("reason"),
            frame=None if data.get("frame") is None else int(data["frame"]),
        )


@dataclass(frozen=True)
class VerdictError:
    """Why an image could not be reviewed: a stable code and a human message."""

    code: ErrorCode
    message: str

    def to_dict(self) -> dict[str, str]:
        """``{"code": ..., "message": ...}``."""
        return {"code": self.code.value, "message": self.message}


@dataclass(frozen=True)
class Verdict:
    """The outcome of reviewing one image.

    ``industry`` is the industry the ad was judged as (None: undeclared, every rule
    applied); rules limited to or exempt in industries were chosen by it.
    """

    decision: Decision
    matches: tuple[Evidence, ...]
    ruleset: str
    engine: str
    engine_version: str
    sha256: str | None
    error: VerdictError | None = None
    timings: dict[str, float] = field(default_factory=dict)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    industry: str | None = None

    @classmethod
    def failed(
        cls, error: VerdictError, *, ruleset: str, engine: str, engine_version: str,
        sha256: str | None, timings: dict[str, float] | None = None,
        industry: str | None = None,
    ) -> Verdict:
        """An ``error`` verdict: the image could not be processed."""
        return cls(Decision.ERROR, (), ruleset, engine, engine_version, sha256, error,
                   dict(timings or {}), industry=industry)

    def to_dict(self) -> dict[str, Any]:
        """The JSON fields shared by ``scan --json`` and ``verdicts --json``."""
        return {
            "decision": self.decision.value,
            "matches": [m.to_dict() for m in self.matches],
            "error": None if self.error is None else self.error.to_dict(),
            "ruleset": self.ruleset,
            "engine": self.engine,
            "industry": self.industry,
        }
