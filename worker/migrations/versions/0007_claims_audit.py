"""Claims between reviewers, the audit log, and the OCR text kept searchable.

- ``claims``: who is looking at a submission, until when (one row per submission; a
  reviewer opening an item takes or renews it, a decision releases it).
- ``audit_log``: decisions, claims, key and rule-set changes, oldest first by id.
- ``ocr_results.text``: the lines an engine read, joined by newlines, for ``q=``
  searches; filled in for the rows stored before. On PostgreSQL a trigram GIN index
  (``pg_trgm``) serves ``ILIKE '%...%'``; where the extension cannot be made, the
  search still works, unindexed.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _trigram_schema(bind: sa.Connection) -> str | None:
    """The schema holding ``pg_trgm`` (made in ``public`` when missing), or None."""
    found = bind.execute(sa.text(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'"
    )).scalar()
    if found is not None:
        return str(found)
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public"))
    except sa.exc.DBAPIError:
        return None
    found = bind.execute(sa.text(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'"
    )).scalar()
    return None if found is None else str(found)


def upgrade() -> None:
    """Add the tables and the column; fill the column; index it on PostgreSQL."""
    op.create_table(
        "claims",
        sa.Column("submission_id", sa.String(36), nullable=False),
        sa.Column("reviewer", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"],
                                name="fk_claims_submission_id_submissions",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("submission_id", name="pk_claims"),
    )
    op.create_index("ix_claims_expires_at", "claims", ["expires_at"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(255), nullable=True),
        sa.Column("detail", sa.JSON().with_variant(
            sa.dialects.postgresql.JSONB(), "postgresql"), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_created_at", "audit_log", ["created_at"])
    op.create_index("ix_audit_log_subject", "audit_log", ["subject"])
    with op.batch_alter_table("ocr_results") as batch:
        batch.add_column(sa.Column("text", sa.Text(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, lines FROM ocr_results")).all()
    for ident, lines in rows:
        data = json.loads(lines) if isinstance(lines, str) else lines
        joined = "\n".join(str(line.get("text", "")) for line in data or ())
        bind.execute(sa.text("UPDATE ocr_results SET text = :t WHERE id = :i"),
                     {"t": joined, "i": ident})
    if bind.dialect.name == "postgresql":
        schema = _trigram_schema(bind)
        if schema is not None:
            op.execute(f'CREATE INDEX ix_ocr_results_text_trgm ON ocr_results '
                       f'USING gin (text "{schema}".gin_trgm_ops)')
    else:  # the same name on SQLite: an empty partial index (as ix_verdicts_matches)
        op.execute("CREATE INDEX ix_ocr_results_text_trgm ON ocr_results (text) WHERE 0")


def downgrade() -> None:
    """Drop what ``upgrade`` added (the extension stays)."""
    op.execute("DROP INDEX IF EXISTS ix_ocr_results_text_trgm")
    with op.batch_alter_table("ocr_results") as batch:
        batch.drop_column("text")
    op.drop_index("ix_audit_log_subject", "audit_log")
    op.drop_index("ix_audit_log_created_at", "audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_claims_expires_at", "claims")
    op.drop_table("claims")
