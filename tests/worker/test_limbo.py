"""No submission is left without a verdict: every way one used to hang ends in exactly one
``error`` verdict with its own code, and the workers' sweep sends lost ones again.

Real Redis (the test's own ``redis-server``), real PostgreSQL, real worker processes; a
local HTTP server plays the image host that redirects where it should not.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import redis
from sqlalchemy import create_engine, text, update
from typer.testing import CliRunner

from tests.worker.test_queue import (
    StartWorker,
    _ads,
    start_worker,
    verdict_counts,
    wait_for,
)
from tests.worker.test_queue_restart import RedisServer, redis_server, settings
from worker.client import send, submit
from worker.db import Store, SubmissionStatus
from worker.errors import EngineNotFound
from worker.settings import Settings
from worker.sweep import Sweeper, lock_key

__all__ = ["redis_server", "settings", "start_worker"]  # fixtures, used by name below


class Redirector:
    """An HTTP server on 127.0.0.1 answering ``/to/<target>`` with a 302 to ``<target>``."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(302)
                self.send_header("Location", unquote(self.path.removeprefix("/to/")))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, target: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/to/{target}"


@pytest.fixture
def redirector() -> Iterator[Redirector]:
    server = Redirector()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _unsent(store: Store, ref: Any, engine: Any, status: SubmissionStatus =
            SubmissionStatus.QUEUED) -> str:
    """A stored submission whose message is not (yet) on the queue."""
    # PostgreSQL's JSON cannot hold a NUL character; the message can.
    nul = isinstance(ref, dict) and any("\0" in str(v) for v in ref.values())
    stored = {"path": "(a path with a NUL byte)"} if nul else ref
    return store.add_submission(None, f"test:{uuid.uuid4().hex[:6]}", status=status,
                                metadata={"image_ref": stored, "engine": engine,
                                          "priority": None})


def _left_waiting(url: str) -> list[tuple[str, str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, status FROM submissions "
                                     "WHERE status IN ('queued', 'processing')"))
            return [(str(i), str(s)) for i, s in rows]
    finally:
        engine.dispose()


@pytest.mark.slow
def test_every_limbo_path_ends_in_exactly_one_error_verdict_with_its_own_code(
    settings: Settings, start_worker: StartWorker, redirector: Redirector
) -> None:
    # HunyuanOCR messages go to the same queue here, so that one worker sees them all.
    settings = settings.model_copy(update={"gpu_queue": settings.queue})
    assert settings.shared_root is not None
    inline = {"inline": base64.b64encode(_ads(1)[0]).decode()}
    expected: dict[str, str] = {}
    with Store.open(settings.database_url) as store:
        cases: list[tuple[Any, Any, str]] = [
            (inline, "nope", "unknown_engine"),
            (inline, 5, "invalid_message"),
            ("inline", "rapidocr", "invalid_message"),
            (["inline"], "rapidocr", "invalid_message"),
            ({"inline": 123}, "rapidocr", "invalid_message"),
            ({"inline": "aGk=", "url": "http://example.com/x.png"}, "rapidocr",
             "invalid_message"),
            ({"path": str(settings.shared_root / "a\x00b.png")}, "rapidocr", "fetch_failed"),
            # The engine exists but cannot be built here: a failure on every delivery.
            (inline, "hunyuan", "internal"),
        ]
        for ref, engine, code in cases:
            submission = _unsent(store, ref, engine)
            send(submission, ref, engine, settings)
            expected[submission] = code
    for target in ("mailto:ads@example.com", "data:image/png;base64,iVBORw0KGgo=",
                   "javascript:alert(1)", "http:x"):
        expected[submit(redirector.url(target), settings=settings)] = "fetch_failed"
    valid = submit(_ads(1)[0], settings=settings)

    worker = start_worker(concurrency=1, ADREVIEW_MAX_ATTEMPTS="2",
                          ADREVIEW_RETRY_BACKOFF_BASE="0.2", ADREVIEW_ALLOW_PRIVATE_URLS="true",
                          ADREVIEW_HUNYUAN_MODEL="/nonexistent/hunyuan-model",
                          ADREVIEW_GPU_QUEUE=settings.queue, ADREVIEW_SWEEP_SECONDS="0")
    every = {*expected, valid}
    wait_for(lambda: set(verdict_counts(settings.database_url)) == every, 180,
             f"{len(every)} verdicts", interval=0.5)
    time.sleep(1.5)  # a second verdict, or a retry still under way, would land now
    assert worker.poll() is None, "the worker died"
    assert verdict_counts(settings.database_url) == dict.fromkeys(every, 1)
    assert _left_waiting(settings.database_url) == []
    with Store.open(settings.database_url) as store:
        got = {}
        for submission in expected:
            current = store.current_verdict(submission)
            assert current is not None and current.verdict.error is not None
            got[submission] = current.verdict.error.code.value
        hunyuan = next(s for s, code in expected.items() if code == "internal")
        internal = store.current_verdict(hunyuan)
        judged = store.current_verdict(valid)
    assert got == expected
    assert internal is not None and internal.verdict.error is not None
    assert "gave up after 2 failed deliveries: EngineUnavailable" in \
        internal.verdict.error.message
    assert judged is not None and judged.verdict.error is None


@pytest.mark.slow
def test_the_workers_sweep_sends_lost_submissions_again_without_an_operator(
    settings: Settings, start_worker: StartWorker
) -> None:
    inline = {"inline": base64.b64encode(_ads(1)[0]).decode()}
    with Store.open(settings.database_url) as store:
        # Stored, but their messages were lost: never sent, or lost mid-delivery.
        lost = [_unsent(store, inline, "rapidocr"),
                _unsent(store, inline, "rapidocr", SubmissionStatus.PROCESSING)]
    worker = start_worker(concurrency=1, ADREVIEW_STALE_MINUTES="0.05",
                          ADREVIEW_SWEEP_SECONDS="1")
    wait_for(lambda: set(verdict_counts(settings.database_url)) == set(lost), 90,
             "verdicts for the lost submissions", interval=0.5)
    assert worker.poll() is None
    assert verdict_counts(settings.database_url) == dict.fromkeys(lost, 1)
    assert _left_waiting(settings.database_url) == []


@pytest.fixture
def sweep_settings(database_url: str, redis_server: RedisServer) -> Settings:
    """Settings on a fresh database (SQLite and PostgreSQL) and the test's own Redis."""
    return Settings(database_url=database_url, redis_url=redis_server.url,
                    queue=f"adreview-sweep-{uuid.uuid4().hex[:8]}", stale_minutes=30,
                    sweep_seconds=30)


def _age(url: str, ids: list[str], hours: float) -> None:
    """Make submissions look as if nothing had happened to them for ``hours``."""
    from worker.db.models import Submission, utcnow

    with Store.open(url, migrate=False) as store, store.engine.begin() as conn:
        conn.execute(update(Submission).where(Submission.id.in_(ids))
                     .values(updated_at=utcnow() - timedelta(hours=hours)))


def test_the_sweep_sends_processing_ones_at_once_and_queued_ones_once_the_queue_is_empty(
    sweep_settings: Settings,
) -> None:
    settings = sweep_settings
    ref = {"inline": base64.b64encode(b"png").decode()}
    with Store.open(settings.database_url) as store:
        queued = _unsent(store, ref, "rapidocr")
        processing = _unsent(store, ref, "rapidocr", SubmissionStatus.PROCESSING)
        fresh = _unsent(store, ref, "rapidocr")
    _age(settings.database_url, [queued, processing], hours=1)
    backlog = redis.Redis.from_url(settings.redis_url)
    try:
        backlog.lpush(settings.queue, "a message still waiting")
        first, second = Sweeper(settings), Sweeper(settings)  # two workers
        # A backlog: the queued one may still be in it; the processing one is lost.
        assert first.sweep() == [processing]
        assert backlog.llen(settings.queue) == 2  # the backlog and the message sent again
        backlog.delete(settings.queue)  # the backlog is worked off
        assert second.sweep() == []  # this interval was swept already
        assert 0 < backlog.pttl(lock_key(settings)) <= settings.sweep_seconds * 1000
        backlog.delete(lock_key(settings))  # as when the interval is over
        assert second.sweep() == [queued]  # the queue is empty: it was lost
        assert backlog.llen(settings.queue) == 1
        backlog.delete(lock_key(settings))
        assert first.sweep() == []  # sent again just now: not stale any more
        with Store.open(settings.database_url) as store:
            statuses = {s: store.get_submission(s) for s in (queued, processing, fresh)}
        assert {s: v.status.value for s, v in statuses.items() if v} == dict.fromkeys(
            (queued, processing, fresh), "queued")
    finally:
        backlog.close()
        first.stop()
        second.stop()


def test_submit_refuses_an_unknown_engine_before_storing_anything(
    sweep_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.cli import app
    from worker.settings import get_settings

    image = tmp_path / "ad.png"
    image.write_bytes(_ads(1)[0])
    with pytest.raises(EngineNotFound, match="available: hunyuan, hunyuan-vllm, rapidocr"):
        submit(image, engine="nope", settings=sweep_settings)

    monkeypatch.setenv("ADREVIEW_DATABASE_URL", sweep_settings.database_url)
    monkeypatch.setenv("ADREVIEW_REDIS_URL", sweep_settings.redis_url)
    monkeypatch.setenv("ADREVIEW_QUEUE", sweep_settings.queue)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["submit", str(image), "--engine", "nope"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    shown = " ".join(result.output.replace("│", " ").split())  # unwrapped from its box
    assert "unknown OCR engine 'nope'; available: hunyuan, hunyuan-vllm, rapidocr" in shown
    with Store.open(sweep_settings.database_url) as store:
        assert store.find_submissions() == []
    client = redis.Redis.from_url(sweep_settings.redis_url)
    try:
        assert client.llen(sweep_settings.queue) == 0
    finally:
        client.close()
