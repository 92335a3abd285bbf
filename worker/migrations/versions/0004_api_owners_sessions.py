"""HTTP API: the key that made each submission, server-side review sessions, and indexes
for the dashboards' filters.

- ``submissions.api_key_id``: the API key a submission came in with (NULL for scans, the
  Python client, the command line and rows from before), indexed;
- ``review_sessions``: the sessions of the ``/review`` pages, keyed by the SHA-256 of the
  random session id the cookie holds, with an expiry and a revocation time;
- ``ix_verdicts_submission_id_judged_at``: the current-verdict test (no later verdict of
  the same submission) becomes one index probe per row;
- ``ix_verdicts_matches``: on PostgreSQL a GIN index (``jsonb_path_ops``) serving the
  category and rule filters (``matches @> '[{"category": ...}]'``). SQLite has no index
  for JSON containment; it gets an empty partial index of the same name (``WHERE 0``:
  no rows, nothing to maintain) so that both backends' schemas match the models.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the column, the table and the indexes (existing rows: no owning key)."""
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("api_key_id", sa.Integer(), nullable=True))
        batch.create_index("ix_submissions_api_key_id", ["api_key_id"])
    op.create_index(
        "ix_verdicts_submission_id_judged_at", "verdicts", ["submission_id", "judged_at"]
    )
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_verdicts_matches", "verdicts", ["matches"],
                        postgresql_using="gin", postgresql_ops={"matches": "jsonb_path_ops"})
    else:
        op.create_index("ix_verdicts_matches", "verdicts", ["matches"],
                        sqlite_where=sa.text("0"))
    op.create_table(
        "review_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"],
            name="fk_review_sessions_api_key_id_api_keys", ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name="pk_review_sessions"),
    )
    op.create_index("ix_review_sessions_expires_at", "review_sessions", ["expires_at"])


def downgrade() -> None:
    """Drop what ``upgrade`` added."""
    op.drop_table("review_sessions")
    op.drop_index("ix_verdicts_matches", table_name="verdicts")
    op.drop_index("ix_verdicts_submission_id_judged_at", table_name="verdicts")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_index("ix_submissions_api_key_id")
        batch.drop_column("api_key_id")
