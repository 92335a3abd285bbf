"""The send outbox and its relay, with real processes: submissions stored while Redis is
down are on the queue within seconds of Redis coming back, without the sweep or an
operator, and each ends with one verdict.

The test runs its own ``redis-server`` (``test_queue_restart.redis_server``) so that
stopping it disturbs no one else.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.worker.test_queue import (
    StartWorker,
    _ads,
    start_worker,
    verdict_counts,
    wait_for,
)
from tests.worker.test_queue_restart import RedisServer, redis_server, settings
from worker.client import BrokerUnavailable, submit
from worker.db import Store
from worker.settings import Settings

__all__ = ["redis_server", "settings", "start_worker"]  # fixtures, used by name below


def outbox(url: str) -> set[str]:
    """The submissions in the send outbox, straight from the table."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {row[0] for row in conn.execute(text("SELECT submission_id FROM send_outbox"))}
    finally:
        engine.dispose()


def test_a_submission_sent_at_once_leaves_nothing_in_the_outbox(settings: Settings) -> None:
    (ad,) = _ads(1)
    submission = submit(ad, settings=settings)
    assert outbox(settings.database_url) == set()
    with Store.open(settings.database_url) as store:
        assert store.unsent_submissions(timedelta(0)) == []
        assert store.get_submission(submission) is not None


@pytest.mark.slow
def test_submissions_stored_during_a_20_s_redis_outage_are_queued_within_10_s_of_its_end(
    settings: Settings, redis_server: RedisServer, start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    proc = start_worker(1, ADREVIEW_SWEEP_SECONDS="0")  # the relay alone, no sweep
    log = tmp_path / "worker-0.log"
    wait_for(lambda: "ready" in log.read_text(errors="replace"), 90, "the worker")
    redis_server.kill()
    down_at = time.monotonic()
    ids = []
    for ad in _ads(5):
        with pytest.raises(BrokerUnavailable) as caught:
            submit(ad, settings=settings)
        assert "127.0.0.1" not in str(caught.value)  # no address in the producer's message
        assert f":{redis_server.port}" not in str(caught.value)
        ids.append(caught.value.submission_id)
    assert outbox(settings.database_url) == set(ids)
    time.sleep(max(0.0, 20 - (time.monotonic() - down_at)))
    redis_server.start()
    back_at = time.monotonic()
    wait_for(lambda: outbox(settings.database_url) == set(), 10,
             "the relay to send every stored submission")
    sent_within = time.monotonic() - back_at
    wait_for(lambda: len(verdict_counts(settings.database_url)) == len(ids), 120,
             "a verdict for every submission")
    assert set(verdict_counts(settings.database_url).values()) == {1}
    assert sent_within < 10
    assert proc.poll() is None
    assert "relay: sent 5 stored submission(s)" in log.read_text(errors="replace")
