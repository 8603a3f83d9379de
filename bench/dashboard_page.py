"""The instructors' submissions page at 10,000 submissions: p50/p99 latency of `/dashboard/submissions`.

    .venv/bin/python -m bench.dashboard_page [--submissions 10000] [--requests 300]

Seeds a fresh SQLite database through the ORM (200 students, graded submissions with their jobs and five check
results each, created over 30 days), starts `labgrader serve`, logs an instructor in through the login form, then
requests pages one after another: the first page (newest first), a deep page, sorted by score, filtered by a
student name and by status. `GET /api/v1/submissions?limit=50` is measured the same way for comparison.
"""

from __future__ import annotations

import argparse
import random
import re
import time
from datetime import datetime, timedelta

import httpx
from sqlalchemy import insert

from bench import common
from bench.common import BENCH_ROOT, median, table
from bench.servers import add_user, free_port, labgrader_serve, prepare_server, server_env
from lab_tasks import LABS_DIR
from server.db import make_engine, make_session_factory, transaction
from server.jobs.models import CheckResultRow, GradingJob, JobStatus
from server.labs.service import sync_labs
from server.submissions.models import Submission
from server.users.models import User
from server.users.service import create_user

CHECKS = [("iris_accuracy", 20.0), ("mnist_single_layer_accuracy", 20.0), ("mnist_multi_layer_accuracy", 30.0),
          ("overfitting_gap", 15.0), ("early_stopping", 15.0)]
PAGES = {
    "first page": "/dashboard/submissions",
    "page 100": "/dashboard/submissions?page=100",
    "sorted by score": "/dashboard/submissions?sort=score&order=asc",
    "student filter": "/dashboard/submissions?student=student07",
    "status filter": "/dashboard/submissions?status=error",
    "API limit=50": "/api/v1/submissions?limit=50",
}


def seed(url: str, submissions: int, students: int = 200) -> None:
    """`submissions` graded (5% error) submissions of the frameworks lab, with jobs and check results."""
    engine = make_engine(url)
    factory = make_session_factory(engine)
    rng = random.Random(7)
    with transaction(factory) as session:
        sync_labs(session, LABS_DIR)
        for i in range(students):
            create_user(session, f"student{i:03d}", "student")
    with transaction(factory) as session:
        student_ids = [u.id for u in session.query(User).filter(User.role == "student")]
    start = datetime(2026, 10, 1)
    batch = 1000
    for first in range(0, submissions, batch):
        with transaction(factory) as session:
            subs, jobs, checks = [], [], []
            for n in range(first, min(first + batch, submissions)):
                sid = n + 1
                created = start + timedelta(seconds=n * 30 * 86400 / submissions)
                error = rng.random() < 0.05
                parts = [] if error else [rng.uniform(0, 1) * p for _, p in CHECKS]
                score = None if error else round(sum(parts), 2)
                status = JobStatus.ERROR.value if error else JobStatus.GRADED.value
                subs.append({"id": sid, "lab_id": "frameworks", "student_id": rng.choice(student_ids),
                             "status": status, "score": score, "max_score": 100.0, "note": None,
                             "filename": "lab.ipynb", "created_at": created, "current_job_id": sid})
                jobs.append({"id": sid, "submission_id": sid, "student_id": subs[-1]["student_id"], "queue": "live",
                             "status": status, "attempt": 1, "created_at": created,
                             "started_at": created + timedelta(seconds=5),
                             "finished_at": created + timedelta(seconds=95), "score": score})
                for pos, ((check_id, points), got) in enumerate(zip(CHECKS, parts, strict=False)):
                    checks.append({"submission_id": sid, "job_id": sid, "position": pos, "check_id": check_id,
                                   "title": check_id.replace("_", " "), "passed": got >= points * 0.9,
                                   "score": round(got, 2), "max_score": points, "message": "measured", "measured": got})
            session.execute(insert(Submission), subs)
            session.execute(insert(GradingJob), jobs)
            if checks:
                session.execute(insert(CheckResultRow), checks)
    engine.dispose()


def login(client: httpx.Client, token: str) -> None:
    form = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if csrf is None:
        raise SystemExit("the login form has no csrf_token field")
    done = client.post("/login", data={"token": token, "csrf_token": csrf.group(1), "next": "/dashboard"})
    if done.status_code >= 400:
        raise SystemExit(f"login failed: {done.status_code} {done.text[:300]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300, help="requests per page kind")
    args = parser.parse_args()
    common.ensure_lab_data()
    work = common.fresh_dir(BENCH_ROOT / "dashboard")
    env = server_env(work)
    prepare_server(work, env)
    started = time.perf_counter()
    seed(env["LABGRADER_DATABASE_URL"], args.submissions)
    print(f"machine: {common.machine()}; seeded {args.submissions} submissions in "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    token = add_user(work, env, "instructor", "instructor")
    rows = []
    with labgrader_serve(work, env, free_port()) as url, httpx.Client(base_url=url, timeout=60) as client:
        login(client, token)
        for name, path in PAGES.items():
            headers = {"Authorization": f"Bearer {token}"} if path.startswith("/api/") else {}
            check = client.get(path, headers=headers)
            if check.status_code != 200:
                raise SystemExit(f"{path}: {check.status_code} {check.text[:300]}")
            latencies = []
            for _ in range(args.requests):
                t = time.perf_counter()
                response = client.get(path, headers=headers)
                latencies.append(time.perf_counter() - t)
                response.raise_for_status()
            latencies.sort()
            p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
            rows.append([name, path, len(latencies), median(latencies) * 1000, p99 * 1000,
                         f"{len(check.content) / 1024:.0f} kB", "met" if p99 < 0.3 else "MISSED"])
            print(f"  {name}: p99 {p99 * 1000:.1f} ms", flush=True)
    print(table(["page", "path", "requests", "p50 ms", "p99 ms", "size", "p99 < 300 ms"], rows))
    print(f"machine after: {common.machine()}")


if __name__ == "__main__":
    main()
