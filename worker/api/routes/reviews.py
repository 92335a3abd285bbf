"""Reviewers: decide about machine verdicts (one, or a batch), stored beside them; the
audit log of decisions, claims, keys and rule sets (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from worker.api.decisions import decide_with_duplicates, record_decision
from worker.api.deps import StateDep, SubmissionId, roles, sees
from worker.api.errors import problem_for, public_message
from worker.api.routes.submissions import submission_or_404
from worker.api.schemas import (
    AuditOut,
    BatchDecisionIn,
    BatchIn,
    BatchOut,
    BatchResult,
    DecisionIn,
    ErrorDetail,
    ReviewOut,
)
from worker.api.state import ApiProblem, ApiState
from worker.db import NotFound, StorageError
from worker.db.keys import StoredKey
from worker.db.store import UNSEEN

router = APIRouter()


def _base(body: DecisionIn) -> int | None:
    return body.base_review if "base_review" in body.model_fields_set else UNSEEN


def _decide(state: ApiState, key: StoredKey, submission_id: str,
            body: DecisionIn) -> dict[str, Any]:
    """One decision as the routes store it: the review's JSON with ``repeated`` and the
    identical images decided with it. Raises ``ApiProblem``."""
    try:
        if body.duplicates:
            outcome, twins = decide_with_duplicates(
                state, submission_id, key.name, body.action, body.decision, body.note,
                _base(body))
            decided = [t for t, result in twins if not isinstance(result, StorageError)]
        else:
            outcome = record_decision(state, submission_id, key.name, body.action,
                                      body.decision, body.note, _base(body))
            decided = []
    except NotFound as exc:
        raise ApiProblem(409, "no_verdict", public_message(exc)) from None
    except StorageError as exc:
        raise problem_for(exc) from None
    return {**outcome.review.to_dict(), "repeated": not outcome.created,
            "duplicates": decided}


@router.post("/v1/submissions/{submission_id}/decisions", status_code=201,
             response_model=ReviewOut, tags=["reviewers"],
             responses={409: {"description": "`decision_conflict`: another decision landed "
                              "since `base_review` (the body's `latest`); `no_verdict`"},
                        422: {"description": "`decision_required`: confirming a `review` "
                              "verdict decides nothing (choose pass or reject)"}})
async def post_decision(
    submission_id: SubmissionId,
    body: DecisionIn,
    state: StateDep,
    response: Response,
    key: Annotated[StoredKey, roles("POST", "/v1/submissions/{submission_id}/decisions")],
) -> ReviewOut:
    """Decide about the current machine verdict: ``pass`` or ``reject``; stored with the
    key's name. 201 for a new decision, 200 when the same reviewer's same decision is
    already the latest (a double press stores nothing).

    The submission's ``effective_decision`` becomes this decision; when that changes it,
    the submission's ``callback_url`` receives a signed ``event: "review"`` callback."""
    await submission_or_404(state, key, submission_id)
    stored = await state.run_db(_decide, state, key, submission_id, body)
    if stored["repeated"]:
        response.status_code = 200
    return ReviewOut(**stored)


@router.post("/v1/decisions", response_model=BatchOut, tags=["reviewers"])
async def post_decisions(
    body: BatchIn,
    state: StateDep,
    key: Annotated[StoredKey, roles("POST", "/v1/decisions")],
) -> BatchOut:
    """Several decisions at once (up to 500), each stored on its own with the checks of
    the single route; ``results`` says, in the order given, what became of each."""

    def run() -> list[BatchResult]:
        store = state.store()
        results = []
        for item in body.items:
            sub = store.get_submission(item.submission)
            if sub is None or not sees(key, sub.api_key_id):
                missing = ErrorDetail(code="not_found",
                                      message=f"no submission {item.submission!r}")
                results.append(BatchResult(submission=item.submission, status=404,
                                           error=missing))
                continue
            results.append(_one(item))
        return results

    def _one(item: BatchDecisionIn) -> BatchResult:
        try:
            stored = _decide(state, key, item.submission, item)
        except ApiProblem as problem:
            latest = problem.extra.get("latest")
            return BatchResult(submission=item.submission, status=problem.status,
                               error=ErrorDetail(code=problem.code, message=problem.message),
                               latest=latest if isinstance(latest, dict) else None)
        return BatchResult(submission=item.submission,
                           status=200 if stored["repeated"] else 201,
                           review=ReviewOut(**stored))

    return BatchOut(results=await state.run_db(run))


@router.get("/v1/audit", response_model=AuditOut, tags=["admin"])
async def get_audit(
    state: StateDep,
    _key: Annotated[StoredKey, roles("GET", "/v1/audit")],
    action: Annotated[str | None, Query(max_length=64, description=(
        "decision, decision.undo, claim, key.create, key.revoke, ruleset.new, requeue, "
        "rejudge; a prefix keeps its sub-actions"))] = None,
    subject: Annotated[str | None, Query(max_length=255,
                                         description="A submission id, key:N, a rule set")]
    = None,
    actor: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1, description="`next_before` of the page before.")]
    = None,
) -> AuditOut:
    """The audit log, newest first: who decided, claimed, made or revoked keys, and when
    a new rule set was first seen."""
    found = await state.run_db(lambda: state.store().audit_log(
        limit=limit + 1, before=before, action=action, subject=subject, actor=actor))
    more = len(found) > limit
    found = found[:limit]
    return AuditOut(items=[e.to_dict() for e in found],
                    next_before=found[-1].id if more and found else None)


__all__ = ["router"]
