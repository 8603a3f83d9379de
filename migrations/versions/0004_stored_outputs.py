"""stored_outputs: each submission's scoring inputs beside its report, for rescoring without a kernel

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 20:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stored_outputs",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=40), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.Column("rescored_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["grading_jobs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("submission_id"),
    )
    op.create_index(op.f("ix_stored_outputs_job_id"), "stored_outputs", ["job_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_stored_outputs_job_id"), table_name="stored_outputs")
    op.drop_table("stored_outputs")
