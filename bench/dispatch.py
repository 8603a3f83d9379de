"""Dispatch benchmark: latency (submit -> job started) and throughput, embedded executor vs Celery over RabbitMQ.

    .venv/bin/python bench/dispatch.py                   # all four set-ups, 5 latency samples, bursts of 20
    .venv/bin/python bench/dispatch.py --samples 10 --burst 40 --setups celery-1,celery-2

Set-ups: `embedded-1`/`embedded-2` (`labgrader serve --jobs N`, SQLite, the default deployment) and
`celery-1`/`celery-2` (`labgrader serve` with LABGRADER_QUEUE=celery on PostgreSQL, plus N `labgrader worker
--jobs 1` processes). Notebooks are trivial (`print(i)`), so the numbers are the dispatch and sandbox overhead of a
job, not its work. Latency is read from the ledger: the job's `started_at` minus its submission's `created_at`,
both on the database clock; a latency sample is taken with every slot idle. Throughput is a burst of submissions
sent at once, from the first submission to the last result.

Needs PostgreSQL and RabbitMQ on 127.0.0.1 (as the services tests do); it makes and drops its own database and vhost.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import nbformat
from nbformat.v4 import new_code_cell, new_notebook
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parent.parent
LABS = REPO / "tests" / "services" / "labs"
LABGRADER = [sys.executable, "-m", "server.cli.main"]
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Result:
    setup: str
    latency_s: list[float]
    burst: int
    burst_s: float

    @property
    def throughput_per_min(self) -> float:
        return 60 * self.burst / self.burst_s


def notebook(i: int) -> bytes:
    nb = new_notebook(cells=[new_code_cell(f"print({i})")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb).encode()  # type: ignore[no-untyped-call,no-any-return]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=True, timeout=300).stdout


@contextmanager
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"labgrader_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    name = f"labgrader-bench-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"], check=True,
                   capture_output=True)
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{name}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], check=False, capture_output=True)


def wait_http(url: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def wait_log(path: Path, needle: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and needle in path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{path.name} never said {needle!r}: {path.read_text(errors='replace')[-2000:]}")


def job_times(db_url: str, submission_ids: list[int]) -> list[tuple[float, float]]:
    """(submitted -> started, submitted -> finished) in seconds for each submission, from the ledger."""
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    query = text("SELECT s.created_at, j.started_at, j.finished_at FROM submissions s "
                 "JOIN grading_jobs j ON j.id = s.current_job_id WHERE s.id = :id")
    times = []
    with engine.connect() as conn:
        for sid in submission_ids:
            created, started, finished = conn.execute(query, {"id": sid}).one()
            as_dt = [datetime.fromisoformat(t) if isinstance(t, str) else t for t in (created, started, finished)]
            times.append(((as_dt[1] - as_dt[0]).total_seconds(), (as_dt[2] - as_dt[0]).total_seconds()))
    engine.dispose()
    return times


def wait_graded(client: httpx.Client, ids: list[int], timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        pending = {i for i in pending if client.get(f"/api/v1/submissions/{i}").json()["status"] != "graded"}
        if pending:
            time.sleep(0.1)
    if pending:
        raise RuntimeError(f"submissions {sorted(pending)} were not graded in {timeout_s} s")


def measure(setup: str, samples: int, burst: int) -> Result:
    kind, count = setup.split("-")
    workers = int(count)
    workdir = Path(tempfile.mkdtemp(prefix=f"labgrader-bench-{setup}-"))
    with removed_after(workdir), processes() as started:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LABGRADER_")}
        env.update({"PYTHONPATH": str(REPO), "LABGRADER_DATA_DIR": str(workdir / "data"),
                    "LABGRADER_LABS_DIR": str(LABS), "LABGRADER_SUBMISSIONS_PER_HOUR": "0",
                    "LABGRADER_SANDBOX_UID_BASE": "65000"})
        with (postgres_database() if kind == "celery" else _sqlite(workdir)) as db_url, \
                (rabbitmq_vhost() if kind == "celery" else _nothing()) as broker:
            env["LABGRADER_DATABASE_URL"] = db_url
            url = f"http://127.0.0.1:{free_port()}"
            serve = [*LABGRADER, "serve", "--port", url.rsplit(":", 1)[1]]
            if kind == "celery":
                env.update({"LABGRADER_QUEUE": "celery", "LABGRADER_BROKER_URL": broker})
            else:
                serve += ["--jobs", str(workers)]
            run([*LABGRADER, "db", "upgrade"], env, workdir)
            started.append(subprocess.Popen(serve, env=env, cwd=workdir, stdout=(workdir / "serve.log").open("wb"),
                                            stderr=subprocess.STDOUT, start_new_session=True))
            wait_http(url)
            if kind == "celery":
                for i in range(workers):
                    log = workdir / f"worker-{i}.log"
                    worker_env = dict(env, LABGRADER_SANDBOX_UID_BASE=str(65000 + 100 * (i + 1)))
                    started.append(subprocess.Popen([*LABGRADER, "worker", "--jobs", "1"], env=worker_env,
                                                    cwd=workdir, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                                                    start_new_session=True))
                for i in range(workers):
                    wait_log(workdir / f"worker-{i}.log", " ready.")
            token = run([*LABGRADER, "users", "add", "bench", "--role", "student", "--json"], env, workdir)
            token = json.loads(token)["token"]
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
                def submit(i: int) -> int:
                    response = client.post("/api/v1/labs/dispatch_cpu/submissions",
                                           files={"notebook": ("nb.ipynb", notebook(i))})
                    response.raise_for_status()
                    return int(response.json()["id"])

                wait_graded(client, [submit(-1)])  # warm-up: first kernel start, imports
                latency_ids = []
                for i in range(samples):
                    latency_ids.append(submit(i))
                    wait_graded(client, latency_ids[-1:])
                    time.sleep(0.5)
                began = time.monotonic()
                burst_ids = [submit(1000 + i) for i in range(burst)]
                wait_graded(client, burst_ids)
                burst_s = time.monotonic() - began
            latencies = [started_s for started_s, _ in job_times(db_url, latency_ids)]
    return Result(setup, latencies, burst, burst_s)


@contextmanager
def _sqlite(workdir: Path) -> Iterator[str]:
    yield f"sqlite:///{workdir / 'labgrader.db'}"


@contextmanager
def _nothing() -> Iterator[str]:
    yield ""


@contextmanager
def removed_after(workdir: Path) -> Iterator[None]:
    try:
        yield
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=5, help="latency samples per set-up (idle slots)")
    parser.add_argument("--burst", type=int, default=20, help="submissions sent at once for the throughput")
    parser.add_argument("--setups", default="embedded-1,embedded-2,celery-1,celery-2")
    args = parser.parse_args()
    results = {}
    for setup in args.setups.split(","):
        print(f"measuring {setup} ...", file=sys.stderr, flush=True)
        results[setup] = measure(setup, args.samples, args.burst)

    print(f"\n{'set-up':<12} {'latency median':>15} {'latency max':>12} {'burst':>6} {'burst time':>11} "
          f"{'jobs/min':>9}")
    for r in results.values():
        print(f"{r.setup:<12} {statistics.median(r.latency_s):>14.3f}s {max(r.latency_s):>11.3f}s {r.burst:>6} "
              f"{r.burst_s:>10.1f}s {r.throughput_per_min:>9.1f}")
    print()
    pairs = [("celery-1", "embedded-1", "latency"), ("celery-2", "embedded-2", "latency"),
             ("celery-1", "embedded-1", "throughput"), ("celery-2", "embedded-2", "throughput"),
             ("embedded-2", "embedded-1", "throughput"), ("celery-2", "celery-1", "throughput")]
    for a, b, what in pairs:
        if a in results and b in results:
            if what == "latency":
                ratio = statistics.median(results[a].latency_s) / statistics.median(results[b].latency_s)
                print(f"median latency {a} / {b}: {ratio:.2f}x")
            else:
                ratio = results[a].throughput_per_min / results[b].throughput_per_min
                print(f"throughput {a} / {b}: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
