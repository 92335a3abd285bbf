"""Prometheus metrics of the review workers.

Counters and a histogram live in the default registry of each process. A prefork worker
runs tasks in several child processes, so serving ``/metrics`` from one of them would show
a fraction of the work. The simple, supported way is prometheus_client's multiprocess
mode: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder before the worker starts (every
child then writes its samples there) and start the server in the parent with
``adreview worker --metrics-port PORT``, which aggregates the folder on each scrape.
Without ``--metrics-port`` the metrics are only counted.
"""

from __future__ import annotations

import logging
import os

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from worker.verdict import Verdict

log = logging.getLogger(__name__)

#: Review tasks by how they ended: done, error, retry, skipped (verdict already stored),
#: gave_up (too many deliveries).
TASKS = Counter("adreview_tasks_total", "Review tasks by outcome.", ["outcome"])
#: Seconds the OCR engine spent on an image (cache hits are not observed).
OCR_SECONDS = Histogram(
    "adreview_ocr_seconds",
    "OCR time per image (s).",
    ["engine"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0),
)
#: Verdicts by decision and, for matches, the category of each rule that fired.
DECISIONS = Counter(
    "adreview_decisions_total", "Verdicts by decision and matched category.",
    ["decision", "category"],
)
#: Error verdicts by their stable code.
ERRORS = Counter("adreview_errors_total", "Error verdicts by code.", ["code"])


def observe_verdict(verdict: Verdict) -> None:
    """Count one stored verdict (decision, categories, error code, OCR time)."""
    categories = sorted({m.category for m in verdict.matches}) or [""]
    for category in categories:
        DECISIONS.labels(verdict.decision.value, category).inc()
    if verdict.error is not None:
        ERRORS.labels(verdict.error.code.value).inc()
    if "ocr" in verdict.timings:
        OCR_SECONDS.labels(verdict.engine).observe(verdict.timings["ocr"])


def serve(port: int, addr: str = "127.0.0.1") -> None:
    """Serve ``/metrics`` on ``port``: every child's samples in multiprocess mode."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
        start_http_server(port, addr=addr, registry=registry)
    else:
        log.warning("PROMETHEUS_MULTIPROC_DIR is unset: /metrics shows the parent process only")
        start_http_server(port, addr=addr)


__all__ = ["DECISIONS", "ERRORS", "OCR_SECONDS", "TASKS", "observe_verdict", "serve"]
