"""Record instructors' decisions on grades (audited) and read them back as the policy's terms.

    DomainError
     ├── InvalidInput   a score outside 0..max, an unknown check, a comment missing, an extension with nothing in it
     └── NotFound       no such student, lab or decision

Each change writes an `AuditEvent` (actor, action, target, the comment) in the caller's transaction; the decision
itself keeps who made it, when and why, which is what students see beside their grade.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.db import db_now
from server.errors import InvalidInput, NotFound
from server.exports.policy import NO_TERMS, Attempt, StudentTerms, parse_deadline
from server.grades.models import WHOLE_SUBMISSION, DecisionKind, LabDecision, ScoreOverride
from server.jobs.models import CheckResultRow
from server.labs.service import get_spec
from server.scores import format_score
from server.submissions.models import Submission
from server.users.models import AuditEvent, User

MAX_COMMENT = 2000


@dataclass(frozen=True)
class DecisionRecord:
    """A decision as people read it (API `decisions`, the pages): what, by whom, when, why."""

    kind: str  # override, choose, extension, excuse
    text: str
    comment: str
    actor: str
    created_at: datetime
    check_id: str | None = None
    submission_id: int | None = None


@dataclass(frozen=True)
class LabDecisions:
    """Every decision of one lab for some students, ready for the policy."""

    overrides: dict[int, list[ScoreOverride]] = field(default_factory=dict)  # by submission id
    graded_checks: dict[tuple[int, str], float] = field(default_factory=dict)  # the grader's score of overridden checks
    decisions: dict[int, list[LabDecision]] = field(default_factory=dict)  # by student id

    def attempt(self, submission_id: int, submitted_at: datetime, raw_score: float) -> Attempt:
        """The attempt with its overrides applied: a whole-submission override replaces the score; a check's
        override replaces that check's points within it."""
        found = self.overrides.get(submission_id, [])
        if not found:
            return Attempt(submission_id, submitted_at, raw_score)
        whole = next((o for o in found if o.check_id == WHOLE_SUBMISSION), None)
        if whole is not None:
            adjusted = whole.score
        else:
            adjusted = raw_score + sum(o.score - self.graded_checks.get((submission_id, o.check_id), 0.0)
                                       for o in found)
        return Attempt(submission_id, submitted_at, raw_score, max(adjusted, 0.0),
                       "; ".join(override_text(o) for o in found))

    def terms(self, student_id: int) -> StudentTerms:
        rows = {d.kind: d for d in self.decisions.get(student_id, [])}
        if not rows:
            return NO_TERMS
        ext, chosen, excused = rows.get(DecisionKind.EXTENSION), rows.get(DecisionKind.CHOOSE), \
            rows.get(DecisionKind.EXCUSE)
        return StudentTerms(
            deadline=ext.deadline if ext else None, penalty_per_day=ext.penalty_per_day if ext else None,
            extension_note=decision_text(ext) if ext else "",
            chosen_submission_id=chosen.submission_id if chosen else None,
            chosen_note=decision_text(chosen) if chosen else "",
            excused=excused is not None, excuse_note=decision_text(excused) if excused else "")

    def records(self, student_id: int, submission_ids: Collection[int] = ()) -> list[DecisionRecord]:
        """The student's decisions for the lab and the overrides of the given submissions, oldest first."""
        out = [DecisionRecord(d.kind, decision_text(d), d.comment, d.actor, d.created_at,
                              submission_id=d.submission_id) for d in self.decisions.get(student_id, [])]
        out += [DecisionRecord("override", override_text(o), o.comment, o.actor, o.created_at,
                               o.check_id or None, o.submission_id)
                for sid in submission_ids for o in self.overrides.get(sid, [])]
        return sorted(out, key=lambda r: r.created_at)


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def override_text(o: ScoreOverride) -> str:
    what = f"check {o.check_id}" if o.check_id else f"submission {o.submission_id}'s score"
    return f"{what} set to {format_score(o.score)} by {o.actor}: {o.comment}"


def decision_text(d: LabDecision) -> str:
    if d.kind == DecisionKind.CHOOSE:
        return f"submission {d.submission_id} counts, chosen by {d.actor}: {d.comment}"
    if d.kind == DecisionKind.EXCUSE:
        return f"excused by {d.actor}: {d.comment}"
    terms = []
    if d.deadline is not None:
        terms.append(f"deadline {_when(d.deadline)}")
    if d.penalty_per_day is not None:
        terms.append("no late penalty" if d.penalty_per_day == 0 else
                     f"{format_score(d.penalty_per_day * 100)}% off per day late")
    return f"extension ({', '.join(terms)}) by {d.actor}: {d.comment}"


def load_decisions(session: Session, lab_id: str, student_ids: Collection[int] | None = None) -> LabDecisions:
    """The decisions of a lab, for the given students (None: all)."""
    overrides_q = select(ScoreOverride).join(Submission, Submission.id == ScoreOverride.submission_id) \
        .where(Submission.lab_id == lab_id).order_by(ScoreOverride.created_at, ScoreOverride.id)
    decisions_q = select(LabDecision).where(LabDecision.lab_id == lab_id).order_by(LabDecision.created_at)
    if student_ids is not None:
        overrides_q = overrides_q.where(Submission.student_id.in_(list(student_ids)))
        decisions_q = decisions_q.where(LabDecision.student_id.in_(list(student_ids)))
    overrides: dict[int, list[ScoreOverride]] = defaultdict(list)
    for o in session.scalars(overrides_q):
        overrides[o.submission_id].append(o)
    graded: dict[tuple[int, str], float] = {}
    if overrides:
        rows = session.execute(select(CheckResultRow.submission_id, CheckResultRow.check_id, CheckResultRow.score)
                               .where(CheckResultRow.submission_id.in_(list(overrides)))).tuples()
        graded = {(sid, cid): score for sid, cid, score in rows}
    decisions: dict[int, list[LabDecision]] = defaultdict(list)
    for d in session.scalars(decisions_q):
        decisions[d.student_id].append(d)
    return LabDecisions(dict(overrides), graded, dict(decisions))


def _comment(text: str) -> str:
    cleaned = " ".join(text.split())
    if not cleaned:
        raise InvalidInput("a comment is required: say why, the student reads it beside their grade")
    if len(cleaned) > MAX_COMMENT:
        raise InvalidInput(f"the comment is {len(cleaned)} characters; the limit is {MAX_COMMENT}")
    return cleaned


def _audit(session: Session, actor: str, action: str, target: str, detail: str) -> None:
    session.add(AuditEvent(actor=actor[:100], action=action[:40], target=target[:100], detail=detail,
                           created_at=db_now(session)))


def override_score(session: Session, submission: Submission, check_id: str | None, score: float, comment: str,
                   actor: str) -> ScoreOverride:
    """Set an instructor's score for one check of a submission (`check_id`) or for the whole submission (None)."""
    spec = get_spec(session, submission.lab_id)
    key = check_id or WHOLE_SUBMISSION
    if key:
        check = next((c for c in spec.checks if c.id == key), None)
        if check is None:
            known = ", ".join(c.id for c in spec.checks)
            raise InvalidInput(f"lab {spec.id!r} has no check {key!r}; its checks are {known}")
        limit, what = check.points, f"check {key}"
    else:
        limit, what = spec.max_score, f"submission {submission.id}"
    if not 0 <= score <= limit:
        raise InvalidInput(f"the score of {what} must be between 0 and {format_score(limit)}, not {score:g}")
    text = _comment(comment)
    now = db_now(session)
    row = session.scalar(select(ScoreOverride).where(ScoreOverride.submission_id == submission.id,
                                                     ScoreOverride.check_id == key))
    if row is None:
        row = ScoreOverride(submission_id=submission.id, check_id=key, score=score, comment=text, actor=actor[:100])
        session.add(row)
    row.score, row.comment, row.actor, row.created_at = score, text, actor[:100], now
    _audit(session, actor, "override", f"submission {submission.id}",
           f"{what} set to {format_score(score)}: {text}")
    session.flush()
    return row


def clear_override(session: Session, submission: Submission, check_id: str | None, actor: str) -> None:
    key = check_id or WHOLE_SUBMISSION
    gone = session.execute(delete(ScoreOverride).where(ScoreOverride.submission_id == submission.id,
                                                       ScoreOverride.check_id == key)).rowcount  # type: ignore[attr-defined]
    what = f"check {key}" if key else "the score"
    if not gone:
        raise NotFound(f"submission {submission.id} has no override of {what}")
    _audit(session, actor, "override-cleared", f"submission {submission.id}", f"{what}: the grader's score again")


def find_student(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user named {name!r}")
    return user


def _decide(session: Session, student: User, lab_id: str, kind: DecisionKind, actor: str, comment: str,
            **values: object) -> LabDecision:
    now = db_now(session)
    row = session.scalar(select(LabDecision).where(LabDecision.student_id == student.id,
                                                   LabDecision.lab_id == lab_id, LabDecision.kind == kind.value))
    if row is None:
        row = LabDecision(student_id=student.id, lab_id=lab_id, kind=kind.value, comment=comment, actor=actor[:100])
        session.add(row)
    row.comment, row.actor, row.created_at = comment, actor[:100], now
    row.submission_id = values.get("submission_id")  # type: ignore[assignment]
    row.deadline = values.get("deadline")  # type: ignore[assignment]
    row.penalty_per_day = values.get("penalty_per_day")  # type: ignore[assignment]
    session.flush()
    _audit(session, actor, kind.value, f"{student.name}/{lab_id}", decision_text(row))
    return row


def choose_submission(session: Session, submission: Submission, comment: str, actor: str) -> LabDecision:
    """This submission counts for its student, whatever the lab's rule would pick (once it is graded)."""
    student = session.get(User, submission.student_id)
    assert student is not None
    return _decide(session, student, submission.lab_id, DecisionKind.CHOOSE, actor, _comment(comment),
                   submission_id=submission.id)


def grant_extension(session: Session, student_name: str, lab_id: str, deadline: str | None,
                    penalty_per_day: float | None, comment: str, actor: str) -> LabDecision:
    """The student's own deadline and/or late penalty per day (0 waives it) for the lab."""
    get_spec(session, lab_id)
    student = find_student(session, student_name)
    when = parse_deadline(deadline)
    if when is None and penalty_per_day is None:
        raise InvalidInput("an extension needs a deadline, a penalty per day (0 waives it), or both")
    if penalty_per_day is not None and not 0 <= penalty_per_day <= 1:
        raise InvalidInput(f"the penalty per day is a fraction between 0 and 1 (0.1 is 10%), not {penalty_per_day:g}")
    return _decide(session, student, lab_id, DecisionKind.EXTENSION, actor, _comment(comment), deadline=when,
                   penalty_per_day=penalty_per_day)


def excuse(session: Session, student_name: str, lab_id: str, comment: str, actor: str) -> LabDecision:
    """The lab does not count for this student: no counted score, shown as excused everywhere."""
    get_spec(session, lab_id)
    return _decide(session, find_student(session, student_name), lab_id, DecisionKind.EXCUSE, actor, _comment(comment))


def clear_decision(session: Session, student_name: str, lab_id: str, kind: DecisionKind, actor: str) -> None:
    student = find_student(session, student_name)
    gone = session.execute(delete(LabDecision).where(
        LabDecision.student_id == student.id, LabDecision.lab_id == lab_id,
        LabDecision.kind == kind.value)).rowcount  # type: ignore[attr-defined]
    if not gone:
        raise NotFound(f"{student_name} has no {kind.value} decision for lab {lab_id!r}")
    _audit(session, actor, f"{kind.value}-cleared", f"{student_name}/{lab_id}", "the lab's rules again")
