"""Grading jobs (the ledger), per-check results and stored artifacts (notebooks, plots)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    GRADED = "graded"
    ERROR = "error"
    CANCELLED = "cancelled"  # a job only: superseded by a newer job of its submission before it finished


class JobQueue(StrEnum):
    LIVE = "live"
    REGRADE = "regrade"


class ArtifactKind(StrEnum):
    SUBMITTED_NOTEBOOK = "submitted_notebook"
    SUBMITTED_FILES = "submitted_files"  # the files submitted with the notebook, as one zip (grader.upload.attachments)
    EXECUTED_NOTEBOOK = "executed_notebook"
    LEARNING_CURVE = "learning_curve"


class GradingJob(Base):
    __tablename__ = "grading_jobs"
    __table_args__ = (Index("ix_grading_jobs_status_queue_created", "status", "queue", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    queue: Mapped[str] = mapped_column(String(20), default=JobQueue.LIVE)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.QUEUED)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    error_reason: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    report_json: Mapped[str | None] = mapped_column(Text)


class CheckResultRow(Base):
    __tablename__ = "check_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("grading_jobs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    check_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    passed: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text)
    measured: Mapped[float | None] = mapped_column(Float)


class Artifact(Base):
    """A stored file of a submission; `content` is encoded as `content_encoding` says (see
    `server.jobs.stored_artifacts`: notebooks are gzip-compressed, rows written before that are `identity`)."""

    __tablename__ = "artifacts"
    __table_args__ = (Index("ix_artifacts_submission_kind", "submission_id", "kind", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    content_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    content_encoding: Mapped[str] = mapped_column(String(20), server_default="identity")
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
