"""The ledger's claims on SQLite and PostgreSQL: fair share between students, live first, labs by device."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from server.db import SessionFactory, make_engine, make_session_factory, transaction
from server.jobs import ledger
from server.jobs.models import JobQueue
from server.labs.service import sync_labs
from server.migrate import upgrade
from server.submissions.models import Submission
from server.submissions.service import create_submission, regrade
from server.users.models import User
from server.users.service import create_user
from tests.conftest import notebook_bytes
from tests.services.conftest import LABS, PG_ADMIN_URL

RESULT = ledger.GradedResult(score=1.0, max_score=1.0, note="", report_json="{}", checks=[], artifacts={})


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SessionFactory]:
    admin = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        name = f"labgrader_ledger_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        sync_labs(session, LABS)
        for student in ("eager", "patient", "third"):
            create_user(session, student, "student")
    yield factory
    engine.dispose()
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def submit(factory: SessionFactory, student: str, lab: str = "dispatch_cpu") -> int:
    """Queue a submission; returns its job id."""
    with transaction(factory) as session:
        user = session.scalars(select(User).where(User.name == student)).one()
        submission = create_submission(session, user, lab, notebook_bytes("print(1)"), "nb.ipynb", 10**6, 0,
                                       quota_mb=0)
        assert submission.current_job_id is not None
        return submission.current_job_id


def claim(factory: SessionFactory, **kwargs: object) -> int | None:
    found = ledger.claim_next(factory, "test-owner", 30, **kwargs)  # type: ignore[arg-type]
    return found.job_id if found else None


def test_a_student_with_a_running_job_waits_while_others_are_served(factory: SessionFactory) -> None:
    eager = [submit(factory, "eager") for _ in range(3)]
    patient = submit(factory, "patient")

    assert claim(factory) == eager[0]
    assert claim(factory) == patient
    assert claim(factory) is None  # both students have a job running
    assert claim(factory, student_fair=False) == eager[1]  # a worker with nothing else to do may take it


def test_the_student_served_least_recently_goes_first(factory: SessionFactory) -> None:
    eager = [submit(factory, "eager") for _ in range(10)]
    patient = submit(factory, "patient")
    first = ledger.claim_next(factory, "owner", 30)
    assert first is not None and first.job_id == eager[0]
    assert ledger.complete(factory, first, RESULT)

    # nothing runs now; the eager student's next job is older, but the patient student has not been served yet
    assert claim(factory) == patient
    later = submit(factory, "third")
    assert claim(factory) == later  # never served beats served: the third student, though newest, goes next
    assert claim(factory, student_fair=False) == eager[1]


def test_live_goes_before_regrade_and_labs_filter_by_device(factory: SessionFactory) -> None:
    gpu_job = submit(factory, "patient", lab="dispatch_gpu")
    superseded = submit(factory, "eager")
    with transaction(factory) as session:
        submission = session.scalars(select(Submission).where(Submission.current_job_id == superseded)).one()
        regrade(session, [submission], JobQueue.REGRADE)  # the waiting live job is superseded: cancelled, not run
        regrade_job = submission.current_job_id
    first_live = submit(factory, "eager")
    later_live = submit(factory, "third")

    cpu = {"dispatch_cpu"}
    assert [claim(factory, lab_ids=cpu), claim(factory, lab_ids=cpu)] == [first_live, later_live]
    assert claim(factory, lab_ids=cpu) is None  # the regrade job's student has a job running
    assert claim(factory, lab_ids=cpu, student_fair=False) == regrade_job
    # the superseded job never runs, and the GPU lab's job is not for a CPU worker
    assert claim(factory, lab_ids=cpu, student_fair=False) is None
    assert claim(factory, lab_ids={"dispatch_gpu"}) == gpu_job


def test_stale_queued_jobs_and_depth_per_lab(factory: SessionFactory) -> None:
    cpu = submit(factory, "eager")
    gpu = submit(factory, "patient", lab="dispatch_gpu")
    with factory() as session:
        assert ledger.queued_by_lab(session) == {("live", "dispatch_cpu"): 1, ("live", "dispatch_gpu"): 1}
    assert ledger.stale_queued(factory, older_than_s=3600) == []
    stale = ledger.stale_queued(factory, older_than_s=-1)
    assert stale == [(cpu, "live", "dispatch_cpu"), (gpu, "live", "dispatch_gpu")]
