"""Reviewer decisions as the API and the pages store them: the review row, and the signed
callback (``event: "review"``) when the decision changes the effective decision.

The callback is written to the callback outbox in the decision's own transaction
(``Store.add_review``), numbered per submission, and delivered by the workers
(``worker.callbacks``) in that order with retries: a slow receiver never holds the
reviewer, and a process that dies after the decision loses no callback. Only when the
server has a webhook secret (no secret, no callbacks).
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Histogram

from rules.schema import Decision
from worker.api.state import ApiState
from worker.api.webhooks import review_payload
from worker.db import StoredReview
from worker.db.models import ReviewAction

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
    action: ReviewAction | str,
    decision: Decision | str | None = None,
    note: str | None = None,
) -> StoredReview:
    """Store the decision (``Store.add_review``), with the ``review`` callback in the
    same transaction when it changes the submission's effective decision. Raises what
    ``add_review`` raises."""
    store = state.store()
    signed = bool(state.settings.webhook_secret)
    review = store.add_review(submission_id, reviewer, action, decision, note,
                              callback=review_payload if signed else None)
    DECISIONS.labels(review.action.value, review.decision.value).inc()
    current = store.current_verdict(submission_id)
    if current is not None:
        waited = (review.created - current.verdict.created).total_seconds()
        TIME_TO_DECISION.observe(max(0.0, waited))
    return review


__all__ = ["DECISIONS", "TIME_TO_DECISION", "record_decision"]
