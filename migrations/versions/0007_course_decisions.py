"""course decisions: instructors' overrides, chosen submissions, extensions and excusals; roster columns

`score_overrides` holds an instructor's score for one check of a submission (`check_id`) or for the whole submission
(`check_id` empty), with who set it, when and why; it is keyed by the submission, so regrades and rescores carry it.
`lab_decisions` holds, per student and lab, at most one of each kind: `choose` (this submission counts),
`extension` (a deadline and/or a late penalty of the student's own) and `excuse`. `users` gains the roster's
`full_name`, `email` and `student_number`. Downgrade drops both tables and the three columns (the decisions are
lost: revision 0006's code could not apply them).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("full_name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("email", sa.String(length=320), nullable=True))
        batch.add_column(sa.Column("student_number", sa.String(length=64), nullable=True))
    op.create_table(
        "score_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"], ondelete="CASCADE",
                                name="fk_score_overrides_submission_id_submissions"),
        sa.PrimaryKeyConstraint("id", name="pk_score_overrides"),
    )
    op.create_index("ix_score_overrides_submission_check", "score_overrides", ["submission_id", "check_id"],
                    unique=True)
    op.create_table(
        "lab_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("lab_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=True),
        sa.Column("deadline", sa.DateTime(), nullable=True),
        sa.Column("penalty_per_day", sa.Float(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.ForeignKeyConstraint(["student_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_lab_decisions_student_id_users"),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], ondelete="CASCADE", name="fk_lab_decisions_lab_id_labs"),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"], ondelete="CASCADE",
                                name="fk_lab_decisions_submission_id_submissions"),
        sa.PrimaryKeyConstraint("id", name="pk_lab_decisions"),
    )
    op.create_index("ix_lab_decisions_student_lab_kind", "lab_decisions", ["student_id", "lab_id", "kind"],
                    unique=True)
    op.create_index("ix_lab_decisions_lab_id", "lab_decisions", ["lab_id"])


def downgrade() -> None:
    op.drop_index("ix_lab_decisions_lab_id", table_name="lab_decisions")
    op.drop_index("ix_lab_decisions_student_lab_kind", table_name="lab_decisions")
    op.drop_table("lab_decisions")
    op.drop_index("ix_score_overrides_submission_check", table_name="score_overrides")
    op.drop_table("score_overrides")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("student_number")
        batch.drop_column("email")
        batch.drop_column("full_name")
