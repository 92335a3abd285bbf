"""Request and response bodies of the HTTP API, with the examples shown in OpenAPI."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rules.schema import Decision
from worker.api.inputs import (
    MAX_CALLBACK_URL_LENGTH,
    MAX_URL_LENGTH,
    check_http_url,
    check_metadata,
    check_optional_text,
)
from worker.db import ReviewAction

#: Metadata keys the API sets itself or takes only in their own fields.
API_METADATA = ("callback_url", "submitted_by")
#: Longest text ``POST /v1/rules/test`` judges.
RULE_TEST_MAX_CHARS = 20_000


class ErrorDetail(BaseModel):
    """What went wrong: a stable code and a human message."""

    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error answer: ``{"error": {"code", "message"}}``."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"error": {"code": "forbidden", "message": "this key's role (producer) may not do "
                   "this; it needs one of: reviewer, admin"}}]})

    error: ErrorDetail


class SubmissionFields(BaseModel):
    """What a submission carries besides its image, in JSON and in multipart forms alike."""

    model_config = ConfigDict(extra="forbid")

    ad_id: str | None = Field(default=None, max_length=255, description="External ad id.")
    metadata: dict[str, Any] | None = Field(
        default=None,
        description="Kept with the submission: a JSON object of at most 64 KiB, finite "
        "numbers, no NUL characters; `callback_url` and `submitted_by` are not accepted "
        "in it (the first has its own field, the second is set by the server).",
    )
    callback_url: str | None = Field(
        default=None, max_length=MAX_CALLBACK_URL_LENGTH,
        description="Where the verdict is POSTed, signed, when it is stored (an http(s) "
        "URL; only when the server has a webhook secret, else the answer warns).",
    )
    industry: str | None = Field(
        default=None, max_length=64,
        description="The ad's industry, an id the rule set declares (`GET /v1/rules`); "
        "`metadata.industry` is used when this is left out. Unknown: 422 `unknown_industry`.",
    )

    @field_validator("ad_id", "industry")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        return check_optional_text("the value", value)

    @field_validator("callback_url")
    @classmethod
    def _callback(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(
            "callback_url", value, MAX_CALLBACK_URL_LENGTH)

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        for key in API_METADATA:
            if value is not None and key in value:
                where = ("is set by the server" if key == "submitted_by"
                         else "goes in its own field")
                raise ValueError(f"metadata.{key} is not accepted: it {where}")
        return check_metadata(value)


class SubmissionIn(SubmissionFields):
    """A JSON submission: the image as base64 (``image``) or an http(s) ``url``, not both."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"url": "https://cdn.example.com/ads/banner-17.jpg", "ad_id": "ad-17",
         "metadata": {"shop": "s-204"}, "callback_url": "https://shop.example.com/hooks/adreview"},
        {"image": "iVBORw0KGgoAAAANSUhEUgAA...", "ad_id": "ad-18", "industry": "cosmetics"},
    ]})

    image: str | None = Field(default=None, description="The image file, base64-encoded.")
    url: str | None = Field(default=None, max_length=MAX_URL_LENGTH,
                            description="An http(s) URL the worker fetches.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url("url", value, MAX_URL_LENGTH)


class SubmissionAccepted(BaseModel):
    """The id of a stored and queued submission (also in the ``Location`` header), and
    what the server will not do as asked (``warnings``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": "0193a1f2-7c4e-7d2a-9b1e-3f5c2a1d9e80", "status": "queued", "warnings": []}]})

    id: str
    status: str = "queued"
    warnings: list[str] = Field(
        default_factory=list,
        description="E.g. that `callback_url` will not be called: the server has no "
        "webhook secret (ADREVIEW_WEBHOOK_SECRET).",
    )


class SubmissionOut(BaseModel):
    """A submission with its current verdict (evidence included) and reviewer decisions."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0193a1f2-7c4e-7d2a-9b1e-3f5c2a1d9e80", "ad_id": "ad-17", "status": "done",
        "source": "url:https://cdn.example.com/ads/banner-17.jpg", "sha256": "9f2c...",
        "attempts": 1, "metadata": {"shop": "s-204"}, "industry": "cosmetics",
        "created": "2026-11-25T08:00:00+00:00", "updated": "2026-11-25T08:00:01+00:00",
        "verdict": {"decision": "reject", "matches": [{
            "rule": "absolute.first", "category": "absolute", "severity": "reject",
            "phrase": "全网第一", "text": "全 网 第 一",
            "box": [[12.0, 40.5], [250.0, 40.5], [250.0, 90.0], [12.0, 90.0]],
            "line": "全 网 第 一 销量", "score": 0.98, "uncertain": False, "reason": None}],
            "error": None, "ruleset": "fa48e8fa0ed5a7d7", "engine": "rapidocr",
            "industry": "cosmetics"},
        "reviews": []}]})

    id: str
    ad_id: str | None
    status: str
    source: str
    sha256: str | None
    attempts: int
    metadata: dict[str, Any]
    industry: str | None = Field(default=None, description="The industry the ad declared.")
    created: str
    updated: str
    verdict: dict[str, Any] | None = Field(description="The current verdict, None before one.")
    reviews: list[dict[str, Any]]
    lines: list[dict[str, Any]] | None = Field(
        default=None,
        description="With ?lines=true: every OCR line the verdict was judged on (text, box, "
        "score; first_read where a second look changed it).",
    )


class VerdictPage(BaseModel):
    """One page of verdicts, newest first; pass ``next_cursor`` back as ``cursor``."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"items": [{"submission": "0193a1f2-...", "ad_id": "ad-17", "decision": "reject",
                    "matches": [], "error": None, "ruleset": "fa48e8fa0ed5a7d7",
                    "engine": "rapidocr", "industry": None, "verdict_id": 42}],
         "next_cursor": "djE6NDI"}]})

    items: list[dict[str, Any]]
    next_cursor: str | None


class DecisionIn(BaseModel):
    """A reviewer's decision: ``pass`` or ``reject`` (a confirmation when it is the
    machine's), or ``action: confirm`` of a ``pass``/``reject`` verdict.

    ``base_review`` names the state the decision was made on: the id of the latest
    decision the reviewer saw, or null when they saw none. When another decision landed
    since, the answer is 409 ``decision_conflict`` with that decision (``latest``).
    Left out, no check is made. ``duplicates: true`` applies the decision to every
    undecided identical image judged by the same rule set as well (each recorded)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"decision": "pass", "note": "第一步 is a usage step, not a claim", "base_review": None},
        {"action": "override", "decision": "pass", "note": "usage step"},
        {"action": "confirm", "base_review": 12},
    ]})

    action: ReviewAction | None = Field(
        default=None, description="confirm or override; inferred from `decision` when left out.")
    decision: Decision | None = Field(default=None, description="pass or reject.")
    note: str | None = Field(default=None, max_length=10_000)
    base_review: int | None = Field(
        default=None, description="The latest review id the reviewer saw (null: none).")
    duplicates: bool = Field(default=False,
                             description="Decide identical undecided images too.")

    @field_validator("note")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        return check_optional_text("note", value)


class ReviewOut(BaseModel):
    """A stored reviewer decision; ``repeated`` when the same reviewer's same decision
    was already the latest (a second press stores nothing), ``duplicates`` the identical
    images decided with it."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": 3, "submission": "0193a1f2-...", "verdict_id": 42, "reviewer": "alice",
         "action": "override", "decision": "pass", "note": "usage step",
         "created": "2026-11-25T09:12:00+00:00", "repeated": False, "duplicates": []}]})

    id: int
    submission: str
    verdict_id: int
    reviewer: str
    action: str
    decision: str
    note: str | None
    created: str
    repeated: bool = False
    duplicates: list[str] = Field(default_factory=list)


class BatchDecisionIn(DecisionIn):
    """One decision of a batch: a ``DecisionIn`` naming its submission."""

    submission: str = Field(max_length=64)


class BatchIn(BaseModel):
    """Several decisions, each stored on its own (one failing leaves the others)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"items": [{"submission": "0193a1f2-...", "decision": "reject", "base_review": None},
                   {"submission": "0193a1f3-...", "decision": "pass"}]}]})

    items: list[BatchDecisionIn] = Field(min_length=1, max_length=500)


class BatchResult(BaseModel):
    """What became of one decision of a batch: ``status`` as the single route would
    answer (201 stored, 200 repeated, 404, 409, 422) with the review or the error."""

    submission: str
    status: int
    review: ReviewOut | None = None
    error: ErrorDetail | None = None
    latest: dict[str, Any] | None = None


class BatchOut(BaseModel):
    """The results of a batch, in the order given."""

    results: list[BatchResult]


class AuditOut(BaseModel):
    """Audit lines, newest first; pass ``next_before`` back as ``before``."""

    items: list[dict[str, Any]]
    next_before: int | None


class RulesOut(BaseModel):
    """The active rule set: its version, categories, declared industries and rules."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"version": "fa48e8fa0ed5a7d7",
         "categories": [{"id": "absolute", "name": "绝对化用语"}],
         "industries": [{"id": "medical", "name": "医疗", "description": "医疗机构、医疗服务"}],
         "rules": [{"id": "absolute.first", "category": "absolute", "severity": "reject",
                    "phrases": ["全网第一"], "industries": [], "exempt_industries": []}]}]})

    version: str
    categories: list[dict[str, Any]]
    industries: list[dict[str, Any]] = Field(
        default_factory=list, description="The industries a submission may declare.")
    rules: list[dict[str, Any]]


class RuleTestIn(BaseModel):
    """Text to run through the active rule set, as an ad of ``industry`` when given."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "全 网 第 一，第一步先洁面"}, {"text": "治疗失眠", "industry": "medical"}]})

    text: str = Field(max_length=RULE_TEST_MAX_CHARS,
                      description=f"At most {RULE_TEST_MAX_CHARS:,} characters.")
    industry: str | None = Field(
        default=None, max_length=64,
        description="An industry the rule set declares (unknown: 422 `unknown_industry`).")


class RuleDiffIn(BaseModel):
    """A candidate rule set for ``POST /v1/rules/diff``: rule files by path."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"files": {"absolute.yaml": "rules:\n  - id: absolute.first\n    category: absolute\n"
                                    "    severity: reject\n    phrases: [全网第一]\n"
                                    "    exceptions: [第一步]\n"}, "since": "30d"}]})

    files: dict[str, str] = Field(
        max_length=200,
        description="Path (relative, ending in .yaml or .yml) -> the file's YAML text; "
        "they replace or add files of the active rule folder.")
    replace: bool = Field(default=False,
                          description="The files are the whole candidate rule set.")
    since: str | None = Field(default=None, max_length=64,
                              description="Only verdicts judged at or after (ISO time or 7d).")
    limit: int | None = Field(default=None, ge=1, le=1_000_000,
                              description="Only the newest N current verdicts.")
    examples: int = Field(default=5, ge=0, le=50, description="Example ads per group.")

    @field_validator("files")
    @classmethod
    def _small(cls, value: dict[str, str]) -> dict[str, str]:
        if sum(len(k) + len(v) for k, v in value.items()) > 2_000_000:
            raise ValueError("the candidate's files are over 2,000,000 characters")
        return value


class RuleTestOut(BaseModel):
    """The same JSON as ``adreview rules test --json``."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"decision": "reject", "matches": [{"rule": "absolute.first", "category": "absolute",
                                            "severity": "reject", "phrase": "全网第一",
                                            "text": "全 网 第 一"}]}]})

    decision: str
    matches: list[dict[str, Any]]


class StatsOut(BaseModel):
    """Counts of current verdicts by machine and effective decision, by matched category
    and by day (UTC), and how many a reviewer has decided about."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"total": 3, "by_decision": {"pass": 1, "review": 0, "reject": 2, "error": 0},
         "by_effective_decision": {"pass": 2, "review": 0, "reject": 1, "error": 0},
         "reviewed": 1, "reviewed_share": 0.3333,
         "by_category": {"absolute": 2},
         "by_day": [{"day": "2026-11-25", "pass": 1, "review": 0, "reject": 2, "error": 0}]}]})

    total: int
    by_decision: dict[str, int] = Field(description="By the machine decision.")
    by_effective_decision: dict[str, int] = Field(
        default_factory=dict,
        description="By the latest reviewer decision, else the machine's.")
    reviewed: int = Field(default=0, description="Submissions a reviewer decided about.")
    reviewed_share: float = Field(default=0.0, description="reviewed / total (0 when none).")
    by_category: dict[str, int]
    by_day: list[dict[str, Any]]
    reviewers: dict[str, Any] | None = Field(
        default=None, description="Reviewer throughput: decisions per reviewer and per "
        "hour, seconds from verdict to decision.")
