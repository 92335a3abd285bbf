"""The outboxes: messages and callbacks written in the transaction of what they report.

- ``send_outbox``: one row per submission written in the same transaction as the
  submission and deleted once its message is on the broker; the workers' relay sends
  what is left (a broker outage at submit time, a producer that died in between) within
  seconds of the broker answering again. Dropped with the submission.
- ``callback_outbox``: one row per callback to deliver (a reviewer decision that changed
  the effective decision), numbered per submission (``seq``) in the decision's
  transaction, delivered by the workers in that order with retries and back-off.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the tables."""
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
    op.create_table(
        "callback_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("submission_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("payload", JSON_DOC, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"],
                                name="fk_callback_outbox_submission_id_submissions",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_callback_outbox"),
        sa.UniqueConstraint("submission_id", "seq", name="uq_callback_outbox_submission_id_seq"),
    )
    op.create_index("ix_callback_outbox_delivered_at_next_at", "callback_outbox",
                    ["delivered_at", "next_at"])


def downgrade() -> None:
    """Drop the tables."""
    op.drop_index("ix_callback_outbox_delivered_at_next_at", table_name="callback_outbox")
    op.drop_table("callback_outbox")
    op.drop_index("ix_send_outbox_created_at", table_name="send_outbox")
    op.drop_table("send_outbox")
