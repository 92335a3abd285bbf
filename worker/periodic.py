"""A job a worker's main process runs every few seconds in a daemon thread.

The sweep, the outbox relay, the callback delivery and the heartbeat are bootsteps of the
same shape: started with the worker (unless their interval setting is 0), one round every
interval, a failure logged and tried again next round (a bug too: it must not end the job
for good), stopped with the worker, waiting a little for a round under way.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis

from worker.errors import AdreviewError
from worker.settings import Settings

log = logging.getLogger(__name__)

#: Failures a round expects (a database or Redis outage): logged briefly, tried again.
EXPECTED = (AdreviewError, redis.RedisError, OSError)


class Periodic:
    """``round()`` every ``interval`` seconds in a daemon thread, from ``start`` to ``stop``.

    Subclasses name the job (``what``, for the logs), its thread and the setting that turns
    it off, and say whether the first round runs at once (``at_start``) or after one
    interval; ``close`` releases what the rounds opened.
    """

    what = "periodic job"
    thread_name = "adreview-periodic"
    off_setting = ""
    at_start = False
    #: How loud an expected failure is: a job that runs every second or two logs an
    #: outage at INFO, so that it does not drown the worker's log.
    failure_level = logging.WARNING

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._redis: redis.Redis | None = None

    def redis_options(self) -> dict[str, Any]:
        """Options of the job's Redis client (its socket limits)."""
        return {"socket_timeout": 5, "socket_connect_timeout": 2}

    @property
    def client(self) -> redis.Redis:
        """The job's Redis client, made on first use."""
        if self._redis is None:
            self._redis = redis.Redis.from_url(self.settings.redis_url, **self.redis_options())
        return self._redis

    @property
    def interval(self) -> float:
        """Seconds between rounds; 0 or less turns the job off."""
        raise NotImplementedError

    def round(self) -> object:
        """One round of the job."""
        raise NotImplementedError

    def _round_logged(self) -> None:
        try:
            self.round()
        except EXPECTED as exc:
            log.log(self.failure_level, "%s failed, trying again in %g s: %s: %s", self.what,
                    self.interval, type(exc).__name__, exc)
        except Exception:  # a bug must not end the job for good
            log.exception("%s failed", self.what)

    def run(self) -> None:
        """Rounds every interval until ``stop`` (the first at once with ``at_start``)."""
        if self.at_start:
            self._round_logged()
        while not self._stop.wait(self.interval):
            self._round_logged()

    def start(self) -> None:
        """Start the rounds in a daemon thread (not when the interval is 0 or less)."""
        if self.interval <= 0:
            log.info("%s is off (%s=0)", self.what, self.off_setting)
            return
        self._thread = threading.Thread(target=self.run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the rounds, wait a little for one under way, then ``close``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.close()

    def close(self) -> None:
        """Release what the rounds opened: the Redis client here."""
        if self._redis is not None:
            self._redis.close()


__all__ = ["EXPECTED", "Periodic"]
