"""Outages with real services: the database goes away in the middle of a run.

PostgreSQL is reached through a TCP proxy owned by the test. Stopping the proxy closes
every connection and refuses new ones, exactly what workers see when the database
server stops, without disturbing the server other tests share. Workers must retry with
backoff and, once the database is back, finish every submission with one verdict.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.worker.test_queue import (
    StartWorker,
    _ads,
    broker,  # noqa: F401 - fixture
    settings,  # noqa: F401 - fixture
    start_worker,  # noqa: F401 - fixture
    verdict_counts,
    wait_for,
)
from worker.client import submit
from worker.settings import Settings


class Proxy:
    """A TCP forwarder to ``upstream`` that can be stopped (connections cut) and restarted."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.start()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut every open one."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in (a, b):
                with contextlib.suppress(OSError):
                    sock.close()
            with self._lock:
                self._sockets.difference_update((a, b))


@pytest.fixture
def proxy(settings: Settings) -> Iterator[Proxy]:  # noqa: F811 - the fixture above
    url = make_url(settings.database_url)
    running = Proxy((url.host or "127.0.0.1", url.port or 5432))
    yield running
    running.stop()


@pytest.mark.slow
def test_when_the_database_goes_away_mid_run_then_every_submission_still_gets_one_verdict(
    settings: Settings, proxy: Proxy, start_worker: StartWorker,  # noqa: F811
    tmp_path: Path,
) -> None:
    direct = settings.database_url
    through_proxy = make_url(direct).set(port=proxy.port).render_as_string(hide_password=False)
    settings = settings.model_copy(update={"database_url": through_proxy})
    ids = [submit(data, ad_id=f"ad-{i}", settings=settings) for i, data in enumerate(_ads(16))]
    start_worker(2, ADREVIEW_DATABASE_URL=through_proxy)

    wait_for(lambda: len(verdict_counts(direct)) >= 3, 120, "the first verdicts")
    proxy.stop()
    time.sleep(8)
    during = len(verdict_counts(direct))
    proxy.start()

    wait_for(lambda: len(verdict_counts(direct)) == len(ids), 180, "every verdict after the outage")
    counts = verdict_counts(direct)
    assert sorted(counts) == sorted(ids)
    assert set(counts.values()) == {1}, counts
    assert during < len(ids), "the outage hit no work in progress; the test proved nothing"
    log = (tmp_path / "worker-0.log").read_text(errors="replace")
    assert "cannot use database" in log and "retry 1 in" in log, log[-3000:]
