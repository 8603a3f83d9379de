"""Celery over RabbitMQ against PostgreSQL: every job graded exactly once, whatever the broker delivers."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, delete, select
from sqlalchemy.orm import sessionmaker

from server.jobs.celery_publisher import make_celery, publish
from server.jobs.models import Artifact
from server.settings import Settings
from server.submissions.service import create_submission
from server.users.models import User
from tests.conftest import notebook_bytes, until
from tests.services.conftest import Cluster, assert_graded_once

pytestmark = pytest.mark.services


def test_forty_submissions_over_two_workers_are_each_graded_once(cluster: Cluster) -> None:
    tokens = [cluster.add_user(f"student{i}") for i in range(4)]
    cluster.start_worker("--jobs", "1", wait=False)
    cluster.start_worker("--jobs", "1", wait=False)
    for worker in cluster.workers:
        cluster.wait_ready(worker)
    submitted = [cluster.submit(tokens[i % 4], f"print({i})") for i in range(40)]

    cluster.wait_all("graded", 40, timeout_s=150)

    completions = assert_graded_once(cluster, 40)
    assert [attempt for _, attempt, _ in completions] == [1] * 40
    assert all(w.completions() for w in cluster.workers), "both workers graded some of the jobs"
    with cluster.api.client(tokens[0]) as client:
        first = client.get(f"/api/v1/submissions/{submitted[0]}").json()
        notebook = client.get(f"/api/v1/submissions/{submitted[0]}/notebook").json()
    assert (first["status"], first["score"], first["max_score"]) == ("graded", 0.0, 1.0)
    assert "".join(notebook["cells"][0]["outputs"][0]["text"]) == "0\n"


def test_a_message_delivered_twice_gives_one_result_and_a_lost_one_only_a_delay(cluster: Cluster) -> None:
    token = cluster.add_user("student")
    jobs = [cluster.job_of(cluster.submit(token, f"print({i})")).id for i in range(3)]
    app = make_celery(Settings(broker_url=cluster.api.env["LABGRADER_BROKER_URL"]))
    publish(app, {"live": [jobs[0], jobs[0], jobs[1]]})  # job 1 three times in all, job 2 twice
    app.close()
    worker = cluster.start_worker("--jobs", "1")
    cluster.wait_all("graded", 3, timeout_s=60)
    until("the 3 extra messages being consumed", lambda: worker.idle_messages() == 3, 20)
    assert_graded_once(cluster, 3)

    # a job committed whose announcement never reached the broker (the API died right after its commit)
    engine = create_engine(cluster.api.env["LABGRADER_DATABASE_URL"].replace("postgresql://",
                                                                             "postgresql+psycopg://"))
    with sessionmaker(engine)() as session, session.begin():
        student = session.scalars(select(User).where(User.name == "student")).one()
        lost = create_submission(session, student, "dispatch_cpu", notebook_bytes("print('lost')"), "nb.ipynb",
                                 10**6, 0, quota_mb=0)
        lost_job = lost.current_job_id
    engine.dispose()
    cluster.wait_all("graded", 4, timeout_s=30)

    completions = assert_graded_once(cluster, 4)
    assert sorted(job_id for job_id, _, _ in completions) == sorted([*jobs, lost_job])
    assert f"re-announced queued jobs the broker had no message for: {{'live': [{lost_job}]}}" in worker.log()


def test_an_infrastructure_failure_is_retried_three_times_then_the_job_is_an_error(cluster: Cluster) -> None:
    token = cluster.add_user("student")
    submission_id = cluster.submit(token, "print(1)")
    engine = create_engine(cluster.api.env["LABGRADER_DATABASE_URL"].replace("postgresql://",
                                                                             "postgresql+psycopg://"))
    with engine.begin() as conn:  # the stored upload is gone: no attempt can ever load it
        conn.execute(delete(Artifact).where(Artifact.submission_id == submission_id))
    engine.dispose()
    cluster.start_worker("--jobs", "1")

    cluster.wait_all("error", 1, timeout_s=60)

    reason = f"InfrastructureError: submission {submission_id} has no stored notebook"
    job = cluster.job_of(submission_id)
    assert (job.status, job.attempt, job.error_reason) == ("error", 3, reason)
    with cluster.api.client(token) as client:
        shown = client.get(f"/api/v1/submissions/{submission_id}").json()
    assert (shown["status"], shown["note"]) == ("error", f"the grader failed 3 times: {reason}")
    assert cluster.completions() == []

