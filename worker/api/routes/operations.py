"""Operations, no key needed: liveness, readiness and Prometheus metrics.

``/ready`` names what failed by the kind of error only; the details (addresses, driver
messages) go to the log, not to whoever asks.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from worker.api.deps import StateDep
from worker.api.state import ApiState

log = logging.getLogger(__name__)

router = APIRouter()

#: Seconds a caller should wait before asking ``/ready`` again after a 503.
READY_RETRY_AFTER = "5"
#: Bytes of the probe file ``/ready`` writes to the spill folder.
READY_PROBE_BYTES = 4096


@router.get("/health", tags=["operations"])
async def health() -> dict[str, str]:
    """Alive (the process answers); says nothing about the database or Redis."""
    return {"status": "ok"}


@router.get("/ready", tags=["operations"],
            responses={503: {"description": "A dependency is unreachable."}})
async def ready(state: StateDep) -> JSONResponse:
    """Ready when the database answers and takes writes, Redis answers and the spill
    folder takes a file; 503 naming what failed."""
    checks = await run_in_threadpool(readiness, state)
    ok = all(c["ok"] for c in checks.values())
    return JSONResponse({"status": "ready" if ok else "unavailable", "checks": checks},
                        status_code=200 if ok else 503,
                        headers=None if ok else {"Retry-After": READY_RETRY_AFTER})


@router.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
async def metrics(state: StateDep) -> Response:
    """Prometheus metrics of this process (all processes in multiprocess mode), and the
    queue gauges read from Redis (``worker.queue_metrics``): the signal to scale on."""
    body = await run_in_threadpool(metrics_text)
    queues = await run_in_threadpool(state.queue_metrics)
    return Response(body + queues, media_type=CONTENT_TYPE_LATEST)


def _failed(name: str, exc: Exception) -> dict[str, Any]:
    log.warning("readiness: %s is not usable: %s: %s", name, type(exc).__name__, exc)
    return {"ok": False, "error": type(exc).__name__}


def _database_writable(state: ApiState) -> None:
    """Insert a probe row in a transaction rolled back: fails when the database refuses
    writes (read-only, a standby, a read-only file)."""
    from sqlalchemy import insert

    from worker.db.models import RulesetVersion, utcnow

    with state.store().engine.connect() as connection:
        transaction = connection.begin()
        try:
            connection.execute(insert(RulesetVersion).values(
                version=f"ready-probe-{secrets.token_hex(8)}", content=None,
                created_at=utcnow()))
        finally:
            transaction.rollback()


def _spill_folder_writable(folder: Path) -> None:
    """Write (and remove) a small probe file where uploads spill: fails on a full disk,
    a read-only mount or missing permissions."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".ready-{secrets.token_hex(4)}.part"
    try:
        with probe.open("wb") as out:
            out.write(b"\0" * READY_PROBE_BYTES)
            out.flush()
            os.fsync(out.fileno())
    finally:
        probe.unlink(missing_ok=True)


def readiness(state: ApiState) -> dict[str, dict[str, Any]]:
    """Whether the database answers and takes writes, Redis answers and the folder that
    large uploads spill to (``shared_root/uploads``, when set) takes a file; each
    ``{"ok": bool, "error": kind}``."""
    from sqlalchemy import text

    checks: dict[str, dict[str, Any]] = {}
    try:
        with state.store().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as exc:  # any failure means not ready; the log says which
        checks["database"] = _failed("the database", exc)
    if checks["database"]["ok"]:
        try:
            _database_writable(state)
            checks["database_writable"] = {"ok": True}
        except Exception as exc:  # idem
            checks["database_writable"] = _failed("writing to the database", exc)
    if state.settings.shared_root is not None:
        try:
            _spill_folder_writable(state.settings.shared_root / "uploads")
            checks["spill_folder"] = {"ok": True}
        except OSError as exc:
            log.warning("readiness: the spill folder is not writable: %s", exc)
            checks["spill_folder"] = {
                "ok": False, "error": errno.errorcode.get(exc.errno or 0, "OSError")}
    try:
        import redis

        client = redis.Redis.from_url(state.settings.redis_url, socket_connect_timeout=2,
                                      socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
        checks["redis"] = {"ok": True}
    except Exception as exc:  # idem
        checks["redis"] = _failed("Redis", exc)
    return checks


def metrics_text() -> bytes:
    """The exposition of this process, or of every process writing to
    ``PROMETHEUS_MULTIPROC_DIR`` when it is set (``adreview serve --workers N`` sets it)."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


__all__ = ["metrics_text", "readiness", "router"]
