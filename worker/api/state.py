"""What one API process holds: settings, the store and the rule set (opened on first use),
the limits on work done off the event loop, and the error type every route raises.

Blocking work never runs on the event loop. Database calls run in threads, at most as
many at once as the connection pool has connections (``db_slots``): a request beyond
that waits without holding a thread, and one that waits longer than
``settings.api_db_wait`` is answered 503 ``database_busy`` with ``Retry-After``. CPU work
(judging a text) runs in threads too, at most ``CPU_SLOTS`` at once, so that it can
neither starve the database calls of threads nor keep ``/health`` waiting.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.to_thread

from rules import RuleSet
from rules.reload import ReloadingRuleSet
from worker.db import DatabaseBusy, Store
from worker.db.keys import ApiKeys
from worker.db.sessions import ReviewSessions
from worker.errors import AdreviewError
from worker.settings import Settings

if TYPE_CHECKING:
    from worker.queue_metrics import QueueCollector

#: Bytes a request body may have beyond the largest image (base64 growth, form fields).
BODY_MARGIN = 64 * 1024
#: Texts judged at once by one process (half the cores, at least one).
CPU_SLOTS = max(1, (os.cpu_count() or 2) // 2)
#: Seconds a request waits for a CPU slot before 503 ``busy``.
CPU_WAIT = 10.0

_T = TypeVar("_T")


def body_limit(settings: Settings) -> int:
    """The largest request body accepted: a base64-encoded largest image plus a margin."""
    return (settings.max_image_bytes + 2) // 3 * 4 + BODY_MARGIN


class ApiProblem(AdreviewError):
    """An error answer: HTTP ``status`` with ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str,
                 headers: Mapping[str, str] | None = None,
                 extra: Mapping[str, object] | None = None) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        super().__init__(message)


class ApiState:
    """The shared resources of one app; the store and rules load lazily, once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._ruleset: ReloadingRuleSet | None = None
        self._db: _Slots | None = None
        self._cpu: _Slots | None = None
        self._queues: QueueCollector | None = None
        from worker.api.throttle import FailureThrottle

        #: Failed key and sign-in attempts per client address (429 past the limit).
        self.throttle = FailureThrottle()

    @property
    def db_connections(self) -> int:
        """Connections the pool may hold at once."""
        return max(1, self.settings.api_db_pool_size + max(0, self.settings.api_db_max_overflow))

    def store(self) -> Store:
        """The store (opened, and migrated, on first use), its pool sized by the settings."""
        with self._lock:
            if self._store is None:
                self._store = Store.open(
                    self.settings.database_url, pool_size=max(1, self.settings.api_db_pool_size),
                    max_overflow=max(0, self.settings.api_db_max_overflow),
                    pool_timeout=self.settings.api_db_wait)
            return self._store

    def keys(self) -> ApiKeys:
        """The API keys in the store."""
        return ApiKeys(self.store())

    def sessions(self) -> ReviewSessions:
        """The reviewer sessions in the store."""
        return ReviewSessions(self.store())

    def ruleset(self) -> RuleSet:
        """The active rule set (``settings.rules_dir``, loaded on first use and again
        whenever its files change, as workers do: ``rules.reload.ReloadingRuleSet``)."""
        with self._lock:
            if self._ruleset is None:
                self._ruleset = ReloadingRuleSet(self.settings.rules_dir)
        return self._ruleset.current()

    def queue_metrics(self) -> bytes:
        """The queue gauges' exposition (``worker.queue_metrics``), one Redis call."""
        from worker.queue_metrics import QueueCollector, queue_metrics_text

        with self._lock:
            if self._queues is None:
                self._queues = QueueCollector(self.settings)
            collector = self._queues
        return queue_metrics_text(self.settings, collector.client)

    async def run_db(self, fn: Callable[..., _T], *args: object) -> _T:
        """``fn(*args)`` in a thread once a database slot is free (``DatabaseBusy`` when
        none frees up within ``settings.api_db_wait``)."""
        if self._db is None:
            self._db = _Slots(self.db_connections)
        return await self._db.run(
            self.settings.api_db_wait, fn, args,
            DatabaseBusy("every database connection of this process is in use"))

    async def run_cpu(self, fn: Callable[..., _T], *args: object) -> _T:
        """``fn(*args)`` in a thread once a CPU slot is free (503 ``busy`` after
        ``CPU_WAIT`` seconds without one)."""
        if self._cpu is None:
            self._cpu = _Slots(CPU_SLOTS)
        return await self._cpu.run(
            CPU_WAIT, fn, args,
            ApiProblem(503, "busy", "this process is judging as many texts as it can; "
                       "try again shortly", headers={"Retry-After": "2"}))

    def close(self) -> None:
        """Close the store's connections and the queue gauges' Redis client."""
        with self._lock:
            if self._queues is not None:
                self._queues.close()
                self._queues = None
            if self._store is not None:
                self._store.close()
                self._store = None


class _Slots:
    """At most ``size`` calls at once, each in a worker thread; callers queue for a slot
    without holding a thread."""

    def __init__(self, size: int) -> None:
        self.slots = anyio.CapacityLimiter(size)
        # The threads' own limiter, as large: anyio's default one (40 threads, shared by
        # every other thread call) must not be what makes callers wait.
        self.threads = anyio.CapacityLimiter(size)

    async def run(self, wait: float, fn: Callable[..., _T], args: tuple[object, ...],
                  busy: Exception) -> _T:
        """``fn(*args)`` once a slot is free; ``busy`` raised after ``wait`` seconds."""
        with anyio.move_on_after(wait) as waited:
            await self.slots.acquire()
        if waited.cancelled_caught:
            raise busy
        try:
            return await anyio.to_thread.run_sync(lambda: fn(*args), limiter=self.threads)
        finally:
            self.slots.release()


__all__ = ["BODY_MARGIN", "CPU_SLOTS", "ApiProblem", "ApiState", "body_limit"]
