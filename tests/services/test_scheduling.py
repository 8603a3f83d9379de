"""Who goes first: live before a mass regrade, fair share between students, GPU labs only on GPU slots."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import sessionmaker

from server.jobs.models import GradingJob, JobQueue, JobStatus
from server.submissions.models import Submission
from server.submissions.service import create_submission
from server.users.models import User
from tests.conftest import notebook_bytes, until
from tests.services.conftest import Cluster, assert_graded_once

pytestmark = pytest.mark.services


def seed_graded_submissions(cluster: Cluster, student_name: str, count: int) -> None:
    """`count` submissions already graded once, stored through the real service (no broker message)."""
    engine = create_engine(cluster.api.env["LABGRADER_DATABASE_URL"].replace("postgresql://",
                                                                             "postgresql+psycopg://"))
    with sessionmaker(engine)() as session, session.begin():
        student = session.scalars(select(User).where(User.name == student_name)).one()
        for i in range(count):
            create_submission(session, student, "dispatch_cpu", notebook_bytes(f"print({i})"), "nb.ipynb", 10**6, 0,
                              quota_mb=0)
        session.execute(update(GradingJob).values(status=JobStatus.GRADED.value, attempt=1))
        session.execute(update(Submission).values(status=JobStatus.GRADED.value, score=0.0))
    engine.dispose()


def test_a_regrade_of_100_submissions_does_not_delay_a_live_submission(cluster: Cluster) -> None:
    teacher = cluster.add_user("teacher", "instructor")
    late = cluster.add_user("late_student")
    cluster.add_user("class")
    seed_graded_submissions(cluster, "class", 100)
    cluster.start_worker("--jobs", "2")
    with cluster.api.client(teacher) as client:
        assert client.post("/api/v1/labs/dispatch_cpu/regrade").json()["queued"] == 100

    def regrades_graded() -> int:
        return sum(1 for j in cluster.jobs() if j.queue == JobQueue.REGRADE and j.status == JobStatus.GRADED)

    until("the regrade running", lambda: regrades_graded() >= 2, 90)
    live_submission = cluster.submit(late, "print('live')")
    until("the live submission graded", lambda: cluster.job_of(live_submission).status == "graded", 60)

    live = cluster.job_of(live_submission)
    assert live.started_at is not None and live.finished_at is not None
    regrades = [j for j in cluster.jobs() if j.queue == JobQueue.REGRADE]
    overtook = [j.id for j in regrades if j.started_at is not None and live.created_at < j.started_at < live.started_at]
    assert len(overtook) <= 2, f"regrade jobs {overtook} started while the live job waited"
    waited_s = (live.started_at - live.created_at).total_seconds()
    longest_s = max((j.finished_at - j.started_at).total_seconds() for j in regrades if j.finished_at and j.started_at)
    assert waited_s <= longest_s + 2, f"the live job waited {waited_s:.1f} s; a regrade job takes {longest_s:.1f} s"
    assert sum(1 for j in regrades if j.status == JobStatus.QUEUED) >= 50, "most of the regrade was still queued"


def test_one_students_ten_resubmissions_do_not_starve_another_students_one(cluster: Cluster) -> None:
    eager, patient = cluster.add_user("eager"), cluster.add_user("patient")
    eager_ids = [cluster.submit(eager, f"print({i})") for i in range(10)]
    patient_id = cluster.submit(patient, "print('patient')")
    cluster.start_worker("--jobs", "1")
    until("the patient student's job graded", lambda: cluster.job_of(patient_id).status == "graded", 90)

    patient_job = cluster.job_of(patient_id)
    eager_started = [cluster.job_of(i).started_at for i in eager_ids]
    before = [t for t in eager_started if t is not None and t < patient_job.started_at]
    assert len(before) == 1, f"{len(before)} of the eager student's jobs ran first"


GPU_PROBE = ("import os; print(os.environ['CUDA_VISIBLE_DEVICES'] or '-', "
             "os.environ.get('LABGRADER_TORCH_MEMORY_FRACTION'), os.environ.get('TF_FORCE_GPU_ALLOW_GROWTH'))")


def printed(cluster: Cluster, token: str, submission_id: int) -> str:
    with cluster.api.client(token) as client:
        notebook = client.get(f"/api/v1/submissions/{submission_id}/notebook").json()
    return "".join(notebook["cells"][0]["outputs"][0]["text"]).strip()


def test_gpu_slots_get_their_device_and_gpu_labs_go_only_to_gpu_workers(cluster: Cluster) -> None:
    token = cluster.add_user("student")
    gpu_worker = cluster.start_worker("--gpus", "0,1", "--jobs-per-gpu", "2")
    assert "4 slot(s) [cuda:0, cuda:0, cuda:1, cuda:1] on queues live-gpu, regrade-gpu" in gpu_worker.log()
    gpu_ids = [cluster.submit(token, GPU_PROBE, "import time; time.sleep(1)", lab="dispatch_gpu") for _ in range(6)]
    cpu_ids = [cluster.submit(token, GPU_PROBE, lab="dispatch_cpu") for _ in range(2)]
    until("the GPU lab's jobs graded", lambda: all(cluster.job_of(i).status == "graded" for i in gpu_ids), 90)
    assert [cluster.job_of(i).status for i in cpu_ids] == ["queued", "queued"], "a GPU worker took a CPU lab's job"

    devices = []
    for submission_id in gpu_ids:
        device = json.loads(cluster.job_of(submission_id).report_json or "{}")["device"]
        visible, fraction, growth = printed(cluster, token, submission_id).split()
        assert (device, fraction, growth) == (f"cuda:{visible}", "0.475", "true")
        devices.append(device)
    assert set(devices) == {"cuda:0", "cuda:1"}

    cpu_worker = cluster.start_worker("--jobs", "1")
    until("the CPU lab's jobs graded", lambda: all(cluster.job_of(i).status == "graded" for i in cpu_ids), 60)
    for submission_id in cpu_ids:
        assert json.loads(cluster.job_of(submission_id).report_json or "{}")["device"] == "cpu"
        assert printed(cluster, token, submission_id) == "- None true"
    assert sorted(d for _, _, d in cpu_worker.completions()) == ["cpu", "cpu"]
    assert_graded_once(cluster, 8)
