"""Queries behind the pages: filtered, sorted, paginated submissions in SQL; lab statistics; one submission's detail."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader import LabSpec
from server.errors import InvalidInput
from server.exports.gradebook import CheckFailures, Gradebook, build_gradebook
from server.jobs.models import Artifact, ArtifactKind, GradingJob, JobStatus
from server.jobs.stored_artifacts import artifact_content
from server.labs.service import list_specs
from server.submissions.models import Submission
from server.users.models import User

PER_PAGE_MAX = 200
SUBMISSION_STATUSES = tuple(s for s in JobStatus if s is not JobStatus.CANCELLED)  # a cancelled job is superseded


class SortKey(StrEnum):
    ID = "id"
    CREATED = "created"
    STUDENT = "student"
    LAB = "lab"
    STATUS = "status"
    SCORE = "score"


SORT_COLUMNS: dict[SortKey, Any] = {
    SortKey.ID: Submission.id, SortKey.CREATED: Submission.created_at, SortKey.STUDENT: User.name,
    SortKey.LAB: Submission.lab_id, SortKey.STATUS: Submission.status, SortKey.SCORE: Submission.score,
}


@dataclass(frozen=True)
class SubmissionQuery:
    """The submissions table's filters, sort and page, as parsed from the query string."""

    lab_id: str | None = None
    student: str | None = None
    status: JobStatus | None = None
    min_score: float | None = None
    max_score: float | None = None
    sort: SortKey = SortKey.CREATED
    descending: bool = True
    page: int = 1
    per_page: int = 50

    def __post_init__(self) -> None:
        if self.page < 1 or not 1 <= self.per_page <= PER_PAGE_MAX:
            raise InvalidInput(f"page must be >= 1 and per_page between 1 and {PER_PAGE_MAX}")
        if self.min_score is not None and self.max_score is not None and self.min_score > self.max_score:
            raise InvalidInput(f"the score range is empty: min {self.min_score:g} is above max {self.max_score:g}")


@dataclass(frozen=True)
class SubmissionRow:
    id: int
    lab_id: str
    student: str
    status: str
    score: float | None
    max_score: float
    created_at: datetime


@dataclass(frozen=True)
class SubmissionPage:
    rows: list[SubmissionRow]
    total: int
    query: SubmissionQuery

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.query.per_page))


def submissions_page(session: Session, query: SubmissionQuery, student_id: int | None = None) -> SubmissionPage:
    """One page of submissions; filtering, counting, sorting and paging all happen in the database."""
    conditions = []
    if student_id is not None:
        conditions.append(Submission.student_id == student_id)
    if query.lab_id:
        conditions.append(Submission.lab_id == query.lab_id)
    if query.student:
        conditions.append(func.lower(User.name).contains(query.student.lower(), autoescape=True))
    if query.status is not None:
        conditions.append(Submission.status == query.status.value)
    if query.min_score is not None:
        conditions.append(Submission.score >= query.min_score)
    if query.max_score is not None:
        conditions.append(Submission.score <= query.max_score)
    base = select(Submission.id).join(User, User.id == Submission.student_id).where(*conditions)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    last_page = max(1, math.ceil(total / query.per_page))
    if query.page > last_page:  # a stale link past the end shows the last page, never "page 99 of 2"
        query = dataclasses.replace(query, page=last_page)
    column = SORT_COLUMNS[query.sort]
    order = column.desc() if query.descending else column.asc()
    tiebreak = Submission.id.desc() if query.descending else Submission.id.asc()
    rows = session.execute(
        select(Submission.id, Submission.lab_id, User.name, Submission.status, Submission.score,
               Submission.max_score, Submission.created_at)
        .join(User, User.id == Submission.student_id).where(*conditions)
        .order_by(order.nulls_last(), tiebreak)
        .limit(query.per_page).offset((query.page - 1) * query.per_page)
    ).tuples().all()
    return SubmissionPage([SubmissionRow(*row) for row in rows], total, query)


@dataclass(frozen=True)
class LabStats:
    """A lab's submissions by status, and its gradebook: the histogram, mean and pass rates count students."""

    spec: LabSpec
    counts: dict[str, int]
    book: Gradebook

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def pending(self) -> int:
        return self.counts[JobStatus.QUEUED.value] + self.counts[JobStatus.RUNNING.value]

    @property
    def mean_score(self) -> float | None:
        return self.book.mean

    @property
    def histogram(self) -> list[int]:
        return self.book.histogram()

    @property
    def students_counted(self) -> int:
        return len(self.book.counted_rows)

    @property
    def check_failures(self) -> list[CheckFailures]:
        return self.book.check_failures()

    @property
    def checks_by_failure(self) -> list[CheckFailures]:
        """The checks most students fail first (ties in the lab's order)."""
        return sorted(self.check_failures, key=lambda c: -(c.fail_rate or 0.0))


def status_counts(session: Session, lab_id: str) -> dict[str, int]:
    counts = {s.value: 0 for s in SUBMISSION_STATUSES}
    counts.update(session.execute(select(Submission.status, func.count()).where(Submission.lab_id == lab_id)
                                  .group_by(Submission.status)).tuples().all())
    return counts


def lab_stats(session: Session, spec: LabSpec) -> LabStats:
    """Counts by status, and the gradebook the statistics are drawn from (one counted submission per student).

    A submission being regraded keeps its previous result until the new one lands, so the statistics do not empty
    out while a lab is regraded.
    """
    return LabStats(spec, status_counts(session, spec.id), build_gradebook(session, spec.id))


@dataclass(frozen=True)
class FailureGroup:
    """Students who failed a check with the same message (numbers masked, so 0.81 and 0.84 group together)."""

    pattern: str
    example: str
    students: list[tuple[str, int, float, float]]  # name, counted submission id, points, max points


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def failure_groups(book: Gradebook, check_id: str) -> list[FailureGroup]:
    """The students whose counted submission fails the check, grouped by message, largest group first."""
    grouped: dict[str, list[tuple[str, int, float, float, str]]] = {}
    for row in book.counted_rows:
        for check in row.checks:
            if check.check_id == check_id and not check.passed and row.submission_id is not None:
                key = _NUMBER.sub("#", check.message)
                grouped.setdefault(key, []).append((row.student, row.submission_id, check.score, check.max_score,
                                                    check.message))
    return [FailureGroup(key, members[0][4], [m[:4] for m in members])
            for key, members in sorted(grouped.items(), key=lambda kv: (-len(kv[1]), kv[0]))]


def all_lab_stats(session: Session) -> list[LabStats]:
    return [lab_stats(session, spec) for spec in list_specs(session)]


@dataclass(frozen=True)
class JobView:
    id: int
    queue: str
    status: str
    attempt: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error_reason: str | None

    @property
    def wait_s(self) -> float | None:
        return None if self.started_at is None else (self.started_at - self.created_at).total_seconds()

    @property
    def run_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class SubmissionDetail:
    submission: Submission
    student: str
    jobs: list[JobView]
    report: dict[str, Any]
    has_learning_curve: bool
    executed_notebook: bytes | None


def submission_detail(session: Session, submission: Submission) -> SubmissionDetail:
    """Everything one detail page shows; the caller has already checked who may see it."""
    student = session.scalar(select(User.name).where(User.id == submission.student_id)) or "?"
    jobs = [JobView(j.id, j.queue, j.status, j.attempt, j.created_at, j.started_at, j.finished_at, j.error_reason)
            for j in session.scalars(select(GradingJob).where(GradingJob.submission_id == submission.id)
                                     .order_by(GradingJob.id.desc()))]
    report_json = session.scalar(
        select(GradingJob.report_json).where(GradingJob.submission_id == submission.id,
                                             GradingJob.status == JobStatus.GRADED.value,
                                             GradingJob.report_json.is_not(None))
        .order_by((GradingJob.id == (submission.current_job_id or -1)).desc(), GradingJob.id.desc()).limit(1))
    report: dict[str, Any] = {}
    if report_json:
        try:
            loaded = json.loads(report_json)
            report = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            report = {}
    kinds = set(session.scalars(select(Artifact.kind).where(Artifact.submission_id == submission.id)))
    notebook = None
    if ArtifactKind.EXECUTED_NOTEBOOK.value in kinds:
        stored = session.scalar(select(Artifact).where(
            Artifact.submission_id == submission.id, Artifact.kind == ArtifactKind.EXECUTED_NOTEBOOK.value))
        notebook = artifact_content(stored) if stored is not None else None
    return SubmissionDetail(submission, student, jobs, report, ArtifactKind.LEARNING_CURVE.value in kinds, notebook)


@dataclass(frozen=True)
class LiveStatus:
    id: int
    status: str
    score: float | None
    max_score: float
    current_job_id: int | None


def live_statuses(session: Session, ids: list[int], student_id: int | None) -> list[LiveStatus]:
    """Status and score of the given submissions that this viewer may see (students: only their own)."""
    if not ids:
        return []
    query = select(Submission.id, Submission.status, Submission.score, Submission.max_score,
                   Submission.current_job_id).where(
        Submission.id.in_(ids[:PER_PAGE_MAX]))
    if student_id is not None:
        query = query.where(Submission.student_id == student_id)
    return [LiveStatus(*row) for row in session.execute(query.order_by(Submission.id)).tuples().all()]


@dataclass(frozen=True)
class RosterEntry:
    name: str
    role: str
    token_prefix: str
    created_at: datetime
    submissions: int
    disabled_at: datetime | None = None
    token_revoked_at: datetime | None = None


def roster(session: Session) -> list[RosterEntry]:
    counts = (select(Submission.student_id, func.count().label("n")).group_by(Submission.student_id).subquery())
    rows = session.execute(
        select(User.name, User.role, User.token_prefix, User.created_at, func.coalesce(counts.c.n, 0),
               User.disabled_at, User.token_revoked_at)
        .outerjoin(counts, counts.c.student_id == User.id).order_by(User.role, User.name)
    ).tuples().all()
    return [RosterEntry(*row) for row in rows]
