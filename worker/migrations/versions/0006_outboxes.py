"""The send outbox: submissions stored whose review message is not yet on the queue.

- ``send_outbox``: one row per submission written in the same transaction as the
  submission and deleted once its message is on the broker; the workers' relay sends
  what is left (a broker outage at submit time, a producer that died in between) within
  seconds of the broker answering again. Dropped with the submission.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the table."""
    op.create_table(
        "send_outbox",
        sa.Column("submission_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"],
                                name="fk_send_outbox_submission_id_submissions",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("submission_id", name="pk_send_outbox"),
    )
    op.create_index("ix_send_outbox_created_at", "send_outbox", ["created_at"])


def downgrade() -> None:
    """Drop the table."""
    op.drop_index("ix_send_outbox_created_at", table_name="send_outbox")
    op.drop_table("send_outbox")
