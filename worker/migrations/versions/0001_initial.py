"""Initial schema: submissions, OCR results, rule sets, verdicts, reviews.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model types: a migration must not change when the models do.
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
DECISION_CHECK = "decision IN ('pass', 'review', 'reject', 'error')"


def _timestamp(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    """Create every table and index."""
    op.create_table(
        "submissions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("ad_id", sa.String(255), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("source", sa.String(2048), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("metadata", JSON_DOC, nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint(
            "status IN ('queued', 'processing', 'done', 'error')", name="ck_submissions_status"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_submissions"),
    )
    op.create_index("ix_submissions_ad_id", "submissions", ["ad_id"])
    op.create_index("ix_submissions_sha256", "submissions", ["sha256"])
    op.create_index("ix_submissions_source", "submissions", ["source"])
    op.create_index("ix_submissions_status_updated_at", "submissions", ["status", "updated_at"])

    op.create_table(
        "ocr_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("engine", sa.String(64), nullable=False),
        sa.Column("engine_version", sa.String(255), nullable=False),
        sa.Column("lines", JSON_DOC, nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_ocr_results"),
        sa.UniqueConstraint(
            "sha256", "engine", "engine_version", name="uq_ocr_results_sha256_engine_engine_version"
        ),
    )

    op.create_table(
        "rulesets",
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("content", JSON_DOC, nullable=True),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("version", name="pk_rulesets"),
    )

    op.create_table(
        "verdicts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("submission_id", sa.String(36), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("matches", JSON_DOC, nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("ruleset_version", sa.String(128), nullable=False),
        sa.Column("engine", sa.String(64), nullable=False),
        sa.Column("engine_version", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("timings", JSON_DOC, nullable=False),
        _timestamp("created_at"),
        _timestamp("judged_at"),
        sa.CheckConstraint(DECISION_CHECK, name="ck_verdicts_decision"),
        sa.ForeignKeyConstraint(
            ["ruleset_version"], ["rulesets.version"],
            name="fk_verdicts_ruleset_version_rulesets",
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submissions.id"],
            name="fk_verdicts_submission_id_submissions", ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_verdicts"),
        sa.UniqueConstraint(
            "submission_id", "ruleset_version", "engine", "engine_version",
            name="uq_verdicts_submission_id_ruleset_version_engine_engine_version",
        ),
    )
    op.create_index("ix_verdicts_created_at", "verdicts", ["created_at"])
    op.create_index("ix_verdicts_judged_at", "verdicts", ["judged_at"])
    op.create_index("ix_verdicts_decision_judged_at", "verdicts", ["decision", "judged_at"])

    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("submission_id", sa.String(36), nullable=False),
        sa.Column("verdict_id", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(255), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        _timestamp("created_at"),
        sa.CheckConstraint("action IN ('confirm', 'override')", name="ck_reviews_action"),
        sa.CheckConstraint(DECISION_CHECK, name="ck_reviews_decision"),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submissions.id"],
            name="fk_reviews_submission_id_submissions", ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["verdict_id"], ["verdicts.id"],
            name="fk_reviews_verdict_id_verdicts", ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_reviews"),
    )
    op.create_index(
        "ix_reviews_submission_id_created_at", "reviews", ["submission_id", "created_at"]
    )
    op.create_index("ix_reviews_verdict_id", "reviews", ["verdict_id"])


def downgrade() -> None:
    """Drop everything ``upgrade`` created."""
    for table in ("reviews", "verdicts", "rulesets", "ocr_results", "submissions"):
        op.drop_table(table)
