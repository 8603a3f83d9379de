"""The job ledger's operations: enqueue, claim with a lease, renew, fenced completion, retries and the reaper.

Every state change is a conditional UPDATE checked by its row count, so two workers racing for one job, a late
duplicate, or a worker whose lease expired can never both write a result. Times come from the database clock.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from server.db import SessionFactory, db_now, transaction
from server.jobs.models import GradingJob, JobQueue, JobStatus
from server.jobs.results import GradedResult as GradedResult  # the result `complete` writes (tests build it here)
from server.jobs.results import write_graded
from server.submissions.models import Submission


@dataclass(frozen=True)
class Claim:
    """A job this worker holds: the triple (job_id, attempt, owner) fences every later write."""

    job_id: int
    attempt: int
    owner: str
    submission_id: int
    lab_id: str


def enqueue(session: Session, submission: Submission, queue: JobQueue = JobQueue.LIVE) -> GradingJob:
    """A new queued job for the submission; the submission shows it as its current job.

    Its older jobs that are still queued or running are cancelled: their result could no longer count, so a queued
    one is never claimed and a running one loses its lease at the next renewal (its worker stops the kernel).
    """
    session.execute(
        update(GradingJob)
        .where(GradingJob.submission_id == submission.id,
               GradingJob.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]))
        .values(status=JobStatus.CANCELLED.value, finished_at=db_now(session), lease_owner=None,
                lease_expires_at=None, error_reason="superseded by a newer job for the same submission")
    )
    job = GradingJob(submission_id=submission.id, student_id=submission.student_id, queue=queue.value,
                     status=JobStatus.QUEUED.value, attempt=0)
    session.add(job)
    session.flush()
    submission.current_job_id = job.id
    submission.status = JobStatus.QUEUED.value
    return job


def _set_submission_status(session: Session, job_id: int, status: JobStatus, **values: object) -> None:
    session.execute(update(Submission).where(Submission.current_job_id == job_id)
                    .values(status=status.value, **values))


def _try_claim(session: Session, job_id: int, owner: str, lease_s: float) -> Claim | None:
    now = db_now(session)
    result = session.execute(
        update(GradingJob)
        .where(GradingJob.id == job_id, GradingJob.status == JobStatus.QUEUED.value)
        .values(status=JobStatus.RUNNING.value, attempt=GradingJob.attempt + 1, lease_owner=owner,
                lease_expires_at=now + timedelta(seconds=lease_s), started_at=now, error_reason=None)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    job = session.get(GradingJob, job_id)
    assert job is not None
    session.refresh(job)
    submission = session.get(Submission, job.submission_id)
    assert submission is not None
    _set_submission_status(session, job.id, JobStatus.RUNNING)
    return Claim(job.id, job.attempt, owner, job.submission_id, submission.lab_id)


def _candidates(session: Session, queue: JobQueue, lab_ids: Collection[str] | None,
                student_fair: bool) -> list[int]:
    """Queued jobs of one queue in fair-share order: the student served least recently first, oldest job first."""
    waiting_students = select(GradingJob.student_id).where(GradingJob.status == JobStatus.QUEUED.value)
    served = (select(GradingJob.student_id, func.max(GradingJob.started_at).label("last_started"))
              .where(GradingJob.student_id.in_(waiting_students), GradingJob.started_at.is_not(None))
              .group_by(GradingJob.student_id).subquery())
    query = (select(GradingJob.id).outerjoin(served, served.c.student_id == GradingJob.student_id)
             .where(GradingJob.status == JobStatus.QUEUED.value, GradingJob.queue == queue.value))
    if student_fair:
        busy = select(GradingJob.student_id).where(GradingJob.status == JobStatus.RUNNING.value)
        query = query.where(GradingJob.student_id.not_in(busy))
    if lab_ids is not None:
        query = query.where(GradingJob.submission_id.in_(
            select(Submission.id).where(Submission.lab_id.in_(list(lab_ids)))))
    order = (served.c.last_started.asc().nulls_first(), GradingJob.created_at, GradingJob.id)
    return list(session.scalars(query.order_by(*order).limit(5)).all())


def claim_next(factory: SessionFactory, owner: str, lease_s: float,
               queues: tuple[JobQueue, ...] = (JobQueue.LIVE, JobQueue.REGRADE),
               *, lab_ids: Collection[str] | None = None, student_fair: bool = True) -> Claim | None:
    """Claim a queued job, live before regrade, by fair share: the student served least recently goes first
    (oldest job first per student), and students who already have a job running are skipped unless
    `student_fair` is False. `lab_ids` restricts the claim to those labs (a CPU worker never takes a GPU lab)."""
    for queue in queues:
        for _ in range(5):
            with transaction(factory) as session:
                candidates = _candidates(session, queue, lab_ids, student_fair)
                if not candidates:
                    break
                for job_id in candidates:
                    claim = _try_claim(session, job_id, owner, lease_s)
                    if claim is not None:
                        return claim
    return None


def claim_job(factory: SessionFactory, job_id: int, owner: str, lease_s: float) -> Claim | None:
    """Claim one specific job (a queue message named it); None if someone else has it or it is done."""
    with transaction(factory) as session:
        return _try_claim(session, job_id, owner, lease_s)


def renew(factory: SessionFactory, claim: Claim, lease_s: float) -> bool:
    """Extend the lease; False means this worker no longer holds the job and must stop."""
    with transaction(factory) as session:
        now = db_now(session)
        result = session.execute(
            update(GradingJob)
            .where(GradingJob.id == claim.job_id, GradingJob.attempt == claim.attempt,
                   GradingJob.lease_owner == claim.owner, GradingJob.status == JobStatus.RUNNING.value)
            .values(lease_expires_at=now + timedelta(seconds=lease_s))
        )
        return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def _fence(claim: Claim):  # type: ignore[no-untyped-def]
    return and_(GradingJob.id == claim.job_id, GradingJob.attempt == claim.attempt,
                GradingJob.lease_owner == claim.owner, GradingJob.status == JobStatus.RUNNING.value)


def complete(factory: SessionFactory, claim: Claim, result: GradedResult) -> bool:
    """Write the result only if this worker still holds the lease; returns False for a discarded duplicate."""
    with transaction(factory) as session:
        now = db_now(session)
        updated = session.execute(
            update(GradingJob).where(_fence(claim))
            .values(status=JobStatus.GRADED.value, finished_at=now, lease_owner=None, lease_expires_at=None,
                    score=result.score, report_json=result.report_json)
        )
        if updated.rowcount != 1:  # type: ignore[attr-defined]
            return False
        submission = session.get(Submission, claim.submission_id)
        assert submission is not None
        if submission.current_job_id != claim.job_id:
            return True  # a newer regrade superseded this job; keep its result in the job row only
        write_graded(session, submission, claim.job_id, result)
        return True


def fail_attempt(factory: SessionFactory, claim: Claim, reason: str, max_attempts: int) -> JobStatus | None:
    """An infrastructure failure: re-queue, or after `max_attempts` mark the job `error` with the reason."""
    with transaction(factory) as session:
        now = db_now(session)
        final = claim.attempt >= max_attempts
        status = JobStatus.ERROR if final else JobStatus.QUEUED
        values: dict[str, object] = {"status": status.value, "lease_owner": None, "lease_expires_at": None,
                                     "error_reason": reason[:2000]}
        if final:
            values["finished_at"] = now
        updated = session.execute(update(GradingJob).where(_fence(claim)).values(**values))
        if updated.rowcount != 1:  # type: ignore[attr-defined]
            return None
        note = f"the grader failed {claim.attempt} times: {reason[:500]}" if final else None
        _set_submission_status(session, claim.job_id, status, note=note)
        return status


def release(factory: SessionFactory, claim: Claim) -> None:
    """Give a job back without counting the attempt (graceful shutdown)."""
    with transaction(factory) as session:
        updated = session.execute(update(GradingJob).where(_fence(claim)).values(
            status=JobStatus.QUEUED.value, attempt=GradingJob.attempt - 1, lease_owner=None, lease_expires_at=None))
        if updated.rowcount == 1:  # type: ignore[attr-defined]
            _set_submission_status(session, claim.job_id, JobStatus.QUEUED)


def reap_expired(factory: SessionFactory, max_attempts: int) -> list[int]:
    """Re-queue running jobs whose lease expired (their worker died); after `max_attempts` they become `error`."""
    with transaction(factory) as session:
        now = db_now(session)
        expired = session.execute(
            select(GradingJob.id, GradingJob.attempt, GradingJob.lease_owner)
            .where(GradingJob.status == JobStatus.RUNNING.value, GradingJob.lease_expires_at < now)
        ).all()
        reaped = []
        for job_id, attempt, owner in expired:
            final = attempt >= max_attempts
            status = JobStatus.ERROR if final else JobStatus.QUEUED
            reason = f"worker {owner} stopped renewing its lease (attempt {attempt})"
            updated = session.execute(
                update(GradingJob)
                .where(GradingJob.id == job_id, GradingJob.attempt == attempt, GradingJob.lease_owner == owner,
                       GradingJob.status == JobStatus.RUNNING.value)
                .values(status=status.value, lease_owner=None, lease_expires_at=None, error_reason=reason,
                        finished_at=now if final else None)
            )
            if updated.rowcount == 1:  # type: ignore[attr-defined]
                _set_submission_status(session, job_id, status,
                                       note=f"the grader failed {attempt} times: {reason}" if final else None)
                reaped.append(job_id)
        return reaped


def running_owners(factory: SessionFactory) -> list[str]:
    with factory() as session:
        return [o for o in session.scalars(select(GradingJob.lease_owner).distinct().where(
            GradingJob.status == JobStatus.RUNNING.value, GradingJob.lease_owner.is_not(None))) if o]


def expire_leases_of(factory: SessionFactory, owners: list[str]) -> int:
    """Mark the leases of owners known to be dead as expired, so the reaper re-queues their jobs at once."""
    if not owners:
        return 0
    with transaction(factory) as session:
        now = db_now(session)
        result = session.execute(update(GradingJob).where(
            GradingJob.status == JobStatus.RUNNING.value, GradingJob.lease_owner.in_(owners)
        ).values(lease_expires_at=now - timedelta(seconds=1)))
        return int(result.rowcount)  # type: ignore[attr-defined]



def queued_by_lab(session: Session) -> dict[tuple[str, str], int]:
    """How many jobs wait, per (ledger queue, lab id): the sweeper and /metrics map labs to broker queues."""
    rows = session.execute(
        select(GradingJob.queue, Submission.lab_id, func.count())
        .join(Submission, Submission.id == GradingJob.submission_id)
        .where(GradingJob.status == JobStatus.QUEUED.value)
        .group_by(GradingJob.queue, Submission.lab_id)
    ).tuples().all()
    return {(queue, lab_id): count for queue, lab_id, count in rows}


def stale_queued(factory: SessionFactory, older_than_s: float, limit: int = 1000) -> list[tuple[int, str, str]]:
    """(job id, ledger queue, lab id) of jobs queued for more than `older_than_s`, oldest first: a sweeper
    re-announces them in case their broker message was lost (announcing a job twice is harmless)."""
    with transaction(factory) as session:
        cutoff = db_now(session) - timedelta(seconds=older_than_s)
        rows = session.execute(
            select(GradingJob.id, GradingJob.queue, Submission.lab_id)
            .join(Submission, Submission.id == GradingJob.submission_id)
            .where(GradingJob.status == JobStatus.QUEUED.value, GradingJob.created_at < cutoff)
            .order_by(GradingJob.created_at, GradingJob.id).limit(limit)
        ).tuples().all()
        return list(rows)

