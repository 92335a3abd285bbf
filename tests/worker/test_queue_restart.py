"""Redis restarted in the middle of a run: nothing is lost, nothing is judged twice.

The test runs its own ``redis-server`` with the production persistence settings (append-only
file, fsync every second) on a free port, starts a real worker against it and a real
PostgreSQL schema, kills Redis with SIGKILL while the worker is busy, starts it again on the
same port from the same folder, and then does what an operator does after a broker outage:
``adreview requeue`` (``requeue_stale``) for every submission still without a verdict.
Every submission must end with exactly one verdict.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.worker.test_queue import (  # the real-worker helpers of the queue tests
    StartWorker,
    _ads,
    start_worker,
    verdict_counts,
    wait_for,
)
from worker.client import requeue_stale, submit
from worker.db import Store
from worker.settings import Settings

__all__ = ["start_worker"]  # a fixture, used by name below


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """A ``redis-server`` of the test's own: AOF on, fsync every second, no RDB snapshots."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.folder / "redis.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--appendonly", "yes", "--appendfsync", "everysec",
             "--maxmemory-policy", "noeviction", "--dir", str(self.folder), "--save", ""],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        client = redis.Redis.from_url(self.url)
        try:
            wait_for(lambda: _pings(client), 15, f"redis-server on port {self.port}", 0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: no final fsync, up to a second of writes may be lost."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if subprocess.run(["redis-server", "--version"], capture_output=True,
                      check=False).returncode != 0:
        pytest.skip("redis-server is not installed")
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder, free_port())
    server.start()
    yield server
    if server.proc is not None:
        server.kill()


@pytest.fixture
def settings(redis_server: RedisServer, postgresql_url: str, tmp_path: Path) -> Settings:
    """This module's settings: the private Redis, a fresh schema, short time limits.

    It stands in for ``test_queue.settings``, so ``start_worker`` starts workers on them.
    """
    shared = tmp_path / "shared"
    shared.mkdir()
    Store.open(postgresql_url).close()
    return Settings(database_url=postgresql_url, redis_url=redis_server.url,
                    queue=f"adreview-restart-{uuid.uuid4().hex[:8]}", shared_root=shared,
                    task_soft_time_limit=10, task_time_limit=12, ocr_threads=1)


@pytest.mark.slow
def test_when_redis_is_killed_and_restarted_mid_run_then_requeue_completes_every_submission(
    settings: Settings, redis_server: RedisServer, start_worker: StartWorker
) -> None:
    ids = [submit(data, ad_id=f"ad-{i}", settings=settings) for i, data in enumerate(_ads(16))]
    time.sleep(1.5)  # the messages are on disk (fsync every second) before anything happens
    started = time.monotonic()
    start_worker(concurrency=2)
    wait_for(lambda: len(verdict_counts(settings.database_url)) >= 3, 60, "3 verdicts",
             interval=0.1)

    redis_server.kill()
    done_at_kill = len(verdict_counts(settings.database_url))
    assert done_at_kill < 16, "the run finished before Redis could be killed"
    time.sleep(2.0)  # the worker notices the outage; running reviews keep going
    redis_server.start()

    client = redis.Redis.from_url(settings.redis_url)
    try:
        pending = client.llen(settings.queue) + client.hlen("unacked")
    finally:
        client.close()
    # The append-only file brought the queue back: messages not yet reviewed are there.
    assert pending > 0 or len(verdict_counts(settings.database_url)) == 16

    # What an operator runs after the broker came back (`adreview requeue --stale 0`).
    wait_for(lambda: _requeued(settings), 30, "every submission requeued or judged")
    wait_for(lambda: len(verdict_counts(settings.database_url)) == 16, 120, "16 verdicts",
             interval=0.5)
    time.sleep(1.5)  # a duplicate from a redelivered message would land now
    seconds = time.monotonic() - started

    assert verdict_counts(settings.database_url) == dict.fromkeys(ids, 1)
    with Store.open(settings.database_url) as store:
        verdicts = [store.current_verdict(i) for i in ids]
        statuses = {i: s.status.value for i in ids if (s := store.get_submission(i))}
    assert all(v is not None and v.verdict.error is None for v in verdicts)
    assert statuses == dict.fromkeys(ids, "done")
    print(f"Redis killed after {done_at_kill}/16 verdicts, {pending} messages back from the "
          f"append-only file; all 16 judged once in {seconds:.1f} s")


def _requeued(settings: Settings) -> bool:
    """Run ``requeue_stale(0)`` once; True when it could reach the broker."""
    from worker.client import BrokerUnavailable

    try:
        requeue_stale(0, settings)
    except BrokerUnavailable:
        return False
    return True
