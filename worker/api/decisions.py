"""Reviewer decisions as the API and the pages store them: the review row, and the signed
callback (``event: "review"``) when the decision changes the effective decision.

The callback is written to the callback outbox in the decision's own transaction
(``Store.decide``), numbered per submission, and delivered by the workers
(``worker.callbacks``) in that order with retries: a slow receiver never holds the
reviewer, and a process that dies after the decision loses no callback. Only when the
server has a webhook secret (no secret, no callbacks).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from prometheus_client import Counter, Histogram

from rules.schema import Decision
from worker.api.state import ApiState
from worker.api.webhooks import review_payload
from worker.db import StorageError, StoredReview, StoredVerdict
from worker.db.models import ReviewAction
from worker.db.records import DecisionOutcome
from worker.db.store import UNSEEN

log = logging.getLogger(__name__)

#: Reviewer decisions stored, by action and decision. No reviewer's name: ``/metrics``
#: answers anyone; per-reviewer counts are in ``GET /v1/stats`` (a reviewer key).
DECISIONS = Counter("adreview_review_decisions_total", "Reviewer decisions stored.",
                    ["action", "decision"])
#: Seconds from a verdict to a reviewer's decision about it.
TIME_TO_DECISION = Histogram(
    "adreview_review_seconds_to_decision", "Seconds from a verdict to a reviewer decision.",
    buckets=(10, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400))


def record_decision(
    state: ApiState,
    submission_id: str,
    reviewer: str,
    action: ReviewAction | str | None,
    decision: Decision | str | None = None,
    note: str | None = None,
    base_review: int | None = UNSEEN,
) -> DecisionOutcome:
    """Store the decision (``Store.decide``: row lock, conflict check, effective decision
    before and after and, when it changes, the ``review`` callback in the outbox, all in
    one transaction). Raises what ``decide`` raises."""
    store = state.store()
    outcome = store.decide(submission_id, reviewer, decision, action=action, note=note,
                           base_review=base_review, callback=_callback(state))
    if not outcome.created:
        return outcome
    review = outcome.review
    DECISIONS.labels(review.action.value, review.decision.value).inc()
    after = store.current_verdict(submission_id)
    if after is not None:
        waited = (review.created - after.verdict.created).total_seconds()
        TIME_TO_DECISION.observe(max(0.0, waited))
    return outcome


def undo_decision(state: ApiState, submission_id: str, reviewer: str,
                  within: timedelta) -> StoredReview | None:
    """Take back the reviewer's latest decision (``Store.undo_decision``), with the
    ``review`` callback in the outbox when that changes the effective decision."""
    return state.store().undo_decision(submission_id, reviewer, within,
                                       callback=_callback(state))


def _callback(state: ApiState) -> Callable[[StoredVerdict], dict[str, Any]] | None:
    """The payload of a review callback, when the server signs callbacks (no secret, no
    callbacks)."""
    return review_payload if state.settings.webhook_secret else None


def decide_with_duplicates(
    state: ApiState,
    submission_id: str,
    reviewer: str,
    action: ReviewAction | str | None,
    decision: Decision | str | None = None,
    note: str | None = None,
    base_review: int | None = UNSEEN,
) -> tuple[DecisionOutcome, list[tuple[str, DecisionOutcome | StorageError]]]:
    """``record_decision`` for the submission, then the same decision for each undecided
    identical image judged by the same rule set (``Store.duplicates``), each recorded
    on its own (a duplicate decided meanwhile is a ``DecisionConflict`` in the list)."""
    twins = state.store().duplicates(submission_id)
    first = record_decision(state, submission_id, reviewer, action, decision, note,
                            base_review)
    chosen = first.review.decision
    results: list[tuple[str, DecisionOutcome | StorageError]] = []
    for twin in twins:
        try:
            results.append((twin, record_decision(state, twin, reviewer, None, chosen, note,
                                                  None)))
        except StorageError as exc:
            results.append((twin, exc))
    return first, results


__all__ = ["DECISIONS", "TIME_TO_DECISION", "decide_with_duplicates", "record_decision",
           "undo_decision"]
