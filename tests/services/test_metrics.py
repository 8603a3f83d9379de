"""`GET /metrics`: queue depth, running jobs, durations and failures, read from the ledger (SQLite here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import create_engine, update

from server.grading.models import GradingJob
from server.metrics import failure_reason
from tests.conftest import LiveServer, make_server
from tests.services.conftest import LABS


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """The embedded deployment on SQLite with the tiny test labs, executor stopped until a test needs it."""
    live = make_server(tmp_path, LABGRADER_LABS_DIR=str(LABS), LABGRADER_SANDBOX_UID_BASE="64900")
    live.start()
    yield live
    live.stop()


def sample_lines(text: str) -> dict[str, str]:
    return dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_metrics_count_queues_running_durations_and_failures_from_the_ledger(server: LiveServer) -> None:
    token = server.add_user("student")
    with server.client(token) as client:
        ids = [client.post("/api/v1/labs/dispatch_cpu/submissions",
                           files={"notebook": ("nb.ipynb", notebook(i))}).json()["id"] for i in range(3)]
    for submission_id in ids:
        server.wait_for(token, submission_id, timeout_s=120)
    engine = create_engine(f"sqlite:///{server.workdir / 'labgrader.db'}")
    with engine.begin() as conn:
        conn.execute(update(GradingJob).where(GradingJob.id == 2).values(
            status="error", error_reason="worker vm:1:slot0:ab stopped renewing its lease (attempt 3)"))
        conn.execute(update(GradingJob).where(GradingJob.id == 3).values(
            status="queued", started_at=None, finished_at=None))
    engine.dispose()

    response = server.client().get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    samples = sample_lines(response.text)
    assert {k: v for k, v in samples.items() if k.startswith(("labgrader_queue_depth", "labgrader_jobs"))} == {
        'labgrader_queue_depth{queue="live"}': "1.0", 'labgrader_queue_depth{queue="regrade"}': "0.0",
        'labgrader_queue_depth{queue="live-gpu"}': "0.0", 'labgrader_queue_depth{queue="regrade-gpu"}': "0.0",
        'labgrader_jobs_running{queue="live"}': "0.0", 'labgrader_jobs_running{queue="regrade"}': "0.0",
        'labgrader_jobs_running{queue="live-gpu"}': "0.0", 'labgrader_jobs_running{queue="regrade-gpu"}': "0.0",
        'labgrader_jobs{status="error"}': "1.0", 'labgrader_jobs{status="graded"}': "1.0",
        'labgrader_jobs{status="queued"}': "1.0", 'labgrader_jobs{status="running"}': "0.0",
    }
    assert samples["labgrader_job_duration_seconds_count"] == "2.0"
    assert samples['labgrader_job_duration_seconds_bucket{le="+Inf"}'] == "2.0"
    assert samples['labgrader_job_duration_seconds_bucket{le="60.0"}'] == "2.0"
    assert 0 < float(samples["labgrader_job_duration_seconds_sum"]) < 120
    assert samples['labgrader_job_failures_total{reason="lease_expired"}'] == "1.0"
    assert float(samples['labgrader_queue_oldest_job_age_seconds{queue="live"}']) > 0


def notebook(i: int) -> bytes:
    from tests.conftest import notebook_bytes

    return notebook_bytes(f"print({i})")


@pytest.mark.parametrize(("reason", "label"), [
    ("worker vm:12:slot0:abcd stopped renewing its lease (attempt 3)", "lease_expired"),
    ("InfrastructureError: submission 4 has no stored notebook", "InfrastructureError"),
    ("SandboxUnavailable: bubblewrap is not installed", "SandboxUnavailable"),
    ("OSError: [Errno 28] No space left on device", "OSError"),
    ("the kernel said something odd", "other"),
    (None, "other"),
])
def test_failure_reasons_become_a_few_labels(reason: str | None, label: str) -> None:
    assert failure_reason(reason) == label
