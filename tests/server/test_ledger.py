"""The job ledger on SQLite and PostgreSQL: claims, leases, fenced writes, retries, the reaper, fair share."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select

from lab_tasks import LABS_DIR
from server.db import make_engine, make_session_factory, transaction
from server.jobs import ledger
from server.jobs.models import CheckResultRow, GradingJob, JobQueue, JobStatus
from server.labs.service import sync_labs
from server.migrate import upgrade
from server.submissions.models import Submission
from server.users.models import User
from server.users.service import create_user

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _postgres_url() -> Iterator[str]:
    name = f"lg_ledger_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def factory(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path / 'ledger.db'}"])
    else:
        urls = _postgres_url()
    url = next(urls)
    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        sync_labs(session, LABS_DIR)
    yield factory
    engine.dispose()
    for _ in urls:  # runs the generator's cleanup
        pass


def _submit(factory, student: str, queue: JobQueue = JobQueue.LIVE) -> int:  # type: ignore[no-untyped-def]
    with transaction(factory) as session:
        user = session.scalar(select(User).where(User.name == student))
        if user is None:
            create_user(session, student, "student")
            user = session.scalar(select(User).where(User.name == student))
        submission = Submission(lab_id="frameworks", student_id=user.id, status="queued", max_score=100,
                                filename="n.ipynb")
        session.add(submission)
        session.flush()
        return ledger.enqueue(session, submission, queue).id


def _result(score: float = 7.0) -> ledger.GradedResult:
    check = {"check_id": "iris_accuracy", "title": "Iris", "passed": False, "score": score, "max_score": 20.0,
             "message": "m", "measured": 0.8}
    return ledger.GradedResult(score=score, max_score=100, note="", report_json="{}", checks=[check],
                               artifacts={"executed_notebook": ("application/x-ipynb+json", b"{}")})


def _job(factory, job_id: int) -> GradingJob:  # type: ignore[no-untyped-def]
    with factory() as session:
        job = session.get(GradingJob, job_id)
        assert job is not None
        return job


def test_a_job_is_claimed_by_exactly_one_worker(factory) -> None:  # type: ignore[no-untyped-def]
    job_id = _submit(factory, "s1")
    first = ledger.claim_next(factory, "worker-a", 30)
    second = ledger.claim_next(factory, "worker-b", 30)
    assert first is not None and (first.job_id, first.attempt, first.owner) == (job_id, 1, "worker-a")
    assert second is None
    assert ledger.claim_job(factory, job_id, "worker-b", 30) is None


def test_only_the_lease_holder_writes_the_result(factory) -> None:  # type: ignore[no-untyped-def]
    job_id = _submit(factory, "s1")
    claim = ledger.claim_next(factory, "worker-a", 30)
    assert claim is not None
    impostor = ledger.Claim(job_id, claim.attempt, "worker-b", claim.submission_id, claim.lab_id)
    assert ledger.complete(factory, impostor, _result()) is False
    assert ledger.renew(factory, impostor, 30) is False
    assert ledger.complete(factory, claim, _result()) is True
    assert ledger.complete(factory, claim, _result()) is False  # a duplicate delivery writes nothing
    with factory() as session:
        assert len(session.scalars(select(CheckResultRow)).all()) == 1
        submission = session.get(Submission, claim.submission_id)
        assert (submission.status, submission.score) == ("graded", 7.0)


def test_an_expired_lease_is_reaped_and_the_late_result_discarded(factory) -> None:  # type: ignore[no-untyped-def]
    job_id = _submit(factory, "s1")
    stale = ledger.claim_next(factory, "dead-worker", 0.2)
    assert stale is not None
    time.sleep(0.5)
    assert ledger.reap_expired(factory, max_attempts=3) == [job_id]
    fresh = ledger.claim_next(factory, "live-worker", 30)
    assert fresh is not None and fresh.attempt == 2
    assert ledger.complete(factory, stale, _result(1.0)) is False
    assert ledger.complete(factory, fresh, _result(9.0)) is True
    job = _job(factory, job_id)
    assert (job.status, job.attempt, job.score) == ("graded", 2, 9.0)


def test_infrastructure_failures_retry_then_error_with_the_reason(factory) -> None:  # type: ignore[no-untyped-def]
    job_id = _submit(factory, "s1")
    for attempt in (1, 2, 3):
        claim = ledger.claim_next(factory, "w", 30)
        assert claim is not None and claim.attempt == attempt
        status = ledger.fail_attempt(factory, claim, "OSError: disk full", max_attempts=3)
        assert status == (JobStatus.ERROR if attempt == 3 else JobStatus.QUEUED)
    assert ledger.claim_next(factory, "w", 30) is None
    job = _job(factory, job_id)
    assert (job.status, job.error_reason) == ("error", "OSError: disk full")
    with factory() as session:
        submission = session.get(Submission, job.submission_id)
        assert submission.status == "error"
        assert submission.note == "the grader failed 3 times: OSError: disk full"


def test_live_jobs_go_before_regrades_and_one_student_cannot_hog_the_workers(factory) -> None:  # type: ignore[no-untyped-def]
    regrades = [_submit(factory, "bulk", JobQueue.REGRADE) for _ in range(3)]
    hog = [_submit(factory, "hog") for _ in range(3)]
    other = _submit(factory, "other")
    order = []
    for worker in ("w1", "w2", "w3"):
        claim = ledger.claim_next(factory, worker, 30)
        assert claim is not None
        order.append(claim.job_id)
    # hog's first job, then (hog busy) the other student's, then the bulk regrade; hog's others wait their turn
    assert order == [hog[0], other, regrades[0]]


def test_release_gives_the_job_back_without_spending_an_attempt(factory) -> None:  # type: ignore[no-untyped-def]
    job_id = _submit(factory, "s1")
    claim = ledger.claim_next(factory, "w", 30)
    assert claim is not None
    ledger.release(factory, claim)
    again = ledger.claim_next(factory, "w2", 30)
    assert again is not None and (again.job_id, again.attempt) == (job_id, 1)


def test_jobs_of_a_dead_local_process_are_requeued_at_once(factory) -> None:  # type: ignore[no-untyped-def]
    import os
    import socket

    from server.jobs.executor import owner_is_dead

    dead_pid = max(int(p) for p in os.listdir("/proc") if p.isdigit()) + 100000
    host = socket.gethostname()
    dead, alive, me = f"{host}:{dead_pid}:embedded:aa", f"{host}:1:embedded:bb", f"{host}:{os.getpid()}:embedded:cc"
    job_id = _submit(factory, "s1")
    assert ledger.claim_next(factory, dead, 3600) is not None
    assert [owner_is_dead(o, me) for o in (dead, alive, me, f"{host}:{os.getpid()}:embedded:dd")] == [
        True, False, False, True]
    assert ledger.running_owners(factory) == [dead]
    assert ledger.expire_leases_of(factory, [dead]) == 1
    assert ledger.reap_expired(factory, max_attempts=3) == [job_id]


def test_a_newer_job_cancels_the_older_queued_and_running_ones_of_its_submission(  # type: ignore[no-untyped-def]
        factory) -> None:
    first = _submit(factory, "s1")
    claim = ledger.claim_next(factory, "worker-a", 30)
    assert claim is not None and claim.job_id == first
    with transaction(factory) as session:  # regrade twice while the first job runs
        submission = session.get(Submission, claim.submission_id)
        second = ledger.enqueue(session, submission, JobQueue.REGRADE).id
        third = ledger.enqueue(session, submission, JobQueue.REGRADE).id
    assert ledger.renew(factory, claim, 30) is False  # the running worker stops at its next renewal
    assert ledger.complete(factory, claim, _result(1.0)) is False
    assert [(_job(factory, j).status, _job(factory, j).error_reason) for j in (first, second)] == [
        ("cancelled", "superseded by a newer job for the same submission")] * 2
    fresh = ledger.claim_next(factory, "worker-b", 30)
    assert fresh is not None and fresh.job_id == third  # only the newest job runs
    assert ledger.claim_next(factory, "worker-c", 30) is None
    assert ledger.complete(factory, fresh, _result(9.0)) is True
