"""Hostile files through the HTTP API and a real worker: each ends as the right decision
or error code, the worker keeps running, and every submission gets exactly one verdict."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from tests.hostile.test_scan_hostile import hostile_files
from tests.worker.test_queue import (
    StartWorker,
    broker,  # noqa: F401 - fixture
    children,
    settings,  # noqa: F401 - fixture
    start_worker,  # noqa: F401 - fixture
    verdict_counts,
    wait_for,
)
from worker.api import create_app
from worker.db import Store
from worker.db.keys import ApiKeys
from worker.settings import Settings


@pytest.mark.slow
def test_hostile_uploads_through_the_api_each_end_as_one_right_verdict(
    settings: Settings, start_worker: StartWorker, broker: redis.Redis,  # noqa: F811
    tmp_path: Path,
) -> None:
    files = hostile_files()
    with Store.open(settings.database_url) as store:
        producer = ApiKeys(store).create("producer", "uploader")[1]
        reviewer = ApiKeys(store).create("reviewer", "checker")[1]
    sent: dict[str, str] = {}
    with TestClient(create_app(settings, cors_origins=[])) as client:
        for name, (data, _) in files.items():
            response = client.post(
                "/v1/submissions", headers={"Authorization": f"Bearer {producer}"},
                files={"file": (name, data, "application/octet-stream")},
                data={"ad_id": name},
            )
            if not data:  # an empty upload is refused at the door, nothing queued
                assert response.status_code == 422, response.text
                continue
            assert response.status_code == 202, (name, response.text)
            sent[name] = response.json()["id"]

        worker = start_worker(2, ADREVIEW_MAX_IMAGE_PIXELS="40000000")
        wait_for(lambda: len(verdict_counts(settings.database_url)) == len(sent), 240,
                 "a verdict for every hostile upload")
        assert worker.poll() is None, "the worker died"
        assert set(verdict_counts(settings.database_url).values()) == {1}
        # Peak resident memory of each pool process over the whole hostile run.
        peaks = [peak_rss_kib(pid) for pid in children(worker.pid)]
        print(f"\npeak resident memory per worker process: {[p // 1024 for p in peaks]} MiB")
        assert peaks and max(peaks) < 1_000_000, peaks

        for name, submission in sent.items():
            body = client.get(f"/v1/submissions/{submission}",
                              headers={"Authorization": f"Bearer {reviewer}"}).json()
            verdict = body["verdict"]
            error = verdict["error"]
            got = error["code"] if error else verdict["decision"]
            assert got == files[name][1], (name, body)


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident set size (VmHWM), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM for process {pid}")
