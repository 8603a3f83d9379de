"""A lab's gradebook: one row per student on the roster with the submission that counts and its per-check scores.

The exports, the dashboard's gradebook page and the lab statistics (histogram, mean, pass rates) all read this one
structure, so a page can never disagree with the file an instructor uploads to the LMS.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from grader import LabSpec
from server.exports.decisions import DecisionRecord, LabDecisions, load_decisions
from server.exports.policy import (
    NO_TERMS,
    Attempt,
    CountedAttempt,
    CountedFields,
    Outcome,
    StudentTerms,
    counted_fields,
    decide,
)
from server.grades.models import ScoreOverride
from server.jobs.models import CheckResultRow, JobStatus
from server.labs.service import get_spec
from server.scores import round_score
from server.submissions.models import Submission
from server.users.models import Role, User

HISTOGRAM_BINS = 10


@dataclass(frozen=True)
class CheckScore:
    check_id: str
    title: str
    passed: bool
    score: float
    max_score: float
    message: str
    graded_score: float | None = None  # the grader's score when an instructor overrode it
    override: str = ""  # who overrode it, and why


def check_scores(rows: list[CheckResultRow], decisions: LabDecisions) -> list[CheckScore]:
    """A submission's check results with instructors' overrides applied, scores rounded."""
    out = []
    for row in rows:
        found = next((o for o in decisions.overrides.get(row.submission_id, []) if o.check_id == row.check_id), None)
        if found is None:
            out.append(CheckScore(row.check_id, row.title, row.passed, round_score(row.score), row.max_score,
                                  row.message))
        else:
            out.append(CheckScore(row.check_id, row.title, found.score >= row.max_score, round_score(found.score),
                                  row.max_score, row.message, round_score(row.score),
                                  f"set to {found.score:g} by {found.actor}: {found.comment}"))
    return out


@dataclass(frozen=True)
class GradebookRow:
    student: str
    counted: CountedAttempt | None
    checks: tuple[CheckScore, ...]
    student_id: int = 0
    attempts: int = 0  # every submission of the student for the lab, graded or not
    pending: int = 0  # of those, queued or running
    note: str = ""  # how the counted run ended when not normally: training cut off by a limit, a cell that raised
    excused: bool = False
    reason: str = ""  # why the counted score is what it is: late penalty, override, extension, choice, excusal

    @property
    def score(self) -> float | None:
        return None if self.counted is None else self.counted.score

    @property
    def fields(self) -> CountedFields:
        return counted_fields(self.counted, self.excused, self.reason)

    @property
    def raw_score(self) -> float | None:
        return None if self.counted is None else self.counted.attempt.raw_score

    @property
    def submitted_at(self) -> datetime | None:
        return None if self.counted is None else self.counted.attempt.submitted_at

    @property
    def submission_id(self) -> int | None:
        return None if self.counted is None else self.counted.attempt.submission_id


@dataclass(frozen=True)
class CheckFailures:
    """How many of the students with a counted submission did not pass one check."""

    check_id: str
    title: str
    points: float
    failed: int
    students: int

    @property
    def passed(self) -> int:
        return self.students - self.failed

    @property
    def fail_rate(self) -> float | None:
        return None if self.students == 0 else self.failed / self.students

    @property
    def pass_rate(self) -> float | None:
        return None if self.students == 0 else self.passed / self.students


@dataclass(frozen=True)
class Gradebook:
    spec: LabSpec
    rows: tuple[GradebookRow, ...]

    @property
    def max_score(self) -> float:
        return self.spec.max_score

    @property
    def counted_rows(self) -> list[GradebookRow]:
        return [r for r in self.rows if r.counted is not None]

    @property
    def mean(self) -> float | None:
        """The mean final score over students with a counted submission, to one decimal."""
        scores = [r.score for r in self.counted_rows if r.score is not None]
        return round(sum(scores) / len(scores), 1) if scores else None

    def histogram(self, bins: int = HISTOGRAM_BINS) -> list[int]:
        """Students per score bin (final score after penalty); a full score falls into the last bin."""
        counts = [0] * bins
        if self.max_score <= 0:
            return counts
        for row in self.counted_rows:
            index = int((row.score or 0.0) * bins / self.max_score)
            counts[min(max(index, 0), bins - 1)] += 1
        return counts

    def check_failures(self) -> list[CheckFailures]:
        """Each check of the lab with how many students' counted submissions failed it, in the lab's order."""
        counted = self.counted_rows
        out = []
        for check in self.spec.checks:
            results = [c for r in counted for c in r.checks if c.check_id == check.id]
            out.append(CheckFailures(check.id, check.title, check.points, sum(not c.passed for c in results),
                                     len(results)))
        return out


def build_gradebook(session: Session, lab_id: str) -> Gradebook:
    """Every student (and anyone else who submitted) with the graded submission that counts under the lab's rules.

    A submission counts with its latest result, so one being regraded keeps its previous score until the new one.
    """
    spec = get_spec(session, lab_id)
    graded = session.execute(
        select(Submission.id, Submission.student_id, Submission.created_at, Submission.score, Submission.note)
        .where(Submission.lab_id == lab_id, Submission.score.is_not(None))
    ).tuples().all()
    decisions = load_decisions(session, lab_id)
    attempts: dict[int, list[Attempt]] = defaultdict(list)
    notes: dict[int, str] = {}
    for submission_id, student_id, created_at, score, note in graded:
        attempts[student_id].append(decisions.attempt(submission_id, created_at, float(score or 0.0)))
        notes[submission_id] = note or ""
    pending_states = [JobStatus.QUEUED.value, JobStatus.RUNNING.value]
    tallies = {sid: (int(n), int(p or 0)) for sid, n, p in session.execute(
        select(Submission.student_id, func.count(),
               func.sum(case((Submission.status.in_(pending_states), 1), else_=0)))
        .where(Submission.lab_id == lab_id).group_by(Submission.student_id)).tuples().all()}
    people = session.execute(
        select(User.id, User.name).where((User.role == Role.STUDENT.value) | User.id.in_(list(tallies)))
        .order_by(User.name)
    ).tuples().all()
    outcomes = {uid: decide(attempts.get(uid, []), spec.submission, decisions.terms(uid)) for uid, _ in people}
    counted_ids = [o.counted.attempt.submission_id for o in outcomes.values() if o.counted is not None]
    results: dict[int, list[CheckResultRow]] = defaultdict(list)
    for row in session.scalars(select(CheckResultRow).where(CheckResultRow.submission_id.in_(counted_ids))
                               .order_by(CheckResultRow.submission_id, CheckResultRow.position)):
        results[row.submission_id].append(row)
    rows = []
    for uid, name in people:
        outcome = outcomes[uid]
        found = outcome.counted
        total, pending = tallies.get(uid, (0, 0))
        checks = tuple(check_scores(results[found.attempt.submission_id], decisions)) if found else ()
        rows.append(GradebookRow(name, found, checks, uid, total, pending,
                                 notes.get(found.attempt.submission_id, "") if found else "",
                                 outcome.excused, outcome.reason))
    return Gradebook(spec, tuple(rows))



@dataclass(frozen=True)
class Standing:
    """One student in one lab: the submission that counts, and how lateness treats each graded submission."""

    spec: LabSpec
    counted: CountedAttempt | None
    assessed: dict[int, CountedAttempt]
    excused: bool = False
    reason: str = ""
    terms: StudentTerms = NO_TERMS
    records: tuple[DecisionRecord, ...] = ()
    decisions: LabDecisions = field(default_factory=LabDecisions)

    def fields(self, submission_id: int | None = None) -> CountedFields:
        """The counted-score fields of the counted submission, or of one graded submission of the student's."""
        attempt = self.counted if submission_id is None else self.assessed.get(submission_id)
        return counted_fields(attempt, self.excused, self.reason)

    def check_override(self, submission_id: int, check_id: str) -> ScoreOverride | None:
        return next((o for o in self.decisions.overrides.get(submission_id, []) if o.check_id == check_id), None)


def student_standing(session: Session, spec: LabSpec, student_id: int) -> Standing:
    """The same decision `build_gradebook` makes for this student, with every graded attempt assessed."""
    graded = session.execute(
        select(Submission.id, Submission.created_at, Submission.score)
        .where(Submission.lab_id == spec.id, Submission.student_id == student_id, Submission.score.is_not(None))
    ).tuples().all()
    decisions = load_decisions(session, spec.id, [student_id])
    attempts = [decisions.attempt(sid, created_at, float(score or 0.0)) for sid, created_at, score in graded]
    terms = decisions.terms(student_id)
    outcome: Outcome = decide(attempts, spec.submission, terms)
    return Standing(spec, outcome.counted, outcome.assessed, outcome.excused, outcome.reason, terms,
                    tuple(decisions.records(student_id, [a.submission_id for a in attempts])), decisions)
