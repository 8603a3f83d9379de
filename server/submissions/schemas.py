"""The JSON shapes of submissions (DESIGN section 5)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, field_serializer


class SubmissionCheckOut(BaseModel):
    """One check's result on a submission."""

    id: str
    title: str
    passed: bool
    score: float
    max_score: float
    message: str


class SubmissionOut(BaseModel):
    id: int
    lab_id: str
    student: str
    status: str
    score: float | None
    max_score: float
    checks: list[SubmissionCheckOut]
    note: str | None = None
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
