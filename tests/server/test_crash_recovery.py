"""A server killed with SIGKILL mid-job: after a restart the job is graded exactly once."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from tests.conftest import IRIS_CODE, make_server, notebook_bytes


def test_job_survives_sigkill_and_is_graded_exactly_once(tmp_path: Path) -> None:
    server = make_server(tmp_path)
    server.start()
    token = server.add_user("crash")
    with server.client(token) as client:
        submission = client.post("/api/v1/labs/frameworks/submissions", files={
            "notebook": ("n.ipynb", notebook_bytes("import time\ntime.sleep(6)", IRIS_CODE))}).json()
    server.wait_for(token, submission["id"], statuses=("running",), timeout_s=60)
    time.sleep(1.0)
    server.kill()

    server.start()
    graded = server.wait_for(token, submission["id"], timeout_s=180)
    server.stop()

    assert graded["status"] == "graded"
    assert next(c for c in graded["checks"] if c["id"] == "iris_accuracy")["passed"] is True  # type: ignore[union-attr]
    with sqlite3.connect(server.workdir / "labgrader.db") as conn:
        jobs = conn.execute("SELECT status, attempt FROM grading_jobs WHERE submission_id = ?",
                            (submission["id"],)).fetchall()
        results = conn.execute("SELECT count(*) FROM check_results WHERE submission_id = ?",
                               (submission["id"],)).fetchone()[0]
    assert jobs == [("graded", 2)]
    assert results == len(graded["checks"])  # type: ignore[arg-type]
