"""The per-student storage quota: the bytes a student's submissions hold in the database, counted by a query.

Counted: everything stored for the student's submissions: every artifact (uploaded and executed notebooks as stored,
compressed; the submitted files; learning curves), the stored evaluation outputs, every grading job's report and
error note, every check's message and the submission's own note and file name. Nothing is cached, so the count
cannot drift from what is stored. An upload whose stored bytes would take the student past the quota is refused
before anything is written. Instructors have no quota (they submit reference solutions and test notebooks).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, literal, select
from sqlalchemy.orm import QueryableAttribute, Session

from server.errors import PayloadTooLarge
from server.jobs.models import Artifact, CheckResultRow, GradingJob
from server.rescore.models import StoredOutput
from server.submissions.models import Submission
from server.users.models import User

MB = 1024 * 1024


def stored_bytes(session: Session, student_id: int) -> int:
    """Bytes stored for the student's submissions now: artifacts as stored, evaluation outputs, reports, notes."""
    own = select(Submission.id).where(Submission.student_id == student_id).scalar_subquery()

    def total(*lengths: QueryableAttribute[Any], where: ColumnElement[bool]) -> int:
        summed = sum((func.coalesce(func.length(column), 0) for column in lengths), start=literal(0))
        return int(session.scalar(select(func.coalesce(func.sum(summed), 0)).where(where)) or 0)

    return (total(Artifact.content, where=Artifact.submission_id.in_(own))
            + total(StoredOutput.content, where=StoredOutput.submission_id.in_(own))
            + total(GradingJob.report_json, GradingJob.error_reason, where=GradingJob.submission_id.in_(own))
            + total(CheckResultRow.message, CheckResultRow.title, where=CheckResultRow.submission_id.in_(own))
            + total(Submission.note, Submission.filename, where=Submission.student_id == student_id))


def _mb(n: int) -> str:
    return f"{n / MB:.1f} MB"


def check_quota(session: Session, student: User, new_bytes: int, quota_mb: float) -> None:
    """Refuse (413) an upload that would store `new_bytes` more than the student's quota allows; 0: no quota."""
    if quota_mb <= 0 or student.is_instructor:
        return
    quota = int(quota_mb * MB)
    used = stored_bytes(session, student.id)
    if used + new_bytes > quota:
        raise PayloadTooLarge(
            f"your storage quota is full: your submissions store {_mb(used)} of your {quota_mb:g} MB and this upload "
            f"needs {_mb(new_bytes)} more (compressed); ask your instructor to raise your quota (the server setting "
            f"LABGRADER_STUDENT_QUOTA_MB)")
