"""Request and response bodies of the HTTP API, with the examples shown in OpenAPI."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rules.schema import Decision
from worker.db import ReviewAction


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


class SubmissionIn(BaseModel):
    """A JSON submission: the image as base64 (``image``) or an http(s) ``url``, not both."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"url": "https://cdn.example.com/ads/banner-17.jpg", "ad_id": "ad-17",
         "metadata": {"shop": "s-204"}, "callback_url": "https://shop.example.com/hooks/adreview"},
        {"image": "iVBORw0KGgoAAAANSUhEUgAA...", "ad_id": "ad-18", "industry": "cosmetics"},
    ]})

    image: str | None = Field(default=None, description="The image file, base64-encoded.")
    url: str | None = Field(default=None, description="An http(s) URL the worker fetches.")
    ad_id: str | None = Field(default=None, max_length=255, description="External ad id.")
    metadata: dict[str, Any] | None = Field(default=None, description="Kept with the submission.")
    callback_url: str | None = Field(
        default=None, description="Where the verdict is POSTed, signed, when it is stored."
    )
    industry: str | None = Field(
        default=None,
        description="The ad's industry, an id the rule set declares (`GET /v1/rules`); "
        "`metadata.industry` is used when this is left out. Unknown: 422 `unknown_industry`.",
    )


class SubmissionAccepted(BaseModel):
    """The id of a stored and queued submission."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": "0193a1f2-7c4e-7d2a-9b1e-3f5c2a1d9e80", "status": "queued"}]})

    id: str
    status: str = "queued"


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
    """A reviewer's decision: confirm the machine verdict, or override it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"action": "override", "decision": "pass", "note": "第一步 is a usage step, not a claim"},
        {"action": "confirm"},
    ]})

    action: ReviewAction
    decision: Decision | None = Field(default=None, description="Needed for an override.")
    note: str | None = Field(default=None, max_length=10_000)


class ReviewOut(BaseModel):
    """A stored reviewer decision."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": 3, "submission": "0193a1f2-...", "verdict_id": 42, "reviewer": "alice",
         "action": "override", "decision": "pass", "note": "usage step",
         "created": "2026-11-25T09:12:00+00:00"}]})

    id: int
    submission: str
    verdict_id: int
    reviewer: str
    action: str
    decision: str
    note: str | None
    created: str


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

    text: str = Field(max_length=100_000)
    industry: str | None = Field(
        default=None,
        description="An industry the rule set declares (unknown: 422 `unknown_industry`).")


class RuleTestOut(BaseModel):
    """The same JSON as ``adreview rules test --json``."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"decision": "reject", "matches": [{"rule": "absolute.first", "category": "absolute",
                                            "severity": "reject", "phrase": "全网第一",
                                            "text": "全 网 第 一"}]}]})

    decision: str
    matches: list[dict[str, Any]]


class StatsOut(BaseModel):
    """Counts of current verdicts by decision, by matched category and by day (UTC)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"total": 3, "by_decision": {"pass": 1, "review": 0, "reject": 2, "error": 0},
         "by_category": {"absolute": 2},
         "by_day": [{"day": "2026-11-25", "pass": 1, "review": 0, "reject": 2, "error": 0}]}]})

    total: int
    by_decision: dict[str, int]
    by_category: dict[str, int]
    by_day: list[dict[str, Any]]
