"""Verdict callbacks and OCR outages through real worker processes.

Each test runs its own ``redis-server`` (``test_queue_restart.redis_server``), a fresh
PostgreSQL schema and ``adreview worker`` processes started with the environment under
test; callbacks go to a local HTTP receiver (a thread), the OCR server is a closed port.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.worker.test_api_webhooks import Receiver
from tests.worker.test_queue import (  # the real-worker fixtures and helpers
    REPO,
    StartWorker,
    _ads,
    _env,
    kill_group,
    start_worker,
    verdict_counts,
    wait_for,
)
from tests.worker.test_queue_restart import free_port, redis_server, settings
from worker.api.app import create_app
from worker.api.webhooks import verify_signature
from worker.client import submit
from worker.db import Store
from worker.errors import ErrorCode
from worker.settings import Settings
from worker.tasks import backoff, webhook_backoff

# Fixtures, used by name below.
__all__ = ["redis_server", "settings", "start_worker"]

SECRET = "callback-secret-for-tests"  # noqa: S105 - a test fixture


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver that fails the first callback with 500 and accepts the next ones."""
    started = Receiver([500])
    started.thread.start()
    yield started
    started.server.shutdown()
    started.server.server_close()


def _log(tmp_path: Path, index: int = 0) -> str:
    return (tmp_path / f"worker-{index}.log").read_text(errors="replace")


@pytest.mark.slow
def test_a_new_verdict_is_called_back_signed_and_retried_once_after_a_500(
    settings: Settings, start_worker: StartWorker, receiver: Receiver, tmp_path: Path
) -> None:
    submission = submit(_ads(1)[0], ad_id="with-callback", settings=settings,
                        metadata={"callback_url": receiver.url})
    start_worker(concurrency=1, ADREVIEW_ALLOW_PRIVATE_URLS="true",
                 ADREVIEW_WEBHOOK_SECRET=SECRET, ADREVIEW_WEBHOOK_BACKOFF="0.2")
    wait_for(lambda: receiver.count() >= 2, 90, "the failed and the accepted callback")
    time.sleep(2.0)  # a further delivery (a retry loop, a duplicate) would arrive now

    assert [status for _, _, status in receiver.requests] == [500, 200]
    for headers, body, _ in receiver.requests:  # every attempt is signed afresh
        assert verify_signature(body, headers, SECRET)
        assert not verify_signature(body, headers, "another secret")
    headers, body, _ = receiver.requests[1]
    payload = json.loads(body)
    with Store.open(settings.database_url) as store:
        current = store.current_verdict(submission)
    assert current is not None
    assert payload["event"] == "verdict"
    assert payload["submission"] == submission
    assert payload["verdict"]["submission"] == submission
    assert payload["verdict"]["ad_id"] == "with-callback"
    assert payload["verdict"]["verdict_id"] == current.id
    assert payload["verdict"]["decision"] == current.verdict.decision.value
    assert verdict_counts(settings.database_url) == {submission: 1}
    log = _log(tmp_path)
    assert "callback attempt 1 of 5 failed" in log
    assert "callback delivered (HTTP 200, run 2)" in log


@pytest.mark.slow
def test_callbacks_to_internal_addresses_are_refused_and_unsigned_ones_never_sent(
    settings: Settings, start_worker: StartWorker, receiver: Receiver, tmp_path: Path
) -> None:
    refused = submit(_ads(1)[0], settings=settings, metadata={"callback_url": receiver.url})
    first = start_worker(concurrency=1, ADREVIEW_WEBHOOK_SECRET=SECRET,
                         ADREVIEW_WEBHOOK_BACKOFF="0.1")  # private addresses refused (default)
    wait_for(lambda: "given up" in _log(tmp_path, 0), 90, "the refused callback")
    assert refused in verdict_counts(settings.database_url)
    log = _log(tmp_path, 0)
    assert "loopback" in log
    assert "callback attempt" not in log  # refused at once, not retried

    kill_group(first)  # the next worker has no secret but allows private addresses
    unsigned = submit(_ads(2)[1], settings=settings, metadata={"callback_url": receiver.url})
    start_worker(concurrency=1, ADREVIEW_ALLOW_PRIVATE_URLS="true")
    wait_for(lambda: unsigned in verdict_counts(settings.database_url), 90, "the verdict")
    wait_for(lambda: "ADREVIEW_WEBHOOK_SECRET is not set" in _log(tmp_path, 1), 10,
             "the unsigned warning")
    time.sleep(1.0)
    assert receiver.count() == 0
    assert verdict_counts(settings.database_url) == {refused: 1, unsigned: 1}


@pytest.fixture
def gpu_worker(settings: Settings, tmp_path: Path) -> Iterator[
        tuple[Settings, subprocess.Popen[bytes]]]:
    """A worker on a GPU queue of its own, its vLLM server a closed port, fast retries."""
    gpu = settings.model_copy(update={"gpu_queue": f"adreview-gpu-{uuid.uuid4().hex[:8]}"})
    env = _env(settings,
               ADREVIEW_GPU_QUEUE=gpu.gpu_queue,
               ADREVIEW_OCR_ENGINE="hunyuan-vllm",
               ADREVIEW_VLLM_URL=f"http://127.0.0.1:{free_port()}/v1",
               ADREVIEW_VLLM_RETRIES="1",
               ADREVIEW_TRANSIENT_RETRIES="2",
               ADREVIEW_RETRY_BACKOFF_BASE="0.2")
    log = open(tmp_path / "gpu-worker.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "worker", "--queues", gpu.gpu_queue,
         "--pool", "prefork", "--concurrency", "1", "--loglevel", "INFO",
         "--hostname", f"gpu-{uuid.uuid4().hex[:6]}@%h"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    log.close()
    yield gpu, proc
    kill_group(proc)


@pytest.mark.slow
def test_when_the_ocr_server_is_down_then_the_submission_ends_as_ocr_unavailable_after_retries(
    gpu_worker: tuple[Settings, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    settings, worker = gpu_worker
    first = submit(_ads(1)[0], settings=settings, engine="hunyuan-vllm")
    wait_for(lambda: first in verdict_counts(settings.database_url), 60, "the first verdict")
    second = submit(_ads(2)[1], settings=settings, engine="hunyuan-vllm")
    wait_for(lambda: second in verdict_counts(settings.database_url), 60, "the second verdict")
    time.sleep(1.0)  # a further retry would store another verdict now
    assert verdict_counts(settings.database_url) == {first: 1, second: 1}
    with Store.open(settings.database_url) as store:
        for submission in (first, second):
            current = store.current_verdict(submission)
            stored = store.get_submission(submission)
            assert current is not None and current.verdict.error is not None
            assert current.verdict.decision.value == "error"
            assert current.verdict.error.code is ErrorCode.OCR_UNAVAILABLE
            assert "after 2 retries" in current.verdict.error.message
            assert current.verdict.engine == "hunyuan-vllm"
            # the first delivery and the two retries each counted once
            assert stored is not None and stored.attempts == 3
            assert stored.status.value == "error"
    assert worker.poll() is None  # the worker is still running
    log = (tmp_path / "gpu-worker.log").read_text(errors="replace")
    assert log.count("retry 1 in") == 2 and log.count("retry 2 in") == 2
    assert "retry 3 in" not in log


def test_settings_read_callbacks_cors_and_retries_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = Settings()
    assert (defaults.webhook_attempts, defaults.webhook_backoff, defaults.webhook_timeout) == (
        5, 1.0, 10.0)
    assert (defaults.transient_retries, defaults.retry_backoff_base,
            defaults.retry_backoff_max) == (5, 2.0, 120.0)
    assert defaults.cors_origins == []
    monkeypatch.setenv("ADREVIEW_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("ADREVIEW_CORS_ORIGINS", "https://a.example.com, https://b.example.com")
    monkeypatch.setenv("ADREVIEW_TRANSIENT_RETRIES", "2")
    configured = Settings()
    assert configured.webhook_secret == SECRET
    assert configured.cors_origins == ["https://a.example.com", "https://b.example.com"]
    assert configured.transient_retries == 2
    monkeypatch.setenv("ADREVIEW_CORS_ORIGINS", '["https://c.example.com"]')
    monkeypatch.setenv("ADREVIEW_WEBHOOK_SECRET", "")
    again = Settings()
    assert again.cors_origins == ["https://c.example.com"]
    assert again.webhook_secret is None  # empty means none: no callbacks


def test_cors_origins_come_from_settings() -> None:
    from fastapi.testclient import TestClient

    preflight = {"Origin": "https://dash.example.com", "Access-Control-Request-Method": "GET"}
    on = Settings(database_url="sqlite://", cors_origins=["https://dash.example.com"])
    with TestClient(create_app(on)) as client:
        answer = client.options("/health", headers=preflight)
    assert answer.headers.get("access-control-allow-origin") == "https://dash.example.com"
    with TestClient(create_app(Settings(database_url="sqlite://"))) as client:
        answer = client.options("/health", headers=preflight)
    assert "access-control-allow-origin" not in answer.headers


def test_retry_waits_follow_the_settings() -> None:
    rng = random.Random(1)
    fast = Settings(retry_backoff_base=0.2, retry_backoff_max=0.5, webhook_backoff=0.1)
    assert 0.1 <= backoff(0, fast, rng) <= 0.2
    assert 0.2 <= backoff(1, fast, rng) <= 0.4
    assert 0.25 <= backoff(5, fast, rng) <= 0.5  # capped
    assert 0.1 <= webhook_backoff(0, fast, rng) <= 0.15
    assert 0.4 <= webhook_backoff(2, fast, rng) <= 0.6
