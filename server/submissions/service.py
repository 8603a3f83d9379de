"""Accept uploads, enforce who sees what, queue (re)grades. Queries and commits live here, not in routers."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader import (
    BUNDLE_CONTENT_TYPE,
    AttachmentsInvalid,
    AttachmentsTooLarge,
    FileLimits,
    NotebookInvalid,
    SubmittedFile,
    bundle,
    check_upload,
    collect_files,
)
from server.db import db_now
from server.errors import InvalidInput, NotFound, PayloadTooLarge, RateLimited
from server.exports.decisions import DecisionRecord, override_text
from server.exports.gradebook import Standing, build_gradebook, student_standing
from server.jobs import ledger
from server.jobs.models import Artifact, ArtifactKind, CheckResultRow, GradingJob, JobQueue, JobStatus
from server.jobs.stored_artifacts import new_artifact
from server.labs.service import get_spec
from server.scores import round_score
from server.submissions.models import Submission
from server.submissions.quota import check_quota
from server.submissions.schemas import DecisionOut, SubmissionCheckOut, SubmissionOut
from server.users.models import User

RATE_WINDOW = timedelta(hours=1)
MAX_ID = 2**31 - 1  # ids beyond a 32-bit integer cannot exist; looking them up would overflow the database driver


def _check_rate(session: Session, student: User, per_hour: int) -> None:
    """Per student across every lab: four labs do not give four times the limit."""
    if per_hour <= 0 or student.is_instructor:
        return
    since = db_now(session) - RATE_WINDOW
    recent = session.scalars(
        select(Submission.created_at)
        .where(Submission.student_id == student.id, Submission.created_at > since)
        .order_by(Submission.created_at)
    ).all()
    if len(recent) >= per_hour:
        retry = max(int((recent[0] + RATE_WINDOW - db_now(session)).total_seconds()) + 1, 1)
        wait = f"{retry} s" if retry < 60 else f"{math.ceil(retry / 60)} min"
        raise RateLimited(f"you have submitted {len(recent)} notebooks in the last hour (all labs together); "
                          f"the limit is {per_hour} per hour: try again in {wait}", retry)


def uploads_left(session: Session, student: User, per_hour: int) -> int | None:
    """How many more notebooks the student may upload in the coming hour (None: no limit applies to them)."""
    if per_hour <= 0 or student.is_instructor:
        return None
    since = db_now(session) - RATE_WINDOW
    recent = session.scalar(select(func.count()).where(Submission.student_id == student.id,
                                                       Submission.created_at > since)) or 0
    return max(per_hour - int(recent), 0)


def submitted_files(uploads: Sequence[tuple[str, bytes]], limits: FileLimits) -> tuple[SubmittedFile, ...]:
    """The files uploaded beside a notebook, checked (names, links, limits; a .zip unpacked); refusals say why."""
    try:
        return collect_files(uploads, limits)
    except AttachmentsTooLarge as exc:
        raise PayloadTooLarge(str(exc)) from exc
    except AttachmentsInvalid as exc:
        raise InvalidInput(str(exc)) from exc


def create_submission(session: Session, student: User, lab_id: str, data: bytes, filename: str,
                      max_bytes: int, per_hour: int, files: Sequence[SubmittedFile] = (), *,
                      quota_mb: float) -> Submission:
    """Validate and store an upload with its queued grading job, in one transaction; nothing is kept on refusal
    (over the rate limit or the student's storage quota of `quota_mb`, 0: none)."""
    spec = get_spec(session, lab_id)
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"the notebook is {len(data)} bytes; the limit is {max_bytes} bytes")
    try:
        check_upload(data, max_bytes)
    except NotebookInvalid as exc:
        raise InvalidInput(str(exc)) from exc
    _check_rate(session, student, per_hour)
    stored = [new_artifact(0, ArtifactKind.SUBMITTED_NOTEBOOK.value, "application/x-ipynb+json", data)]
    if files:
        stored.append(new_artifact(0, ArtifactKind.SUBMITTED_FILES.value, BUNDLE_CONTENT_TYPE, bundle(files)))
    check_quota(session, student, sum(len(a.content) for a in stored), quota_mb)
    safe_name = "".join(c for c in filename if c.isalnum() or c in "._- ")[:200] or "notebook.ipynb"
    submission = Submission(lab_id=lab_id, student_id=student.id, status=JobStatus.QUEUED.value,
                            max_score=spec.max_score, filename=safe_name, created_at=db_now(session))
    session.add(submission)
    session.flush()
    for artifact_row in stored:
        artifact_row.submission_id = submission.id
        session.add(artifact_row)
    ledger.enqueue(session, submission, JobQueue.LIVE)
    return submission


def visible_submission(session: Session, user: User, submission_id: int) -> Submission:
    """The submission if this user may see it; others' submissions are indistinguishable from missing ones."""
    submission = session.get(Submission, submission_id) if 1 <= submission_id <= MAX_ID else None
    if submission is None or (not user.is_staff and submission.student_id != user.id):
        raise NotFound(f"no submission with id {submission_id}")
    return submission


def to_out(session: Session, submission: Submission) -> SubmissionOut:
    return to_out_many(session, [submission])[0]


def decision_outs(records: Iterable[DecisionRecord]) -> list[DecisionOut]:
    """Instructors' decisions in the API's shape."""
    return [DecisionOut(kind=r.kind, text=r.text, comment=r.comment, by=r.actor, at=r.created_at,
                        check_id=r.check_id, submission_id=r.submission_id) for r in records]


def to_out_many(session: Session, submissions: Sequence[Submission]) -> list[SubmissionOut]:
    """Submissions in the API's shape, each with its counted score as the gradebook computes it."""
    ids = [s.id for s in submissions]
    if not ids:
        return []
    standings: dict[tuple[int, str], Standing] = {}
    for s in submissions:
        if (s.student_id, s.lab_id) not in standings:
            standings[(s.student_id, s.lab_id)] = student_standing(session, get_spec(session, s.lab_id), s.student_id)
    checks: dict[int, list[SubmissionCheckOut]] = {i: [] for i in ids}
    lab_of = {s.id: (s.student_id, s.lab_id) for s in submissions}
    for row in session.scalars(select(CheckResultRow).where(CheckResultRow.submission_id.in_(ids))
                               .order_by(CheckResultRow.submission_id, CheckResultRow.position)):
        found = standings[lab_of[row.submission_id]].check_override(row.submission_id, row.check_id)
        counted = row.score if found is None else found.score
        checks[row.submission_id].append(SubmissionCheckOut(
            id=row.check_id, title=row.title, passed=row.passed if found is None else counted >= row.max_score,
            score=round_score(row.score), max_score=row.max_score, message=row.message,
            counted_score=round_score(counted), override=override_text(found) if found else None))
    job_ids = [s.current_job_id for s in submissions if s.current_job_id is not None]
    jobs = {j.id: j for j in session.scalars(select(GradingJob).where(GradingJob.id.in_(job_ids)))}
    names = dict(session.execute(select(User.id, User.name).where(
        User.id.in_({s.student_id for s in submissions}))).tuples().all())
    out = []
    for s in submissions:
        job = jobs.get(s.current_job_id or -1)
        standing = standings[(s.student_id, s.lab_id)]
        counts = standing.counted is not None and standing.counted.attempt.submission_id == s.id
        decisions = decision_outs(r for r in standing.records if r.kind != "override" or r.submission_id == s.id)
        out.append(SubmissionOut(
            id=s.id, lab_id=s.lab_id, student=names.get(s.student_id, "?"), status=s.status,
            score=None if s.score is None else round_score(s.score),
            max_score=s.max_score, checks=checks[s.id], note=s.note, created_at=s.created_at,
            started_at=job.started_at if job else None,
            finished_at=job.finished_at if job and job.status in (JobStatus.GRADED, JobStatus.ERROR) else None,
            counts=counts, decisions=decisions, **standing.fields(s.id).as_dict(),
        ))
    return out


def list_submissions(session: Session, user: User, lab_id: str | None, limit: int,
                     offset: int) -> tuple[list[Submission], int]:
    query = select(Submission)
    if not user.is_staff:
        query = query.where(Submission.student_id == user.id)
    if lab_id is not None:
        query = query.where(Submission.lab_id == lab_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Submission.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total


def artifact(session: Session, submission: Submission, kind: ArtifactKind) -> Artifact:
    found = session.scalar(select(Artifact).where(Artifact.submission_id == submission.id,
                                                  Artifact.kind == kind.value))
    if found is None:
        what = {ArtifactKind.EXECUTED_NOTEBOOK: "executed notebook (it has not been graded yet)",
                ArtifactKind.LEARNING_CURVE: "learning curve (no per-epoch history was found)",
                ArtifactKind.SUBMITTED_NOTEBOOK: "uploaded notebook"}[kind]
        raise NotFound(f"submission {submission.id} has no {what}")
    return found


def regrade(session: Session, submissions: Sequence[Submission], queue: JobQueue) -> list[int]:
    """Queue a new job for each submission; a running older job's result will no longer count."""
    for submission in submissions:
        ledger.enqueue(session, submission, queue)
    return [s.id for s in submissions]


class RegradeScope(StrEnum):
    ALL = "all"  # every submission of the lab
    COUNTED = "counted"  # only the submission that counts for each student (the gradebook's)
    ERRORS = "errors"  # only submissions whose grading failed in the service


def lab_submissions(session: Session, lab_id: str, scope: RegradeScope = RegradeScope.ALL) -> list[Submission]:
    """The lab's submissions a regrade of this scope would queue, oldest first."""
    get_spec(session, lab_id)
    query = select(Submission).where(Submission.lab_id == lab_id)
    if scope is RegradeScope.ERRORS:
        query = query.where(Submission.status == JobStatus.ERROR.value)
    elif scope is RegradeScope.COUNTED:
        counted = [r.submission_id for r in build_gradebook(session, lab_id).rows if r.submission_id is not None]
        query = query.where(Submission.id.in_(counted))
    return list(session.scalars(query.order_by(Submission.id)))


def parse_scope(text: str) -> RegradeScope:
    try:
        return RegradeScope(text.strip() or RegradeScope.ALL.value)
    except ValueError as exc:
        raise InvalidInput(f"scope must be one of {', '.join(s.value for s in RegradeScope)}, not {text!r}") from exc
