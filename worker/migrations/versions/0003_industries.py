"""Industries: the one a submission declares, and the one each verdict was judged as.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the nullable ``industry`` columns (existing rows: undeclared) and an index for
    filtering verdicts by industry."""
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("industry", sa.String(64), nullable=True))
    with op.batch_alter_table("verdicts") as batch:
        batch.add_column(sa.Column("industry", sa.String(64), nullable=True))
        batch.create_index("ix_verdicts_industry_judged_at", ["industry", "judged_at"])


def downgrade() -> None:
    """Drop what ``upgrade`` added."""
    with op.batch_alter_table("verdicts") as batch:
        batch.drop_index("ix_verdicts_industry_judged_at")
        batch.drop_column("industry")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("industry")
