"""The queue gauges of ``/metrics``: they follow the queue as it fills and drains.

Real Redis, a real worker process and the API app: messages are queued at two priorities,
a malformed one among them; the gauges must show the depth per band, an oldest age that
grows while nobody consumes, then, once a worker has drained the queue, no depth, no age,
the dead letter the worker made of the malformed message, and the worker itself, seen
through its heartbeats until it is killed.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from tests.worker.test_queue import (
    REDIS_URL,
    StartWorker,
    _ads,
    broker,
    kill_group,
    start_worker,
    verdict_counts,
    wait_for,
)
from worker.api import create_app
from worker.client import send, submit
from worker.db import Store
from worker.heartbeat import Heartbeat, beat, workers_key
from worker.queue_metrics import QueueCollector, band_key, bands, queue_metrics_text
from worker.settings import Settings

__all__ = ["broker", "start_worker"]  # fixtures, used by name below


@pytest.fixture
def settings(broker: redis.Redis, postgresql_url: str, tmp_path: Path) -> Settings:
    """Its own queues on the test Redis, a fresh schema, heartbeats every second."""
    shared = tmp_path / "shared"
    shared.mkdir()
    Store.open(postgresql_url).close()
    name = f"adreview-gauges-{uuid.uuid4().hex[:8]}"
    return Settings(database_url=postgresql_url, redis_url=REDIS_URL, queue=name,
                    gpu_queue=f"{name}.gpu", shared_root=shared, task_soft_time_limit=10,
                    task_time_limit=12, ocr_threads=1, heartbeat_seconds=1.0)


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, cors_origins=[])) as client:
        yield client


def gauges(api: TestClient) -> dict[str, float]:
    """The adreview queue samples of one scrape of ``/metrics``, by their full name."""
    response = api.get("/metrics")
    assert response.status_code == 200
    samples = {}
    for line in response.text.splitlines():
        if line.startswith(("adreview_queue_", "adreview_workers_seen")):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def small_ads(count: int) -> list[bytes]:
    """Small, quick-to-read ads (a third of the size the queue tests use)."""
    from PIL import Image

    out = []
    for data in _ads(count):
        buffer = io.BytesIO()
        Image.open(io.BytesIO(data)).resize((320, 320)).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


@pytest.mark.slow
def test_when_the_queue_fills_and_a_worker_drains_it_then_the_gauges_follow(
    settings: Settings, api: TestClient, start_worker: StartWorker, broker: redis.Redis
) -> None:
    q = settings.queue
    empty = gauges(api)
    assert empty["adreview_queue_metrics_up"] == 1
    assert empty[f'adreview_queue_depth{{priority="0-2",queue="{q}"}}'] == 0
    assert empty[f'adreview_queue_oldest_age_seconds{{queue="{q}"}}'] == 0
    assert empty[f'adreview_queue_dead_letters{{queue="{q}"}}'] == 0
    assert empty[f'adreview_workers_seen{{queue="{q}"}}'] == 0

    ads = small_ads(6)
    ids = [submit(data, ad_id=f"ad-{i}", settings=settings, priority=0 if i < 4 else 7)
           for i, data in enumerate(ads)]
    broker.lpush(q, b"this is not a kombu message")  # the worker dead-letters it
    time.sleep(1.2)
    full = gauges(api)
    assert full[f'adreview_queue_depth{{priority="0-2",queue="{q}"}}'] == 5
    assert full[f'adreview_queue_depth{{priority="6-8",queue="{q}"}}'] == 2
    assert full[f'adreview_queue_depth{{priority="9",queue="{q}"}}'] == 0
    first_age = full[f'adreview_queue_oldest_age_seconds{{queue="{q}"}}']
    assert first_age >= 1.2
    time.sleep(0.5)
    older = gauges(api)[f'adreview_queue_oldest_age_seconds{{queue="{q}"}}']
    assert older >= first_age + 0.5
    assert full[f'adreview_queue_depth{{priority="0-2",queue="{q}.gpu"}}'] == 0

    worker = start_worker(concurrency=1, ADREVIEW_HEARTBEAT_SECONDS="1",
                          ADREVIEW_GPU_QUEUE=settings.gpu_queue)
    wait_for(lambda: gauges(api)[f'adreview_workers_seen{{queue="{q}"}}'] == 1, 60,
             "the worker's heartbeat")
    wait_for(lambda: len(verdict_counts(settings.database_url)) == len(ids), 90,
             "every verdict", interval=0.5)
    drained = gauges(api)
    for label, _ in bands():
        assert drained[f'adreview_queue_depth{{priority="{label}",queue="{q}"}}'] == 0
    assert drained[f'adreview_queue_oldest_age_seconds{{queue="{q}"}}'] == 0
    assert drained[f'adreview_queue_dead_letters{{queue="{q}"}}'] == 1
    assert drained[f'adreview_workers_seen{{queue="{q}"}}'] == 1
    assert drained[f'adreview_workers_seen{{queue="{q}.gpu"}}'] == 0

    kill_group(worker)  # no sign-off: the worker drops out when its beats stop
    wait_for(lambda: gauges(api)[f'adreview_workers_seen{{queue="{q}"}}'] == 0, 10,
             "the killed worker to drop out")


def test_when_redis_is_down_then_the_scrape_says_so_and_shows_no_queue_figures() -> None:
    down = Settings(redis_url="redis://127.0.0.1:1/0")
    text = queue_metrics_text(down).decode()
    assert "adreview_queue_metrics_up 0.0" in text
    assert "adreview_queue_depth" not in text


def test_workers_seen_counts_beats_within_three_intervals(broker: redis.Redis) -> None:
    settings = Settings(redis_url=REDIS_URL, queue=f"adreview-seen-{uuid.uuid4().hex[:8]}",
                        heartbeat_seconds=10.0)
    now = time.time()
    beat(broker, "fresh@a", [settings.queue], settings, now=now - 5)
    beat(broker, "late@b", [settings.queue], settings, now=now - 29)
    beat(broker, "gone@c", [settings.queue], settings, now=now - 31)
    text = queue_metrics_text(settings, broker).decode()
    assert f'adreview_workers_seen{{queue="{settings.queue}"}} 2.0' in text
    broker.delete(workers_key(settings.queue))


def test_a_stopped_heartbeat_signs_off_at_once(broker: redis.Redis, tmp_path: Path) -> None:
    alive = tmp_path / "alive"
    settings = Settings(redis_url=REDIS_URL, queue=f"adreview-off-{uuid.uuid4().hex[:8]}",
                        heartbeat_seconds=0.2, heartbeat_file=alive)
    heart = Heartbeat(settings, "w@h", [settings.queue], concurrency=2)
    heart.start()
    wait_for(lambda: broker.zscore(workers_key(settings.queue), "w@h") is not None, 5,
             "the first beat", interval=0.05)
    assert alive.exists()
    heart.stop()
    assert broker.zscore(workers_key(settings.queue), "w@h") is None
    assert broker.get("adreview.worker.w@h") is None


def test_the_oldest_age_is_found_behind_a_large_inline_image(broker: redis.Redis) -> None:
    settings = Settings(redis_url=REDIS_URL, queue=f"adreview-big-{uuid.uuid4().hex[:8]}",
                        database_url="sqlite://")
    # A 2 MB inline image in the message body: the stamp sits after it, in the headers.
    send("s-1", {"inline": "A" * 2_000_000}, "rapidocr", settings)
    time.sleep(0.3)
    collector = QueueCollector(settings, broker)
    samples = {m.name: m.samples for m in collector.collect()}
    ages = [s.value for s in samples["adreview_queue_oldest_age_seconds"]
            if s.labels["queue"] == settings.queue]
    assert ages and 0.3 <= ages[0] < 30
    broker.delete(band_key(settings.queue, 0))
