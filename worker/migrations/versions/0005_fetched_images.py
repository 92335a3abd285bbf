"""The bytes of images fetched by URL, kept so that reviewers can see what was judged.

- ``fetched_images``: one row per submission that came by URL and was fetched (within
  ``settings.max_image_bytes``): its content hash and the bytes; dropped with the
  submission.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the table."""
    op.create_table(
        "fetched_images",
        sa.Column("submission_id", sa.String(36), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"],
                                name="fk_fetched_images_submission_id_submissions",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("submission_id", name="pk_fetched_images"),
    )


def downgrade() -> None:
    """Drop the table."""
    op.drop_table("fetched_images")
