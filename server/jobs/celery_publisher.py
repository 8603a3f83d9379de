"""Celery over RabbitMQ: the broker queues, the shared Celery configuration, and the API side's publisher.

The API commits a job to the ledger first and announces it afterwards, from a background thread, so a request never
waits on the broker and a broker outage never fails a submission. A lost announcement only delays the job: the
workers' sweeper re-announces queued jobs the broker has no message for. Messages carry nothing but a job id.

Broker queues: `live` and `regrade` for labs that run on CPU, `live-gpu` and `regrade-gpu` for labs with
`needs_gpu = true`; a worker consumes the queues of the devices it has.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import SessionFactory, make_engine, make_session_factory
from server.jobs.models import GradingJob, JobQueue
from server.labs.service import list_specs
from server.settings import Settings
from server.submissions.models import Submission

if TYPE_CHECKING:  # celery is imported lazily: the embedded deployment does not need it installed
    from celery import Celery

log = logging.getLogger("labgrader.celery")

TASK_NAME = "labgrader.grade_job"
GPU_SUFFIX = "-gpu"
CPU_QUEUES = (JobQueue.LIVE.value, JobQueue.REGRADE.value)
GPU_QUEUES = tuple(q + GPU_SUFFIX for q in CPU_QUEUES)
BROKER_QUEUES = CPU_QUEUES + GPU_QUEUES
PUBLISH_RETRIES = 2  # per announcement; the sweeper covers whatever still fails


def broker_queue(queue: JobQueue | str, needs_gpu: bool) -> str:
    """The broker queue of a job: its ledger queue, with `-gpu` when its lab needs a GPU."""
    name = JobQueue(queue).value
    return name + GPU_SUFFIX if needs_gpu else name


def ledger_queue(broker_queue_name: str) -> tuple[JobQueue, bool]:
    """The ledger queue and whether it is a GPU queue, for a broker queue name."""
    needs_gpu = broker_queue_name.endswith(GPU_SUFFIX)
    return JobQueue(broker_queue_name.removesuffix(GPU_SUFFIX)), needs_gpu


def gpu_lab_ids(session: Session) -> frozenset[str]:
    """Ids of the labs whose notebooks need a GPU."""
    return frozenset(spec.id for spec in list_specs(session) if spec.needs_gpu)


def route_jobs(session: Session, job_ids: Iterable[int]) -> dict[str, list[int]]:
    """Job ids grouped by the broker queue they belong on."""
    ids = list(job_ids)
    if not ids:
        return {}
    gpu_labs = gpu_lab_ids(session)
    rows = session.execute(
        select(GradingJob.id, GradingJob.queue, Submission.lab_id)
        .join(Submission, Submission.id == GradingJob.submission_id).where(GradingJob.id.in_(ids))
        .order_by(GradingJob.id)
    ).tuples().all()
    routed: dict[str, list[int]] = {}
    for job_id, job_queue, lab_id in rows:
        routed.setdefault(broker_queue(job_queue, lab_id in gpu_labs), []).append(job_id)
    return routed


def celery_config(settings: Settings) -> dict[str, Any]:
    """Configuration shared by the publisher and the workers: JSON only, late acks, one message per slot."""
    from kombu.entity import Exchange, Queue

    exchange = Exchange("labgrader", type="direct", durable=True)  # type: ignore[no-untyped-call]
    return {
        "broker_url": settings.broker_url,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,  # a worker waits out a broker restart instead of exiting
        "broker_connection_timeout": 4,
        "broker_heartbeat": 30,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_ignore_result": True,  # results live in the ledger
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,  # the ledger, not the broker, retries a failed job
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": False,  # the ledger fences the duplicate instead
        "worker_hijack_root_logger": False,
        "task_queues": [Queue(name, exchange, routing_key=name, durable=True)  # type: ignore[no-untyped-call]
                        for name in BROKER_QUEUES],
        "task_default_queue": JobQueue.LIVE.value,
        "task_default_exchange": exchange.name,
        "task_default_routing_key": JobQueue.LIVE.value,
        "task_create_missing_queues": False,
    }


def make_celery(settings: Settings, name: str = "labgrader") -> Celery:
    from celery import Celery

    app = Celery(name, set_as_current=False)
    app.conf.update(celery_config(settings))
    return app


def publish(app: Celery, routed: dict[str, list[int]]) -> int:
    """Send one message per job id to its queue; returns how many were sent (raises on a broker failure)."""
    sent = 0
    retry_policy = {"max_retries": PUBLISH_RETRIES, "interval_start": 0.2, "interval_step": 0.5}
    with app.producer_or_acquire() as producer:
        for queue_name, ids in routed.items():
            for job_id in ids:
                app.send_task(TASK_NAME, args=[job_id], queue=queue_name, routing_key=queue_name,
                              producer=producer, retry=True, retry_policy=retry_policy)
                sent += 1
    return sent


class CeleryDispatcher:
    """Announces committed jobs on the broker from a background thread (`LABGRADER_QUEUE=celery`)."""

    def __init__(self, settings: Settings, factory: SessionFactory | None = None) -> None:
        self.settings = settings
        self._factory = factory
        self._pending: queue.SimpleQueue[list[int] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.published = 0
        self.failed = 0

    def submitted(self, job_ids: Sequence[int | None], queue: JobQueue = JobQueue.LIVE) -> None:
        ids = [i for i in job_ids if i is not None]
        if not ids:
            return
        self._ensure_thread()
        self._pending.put(ids)

    def describe(self) -> str:
        broker = self.settings.broker_url.rsplit("@", 1)[-1]
        failed = f", {self.failed} announcements failed (the sweeper re-announces them)" if self.failed else ""
        return f"celery via {broker}: {self.published} jobs announced{failed}"

    def close(self, timeout_s: float = 10) -> None:
        """Announce what is pending, then stop the publisher thread."""
        if self._thread is not None:
            self._pending.put(None)
            self._thread.join(timeout=timeout_s)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="labgrader-publisher", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        factory = self._factory
        engine = None
        if factory is None:
            engine = make_engine(self.settings.database_url)
            factory = make_session_factory(engine)
        app = make_celery(self.settings, "labgrader-publisher")
        try:
            while (batch := self._pending.get()) is not None:
                self._announce(app, factory, batch)
        finally:
            app.close()
            if engine is not None:
                engine.dispose()

    def _announce(self, app: Celery, factory: SessionFactory, ids: list[int]) -> None:
        try:
            with factory() as session:
                routed = route_jobs(session, ids)
            self.published += publish(app, routed)
        except Exception as exc:  # the jobs are committed; the sweeper announces them later
            self.failed += len(ids)
            log.warning("could not announce jobs %s on the broker (%s: %s); the worker sweeper will",
                        ids, type(exc).__name__, exc)
