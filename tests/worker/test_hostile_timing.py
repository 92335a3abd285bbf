"""Valid-typed but hostile ``eta`` and ``expires``, on a real worker and Redis: a review
message due in ten days and one already expired are dead-lettered with their reason at
once (under the queue they were read from, whatever routing key they name), and their
submissions end with an ``invalid_message`` error verdict, without the sweep; a review
behind them is judged as usual."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
import redis

from tests.worker.test_poison_messages import broker
from tests.worker.test_queue import StartWorker, _ads, start_worker, wait_for
from tests.worker.test_queue_restart import redis_server, settings
from worker.broker_guard import dead_letter_key
from worker.celery_app import REVIEW_TASK
from worker.client import celery_for, submit
from worker.db import Store
from worker.settings import Settings

__all__ = ["broker", "redis_server", "settings", "start_worker"]  # fixtures


@pytest.mark.slow
def test_a_far_eta_and_a_past_expiry_are_dead_lettered_with_an_error_verdict_at_once(
    settings: Settings, broker: redis.Redis, start_worker: StartWorker,
) -> None:
    ref = {"inline": base64.b64encode(_ads(1)[0]).decode()}
    with Store.open(settings.database_url) as store:
        far, old = (store.add_submission(None, "inline", metadata={"image_ref": ref})
                    for _ in range(2))
    celery = celery_for(settings)
    now = datetime.now(UTC)
    # The far one names another queue as its routing key: its dead letter still goes
    # with the queue it was read from.
    scratch = f"{settings.queue}-scratch"
    celery.send_task(REVIEW_TASK, args=(far, "rapidocr", ref), queue=scratch,
                     eta=now + timedelta(days=10))
    envelope = json.loads(broker.rpop(scratch))  # type: ignore[arg-type]
    envelope["properties"]["delivery_info"]["routing_key"] = "someone-elses-queue"
    broker.lpush(settings.queue, json.dumps(envelope))
    celery.send_task(REVIEW_TASK, args=(old, "rapidocr", ref), queue=settings.queue,
                     expires=now - timedelta(minutes=1))
    good = submit(_ads(2)[1], settings=settings)
    start_worker(1, ADREVIEW_SWEEP_SECONDS="0")

    with Store.open(settings.database_url) as store:
        def judged() -> bool:
            return all(store.current_verdict(i) is not None for i in (far, old, good))

        wait_for(judged, 90, "the verdicts")
        for ident, words in ((far, "far_eta"), (old, "expired")):
            current = store.current_verdict(ident)
            assert current is not None and current.verdict.error is not None
            assert current.verdict.error.code == "invalid_message"
            assert words in current.verdict.error.message
            assert len(store.verdict_history(ident)) == 1
        judged_good = store.current_verdict(good)
        assert judged_good is not None and judged_good.verdict.error is None
    letters = [json.loads(x) for x in broker.lrange(dead_letter_key(settings.queue), 0, -1)]
    assert sorted(d["reason"] for d in letters) == ["expired", "far_eta"]
    assert {d["queue"] for d in letters} == {settings.queue}
    assert not broker.exists(dead_letter_key("someone-elses-queue"))
    assert broker.llen(settings.queue) == 0
    assert broker.hlen("unacked") == 0  # nothing held back for later
