"""Review callbacks from the outbox, with real processes: 20 parallel decisions on a real
``adreview serve`` (PostgreSQL), the API killed with SIGKILL right after, and a real
worker delivering: exactly one callback per change of the effective decision, in order
(``sequence`` 1, 2, ...), the last equal to the final state."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from rules.schema import Decision
from tests.worker.processes import served_api
from tests.worker.test_api import evidence
from tests.worker.test_api_webhooks import Receiver, receiver_factory
from tests.worker.test_queue import (
    StartWorker,
    broker,
    settings,
    start_worker,
    wait_for,
)
from worker.api.webhooks import verify_signature
from worker.db import Store
from worker.db.keys import ApiKeys
from worker.settings import Settings
from worker.verdict import Verdict

__all__ = ["broker", "receiver_factory", "settings", "start_worker"]  # fixtures

SECRET = "outbox-test-secret"  # noqa: S105 - a test signing secret


def _judged_with_callback(store: Store, url: str) -> str:
    ident = store.add_submission(None, "inline", metadata={
        "image_ref": {"inline": "aGVsbG8="}, "callback_url": url})
    store.record_verdict(ident, Verdict(Decision.REJECT, (evidence(),), "rules-v1", "fake",
                                        "fake-1", None, created=datetime.now(UTC)))
    return ident


@pytest.mark.slow
def test_twenty_parallel_decisions_give_one_callback_per_change_in_order_despite_a_kill(
    settings: Settings, start_worker: StartWorker, receiver_factory: type[Receiver],
    tmp_path: Path,
) -> None:
    receiver = receiver_factory([503])  # the first attempt fails: retried, not doubled
    with Store.open(settings.database_url) as store:
        # one reviewer a decision: a reviewer's own second press is a repeat, stored once
        keys = [ApiKeys(store).create("reviewer", f"rita{n}")[1] for n in range(20)]
        ident = _judged_with_callback(store, receiver.url)
    env = {"ADREVIEW_DATABASE_URL": settings.database_url,
           "ADREVIEW_REDIS_URL": settings.redis_url, "ADREVIEW_WEBHOOK_SECRET": SECRET,
           "ADREVIEW_ALLOW_PRIVATE_URLS": "true"}
    choices = [{"decision": "pass"}, {"action": "confirm"},
               {"decision": "pass"}, {"decision": "reject"}] * 5
    with served_api(tmp_path, env) as api:
        def decide(key: str, body: dict[str, str]) -> int:
            return httpx.post(f"{api.base}/v1/submissions/{ident}/decisions", json=body,
                              headers={"Authorization": f"Bearer {key}"},
                              timeout=60).status_code

        with ThreadPoolExecutor(20) as pool:
            statuses = list(pool.map(decide, keys, choices))
        os.kill(api.process.pid, signal.SIGKILL)  # the process that made the decisions
        api.process.wait(10)
    assert statuses == [201] * 20
    assert receiver.count() == 0, "callbacks are the workers' to send"

    with Store.open(settings.database_url) as store:
        reviews = store.reviews(ident)
        current = store.current_verdict(ident)
    assert len(reviews) == 20 and current is not None
    changes = []
    effective = Decision.REJECT.value
    for review in reviews:
        if review.decision.value != effective:
            effective = review.decision.value
            changes.append((review.id, effective))
    assert changes, "the decisions changed nothing; the test proved nothing"
    assert effective == current.effective_decision.value

    start_worker(1, ADREVIEW_WEBHOOK_SECRET=SECRET, ADREVIEW_ALLOW_PRIVATE_URLS="true",
                 ADREVIEW_WEBHOOK_BACKOFF="0.5")
    wait_for(lambda: receiver.count() >= len(changes) + 1, 90, "every callback")
    time.sleep(3)  # nothing more comes
    assert receiver.count() == len(changes) + 1  # the 503 answered once, then each once
    delivered = []
    for headers, body, status in receiver.requests:
        assert verify_signature(body, headers, SECRET)
        if status == 200:
            delivered.append((json.loads(body), headers))
    assert [p["sequence"] for p, _ in delivered] == list(range(1, len(changes) + 1))
    assert [(p["review"]["id"], p["effective_decision"]) for p, _ in delivered] == changes
    assert delivered[-1][0]["effective_decision"] == current.effective_decision.value
