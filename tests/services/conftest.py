"""A real multi-process deployment on 127.0.0.1: PostgreSQL, RabbitMQ, `labgrader serve` and `labgrader worker`s.

Each test gets its own PostgreSQL database and empty broker queues (in a RabbitMQ vhost of its own session), the
tiny labs under `tests/services/labs`, 4 s leases, and workers whose sandbox uids do not collide with anyone's.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine

from grader.sandbox import reaper
from server.jobs.celery_publisher import BROKER_QUEUES
from server.jobs.models import GradingJob
from server.submissions.models import Submission
from tests.conftest import LABGRADER, LiveServer, free_port, notebook_bytes, server_env, until

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_START = "pg_ctlcluster --skip-systemctl-redirect {version} main {action}"
LABS = Path(__file__).resolve().parent / "labs"
LEASE_S = 4.0
IDLE = re.compile(r"labgrader.celery_worker: message for job \d+: nothing to grade")
UID_BASE = 64000  # sandbox uids of these tests' workers: 64000 + 100 * worker + slot
COMPLETION = re.compile(r"labgrader.celery_worker: message for job \d+: job (\d+) attempt (\d+) graded on (\S+)")


def _answers(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def postgres_version() -> str:
    return sorted(os.listdir("/etc/postgresql"))[-1]


def postgres_ready() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False).returncode == 0


def rabbitmq_ready() -> bool:
    return subprocess.run(["rabbitmqctl", "-q", "await_startup", "--timeout", "2"], capture_output=True,
                          check=False).returncode == 0 and _answers("127.0.0.1", 5672)


def stop_postgres() -> None:
    subprocess.run(PG_START.format(version=postgres_version(), action="stop").split(), check=True)


def start_postgres() -> None:
    subprocess.run(PG_START.format(version=postgres_version(), action="start").split(), check=True)
    until("PostgreSQL answering again", postgres_ready, 60)


def stop_rabbitmq() -> None:
    subprocess.run(["rabbitmqctl", "-q", "stop"], check=True, capture_output=True)
    until("RabbitMQ stopping", lambda: not _answers("127.0.0.1", 5672), 60)


def start_rabbitmq() -> None:
    subprocess.run(["rabbitmq-server", "-detached"], check=True, capture_output=True)
    until("RabbitMQ answering again", rabbitmq_ready, 120, every_s=1)


@pytest.fixture(scope="session")
def services() -> None:
    """PostgreSQL and RabbitMQ must answer on 127.0.0.1 (.ci/run starts them)."""
    if not postgres_ready():
        pytest.fail("PostgreSQL does not answer on 127.0.0.1:5432; start it: "
                    f"{PG_START.format(version=postgres_version(), action='start')}")
    if not _answers("127.0.0.1", 5672):
        pytest.fail("RabbitMQ does not answer on 127.0.0.1:5672; start it: rabbitmq-server -detached")


@pytest.fixture(scope="session")
def vhost(services: None) -> Iterator[str]:
    name = f"labgrader-test-{os.getpid()}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"], check=True,
                   capture_output=True)
    yield name
    if not rabbitmq_ready():
        start_rabbitmq()
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], check=False, capture_output=True)


@pytest.fixture
def broker_url(vhost: str) -> str:
    """The session's vhost with none of the queues left over from an earlier test."""
    from kombu import Connection

    url = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    with Connection(url) as conn:
        channel = conn.channel()
        for name in BROKER_QUEUES:
            channel.queue_delete(name)
        channel.close()
    return url


@pytest.fixture
def pg_url(services: None) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    name = f"labgrader_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    if not postgres_ready():
        start_postgres()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@dataclass
class Worker:
    index: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def uid_base(self) -> int:
        return UID_BASE + 100 * self.index

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def completions(self) -> list[tuple[int, int, str]]:
        """(job id, attempt, device) of every attempt whose result this worker wrote."""
        return [(int(j), int(a), d) for j, a, d in COMPLETION.findall(self.log())]

    def idle_messages(self) -> int:
        """Messages this worker consumed without grading anything (their job was taken or done)."""
        return len(IDLE.findall(self.log()))


@dataclass
class Cluster:
    """`labgrader serve` with LABGRADER_QUEUE=celery on PostgreSQL, plus any number of `labgrader worker`s."""

    api: LiveServer
    db: Engine
    workers: list[Worker] = field(default_factory=list)

    def start_worker(self, *args: str, wait: bool = True) -> Worker:
        index = len(self.workers)
        env = dict(self.api.env, LABGRADER_SANDBOX_UID_BASE=str(UID_BASE + 100 * index))
        log_path = self.api.workdir / f"worker-{index}.log"
        process = subprocess.Popen([*LABGRADER, "worker", "--sweep-every", "1", "--requeue-after", "3", *args],
                                   cwd=self.api.workdir, env=env, stdout=log_path.open("ab"),
                                   stderr=subprocess.STDOUT, start_new_session=True)
        worker = Worker(index, process, log_path)
        self.workers.append(worker)
        if wait:
            self.wait_ready(worker)
        return worker

    def wait_ready(self, worker: Worker, timeout_s: float = 90) -> None:
        def ready() -> bool:
            if worker.process.poll() is not None:
                raise AssertionError(f"worker {worker.index} exited: {worker.log()[-3000:]}")
            return " ready." in worker.log()

        until(f"worker {worker.index} becoming ready", ready, timeout_s)

    def kill_worker(self, worker: Worker, sig: int = signal.SIGKILL) -> None:
        if worker.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.process.pid, sig)
            worker.process.wait(timeout=60)

    def stop(self) -> None:
        """Kill every worker outright (a warm shutdown would wait for their jobs) and sweep their sandbox uids."""
        for worker in self.workers:
            self.kill_worker(worker)
            for slot in range(8):  # nothing of a killed worker's kernels may outlive the test
                reaper.kill_processes_owned_by(worker.uid_base + slot)
        self.api.stop()
        self.db.dispose()

    def add_user(self, name: str, role: str = "student") -> str:
        return self.api.add_user(name, role)

    def submit(self, token: str, *sources: str, lab: str = "dispatch_cpu") -> int:
        with self.api.client(token) as client:
            response = client.post(f"/api/v1/labs/{lab}/submissions",
                                   files={"notebook": ("nb.ipynb", notebook_bytes(*sources))})
        assert response.status_code == 202, response.text
        return int(response.json()["id"])

    def jobs(self) -> list[GradingJob]:
        with self.db.connect() as conn:
            return [GradingJob(**row._mapping) for row in conn.execute(select(GradingJob.__table__))]

    def job_of(self, submission_id: int) -> GradingJob:
        with self.db.connect() as conn:
            job_id = conn.scalar(select(Submission.current_job_id).where(Submission.id == submission_id))
            row = conn.execute(select(GradingJob.__table__).where(GradingJob.id == job_id)).one()
        return GradingJob(**row._mapping)

    def count(self, status: str) -> int:
        return sum(1 for job in self.jobs() if job.status == status)

    def wait_all(self, status: str, total: int, timeout_s: float) -> None:
        until(f"{total} jobs reaching {status!r} (now {self.count(status)}; logs: {self.worker_tails()})",
              lambda: self.count(status) == total, timeout_s)

    def completions(self) -> list[tuple[int, int, str]]:
        return sorted(c for worker in self.workers for c in worker.completions())

    def worker_tails(self) -> str:
        return " | ".join(w.log()[-600:] for w in self.workers)


def cluster_env(workdir: Path, pg_url: str, broker_url: str) -> dict[str, str]:
    return server_env(workdir, LABGRADER_DATABASE_URL=pg_url, LABGRADER_BROKER_URL=broker_url,
                      LABGRADER_QUEUE="celery", LABGRADER_LABS_DIR=str(LABS), LABGRADER_LEASE_S=str(LEASE_S))


@pytest.fixture
def cluster(tmp_path: Path, pg_url: str, broker_url: str) -> Iterator[Cluster]:
    """The API up (migrated, labs loaded), no workers yet: tests start the ones they need."""
    workdir = tmp_path / "cluster"
    workdir.mkdir()
    api = LiveServer(url=f"http://127.0.0.1:{free_port()}", workdir=workdir,
                     env=cluster_env(workdir, pg_url, broker_url))
    api.start()
    db = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"), pool_pre_ping=True)
    running = Cluster(api, db)
    yield running
    running.stop()


def assert_graded_once(cluster: Cluster, expected_jobs: int) -> list[tuple[int, int, str]]:
    """Every job graded, each result written by exactly one attempt of one worker."""
    jobs = cluster.jobs()
    assert [j.status for j in jobs] == ["graded"] * expected_jobs, [(j.id, j.status, j.error_reason) for j in jobs]
    completions = cluster.completions()
    assert sorted(job_id for job_id, _, _ in completions) == sorted(j.id for j in jobs)
    attempts = {j.id: j.attempt for j in jobs}
    assert all(attempts[job_id] == attempt for job_id, attempt, _ in completions)
    return completions

