"""Reviewers: confirm or override a machine verdict, stored beside it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from worker.api.decisions import record_decision
from worker.api.deps import StateDep, SubmissionId, roles
from worker.api.errors import public_message
from worker.api.routes.submissions import submission_or_404
from worker.api.schemas import DecisionIn, ReviewOut
from worker.api.state import ApiProblem
from worker.db import NotFound
from worker.db.keys import StoredKey

router = APIRouter()


@router.post("/v1/submissions/{submission_id}/decisions", status_code=201,
             response_model=ReviewOut, tags=["reviewers"])
async def post_decision(
    submission_id: SubmissionId,
    body: DecisionIn,
    state: StateDep,
    key: Annotated[StoredKey, roles("POST", "/v1/submissions/{submission_id}/decisions")],
) -> ReviewOut:
    """Confirm or override the current machine verdict; stored with the key's name.

    The submission's ``effective_decision`` becomes this decision; when that changes it,
    the submission's ``callback_url`` receives a signed ``event: "review"`` callback."""
    await submission_or_404(state, key, submission_id)

    def add() -> dict[str, Any]:
        try:
            review = record_decision(state, submission_id, key.name, body.action,
                                     body.decision, body.note)
        except NotFound as exc:
            raise ApiProblem(409, "no_verdict", public_message(exc)) from None
        return review.to_dict()

    return ReviewOut(**await state.run_db(add))


__all__ = ["router"]
