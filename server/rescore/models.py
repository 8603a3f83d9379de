"""The scoring inputs of a submission's latest graded job, stored beside its report (compressed, size-bounded)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String, func
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base


class StoredOutput(Base):
    """`grader.scoring.stored.StoredEvaluation`, zlib-compressed JSON; one row per submission (its latest job)."""

    __tablename__ = "stored_outputs"

    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("grading_jobs.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    rescored_at: Mapped[datetime | None] = mapped_column(DateTime)

