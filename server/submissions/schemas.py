"""The JSON shapes of submissions (DESIGN section 5)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, field_serializer


class SubmissionCheckOut(BaseModel):
    """One check's result on a submission: `score` is the grader's, `counted_score` after an instructor's override
    (`override` says who set it and why; null when none)."""

    id: str
    title: str
    passed: bool
    score: float
    max_score: float
    message: str
    counted_score: float
    override: str | None = None


class DecisionOut(BaseModel):
    """An instructor's decision on this grade: what, by whom, when, why."""

    kind: str  # override, choose, extension, excuse
    text: str
    comment: str
    by: str
    at: datetime
    check_id: str | None = None
    submission_id: int | None = None

    @field_serializer("at")
    def _utc(self, value: datetime) -> str:
        return value.isoformat() + "Z"


class SubmissionOut(BaseModel):
    id: int
    lab_id: str
    student: str
    status: str
    score: float | None  # the grader's, 2 decimals
    max_score: float
    checks: list[SubmissionCheckOut]
    note: str | None = None
    counted_score: float | None = None  # after overrides, the student's deadline and late penalty; null: not graded
    counts: bool = False  # this is the submission that counts toward the student's grade
    days_late: int = 0
    penalty: float = 0.0  # percent of the score taken off for lateness
    reason: str = ""  # why counted_score differs from score (override, lateness, extension, chosen); excusal
    excused: bool = False  # the student is excused from this lab: no submission counts
    decisions: list[DecisionOut] = []
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @field_serializer("created_at", "started_at", "finished_at")
    def _utc(self, value: datetime | None) -> str | None:
        return None if value is None else value.replace(microsecond=value.microsecond).isoformat() + "Z"


class SubmissionList(BaseModel):
    items: list[SubmissionOut]
    total: int
    limit: int
    offset: int


class RegradeOut(BaseModel):
    queued: int
    submission_ids: list[int]
