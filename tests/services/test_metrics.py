"""`GET /metrics`: queue depth, running jobs, durations and failures, read from the ledger (SQLite here)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import create_engine, update

from server.jobs.models import GradingJob
from server.metrics import failure_reason
from tests.conftest import LiveServer, make_server, notebook_bytes
from tests.services.conftest import LABS


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """The API on SQLite with no executor (the Celery dispatcher, its broker unreachable): jobs stay where a test
    puts them."""
    live = make_server(tmp_path, LABGRADER_LABS_DIR=str(LABS), LABGRADER_QUEUE="celery",
                       LABGRADER_BROKER_URL="amqp://guest:guest@127.0.0.1:1//", LABGRADER_METRICS_TOKEN=SCRAPER)
    live.start()
    yield live
    live.stop()


SCRAPER = "prometheus-scrape-token"


def test_metrics_answer_only_the_scraper_token_and_instructors(server: LiveServer) -> None:
    student, prof = server.add_user("student"), server.add_user("prof", "instructor")
    with server.client() as anonymous, server.client(student) as as_student, server.client(prof) as as_prof, \
            server.client(SCRAPER) as scraper, server.client("wrong-scrape-token") as wrong:
        statuses = [c.get("/metrics").status_code for c in (anonymous, wrong, as_student, as_prof, scraper)]
        refused = as_student.get("/metrics").json()["detail"]
    assert statuses == [401, 401, 403, 200, 200]
    assert refused == "metrics need LABGRADER_METRICS_TOKEN or an instructor's token"


def sample_lines(text: str) -> dict[str, str]:
    return dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_metrics_count_queues_running_durations_and_failures_from_the_ledger(server: LiveServer) -> None:
    token = server.add_user("student")
    with server.client(token) as client:
        for i in range(4):
            response = client.post("/api/v1/labs/dispatch_cpu/submissions",
                                   files={"notebook": ("nb.ipynb", notebook_bytes(f"print({i})"))})
            assert response.status_code == 202
    start = datetime(2026, 1, 1, 12, 0, 0)
    engine = create_engine(f"sqlite:///{server.workdir / 'labgrader.db'}")
    with engine.begin() as conn:
        conn.execute(update(GradingJob).where(GradingJob.id == 1).values(
            status="graded", started_at=start, finished_at=start + timedelta(seconds=2)))
        conn.execute(update(GradingJob).where(GradingJob.id == 2).values(
            status="error", started_at=start, finished_at=start + timedelta(seconds=40),
            error_reason="worker vm:1:slot0:ab stopped renewing its lease (attempt 3)"))
        conn.execute(update(GradingJob).where(GradingJob.id == 4).values(status="running", started_at=start))
    engine.dispose()

    response = server.client(SCRAPER).get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    samples = sample_lines(response.text)
    assert float(samples.pop('labgrader_queue_oldest_job_age_seconds{queue="live"}')) > 0
    assert samples == {
        'labgrader_queue_depth{queue="live"}': "1.0", 'labgrader_queue_depth{queue="regrade"}': "0.0",
        'labgrader_queue_depth{queue="live-gpu"}': "0.0", 'labgrader_queue_depth{queue="regrade-gpu"}': "0.0",
        'labgrader_queue_oldest_job_age_seconds{queue="regrade"}': "0.0",
        'labgrader_queue_oldest_job_age_seconds{queue="live-gpu"}': "0.0",
        'labgrader_queue_oldest_job_age_seconds{queue="regrade-gpu"}': "0.0",
        'labgrader_jobs_running{queue="live"}': "1.0", 'labgrader_jobs_running{queue="regrade"}': "0.0",
        'labgrader_jobs_running{queue="live-gpu"}': "0.0", 'labgrader_jobs_running{queue="regrade-gpu"}': "0.0",
        'labgrader_jobs{status="cancelled"}': "0.0",  # superseded by a newer job of the same submission
        'labgrader_jobs{status="error"}': "1.0", 'labgrader_jobs{status="graded"}': "1.0",
        'labgrader_jobs{status="queued"}': "1.0", 'labgrader_jobs{status="running"}': "1.0",
        'labgrader_job_duration_seconds_bucket{le="1.0"}': "0.0",
        'labgrader_job_duration_seconds_bucket{le="2.5"}': "1.0",
        'labgrader_job_duration_seconds_bucket{le="5.0"}': "1.0",
        'labgrader_job_duration_seconds_bucket{le="10.0"}': "1.0",
        'labgrader_job_duration_seconds_bucket{le="30.0"}': "1.0",
        **{f'labgrader_job_duration_seconds_bucket{{le="{le}"}}': "2.0"
           for le in ("60.0", "120.0", "300.0", "600.0", "1800.0", "3600.0", "+Inf")},
        "labgrader_job_duration_seconds_count": "2.0",
        "labgrader_job_duration_seconds_sum": "42.0",
        'labgrader_job_failures_total{reason="lease_expired"}': "1.0",
    }


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
