"""A lab's gradebook: one row per student on the roster with the submission that counts and its per-check scores."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.spec import LabSpec
from server.exports.policy import Attempt, CountedAttempt, counted_attempt
from server.grading.models import CheckResultRow
from server.labs.service import get_spec
from server.submissions.models import Submission
from server.users.models import Role, User


@dataclass(frozen=True)
class CheckScore:
    check_id: str
    title: str
    passed: bool
    score: float
    max_score: float
    message: str


@dataclass(frozen=True)
class GradebookRow:
    student: str
    counted: CountedAttempt | None
    checks: tuple[CheckScore, ...]
    note: str = ""  # how the counted run ended when not normally: training cut off by a limit, a cell that raised

    @property
    def score(self) -> float | None:
        return None if self.counted is None else self.counted.score

    @property
    def submitted_at(self) -> datetime | None:
        return None if self.counted is None else self.counted.attempt.submitted_at


@dataclass(frozen=True)
class Gradebook:
    spec: LabSpec
    rows: tuple[GradebookRow, ...]

    @property
    def max_score(self) -> float:
        return self.spec.max_score


def build_gradebook(session: Session, lab_id: str) -> Gradebook:
    """Every student (and anyone else who submitted) with the graded submission that counts under the lab's rules.

    A submission counts with its latest result, so one being regraded keeps its previous score until the new one.
    """
    spec = get_spec(session, lab_id)
    graded = session.execute(
        select(Submission.id, Submission.student_id, Submission.created_at, Submission.score, Submission.note)
        .where(Submission.lab_id == lab_id, Submission.score.is_not(None))
    ).tuples().all()
    attempts: dict[int, list[Attempt]] = defaultdict(list)
    notes: dict[int, str] = {}
    for submission_id, student_id, created_at, score, note in graded:
        attempts[student_id].append(Attempt(submission_id, created_at, float(score or 0.0)))
        notes[submission_id] = note or ""
    people = session.execute(
        select(User.id, User.name).where((User.role == Role.STUDENT.value) | User.id.in_(list(attempts)))
        .order_by(User.name)
    ).tuples().all()
    counted = {uid: counted_attempt(attempts.get(uid, []), spec.submission) for uid, _ in people}
    counted_ids = [c.attempt.submission_id for c in counted.values() if c is not None]
    checks: dict[int, list[CheckScore]] = defaultdict(list)
    for row in session.scalars(select(CheckResultRow).where(CheckResultRow.submission_id.in_(counted_ids))
                               .order_by(CheckResultRow.submission_id, CheckResultRow.position)):
        checks[row.submission_id].append(CheckScore(row.check_id, row.title, row.passed, row.score, row.max_score,
                                                    row.message))
    rows = []
    for uid, name in people:
        found = counted[uid]
        rows.append(GradebookRow(name, found, tuple(checks[found.attempt.submission_id]) if found else (),
                                 notes.get(found.attempt.submission_id, "") if found else ""))
    return Gradebook(spec, tuple(rows))
