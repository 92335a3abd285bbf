"""``adreview worker --metrics-port``: Prometheus text with the counts of every pool process.

Tasks run in prefork children while the parent serves ``/metrics``; the worker command
puts prometheus_client in multiprocess mode (a temporary ``PROMETHEUS_MULTIPROC_DIR``)
so the parent's scrape adds up the children's samples.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.worker.test_queue import REPO, _ads, _env, kill_group, verdict_counts, wait_for
from tests.worker.test_queue_restart import free_port, redis_server, settings
from worker.client import submit
from worker.settings import Settings

__all__ = ["redis_server", "settings"]  # fixtures, used by name below


def _scrape(url: str) -> str | None:
    try:
        response = httpx.get(url, timeout=2.0)
    except httpx.TransportError:
        return None
    return response.text if response.status_code == 200 else None


def _sample(text: str, line_start: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    return None


@pytest.mark.slow
def test_metrics_port_serves_the_task_counters_of_the_pool_processes(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "worker", "--pool", "prefork", "--concurrency", "2",
         "--hostname", f"m-{uuid.uuid4().hex[:6]}@%h", "--metrics-port", str(port)],
        cwd=REPO, env=_env(settings, TMPDIR=str(scratch)), stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )
    log.close()
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        wait_for(lambda: _scrape(url) is not None, 60, "/metrics to answer")
        # Multiprocess mode: the samples live in files under the worker's own folder.
        folders = list(scratch.glob("adreview-metrics-*"))
        assert len(folders) == 1

        submissions = [submit(data, settings=settings) for data in _ads(3)]
        wait_for(lambda: len(verdict_counts(settings.database_url)) == 3, 60, "3 verdicts")

        def counted() -> bool:
            text = _scrape(url) or ""
            return _sample(text, 'adreview_tasks_total{outcome="done"}') == 3.0

        wait_for(counted, 10, "the done counter to reach 3")
        text = _scrape(url) or ""
        assert "# TYPE adreview_tasks_total counter" in text
        decisions = sum(
            float(line.split()[-1]) for line in text.splitlines()
            if line.startswith("adreview_decisions_total{")
        )
        assert decisions >= 3  # one per verdict, more when several categories matched
        assert _sample(text, 'adreview_ocr_seconds_count{engine="rapidocr"}') == 3.0
        assert len(submissions) == 3

        # A warm shutdown removes the folder the command made.
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
        assert not folders[0].exists()
    finally:
        if worker.poll() is None:
            kill_group(worker)
