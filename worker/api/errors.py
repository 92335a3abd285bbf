"""The one place mapping errors to HTTP answers: ``{"error": {"code", "message"}}``.

Messages never carry the database URL, driver error text or a traceback: storage
errors are reworded (the URL becomes "the database"), unavailability is said plainly
and logged in detail, and anything unexpected is 500 ``internal`` with the details in
the log. Every 503 says when to try again (``Retry-After``).
"""

from __future__ import annotations

import errno
import logging
from typing import Any

from fastapi.responses import JSONResponse

from rules.engine import UnknownIndustry
from worker.api.state import ApiProblem
from worker.client import BrokerUnavailable
from worker.db import (
    DatabaseBusy,
    DatabaseFull,
    DatabaseUnavailable,
    DecisionConflict,
    DecisionRequired,
    InvalidRecord,
    NotFound,
    StorageError,
)
from worker.errors import ConfigError, ImageError, RuleError

log = logging.getLogger(__name__)

#: ``Retry-After`` seconds by what was unavailable.
RETRY_AFTER = {"broker_unavailable": "30", "database_unavailable": "5", "database_busy": "1",
               "rules_unusable": "30", "insufficient_storage": "60",
               "storage_unavailable": "30"}

#: ``errno`` values that mean "no room left" (507) rather than "cannot write here" (503).
NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def public_message(exc: StorageError) -> str:
    """The error's message with the database named, not its URL."""
    message = str(exc)
    if exc.url:
        message = message.replace(f"database {exc.url}", "the database")
        message = message.replace(exc.url, "the database")
    return message


def error_response(problem: ApiProblem) -> JSONResponse:
    """The JSON answer for ``problem``."""
    body: dict[str, Any] = {"error": {"code": problem.code, "message": problem.message}}
    body.update(problem.extra)
    return JSONResponse(body, status_code=problem.status, headers=problem.headers)


def _unavailable(code: str, message: str, **headers: str) -> ApiProblem:
    return ApiProblem(503, code, message, headers={"Retry-After": RETRY_AFTER[code], **headers})


def disk_problem(exc: OSError, what: str) -> ApiProblem:
    """The answer for a failed write to ``what`` (a folder of this service): 507
    ``insufficient_storage`` when it is full, else 503 ``storage_unavailable``; the
    path and the system's words go to the log only."""
    log.error("writing to %s failed: %s", what, exc)
    if exc.errno in NO_ROOM:
        return ApiProblem(507, "insufficient_storage", f"{what} is full; try again later",
                          headers={"Retry-After": RETRY_AFTER["insufficient_storage"]})
    return _unavailable("storage_unavailable", f"{what} cannot be written to; try again later")


def problem_for(exc: Exception) -> ApiProblem:
    """The answer for an error raised while serving a request."""
    if isinstance(exc, ApiProblem):
        return exc
    if isinstance(exc, BrokerUnavailable):
        problem = _unavailable("broker_unavailable", str(exc),
                               Location=f"/v1/submissions/{exc.submission_id}")
        problem.extra["id"] = exc.submission_id
        return problem
    if isinstance(exc, DatabaseBusy):
        log.warning("database busy: %s", exc)
        return _unavailable("database_busy",
                            "every database connection is in use; try again shortly")
    if isinstance(exc, DatabaseFull):
        log.error("database full: %s", exc)
        return ApiProblem(507, "insufficient_storage", "the database is full; try again later",
                          headers={"Retry-After": RETRY_AFTER["insufficient_storage"]})
    if isinstance(exc, DatabaseUnavailable):
        log.warning("database unavailable: %s", exc)
        return _unavailable("database_unavailable",
                            "the database cannot be reached; try again shortly")
    if isinstance(exc, NotFound):
        return ApiProblem(404, "not_found", public_message(exc))
    if isinstance(exc, DecisionConflict):
        problem = ApiProblem(409, "decision_conflict", public_message(exc))
        latest = getattr(exc.latest, "to_dict", None)
        problem.extra["latest"] = None if latest is None else latest()
        return problem
    if isinstance(exc, DecisionRequired):
        return ApiProblem(422, "decision_required", public_message(exc))
    if isinstance(exc, InvalidRecord):
        return ApiProblem(422, "invalid_record", public_message(exc))
    if isinstance(exc, ImageError):
        status = 413 if exc.code.value == "image_too_large" else 422
        return ApiProblem(status, exc.code.value, exc.message)
    if isinstance(exc, RuleError):
        log.error("the rule set cannot be used: %s", exc)
        return _unavailable("rules_unusable", "the rule set cannot be loaded, and this process "
                            "has no earlier one to serve; try again once it is fixed")
    if isinstance(exc, UnknownIndustry):
        return ApiProblem(422, "unknown_industry", str(exc))
    if isinstance(exc, ConfigError):
        return ApiProblem(422, "invalid_request", str(exc))
    if isinstance(exc, StorageError):
        log.error("storage error: %s", exc)
        return ApiProblem(500, "storage_error", "the database refused the request (see the log)")
    log.error("unexpected error: %s: %s", type(exc).__name__, exc, exc_info=exc)
    return ApiProblem(500, "internal", "an unexpected error; it has been logged")


__all__ = ["NO_ROOM", "RETRY_AFTER", "disk_problem", "error_response", "problem_for",
           "public_message"]
