"""Queue transparency: where a job stands in its queue, and the queue's recent wait and run times.

Times come from the ledger's own columns (created, started, finished: the database clock), so a student's estimate
and the instructor's median/p95 are the same numbers `/metrics` is built from.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db import db_now
from server.jobs.models import GradingJob, JobQueue, JobStatus

RECENT_JOBS = 200  # the times of the last this many finished jobs make the medians


@dataclass(frozen=True)
class Durations:
    """Median and 95th percentile of recent jobs' waits and runs, in seconds (None before any job finished)."""

    finished: int
    wait_median_s: float | None
    wait_p95_s: float | None
    run_median_s: float | None
    run_p95_s: float | None


@dataclass(frozen=True)
class QueueStats:
    queued: dict[str, int]
    running: int
    durations: Durations

    @property
    def depth(self) -> int:
        return sum(self.queued.values())


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def recent_durations(session: Session) -> Durations:
    rows = session.execute(
        select(GradingJob.created_at, GradingJob.started_at, GradingJob.finished_at)
        .where(GradingJob.status == JobStatus.GRADED.value, GradingJob.started_at.is_not(None),
               GradingJob.finished_at.is_not(None))
        .order_by(GradingJob.finished_at.desc()).limit(RECENT_JOBS)
    ).tuples().all()
    waits = [max(0.0, (s - c).total_seconds()) for c, s, _ in rows if s is not None]
    runs = [max(0.0, (f - s).total_seconds()) for _, s, f in rows if s is not None and f is not None]
    return Durations(len(rows), statistics.median(waits) if waits else None, _percentile(waits, 0.95),
                     statistics.median(runs) if runs else None, _percentile(runs, 0.95))


def queue_stats(session: Session) -> QueueStats:
    """Jobs waiting per ledger queue, jobs running, and recent durations."""
    queued = {q.value: 0 for q in JobQueue}
    queued.update(session.execute(select(GradingJob.queue, func.count())
                                  .where(GradingJob.status == JobStatus.QUEUED.value)
                                  .group_by(GradingJob.queue)).tuples().all())
    running = session.scalar(select(func.count()).where(GradingJob.status == JobStatus.RUNNING.value)) or 0
    return QueueStats(queued, int(running), recent_durations(session))


@dataclass(frozen=True)
class JobProgress:
    """Where one job stands: its place in its queue (1 = next), time since queued or started, an estimate."""

    status: str
    queue: str
    position: int | None
    elapsed_s: float
    estimate_s: float | None

    def as_json(self) -> dict[str, object]:
        return {"status": self.status, "queue": self.queue, "position": self.position,
                "elapsed_s": round(self.elapsed_s), "estimate_s": None if self.estimate_s is None
                else round(self.estimate_s)}


def job_progress(session: Session, job_id: int | None, slots: int, run_median_s: float | None = None) -> \
        JobProgress | None:
    """Progress of a queued or running job; None once it finished. Live jobs go before regrades, oldest first."""
    job = session.get(GradingJob, job_id) if job_id is not None else None
    if job is None or job.status not in (JobStatus.QUEUED.value, JobStatus.RUNNING.value):
        return None
    now = db_now(session)
    if run_median_s is None:
        run_median_s = recent_durations(session).run_median_s
    if job.status == JobStatus.RUNNING.value:
        started = job.started_at or now
        elapsed = (now - started).total_seconds()
        # past the usual run time an estimate would only say "0 s": say nothing rather than something wrong
        remaining = None if run_median_s is None or elapsed >= run_median_s else run_median_s - elapsed
        return JobProgress(job.status, job.queue, None, elapsed, remaining)
    ahead_query = select(func.count()).where(GradingJob.status == JobStatus.QUEUED.value,
                                            (GradingJob.created_at < job.created_at)
                                            | ((GradingJob.created_at == job.created_at) & (GradingJob.id < job.id)))
    if job.queue == JobQueue.REGRADE.value:
        ahead = (session.scalar(ahead_query.where(GradingJob.queue == JobQueue.REGRADE.value)) or 0) + (
            session.scalar(select(func.count()).where(GradingJob.status == JobStatus.QUEUED.value,
                                                      GradingJob.queue == JobQueue.LIVE.value)) or 0)
    else:
        ahead = session.scalar(ahead_query.where(GradingJob.queue == JobQueue.LIVE.value)) or 0
    running = session.scalar(select(func.count()).where(GradingJob.status == JobStatus.RUNNING.value)) or 0
    estimate = None
    if run_median_s is not None:
        rounds = (ahead + running) / max(slots, 1)  # jobs before this one, shared among the grading slots
        estimate = rounds * run_median_s + run_median_s
    return JobProgress(job.status, job.queue, ahead + 1, (now - job.created_at).total_seconds(), estimate)
