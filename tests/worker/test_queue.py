"""The queue end to end: real Redis, real PostgreSQL, real worker processes.

Each test gets its own queue name on a dedicated Redis database and its own PostgreSQL
schema; the worker processes it starts are killed (their whole process group) afterwards.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from tests.worker.conftest import redis_or_skip
from worker.celery_app import queue_for, visibility_timeout
from worker.client import BrokerUnavailable, load_image, requeue_stale, submit
from worker.db import Store
from worker.errors import ErrorCode, ImageError
from worker.samples import corpus, detail_page
from worker.settings import Settings

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("ADREVIEW_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture(scope="module")
def broker() -> Iterator[redis.Redis]:
    """The test Redis database (skips when Redis is down); flushed afterwards."""
    client = redis_or_skip(REDIS_URL)
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def settings(broker: redis.Redis, postgresql_url: str, tmp_path: Path) -> Settings:
    """Settings of one test: its own queue, schema and shared folder; short time limits."""
    shared = tmp_path / "shared"
    shared.mkdir()
    Store.open(postgresql_url).close()  # migrate once, before workers race to
    return Settings(database_url=postgresql_url, redis_url=REDIS_URL,
                    queue=f"adreview-test-{uuid.uuid4().hex[:8]}", shared_root=shared,
                    task_soft_time_limit=10, task_time_limit=12, ocr_threads=1)


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADREVIEW_")}
    env.update({
        "ADREVIEW_DATABASE_URL": settings.database_url,
        "ADREVIEW_REDIS_URL": settings.redis_url,
        "ADREVIEW_QUEUE": settings.queue,
        "ADREVIEW_SHARED_ROOT": str(settings.shared_root),
        "ADREVIEW_TASK_SOFT_TIME_LIMIT": str(settings.task_soft_time_limit),
        "ADREVIEW_TASK_TIME_LIMIT": str(settings.task_time_limit),
        "ADREVIEW_OCR_THREADS": "1",
        "PYTHONPATH": str(REPO),
    })
    env.update(extra)
    return env


StartWorker = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def start_worker(settings: Settings, tmp_path: Path) -> Iterator[StartWorker]:
    """Start ``adreview worker`` processes (own process group each); all killed afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(concurrency: int = 2, **extra: str) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"worker-{len(started)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "worker", "--pool", "prefork",
             "--concurrency", str(concurrency), "--loglevel", "INFO",
             "--hostname", f"w{len(started)}-{uuid.uuid4().hex[:6]}@%h"],
            cwd=REPO, env=_env(settings, **extra), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        kill_group(proc)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a started worker and its pool children (its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def children(pid: int) -> list[int]:
    """Ids of the live child processes of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def verdict_counts(url: str) -> dict[str, int]:
    """Verdict rows per submission, straight from the table."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT submission_id, count(*) FROM verdicts GROUP BY submission_id"))
            return {sid: int(n) for sid, n in rows}
    finally:
        engine.dispose()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str,
             interval: float = 0.25) -> None:
    """Poll until ``predicate()`` holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def _ads(count: int) -> list[bytes]:
    import io

    out = []
    for ad in corpus(seed=5, per_group=8)[:count]:
        buffer = io.BytesIO()
        ad.image.resize((640, 640)).save(buffer, format="PNG")  # quicker OCR, still legible
        out.append(buffer.getvalue())
    return out


@pytest.mark.slow
def test_fifty_submissions_through_redis_give_fifty_verdicts_each_exactly_once(
    settings: Settings, start_worker: StartWorker, broker: redis.Redis
) -> None:
    ads = _ads(50)
    assert settings.shared_root is not None
    ids = []
    for i, data in enumerate(ads):
        if i % 2:  # half travel inline, half by shared path
            path = settings.shared_root / f"ad-{i}.png"
            path.write_bytes(data)
            ids.append(submit(path, ad_id=f"ad-{i}", settings=settings))
        else:
            ids.append(submit(data, ad_id=f"ad-{i}", settings=settings))
    assert len(set(ids)) == 50
    assert broker.llen(settings.queue) == 50

    started = time.monotonic()
    start_worker(concurrency=2)
    wait_for(lambda: len(verdict_counts(settings.database_url)) == 50, 100,
             "50 verdicts", interval=0.5)
    seconds = time.monotonic() - started
    time.sleep(1.0)  # a duplicate write would land now
    counts = verdict_counts(settings.database_url)
    assert counts == dict.fromkeys(ids, 1)
    with Store.open(settings.database_url) as store:
        verdicts = [store.current_verdict(i) for i in ids]
        subs = [store.get_submission(i) for i in ids]
    assert all(v is not None and v.verdict.error is None for v in verdicts)
    assert {v.decision.value for v in verdicts if v is not None} >= {"pass", "reject"}
    assert all(s is not None and s.status.value == "done" and s.attempts == 1 for s in subs)
    assert broker.llen(settings.queue) == 0
    print(f"50 submissions reviewed by 2 worker processes in {seconds:.1f} s")


@pytest.mark.slow
def test_when_a_submission_kills_its_worker_every_time_then_it_ends_as_an_error_verdict(
    settings: Settings, start_worker: StartWorker
) -> None:
    import io

    page, _ = detail_page(seed=3)  # a long page: several seconds of OCR per delivery
    buffer = io.BytesIO()
    page.convert("RGB").save(buffer, format="PNG")
    submission = submit(buffer.getvalue(), settings=settings)
    worker = start_worker(concurrency=1, ADREVIEW_MAX_ATTEMPTS="2")

    def attempts() -> int:
        with Store.open(settings.database_url, migrate=False) as store:
            found = store.get_submission(submission)
        assert found is not None
        return found.attempts

    for delivery in (1, 2):  # the image "crashes" the child on each of two deliveries
        wait_for(lambda d=delivery: attempts() == d, 60, f"delivery {delivery}", 0.05)
        time.sleep(0.3)  # well inside the OCR of a 750 x 8000 page
        pool = children(worker.pid)
        assert pool, "the worker has no pool process"
        for pid in pool:
            os.kill(pid, signal.SIGKILL)

    wait_for(lambda: submission in verdict_counts(settings.database_url), 60, "the verdict")
    time.sleep(1.0)
    assert verdict_counts(settings.database_url) == {submission: 1}
    with Store.open(settings.database_url) as store:
        current = store.current_verdict(submission)
        stored = store.get_submission(submission)
    assert current is not None and current.verdict.error is not None
    assert current.verdict.error.code is ErrorCode.INTERNAL
    assert "gave up after 2 deliveries" in current.verdict.error.message
    assert stored is not None and stored.attempts == 3 and stored.status.value == "error"


@pytest.mark.slow
def test_when_a_worker_is_killed_mid_run_then_another_finishes_every_submission_once(
    settings: Settings, start_worker: StartWorker
) -> None:
    ids = [submit(data, settings=settings) for data in _ads(16)]
    first = start_worker(concurrency=2)

    def processing() -> list[str]:
        with Store.open(settings.database_url, migrate=False) as store:
            return [s.id for s in store.stale_submissions(timedelta(0))
                    if s.status.value == "processing"]

    wait_for(lambda: len(verdict_counts(settings.database_url)) >= 3, 60, "3 verdicts")
    wait_for(lambda: bool(processing()), 30, "a submission in progress", 0.02)
    interrupted = processing()
    kill_group(first)
    killed_at = time.monotonic()
    done_before = set(verdict_counts(settings.database_url))
    assert len(done_before) < 16

    start_worker(concurrency=2)
    wait_for(lambda: len(verdict_counts(settings.database_url)) == 16,
             visibility_timeout(settings) + 60, "16 verdicts", interval=0.5)
    time.sleep(1.0)
    assert verdict_counts(settings.database_url) == dict.fromkeys(ids, 1)
    with Store.open(settings.database_url) as store:
        again = [store.get_submission(i) for i in interrupted if i not in done_before]
    # The interrupted deliveries were handed out again and counted.
    assert again and all(s is not None and s.attempts >= 2 for s in again)
    print(f"recovered {16 - len(done_before)} submissions "
          f"{time.monotonic() - killed_at:.1f} s after the kill")


def test_when_the_broker_is_down_then_the_submission_is_kept_and_requeue_sends_it(
    settings: Settings, broker: redis.Redis
) -> None:
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with pytest.raises(BrokerUnavailable, match="adreview requeue") as caught:
        submit(b"\x89PNG not really", ad_id="x", settings=down)
    submission = caught.value.submission_id
    with Store.open(settings.database_url) as store:
        stored = store.get_submission(submission)
    assert stored is not None and stored.status.value == "queued"
    assert broker.llen(settings.queue) == 0

    time.sleep(0.05)
    assert requeue_stale(0, settings) == [submission]
    assert broker.llen(settings.queue) == 1
    assert requeue_stale(10, settings) == []  # just sent: not stale any more


def test_hunyuan_reviews_go_to_the_gpu_queue() -> None:
    settings = Settings(queue="cpu", gpu_queue="gpu")
    assert queue_for("hunyuan", settings) == "gpu"
    assert queue_for("hunyuan-vllm", settings) == "gpu"
    assert queue_for("rapidocr", settings) == "cpu"
    assert queue_for(None, settings) == "cpu"


def test_path_references_cannot_escape_the_shared_folder(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    (tmp_path / "secret.png").write_bytes(b"outside")
    (root / "ad.png").write_bytes(b"inside")
    settings = Settings(shared_root=root)
    assert load_image({"path": str(root / "ad.png")}, settings) == b"inside"
    for escape in (str(root / ".." / "secret.png"), str(tmp_path / "secret.png")):
        with pytest.raises(ImageError) as caught:
            load_image({"path": escape}, settings)
        assert caught.value.code is ErrorCode.FETCH_FAILED
    (root / "link.png").symlink_to(tmp_path / "secret.png")
    with pytest.raises(ImageError):
        load_image({"path": str(root / "link.png")}, settings)
    with pytest.raises(ImageError):
        load_image({"path": str(root / "ad.png")}, Settings(shared_root=None))


def test_a_stored_verdict_is_counted_by_decision_category_and_error_code() -> None:
    from prometheus_client import REGISTRY

    from models.base import FakeEngine, TextLine
    from rules import load_ruleset
    from worker import metrics
    from worker.pipeline import judge_lines
    from worker.verdict import Verdict, VerdictError

    def value(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    ruleset = load_ruleset(Settings().rules_dir)
    box = ((0.0, 0.0), (100.0, 0.0), (100.0, 20.0), (0.0, 20.0))
    judged = judge_lines([TextLine("全网第一", box, 0.99)], ruleset)
    engine = FakeEngine()
    verdict = Verdict(judged.decision, judged.evidence, ruleset.version, engine.name,
                      engine.version, "0" * 64, None, {"ocr": 0.3})
    category = judged.evidence[0].category
    before = value("adreview_decisions_total", {"decision": "reject", "category": category})
    seconds = value("adreview_ocr_seconds_count", {"engine": engine.name})
    metrics.observe_verdict(verdict)
    assert value("adreview_decisions_total",
                 {"decision": "reject", "category": category}) == before + 1
    assert value("adreview_ocr_seconds_count", {"engine": engine.name}) == seconds + 1

    failed = Verdict.failed(VerdictError(ErrorCode.FETCH_FAILED, "no"), ruleset=ruleset.version,
                            engine=engine.name, engine_version=engine.version, sha256=None)
    errors = value("adreview_errors_total", {"code": "fetch_failed"})
    metrics.observe_verdict(failed)
    assert value("adreview_errors_total", {"code": "fetch_failed"}) == errors + 1


def test_pool_children_learn_how_many_of_them_share_the_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace

    from models.rapidocr import WORKER_PROCESSES_ENV, available_cores, thread_count
    from worker.celery_app import share_cores

    monkeypatch.delenv(WORKER_PROCESSES_ENV, raising=False)
    share_cores(SimpleNamespace(concurrency=2))
    assert os.environ[WORKER_PROCESSES_ENV] == "2"
    assert thread_count(0) == max(1, available_cores() // 2)
