"""Workers, the broker and the database fail mid-run: no job is lost and none is graded twice."""

from __future__ import annotations

import time

import pytest

from tests.conftest import until
from tests.services.conftest import (
    LEASE_S,
    Cluster,
    assert_graded_once,
    start_postgres,
    start_rabbitmq,
    stop_postgres,
    stop_rabbitmq,
)

pytestmark = pytest.mark.services


def test_a_job_of_a_worker_killed_mid_run_is_graded_once_by_the_other_within_the_lease(cluster: Cluster) -> None:
    token = cluster.add_user("student")
    workers = [cluster.start_worker("--jobs", "1", wait=False) for _ in range(2)]
    for worker in workers:
        cluster.wait_ready(worker)
    submission = cluster.submit(token, "import time; time.sleep(5)", "print('done')")
    until("the job starting", lambda: cluster.job_of(submission).status == "running", 60)
    owner = cluster.job_of(submission).lease_owner
    assert owner is not None
    victim = next(w for w in workers if w.process.pid == int(owner.split(":")[1]))
    survivor = next(w for w in workers if w is not victim)
    time.sleep(1.5)  # mid-run: the kernel is sleeping in the first cell

    killed_at = time.monotonic()
    cluster.kill_worker(victim)
    until("the job being claimed again", lambda: cluster.job_of(submission).attempt == 2, 30)
    reclaimed_after_s = time.monotonic() - killed_at
    cluster.wait_all("graded", 1, timeout_s=60)

    job = cluster.job_of(submission)
    assert (job.status, job.attempt, job.error_reason) == ("graded", 2, None)
    assert reclaimed_after_s < LEASE_S + 3, f"re-claimed {reclaimed_after_s:.1f} s after the kill"
    assert victim.completions() == []
    assert survivor.completions() == [(job.id, 2, "cpu")]
    assert assert_graded_once(cluster, 1) == [(job.id, 2, "cpu")]


def test_rabbitmq_restarted_mid_run_loses_no_job(cluster: Cluster) -> None:
    token = cluster.add_user("student")
    workers = [cluster.start_worker("--jobs", "1", wait=False) for _ in range(2)]
    for worker in workers:
        cluster.wait_ready(worker)
    for i in range(8):
        cluster.submit(token, f"print({i})")
    until("two jobs graded", lambda: cluster.count("graded") >= 2, 60)

    stop_rabbitmq()
    try:
        for i in range(3):  # accepted while the broker is down: announced by the sweeper later
            cluster.submit(token, f"print('while down {i}')")
    finally:
        start_rabbitmq()

    cluster.wait_all("graded", 11, timeout_s=150)
    assert_graded_once(cluster, 11)
    assert all(w.process.poll() is None for w in workers), "the workers reconnected by themselves"


def test_postgresql_restarted_mid_run_loses_no_job(cluster: Cluster) -> None:
    token = cluster.add_user("student")
    workers = [cluster.start_worker("--jobs", "1", wait=False) for _ in range(2)]
    for worker in workers:
        cluster.wait_ready(worker)
    for i in range(8):
        cluster.submit(token, f"import time; time.sleep(0.5); print({i})")
    until("two jobs graded", lambda: cluster.count("graded") >= 2, 60)

    stop_postgres()
    try:
        time.sleep(2)
    finally:
        start_postgres()

    cluster.wait_all("graded", 8, timeout_s=150)
    assert_graded_once(cluster, 8)
    assert all(w.process.poll() is None for w in workers), "the workers reconnected by themselves"
