"""Persistence: submissions, the OCR cache, verdicts with their history, reviewer decisions.

``Store.open(url)`` connects (SQLite embedded by default, PostgreSQL in production),
migrates the schema with Alembic and gives typed, idempotent reads and writes;
``StoreOcrCache`` plugs the stored OCR results into the review pipeline.
"""

from worker.db.engine import make_engine, safe_url
from worker.db.errors import (
    DatabaseBusy,
    DatabaseFull,
    DatabaseUnavailable,
    DecisionConflict,
    DecisionRequired,
    InvalidRecord,
    NotFound,
    SchemaOutdated,
    StorageError,
)
from worker.db.migrate import MIGRATIONS_DIR, check_schema, head_revision, upgrade
from worker.db.models import ReviewAction, SubmissionStatus
from worker.db.store import (
    OcrKey,
    Store,
    StoredReview,
    StoredSubmission,
    StoredVerdict,
    StoreOcrCache,
    new_id,
    ruleset_content,
    scan_submission_id,
)

__all__ = [
    "MIGRATIONS_DIR",
    "DatabaseBusy",
    "DatabaseFull",
    "DatabaseUnavailable",
    "DecisionConflict",
    "DecisionRequired",
    "InvalidRecord",
    "NotFound",
    "OcrKey",
    "ReviewAction",
    "SchemaOutdated",
    "StorageError",
    "Store",
    "StoreOcrCache",
    "StoredReview",
    "StoredSubmission",
    "StoredVerdict",
    "SubmissionStatus",
    "check_schema",
    "head_revision",
    "make_engine",
    "new_id",
    "ruleset_content",
    "safe_url",
    "scan_submission_id",
    "upgrade",
]
