"""`GET /metrics` in the Prometheus text format, computed from the ledger so it is right across machines.

Every number comes from the database at scrape time, not from per-process counters: any API replica answers for
the whole deployment, and a restarted worker loses nothing. Queues are the broker queues (`live`, `regrade`,
`live-gpu`, `regrade-gpu`), which in the embedded deployment name the same ledger queues.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, Float, case, cast, func, select
from sqlalchemy.orm import Session

from server.auth import SessionDep, bearer_token, current_user
from server.db import db_now
from server.dependencies import get_session_factory, get_settings
from server.errors import Forbidden
from server.jobs.celery_publisher import BROKER_QUEUES, broker_queue, gpu_lab_ids
from server.jobs.models import GradingJob, JobStatus
from server.submissions.models import Submission

router = APIRouter(tags=["metrics"])

DURATION_BUCKETS_S = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
LEASE_REASON = re.compile(r"^worker .* stopped renewing its lease")
EXCEPTION_REASON = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:Error|Exception|Unavailable|Invalid|Timeout)): ")


@dataclass
class LedgerSnapshot:
    """The numbers of one scrape."""

    depth: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BROKER_QUEUES, 0))
    oldest_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(BROKER_QUEUES, 0.0))
    running: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BROKER_QUEUES, 0))
    jobs: dict[str, int] = field(default_factory=lambda: dict.fromkeys([s.value for s in JobStatus], 0))
    duration_buckets: list[tuple[str, int]] = field(default_factory=list)
    duration_sum_s: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)


def failure_reason(error_reason: str | None) -> str:
    """A bounded label for a job's final error: `lease_expired`, the exception type, or `other`."""
    text = error_reason or ""
    if LEASE_REASON.match(text):
        return "lease_expired"
    found = EXCEPTION_REASON.match(text)
    return found.group(1) if found else "other"


def _duration_s(session: Session) -> ColumnElement[float]:
    if session.get_bind().dialect.name == "sqlite":
        days = func.julianday(GradingJob.finished_at) - func.julianday(GradingJob.started_at)
        return cast(days * 86400.0, Float)
    return cast(func.extract("epoch", GradingJob.finished_at - GradingJob.started_at), Float)


def read_snapshot(session: Session) -> LedgerSnapshot:
    """Queue depths, running jobs, durations and failures, all from the ledger."""
    snapshot = LedgerSnapshot()
    gpu_labs = gpu_lab_ids(session)
    now = db_now(session)
    for queue, lab_id, status, count, oldest in session.execute(
        select(GradingJob.queue, Submission.lab_id, GradingJob.status, func.count(), func.min(GradingJob.created_at))
        .join(Submission, Submission.id == GradingJob.submission_id)
        .where(GradingJob.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]))
        .group_by(GradingJob.queue, Submission.lab_id, GradingJob.status)
    ).tuples():
        name = broker_queue(queue, lab_id in gpu_labs)
        if status == JobStatus.QUEUED:
            snapshot.depth[name] += count
            age_s = max((now - oldest).total_seconds(), 0.0)
            snapshot.oldest_s[name] = max(snapshot.oldest_s[name], age_s)
        else:
            snapshot.running[name] += count
    for status, count in session.execute(select(GradingJob.status, func.count()).group_by(GradingJob.status)):
        snapshot.jobs[status] = count

    duration = _duration_s(session)
    finished = (GradingJob.status.in_([JobStatus.GRADED.value, JobStatus.ERROR.value]),
                GradingJob.started_at.is_not(None), GradingJob.finished_at.is_not(None))
    bucket_columns = [func.sum(case((duration <= bound, 1), else_=0)) for bound in DURATION_BUCKETS_S]
    row = session.execute(select(func.count(), func.sum(duration), *bucket_columns).where(*finished)).one()
    total, total_s, *cumulative = row
    snapshot.duration_buckets = [(repr(bound), int(n or 0)) for bound, n in zip(DURATION_BUCKETS_S, cumulative,
                                                                                 strict=True)]
    snapshot.duration_buckets.append(("+Inf", int(total or 0)))
    snapshot.duration_sum_s = round(float(total_s or 0.0), 3)  # SQLite julianday arithmetic is not exact

    for reason, count in session.execute(
        select(GradingJob.error_reason, func.count()).where(GradingJob.status == JobStatus.ERROR.value)
        .group_by(GradingJob.error_reason)
    ).tuples():
        label = failure_reason(reason)
        snapshot.failures[label] = snapshot.failures.get(label, 0) + count
    return snapshot


class LedgerCollector(Collector):
    def __init__(self, snapshot: LedgerSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        depth = GaugeMetricFamily("labgrader_queue_depth", "Jobs waiting to be graded", labels=["queue"])
        oldest = GaugeMetricFamily("labgrader_queue_oldest_job_age_seconds",
                                   "How long the oldest waiting job has waited", labels=["queue"])
        running = GaugeMetricFamily("labgrader_jobs_running", "Jobs being graded now", labels=["queue"])
        for queue in BROKER_QUEUES:
            depth.add_metric([queue], s.depth[queue])
            oldest.add_metric([queue], s.oldest_s[queue])
            running.add_metric([queue], s.running[queue])
        jobs = GaugeMetricFamily("labgrader_jobs", "Grading jobs in the ledger by status", labels=["status"])
        for status, count in sorted(s.jobs.items()):
            jobs.add_metric([status], count)
        duration = HistogramMetricFamily("labgrader_job_duration_seconds",
                                         "Time from a job's (last) start to its result")
        duration.add_metric([], s.duration_buckets, s.duration_sum_s)
        failures = CounterMetricFamily("labgrader_job_failures", "Jobs that ended in `error`, by reason",
                                       labels=["reason"])
        for reason, count in sorted(s.failures.items()):
            failures.add_metric([reason], count)
        yield from (depth, oldest, running, jobs, duration, failures)


def require_scraper(request: Request, session: SessionDep) -> None:
    """Prometheus with LABGRADER_METRICS_TOKEN, or an instructor's API token: queue sizes and failures are no one
    else's business (a dependency of the route, so the route walk in tests sees who may call it)."""
    configured = get_settings(request).metrics_token
    token = bearer_token(request)
    if configured and token and hmac.compare_digest(token.encode(), configured.encode()):
        return
    if not current_user(request, session).is_instructor:  # 401 without a valid token
        raise Forbidden("metrics need LABGRADER_METRICS_TOKEN or an instructor's token")


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
            dependencies=[Depends(require_scraper)])
def metrics(request: Request) -> Response:
    """Prometheus metrics of the whole deployment, read from the ledger."""
    with get_session_factory(request)() as session:
        snapshot = read_snapshot(session)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LedgerCollector(snapshot))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
