"""Review through Redis and Celery workers against in-process ``scan --jobs 2``, same run.

On the same generated ads, start-up apart from steady state:

* ``scan --jobs 2`` - a fresh process reviewing the folder with two worker processes,
  SQLite database. Run once on the first ``WARM`` ads and once on all of them (fresh
  databases): the first run is the start-up (interpreter, imports, two OCR engines loaded)
  plus ``WARM`` ads, the difference between the two is the steady state: the other ads,
  reviewed by processes already up;
* the queue - a fresh ``adreview worker --concurrency 2``: its start-up is the time from
  launch to the verdicts of the first ``WARM`` ads (submitted at launch); its steady state
  is the time from submitting the other ads to their last verdict, the worker already up.
  Goal: steady-state throughput at least 0.9x the scan's. The cold figure (launch to the
  last verdict of every ad, start-up included, against a whole cold scan) is kept beside it;
* per-task overhead - the same ads submitted again under new submission ids: their OCR is
  in the database, so each task is only the submission write, the trip through Redis, a
  cache lookup, matching and the verdict write: an upper bound of the queue's overhead
  per task, in ms (a cached ``scan`` of the folder, start-up included, beside it).

Needs Redis on 127.0.0.1:6379 (database 12 is flushed). Run:
``.venv/bin/python bench/workers.py [--images N] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from worker.client import submit  # noqa: E402
from worker.db import Store  # noqa: E402
from worker.samples import corpus  # noqa: E402
from worker.settings import Settings  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/12"
#: Ads reviewed while the processes start (scan) or as the worker's first work (queue).
WARM = 4


def verdicts(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM verdicts")).scalar_one())
    except Exception:  # the worker has not created the schema yet
        return 0
    finally:
        engine.dispose()


def wait_verdicts(url: str, count: int, timeout: float = 900.0) -> None:
    deadline = time.monotonic() + timeout
    while verdicts(url) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {count} verdicts")
        time.sleep(0.1)


def run_scan(folder: Path, db: str, env: dict[str, str]) -> float:
    command = [sys.executable, "-m", "worker.cli", "scan", str(folder), "--json",
               "--jobs", "2", "--db", db]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40, help="Images (default 40).")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args()
    if args.images <= WARM:
        parser.error(f"--images must be more than the {WARM} warm-up images")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    redis.Redis.from_url(REDIS_URL).flushdb()

    with tempfile.TemporaryDirectory(prefix="adreview-bench-") as tmp:
        folder = Path(tmp) / "ads"
        folder.mkdir()
        ads = corpus(seed=13, per_group=max(1, -(-args.images // 7)))[: args.images]
        paths = []
        for index, ad in enumerate(ads):
            path = folder / f"{index:03d}-{ad.group}.jpg"
            ad.image.save(path, quality=92)
            paths.append(path)
        n = len(paths)
        warm_folder = Path(tmp) / "warm"
        warm_folder.mkdir()
        for path in paths[:WARM]:
            (warm_folder / path.name).write_bytes(path.read_bytes())

        scan_warm_s = run_scan(warm_folder, f"sqlite:///{Path(tmp) / 'scan-warm.db'}", env)
        scan_db = f"sqlite:///{Path(tmp) / 'scan.db'}"
        scan_s = run_scan(folder, scan_db, env)
        scan_cached_s = run_scan(folder, scan_db, env)

        queue_db = f"sqlite:///{Path(tmp) / 'queue.db'}"
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        settings = Settings(database_url=queue_db, redis_url=REDIS_URL, queue=queue)
        worker_env = {**env, "ADREVIEW_DATABASE_URL": queue_db, "ADREVIEW_REDIS_URL": REDIS_URL,
                      "ADREVIEW_QUEUE": queue}
        started = time.perf_counter()
        worker = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "worker", "--concurrency", "2",
             "--loglevel", "WARNING", "--hostname", f"{queue}@%h"],
            env=worker_env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        # One open store for every submission, as a producer process keeps one (opening
        # a store per call would spend the workers' cores on the bench's side).
        store = Store.open(queue_db)
        try:
            for path in paths[:WARM]:
                submit(path.read_bytes(), ad_id=path.stem, settings=settings, store=store)
            wait_verdicts(queue_db, WARM)
            queue_warm_s = time.perf_counter() - started
            steady_started = time.perf_counter()
            for path in paths[WARM:]:
                submit(path.read_bytes(), ad_id=path.stem, settings=settings, store=store)
            wait_verdicts(queue_db, n)
            queue_steady_s = time.perf_counter() - steady_started
            queue_s = time.perf_counter() - started
            # The same images again: OCR comes from the database, the rest is the queue.
            started = time.perf_counter()
            for path in paths:
                submit(path.read_bytes(), ad_id=f"again-{path.stem}", settings=settings,
                       store=store)
            wait_verdicts(queue_db, 2 * n)
            queue_cached_s = time.perf_counter() - started
        finally:
            store.close()
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
    redis.Redis.from_url(REDIS_URL).flushdb()

    steady = n - WARM
    scan_steady_s = max(1e-9, scan_s - scan_warm_s)
    figures = {
        "images": n,
        "warm_images": WARM,
        "scan_startup_and_warm_s": round(scan_warm_s, 2),
        "queue_startup_and_warm_s": round(queue_warm_s, 2),
        "scan_steady_images_per_s": round(steady / scan_steady_s, 3),
        "queue_steady_images_per_s": round(steady / queue_steady_s, 3),
        "steady_queue_vs_scan": round(scan_steady_s / queue_steady_s, 3),
        "scan_jobs2_s": round(scan_s, 2),
        "queue_2_workers_s": round(queue_s, 2),
        "cold_queue_vs_scan": round(scan_s / queue_s, 3),
        "cached_scan_ms_per_image": round(1000 * scan_cached_s / n, 1),
        "cached_queue_ms_per_task": round(1000 * queue_cached_s / n, 1),
    }
    goals = {"steady_queue_vs_scan >= 0.9": figures["steady_queue_vs_scan"] >= 0.9}
    if args.json:
        print(json.dumps({**figures, "goals": goals}))
        return
    for key, value in figures.items():
        print(f"{key:>28}: {value}")
    for goal, met in goals.items():
        print(f"{'met' if met else 'MISSED':>28}: {goal}")


if __name__ == "__main__":
    main()
