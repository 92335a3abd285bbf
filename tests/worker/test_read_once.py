"""A new image sent twice at once is read once across workers (real Redis, PostgreSQL
and two worker processes): the second worker waits on the image's read lock and then
judges from the OCR cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.worker.test_queue import (
    StartWorker,
    _ads,
    broker,
    settings,
    start_worker,
    wait_for,
)
from worker.client import submit
from worker.settings import Settings

__all__ = ["broker", "settings", "start_worker"]  # fixtures


def timings(url: str) -> list[dict[str, float]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(row[0]) for row in conn.execute(text("SELECT timings FROM verdicts"))]
    finally:
        engine.dispose()


@pytest.mark.slow
def test_the_same_new_image_sent_twice_at_once_is_read_by_one_worker_only(
    settings: Settings, start_worker: StartWorker, tmp_path: Path,
) -> None:
    for _ in range(2):
        start_worker(1, ADREVIEW_SWEEP_SECONDS="0")
    for n in range(2):
        log = tmp_path / f"worker-{n}.log"
        wait_for(lambda log=log: "ready" in log.read_text(errors="replace"), 120,
                 f"worker {n}")
    (ad,) = _ads(1)
    for _ in range(2):
        submit(ad, settings=settings)
    wait_for(lambda: len(timings(settings.database_url)) == 2, 120, "both verdicts")
    found = timings(settings.database_url)
    read = [t for t in found if "ocr" in t]
    cached = [t for t in found if t.get("ocr_cached") == 1.0]
    assert (len(read), len(cached)) == (1, 1), found
    logs = [(tmp_path / f"worker-{n}.log").read_text(errors="replace") for n in range(2)]
    assert all("succeeded" in text_ for text_ in logs), "one worker took both"
