"""The Celery application: Redis as the broker, verdicts in the database (no result backend).

Start a worker with ``adreview worker`` or ``celery -A worker.celery_app worker``.

Delivery on Redis is at-least-once, so the configuration leans on that instead of
fighting it: a task is acknowledged only after it finished (``task_acks_late``), a
child process that dies mid-task puts its message back (``task_reject_on_worker_lost``),
each child holds one message at a time (``worker_prefetch_multiplier=1``), and the
verdict write is idempotent (see ``Store.record_verdict``). A message fetched but never
acknowledged (the whole worker was killed) is handed out again once the broker's
``visibility_timeout`` has passed; it is kept above the hard time limit so that a task
still running legitimately is never handed to a second worker.

Messages go to ``settings.queue``; those for HunyuanOCR (``engine="hunyuan"``) go to
``settings.gpu_queue`` so that GPU workers can listen there alone.

A worker never stops for a malformed message: on a Redis broker it consumes through
``worker.broker_guard`` (a screening transport and consumer), which logs, counts and
dead-letters such messages to ``<queue>.dead``. Worker bootsteps run in the main
process: ``worker.startup.DatabaseCheck`` and ``RulesCheck`` (a worker whose database
cannot be opened, or whose rules do not load, exits non-zero before its pool starts) and
``worker.sweep.SweepStep`` (stale submissions are sent again every
``settings.sweep_seconds``) and ``worker.relay.RelayStep`` (stored submissions whose
message never reached the broker are sent every ``settings.relay_seconds``) and
``worker.callbacks.CallbackStep`` (review callbacks of the outbox delivered in order) and
``worker.heartbeat.HeartbeatStep`` (the worker's presence for the scaling gauges).
"""

from __future__ import annotations

import math
import os
from typing import Any
from urllib.parse import urlsplit

from celery import Celery  # type: ignore[import-untyped]
from celery.signals import worker_init  # type: ignore[import-untyped]

from worker import broker_link
from worker.settings import Settings, get_settings

#: The name producers send review messages to.
REVIEW_TASK = "adreview.review"
#: Engines whose messages go to the GPU queue: HunyuanOCR in the worker (needs the GPU)
#: and HunyuanOCR behind vLLM (the GPU workers are the ones configured with its URL).
GPU_ENGINES = frozenset({"hunyuan", "hunyuan-vllm"})
#: Seconds a worker waits for running tasks on a warm shutdown before cancelling them.
SOFT_SHUTDOWN_SECONDS = 10.0
#: Seconds a new pool child may take to start (it loads the OCR engine and rule set).
PROCESS_START_SECONDS = 120.0
#: Broker URL schemes served by the screening transport of ``worker.broker_guard``.
GUARDED_SCHEMES = frozenset({"redis", "rediss"})
#: Worker bootsteps of the main process (see the module docstring).
WORKER_STEPS = ("worker.startup:DatabaseCheck", "worker.startup:RulesCheck",
                "worker.sweep:SweepStep", "worker.relay:RelayStep",
                "worker.callbacks:CallbackStep", "worker.heartbeat:HeartbeatStep")


def visibility_timeout(settings: Settings) -> int:
    """Seconds before Redis re-delivers an unacknowledged message: above the hard limit."""
    return math.ceil(settings.task_time_limit) + 15


def queue_for(engine: str | None, settings: Settings) -> str:
    """The queue a review with ``engine`` (None: the default engine) is sent to."""
    name = engine or settings.ocr_engine
    return settings.gpu_queue if name in GPU_ENGINES else settings.queue


class EngineRouter:
    """Celery router: the review task's ``engine`` argument picks the queue."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(
        self, name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any
    ) -> dict[str, str] | None:
        """``{"queue": ...}`` for review tasks; None leaves other tasks to the defaults."""
        if name != REVIEW_TASK:
            return None
        engine = None
        if isinstance(kwargs, dict):
            engine = kwargs.get("engine")
        if engine is None and isinstance(args, list | tuple) and len(args) > 1:
            engine = args[1]
        return {"queue": queue_for(engine if isinstance(engine, str) else None, self.settings)}


def make_celery(settings: Settings) -> Celery:
    """A Celery app for ``settings`` (broker, queues and limits); tasks in ``worker.tasks``."""
    celery = Celery("adreview", broker=settings.redis_url, include=["worker.tasks"])
    celery.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.task_soft_time_limit,
        task_time_limit=settings.task_time_limit,
        worker_max_memory_per_child=settings.worker_max_memory_per_child,
        worker_soft_shutdown_timeout=SOFT_SHUTDOWN_SECONDS,
        worker_proc_alive_timeout=PROCESS_START_SECONDS,
        worker_send_task_events=True,
        task_send_sent_event=True,
        broker_connection_retry_on_startup=True,
        # A worker cut off from Redis reconnects when its link returns, however long it
        # was gone; the socket limits and their numbers are in ``worker.broker_link``.
        broker_connection_retry=True,
        broker_connection_max_retries=None,
        broker_connection_timeout=broker_link.connect_timeout(settings),
        task_publish_retry_policy=broker_link.publish_retry_policy(settings),
        broker_transport_options=broker_link.transport_options(settings,
                                                                visibility_timeout(settings)),
        task_default_queue=settings.queue,
        task_routes=(EngineRouter(settings),),
    )
    if urlsplit(settings.redis_url).scheme in GUARDED_SCHEMES:
        celery.conf.update(broker_transport="worker.broker_guard:GuardedTransport",
                           worker_consumer="worker.broker_guard:GuardedConsumer")
    celery.steps["worker"].update(WORKER_STEPS)
    return celery


def share_cores(sender: Any = None, **_: Any) -> None:
    """Before the pool starts, tell its children how many of them share the cores, so that
    each OCR runtime takes its share of threads instead of all of them (``concurrency``
    children with all-core thread pools each would oversubscribe the machine)."""
    from models.rapidocr import WORKER_PROCESSES_ENV

    concurrency = getattr(sender, "concurrency", None) or 1
    os.environ.setdefault(WORKER_PROCESSES_ENV, str(max(1, int(concurrency))))


worker_init.connect(share_cores, weak=False)

#: The app configured from the environment (``ADREVIEW_*``).
app = make_celery(get_settings())

__all__ = ["REVIEW_TASK", "EngineRouter", "app", "make_celery", "queue_for", "visibility_timeout"]
