"""The JSON shapes of instructors' decisions and of a student's counted grade in a lab."""

from __future__ import annotations

from pydantic import BaseModel, Field

from server.submissions.schemas import DecisionOut


class OverrideIn(BaseModel):
    check_id: str | None = Field(None, max_length=64, description="a check of the lab; null: the whole submission")
    score: float = Field(ge=0, le=1e6)
    comment: str = Field(max_length=4000, description="why; the student reads it beside their grade")


class CommentIn(BaseModel):
    comment: str = Field(max_length=4000)


class ExtensionIn(BaseModel):
    deadline: str | None = Field(None, max_length=64, description="ISO 8601, e.g. 2026-12-10T23:59:00Z")
    penalty_per_day: float | None = Field(None, description="a fraction (0.1 is 10% per day late); 0 waives it")
    comment: str = Field(max_length=4000)


class GradeOut(BaseModel):
    """A student's counted grade in a lab: the one number every page and export shows, with its reason."""

    student: str
    lab_id: str
    submission_id: int | None
    score: float | None  # the grader's score of the counted submission
    counted_score: float | None
    max_score: float
    days_late: int
    penalty: float  # percent
    reason: str
    excused: bool
    decisions: list[DecisionOut]
