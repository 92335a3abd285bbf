"""Worker heartbeats: who is consuming which queue, for the gauges and the liveness probe.

Every ``settings.heartbeat_seconds`` (10) a worker's main process, from a thread of its
own (``HeartbeatStep``, a Celery worker bootstep), records itself in Redis in one
pipeline: in the sorted set ``adreview.workers.<queue>`` of each queue it consumes (its
host name scored by the time of the beat; entries a day old are pruned) and in the key
``adreview.worker.<hostname>`` (its queues and concurrency, as JSON), which expires after
``HEARTBEAT_MISSES`` intervals. A worker counts as seen while its last beat is younger
than that; ``worker.queue_metrics`` counts them per queue on each scrape with one
``ZCOUNT``, so dead workers drop out without anyone removing them.

With ``settings.heartbeat_file`` set, each beat also touches that file, whether Redis
answered or not: ``python -m worker.heartbeat FILE --max-age 60`` exits 0 while the file
is fresh and 1 otherwise, a liveness probe that restarts a worker whose main process hung
but not one that merely lost its link to Redis (restarting would not bring the link back).
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import redis
from celery import bootsteps  # type: ignore[import-untyped]

from worker.broker_link import redis_client_options
from worker.periodic import Periodic
from worker.settings import Settings, get_settings

log = logging.getLogger(__name__)

#: Prefix of the sorted set of a queue's workers: ``adreview.workers.<queue>``.
WORKERS_PREFIX = "adreview.workers."
#: Prefix of a worker's own key: ``adreview.worker.<hostname>``.
WORKER_PREFIX = "adreview.worker."
#: Intervals without a beat after which a worker no longer counts as seen.
HEARTBEAT_MISSES = 3
#: Seconds after which a worker's entry is pruned from the sorted sets.
PRUNE_AFTER = 86_400


def workers_key(queue: str) -> str:
    """The sorted set of the workers consuming ``queue``."""
    return f"{WORKERS_PREFIX}{queue}"


def seen_window(settings: Settings) -> float:
    """Seconds since its last beat during which a worker counts as seen."""
    return HEARTBEAT_MISSES * settings.heartbeat_seconds


def beat(client: redis.Redis, hostname: str, queues: Iterable[str], settings: Settings,
         concurrency: int | None = None, now: float | None = None) -> None:
    """Record one heartbeat of ``hostname`` consuming ``queues`` (one pipeline)."""
    now = time.time() if now is None else now
    queues = sorted(set(queues))
    info = json.dumps({"hostname": hostname, "queues": queues, "concurrency": concurrency,
                       "at": now})
    ttl = max(1, round(seen_window(settings)))
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.zadd(workers_key(queue), {hostname: now})
            pipe.zremrangebyscore(workers_key(queue), "-inf", now - PRUNE_AFTER)
        pipe.set(f"{WORKER_PREFIX}{hostname}", info, ex=ttl)
        pipe.execute()


class Heartbeat(Periodic):
    """Beats every ``settings.heartbeat_seconds`` from a daemon thread until stopped."""

    what = "worker heartbeat"
    thread_name = "adreview-heartbeat"
    off_setting = "ADREVIEW_HEARTBEAT_SECONDS"
    at_start = True

    def __init__(self, settings: Settings, hostname: str, queues: Iterable[str],
                 concurrency: int | None = None) -> None:
        super().__init__(settings)
        self.hostname = hostname
        self.queues = sorted(set(queues))
        self.concurrency = concurrency
        self._failing = False

    def redis_options(self) -> dict[str, Any]:
        """The beats' client: the broker link's socket limits."""
        return redis_client_options(self.settings)

    def once(self) -> bool:
        """One beat: the liveness file, then Redis; True when Redis took it."""
        if self.settings.heartbeat_file is not None:
            try:
                self.settings.heartbeat_file.touch()
            except OSError as exc:
                log.warning("heartbeat: cannot touch %s: %s", self.settings.heartbeat_file, exc)
        try:
            beat(self.client, self.hostname, self.queues, self.settings, self.concurrency)
        except (redis.RedisError, OSError) as exc:
            if not self._failing:  # one line per outage, not one per beat
                log.warning("heartbeat: Redis did not take it (retrying every %g s): %s",
                            self.settings.heartbeat_seconds, exc)
            self._failing = True
            return False
        if self._failing:
            log.info("heartbeat: Redis takes it again")
        self._failing = False
        return True

    @property
    def interval(self) -> float:
        return self.settings.heartbeat_seconds

    def round(self) -> bool:
        return self.once()

    def close(self) -> None:
        """Take this worker out of the sorted sets at once (the beats have stopped)."""
        if self._redis is not None:
            try:
                with self._redis.pipeline(transaction=False) as pipe:
                    for queue in self.queues:
                        pipe.zrem(workers_key(queue), self.hostname)
                    pipe.delete(f"{WORKER_PREFIX}{self.hostname}")
                    pipe.execute()
            except (redis.RedisError, OSError) as exc:
                log.info("heartbeat: could not sign off (the entry expires): %s", exc)
        super().close()


class HeartbeatStep(bootsteps.StartStopStep):  # type: ignore[misc]
    """Worker bootstep: a ``Heartbeat`` in the main process while the worker runs."""

    name = "adreview.heartbeat"

    def create(self, parent: Any) -> Heartbeat:
        """The step's heartbeat (started and stopped with the worker)."""
        settings = get_settings()
        hostname = getattr(parent, "hostname", None) or socket.gethostname()
        queues = _queues(parent) or [settings.queue]
        concurrency = getattr(parent, "concurrency", None)
        return Heartbeat(settings, hostname, queues,
                         concurrency if isinstance(concurrency, int) else None)


def _queues(parent: Any) -> list[str]:
    """The queues the worker consumes (``-Q``), else the app's default queue."""
    try:
        consume_from = parent.app.amqp.queues.consume_from
        if consume_from:
            return sorted(consume_from)
        return [parent.app.conf.task_default_queue]
    except AttributeError:
        return []


def fresh(path: Path, max_age: float, now: float | None = None) -> bool:
    """Whether ``path`` was touched less than ``max_age`` seconds ago."""
    try:
        modified = path.stat().st_mtime
    except OSError:
        return False
    return (time.time() if now is None else now) - modified < max_age


def main(argv: list[str] | None = None) -> int:
    """Liveness probe: 0 when the heartbeat file is fresh, 1 when stale or missing."""
    parser = argparse.ArgumentParser(
        prog="python -m worker.heartbeat",
        description="Exit 0 while a worker's heartbeat file is fresh (a liveness probe).")
    parser.add_argument("file", type=Path, help="The worker's ADREVIEW_HEARTBEAT_FILE.")
    parser.add_argument("--max-age", type=float, default=60.0,
                        help="Seconds since the last beat that still count as alive (60).")
    args = parser.parse_args(argv)
    if fresh(args.file, args.max_age):
        return 0
    print(f"no heartbeat in {args.file} for {args.max_age:g} s", file=sys.stderr)
    return 1


__all__ = ["HEARTBEAT_MISSES", "Heartbeat", "HeartbeatStep", "beat", "fresh", "seen_window",
           "workers_key"]

if __name__ == "__main__":
    raise SystemExit(main())
