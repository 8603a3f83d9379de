"""Instructors' decisions on grades, each with who made it, when and why (migration 0007).

The grader's results are never rewritten: a decision is stored beside them and applied where the counted score is
computed (`server.exports.policy.decide`), so regrades and rescores carry it and a deadline change needs no rescore.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, Float, ForeignKey, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base

WHOLE_SUBMISSION = ""  # the `check_id` of an override of the submission's total


class DecisionKind(StrEnum):
    CHOOSE = "choose"  # this submission counts, whatever the lab's rule would pick
    EXTENSION = "extension"  # the student's own deadline and/or late penalty
    EXCUSE = "excuse"  # the lab does not count for this student


class ScoreOverride(Base):
    """An instructor's score for one check of a submission, or for the whole submission (`check_id` empty)."""

    __tablename__ = "score_overrides"
    __table_args__ = (Index("ix_score_overrides_submission_check", "submission_id", "check_id", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    check_id: Mapped[str] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())


class LabDecision(Base):
    """At most one decision of each kind per student and lab."""

    __tablename__ = "lab_decisions"
    __table_args__ = (Index("ix_lab_decisions_student_lab_kind", "student_id", "lab_id", "kind", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    lab_id: Mapped[str] = mapped_column(ForeignKey("labs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    deadline: Mapped[datetime | None] = mapped_column(DateTime)  # naive UTC; None: the lab's
    penalty_per_day: Mapped[float | None] = mapped_column(Float)  # None: the lab's; 0 waives it
    comment: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
