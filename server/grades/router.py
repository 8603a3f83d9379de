"""HTTP routes for instructors' decisions on grades (overrides and chosen submissions: instructors and TAs;
extensions and excusals: instructors), and a student's counted grade in a lab."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from server.auth import CurrentUser, Instructor, SessionDep, Staff
from server.errors import NotFound
from server.exports import decisions as service
from server.exports.gradebook import student_standing
from server.grades.models import DecisionKind
from server.grades.schemas import CommentIn, ExtensionIn, GradeOut, OverrideIn
from server.labs.service import get_spec
from server.scores import round_score
from server.submissions import service as submissions
from server.submissions.schemas import SubmissionOut

router = APIRouter(prefix="/api/v1", tags=["grades"])

SubmissionId = Annotated[int, Path(ge=1, le=submissions.MAX_ID)]


@router.post("/submissions/{submission_id}/overrides", response_model=SubmissionOut)
def override(submission_id: SubmissionId, body: OverrideIn, user: Staff, session: SessionDep) -> SubmissionOut:
    """Set the score of one check (`check_id`) or of the whole submission (null), with a comment; audited, kept
    through regrades and rescores."""
    submission = submissions.visible_submission(session, user, submission_id)
    service.override_score(session, submission, body.check_id, body.score, body.comment, user.name)
    session.commit()
    return submissions.to_out(session, submission)


@router.delete("/submissions/{submission_id}/overrides", response_model=SubmissionOut)
def clear_override(submission_id: SubmissionId, user: Staff, session: SessionDep,
                   check_id: Annotated[str | None, Query(max_length=64)] = None) -> SubmissionOut:
    submission = submissions.visible_submission(session, user, submission_id)
    service.clear_override(session, submission, check_id, user.name)
    session.commit()
    return submissions.to_out(session, submission)


@router.post("/submissions/{submission_id}/count", response_model=SubmissionOut)
def choose(submission_id: SubmissionId, body: CommentIn, user: Staff, session: SessionDep) -> SubmissionOut:
    """This submission counts for its student, whatever the lab's rule would pick."""
    submission = submissions.visible_submission(session, user, submission_id)
    service.choose_submission(session, submission, body.comment, user.name)
    session.commit()
    return submissions.to_out(session, submission)


def grade_out(session: SessionDep, lab_id: str, student: str) -> GradeOut:
    user = service.find_student(session, student)
    spec = get_spec(session, lab_id)
    standing = student_standing(session, spec, user.id)
    counted = standing.counted
    return GradeOut(
        student=user.name, lab_id=lab_id, submission_id=counted.attempt.submission_id if counted else None,
        score=round_score(counted.attempt.raw_score) if counted else None, max_score=spec.max_score,
        decisions=submissions.decision_outs(standing.records), **standing.fields().as_dict())


@router.get("/labs/{lab_id}/students/{name}/grade", response_model=GradeOut)
def grade(lab_id: str, name: str, user: CurrentUser, session: SessionDep) -> GradeOut:
    """The student's counted grade in the lab (students: their own only)."""
    if not user.is_staff and name != user.name:
        raise NotFound(f"no user named {name!r}")
    return grade_out(session, lab_id, name)


@router.delete("/labs/{lab_id}/students/{name}/count", response_model=GradeOut)
def clear_choice(lab_id: str, name: str, user: Staff, session: SessionDep) -> GradeOut:
    """The lab's rule picks the submission that counts again."""
    service.clear_decision(session, name, lab_id, DecisionKind.CHOOSE, user.name)
    session.commit()
    return grade_out(session, lab_id, name)


@router.put("/labs/{lab_id}/students/{name}/extension", response_model=GradeOut)
def extension(lab_id: str, name: str, body: ExtensionIn, user: Instructor, session: SessionDep) -> GradeOut:
    """The student's own deadline and/or late penalty for the lab; counted scores follow at once (no rescore)."""
    service.grant_extension(session, name, lab_id, body.deadline, body.penalty_per_day, body.comment, user.name)
    session.commit()
    return grade_out(session, lab_id, name)


@router.delete("/labs/{lab_id}/students/{name}/extension", response_model=GradeOut)
def clear_extension(lab_id: str, name: str, user: Instructor, session: SessionDep) -> GradeOut:
    service.clear_decision(session, name, lab_id, DecisionKind.EXTENSION, user.name)
    session.commit()
    return grade_out(session, lab_id, name)


@router.put("/labs/{lab_id}/students/{name}/excusal", response_model=GradeOut)
def excuse(lab_id: str, name: str, body: CommentIn, user: Instructor, session: SessionDep) -> GradeOut:
    """The lab does not count for the student (Canvas export: EX)."""
    service.excuse(session, name, lab_id, body.comment, user.name)
    session.commit()
    return grade_out(session, lab_id, name)


@router.delete("/labs/{lab_id}/students/{name}/excusal", response_model=GradeOut)
def clear_excusal(lab_id: str, name: str, user: Instructor, session: SessionDep) -> GradeOut:
    service.clear_decision(session, name, lab_id, DecisionKind.EXCUSE, user.name)
    session.commit()
    return grade_out(session, lab_id, name)
