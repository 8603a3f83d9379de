"""Rows written straight through the ORM into a migrated SQLite database (for tests that need many or dated rows)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from grader.spec.lab import LabSpec, LateSubmission, discover_labs
from lab_tasks import LABS_DIR
from server.db import SessionFactory, make_engine, make_session_factory, transaction
from server.jobs.models import CheckResultRow, GradingJob, JobStatus
from server.labs.models import Lab
from server.labs.service import sync_labs
from server.migrate import upgrade
from server.submissions.models import Submission
from server.users.models import User
from server.users.service import create_user

LAB = "frameworks"


def migrated_factory(db_path: Path) -> SessionFactory:
    """A fresh SQLite database at the latest schema with the bundled labs loaded."""
    url = f"sqlite:///{db_path}"
    upgrade(url)
    factory = make_session_factory(make_engine(url))
    with transaction(factory) as session:
        sync_labs(session, LABS_DIR)
    return factory


def set_submission_rules(session: Session, rules: LateSubmission, lab_id: str = LAB) -> LabSpec:
    """Change a lab's deadline / penalty / counting rule in the database, as a changed lab.toml would."""
    spec = discover_labs(LABS_DIR)[lab_id].model_copy(update={"submission": rules})
    lab = session.get(Lab, lab_id)
    assert lab is not None
    lab.spec_json = spec.model_dump_json()
    return spec


def user_id(session: Session, name: str, role: str = "student") -> int:
    found = session.scalar(select(User.id).where(User.name == name))
    if found is None:
        create_user(session, name, role)
        found = session.scalar(select(User.id).where(User.name == name))
    assert found is not None
    return found


def graded_submission(session: Session, student: str, created_at: datetime, check_scores: Sequence[float],
                      lab_id: str = LAB, status: JobStatus = JobStatus.GRADED,
                      messages: Sequence[str] | None = None, discovery: Sequence[str] = ()) -> int:
    """A submission with a finished job and one check result per check of the lab (score given per check)."""
    spec = discover_labs(LABS_DIR)[LAB]
    sid = user_id(session, student)
    score = round(sum(check_scores), 4) if status is JobStatus.GRADED else None
    submission = Submission(lab_id=lab_id, student_id=sid, status=status.value, score=score,
                            max_score=spec.max_score, filename="lab.ipynb", created_at=created_at)
    session.add(submission)
    session.flush()
    report = {"lab_id": lab_id, "device": "cpu", "timings_s": {"execute": 3.5, "harness": 1.0},
              "cell_errors": [], "checks": [], "discovery": list(discovery)}
    job = GradingJob(submission_id=submission.id, student_id=sid, queue="live", status=status.value, attempt=1,
                     created_at=created_at, started_at=created_at + timedelta(seconds=1),
                     finished_at=created_at + timedelta(seconds=6), score=score, report_json=json.dumps(report))
    session.add(job)
    session.flush()
    submission.current_job_id = job.id
    if status is JobStatus.GRADED:
        texts = list(messages) if messages else [f"{c.id}: {p:g}" for c, p in zip(spec.checks, check_scores,
                                                                                   strict=True)]
        for position, (check, points, text) in enumerate(zip(spec.checks, check_scores, texts, strict=True)):
            session.add(CheckResultRow(submission_id=submission.id, job_id=job.id, position=position,
                                       check_id=check.id, title=check.title, passed=points >= check.points,
                                       score=points, max_score=check.points, message=text))
    return submission.id


def bulk_submissions(session: Session, count: int, students: int, start: datetime, lab_id: str = LAB) -> None:
    """`count` graded submissions spread over `students` students, with check rows, in a few bulk inserts."""
    spec = discover_labs(LABS_DIR)[lab_id]
    ids = [user_id(session, f"student{i:04d}") for i in range(students)]
    first_id = (session.scalar(select(Submission.id).order_by(Submission.id.desc()).limit(1)) or 0) + 1
    submissions, jobs, checks = [], [], []
    for n in range(count):
        sub_id = first_id + n
        created = start + timedelta(minutes=n)
        points = [c.points * ((n * (i + 3)) % 11) / 10 for i, c in enumerate(spec.checks)]
        points = [min(p, c.points) for p, c in zip(points, spec.checks, strict=True)]
        status = JobStatus.GRADED.value if n % 50 else JobStatus.ERROR.value
        score = round(sum(points), 4) if status == JobStatus.GRADED.value else None
        submissions.append({"id": sub_id, "lab_id": lab_id, "student_id": ids[n % students], "status": status,
                            "score": score, "max_score": spec.max_score, "filename": "lab.ipynb",
                            "created_at": created, "current_job_id": sub_id})
        jobs.append({"id": sub_id, "submission_id": sub_id, "student_id": ids[n % students], "queue": "live",
                     "status": status, "attempt": 1, "created_at": created, "score": score})
        if status == JobStatus.GRADED.value:
            checks.extend({"submission_id": sub_id, "job_id": sub_id, "position": i, "check_id": c.id,
                           "title": c.title, "passed": p >= c.points, "score": p, "max_score": c.points,
                           "message": "seeded"} for i, (c, p) in enumerate(zip(spec.checks, points, strict=True)))
    session.execute(insert(Submission), submissions)
    session.execute(insert(GradingJob), jobs)
    session.execute(insert(CheckResultRow), checks)


def server_factory(db_path: Path) -> SessionFactory:
    """Sessions on an already migrated database (a live server's)."""
    return make_session_factory(make_engine(f"sqlite:///{db_path}"))


def utc_now() -> datetime:
    """Naive UTC, like the database clock."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def add_lab_copy(session: Session, lab_id: str, title: str, rules: LateSubmission) -> LabSpec:
    """A second lab in the database: the bundled one under another id, title and `[submission]` rules."""
    spec = discover_labs(LABS_DIR)[LAB].model_copy(update={"id": lab_id, "title": title, "submission": rules})
    session.add(Lab(id=lab_id, title=title, spec_json=spec.model_dump_json(), spec_hash="copy", active=True))
    session.flush()
    return spec


def queued_job(session: Session, student: str, created_at: datetime, *, running: bool = False,
               queue: str = "live", lab_id: str = LAB, previous_score: float | None = None) -> int:
    """A submission whose current job is queued (or running under a lease held by another host until far in the
    future, so no local executor takes it over and the student's other jobs wait behind it)."""
    spec = discover_labs(LABS_DIR)[LAB]
    sid = user_id(session, student)
    status = JobStatus.RUNNING if running else JobStatus.QUEUED
    submission = Submission(lab_id=lab_id, student_id=sid, status=status.value, score=previous_score,
                            max_score=spec.max_score, filename="lab.ipynb", created_at=created_at)
    session.add(submission)
    session.flush()
    job = GradingJob(submission_id=submission.id, student_id=sid, queue=queue, status=status.value,
                     attempt=1 if running else 0, created_at=created_at,
                     started_at=created_at + timedelta(seconds=2) if running else None,
                     lease_owner="elsewhere:1:seed:0" if running else None,
                     lease_expires_at=created_at + timedelta(days=2) if running else None)
    session.add(job)
    session.flush()
    submission.current_job_id = job.id
    return submission.id
