"""Reviewer decisions as the API and the pages store them: the review row, and the signed
callback (``event: "review"``) when the decision changes the effective decision.

The callback goes to the submission's ``callback_url`` like a verdict's, signed the same
way (``worker.api.webhooks``); it is sent from a background thread so that a slow
receiver never holds the reviewer, and only when the server has a webhook secret.
"""

from __future__ import annotations

import logging
import threading

from prometheus_client import Counter, Histogram

from rules.schema import Decision
from worker.api.state import ApiState
from worker.api.webhooks import WebhookError, deliver_webhook, review_payload
from worker.db import StorageError, StoredVerdict
from worker.db.models import ReviewAction
from worker.db.records import DecisionOutcome
from worker.db.store import UNSEEN
from worker.errors import AdreviewError

log = logging.getLogger(__name__)

#: Reviewer decisions stored, by reviewer (the key's name), action and decision.
DECISIONS = Counter("adreview_review_decisions_total", "Reviewer decisions stored.",
                    ["reviewer", "action", "decision"])
#: Seconds from a verdict to a reviewer's decision about it.
TIME_TO_DECISION = Histogram(
    "adreview_review_seconds_to_decision", "Seconds from a verdict to a reviewer decision.",
    buckets=(10, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400))

#: Callback threads started and not yet finished (tests wait on them).
PENDING: set[threading.Thread] = set()


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
    before and after in one transaction); when it changes the submission's effective
    decision, send the ``review`` callback. Raises what ``decide`` raises."""
    store = state.store()
    outcome = store.decide(submission_id, reviewer, decision, action=action, note=note,
                           base_review=base_review)
    if not outcome.created:
        return outcome
    review = outcome.review
    DECISIONS.labels(reviewer, review.action.value, review.decision.value).inc()
    after = store.current_verdict(submission_id)
    if after is not None:
        waited = (review.created - after.verdict.created).total_seconds()
        TIME_TO_DECISION.observe(max(0.0, waited))
        if outcome.before is not outcome.after:
            _send_review_callback(state, after)
    return outcome


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


def _send_review_callback(state: ApiState, stored: StoredVerdict) -> None:
    settings = state.settings
    submission = state.store().get_submission(stored.submission)
    url = (submission.metadata or {}).get("callback_url") if submission is not None else None
    if not isinstance(url, str) or not url:
        return
    secret = settings.webhook_secret
    if not secret:
        log.info("submission %s: review callback not sent (no webhook secret)",
                 stored.submission)
        return
    payload = review_payload(stored)

    def deliver() -> None:
        try:
            deliver_webhook(url, payload, secret, settings)
        except (WebhookError, AdreviewError) as exc:
            log.error("submission %s: review callback failed: %s", stored.submission, exc)
        finally:
            PENDING.discard(thread)

    thread = threading.Thread(target=deliver, name=f"review-callback-{stored.submission}",
                              daemon=True)
    PENDING.add(thread)
    thread.start()


__all__ = ["DECISIONS", "PENDING", "TIME_TO_DECISION", "decide_with_duplicates",
           "record_decision"]
