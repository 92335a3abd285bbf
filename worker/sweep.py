"""The workers' sweep: submissions left queued or processing too long are sent again.

Every ``settings.sweep_seconds`` one worker of the deployment - whichever first sets the
Redis key ``adreview.sweep.<hash of the database URL>``, which expires after the
interval - looks for submissions without progress for ``settings.stale_minutes`` and
sends each one again, as ``adreview requeue --stale`` does (``requeue_stale``):

- ``processing`` ones always: a delivery that has not finished in that time is lost (its
  worker died and the message did not come back);
- ``queued`` ones while their queue is empty: a submission still waiting behind a
  backlog is not sent twice, while one whose message was lost (a Redis outage, a broker
  refusal at submit time) is sent again as soon as nothing else waits.

A message sent again while the first is still around does no harm: a delivery that finds
the verdict stored does nothing. Deliveries are counted, so a submission whose
deliveries keep failing ends as an ``error`` verdict after ``max_attempts`` instead of
being swept forever.

The sweep runs in a thread of the worker's main process (``SweepStep``, a Celery worker
bootstep), never in the pool processes. A sweep that fails (database or Redis down) is
logged in one line and tried again at the next interval.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

import redis
from celery import bootsteps  # type: ignore[import-untyped]
from kombu.transport import redis as kombu_redis
from prometheus_client import Counter

from worker.periodic import Periodic
from worker.settings import Settings, get_settings

if TYPE_CHECKING:
    from worker.db import StoredSubmission

log = logging.getLogger(__name__)

#: Submissions the sweep sent again.
SWEPT = Counter("adreview_sweep_resent_total", "Stale submissions sent again by the sweep.")


def lock_key(settings: Settings) -> str:
    """The Redis key whose holder sweeps ``settings.database_url`` this interval."""
    digest = hashlib.sha256(settings.database_url.encode()).hexdigest()[:16]
    return f"adreview.sweep.{digest}"


def queue_length(client: redis.Redis, queue: str) -> int:
    """Messages waiting in ``queue``, over kombu's priority lists."""
    sep = kombu_redis.Channel.sep
    keys = [queue if step == 0 else f"{queue}{sep}{step}"
            for step in kombu_redis.Channel.priority_steps]
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.llen(key)
        return sum(int(n) for n in pipe.execute())


class Sweeper(Periodic):
    """Sends stale submissions again every ``settings.sweep_seconds``, from a thread."""

    what = "sweep"
    thread_name = "adreview-sweep"
    off_setting = "ADREVIEW_SWEEP_SECONDS"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)

    @property
    def interval(self) -> float:
        return self.settings.sweep_seconds

    def redis_options(self) -> dict[str, Any]:
        """The lock's and the queue lengths' client: a little more patience."""
        return {"socket_timeout": 10, "socket_connect_timeout": 5}

    def claim(self) -> bool:
        """Take this interval's sweep (True), unless another worker has already."""
        ttl = max(1, round(self.settings.sweep_seconds * 1000))
        return bool(self.client.set(lock_key(self.settings), "1", nx=True, px=ttl))

    def sweep(self) -> list[str]:
        """One sweep, if this worker wins the interval; returns the ids sent again."""
        from worker.celery_app import queue_for
        from worker.client import requeue_stale
        from worker.db import SubmissionStatus

        if not self.claim():
            return []
        lengths: dict[str, int] = {}

        def lost(item: StoredSubmission) -> bool:
            if item.status is SubmissionStatus.PROCESSING:
                return True
            engine = (item.metadata or {}).get("engine")
            queue = queue_for(engine if isinstance(engine, str) else None, self.settings)
            if queue not in lengths:
                lengths[queue] = queue_length(self.client, queue)
            return lengths[queue] == 0

        sent = requeue_stale(self.settings.stale_minutes, self.settings, only=lost)
        if sent:
            SWEPT.inc(len(sent))
            shown = ", ".join(sent[:10]) + (", ..." if len(sent) > 10 else "")
            log.warning("sweep: sent %d submission(s) without progress for %g min again: %s",
                        len(sent), self.settings.stale_minutes, shown)
        return sent

    def round(self) -> list[str]:
        return self.sweep()


class SweepStep(bootsteps.StartStopStep):  # type: ignore[misc]
    """Worker bootstep: a ``Sweeper`` running in the main process while the worker runs."""

    name = "adreview.sweep"

    def create(self, parent: Any) -> Sweeper:
        """The step's sweeper (started and stopped with the worker)."""
        return Sweeper(get_settings())


__all__ = ["SWEPT", "SweepStep", "Sweeper", "lock_key", "queue_length"]
