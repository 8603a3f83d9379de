"""`labgrader worker`: a Celery worker (threads pool, one thread per job slot) that grades the jobs the broker names.

A message is a hint, the ledger decides: the task claims, in this order, the fairest job of the message's device
class (live before regrade, the student served least recently first, students with a running job skipped), then the
named job, then any queued job of that class. Duplicated, late or redelivered messages therefore cost one claim
attempt and never a second result, and a burst from one student cannot starve others.

A sweeper thread in every worker re-queues expired leases (`ledger.reap_expired`) and re-announces queued jobs the
broker holds no message for, so neither a dead worker nor a lost message loses a job.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from grader import Slot, WorkerConfigError, sweep_abandoned_jobs
from server.db import SessionFactory
from server.jobs import ledger
from server.jobs.celery_publisher import (
    BROKER_QUEUES,
    CPU_QUEUES,
    GPU_QUEUES,
    TASK_NAME,
    broker_queue,
    gpu_lab_ids,
    ledger_queue,
    make_celery,
    publish,
    route_jobs,
)
from server.jobs.models import JobQueue
from server.jobs.outage import retry_during_outage
from server.jobs.runner import JobRunner, RunOutcome, new_owner_id
from server.labs.models import Lab
from server.settings import Settings

if TYPE_CHECKING:
    from celery import Celery, Task

log = logging.getLogger("labgrader.celery_worker")
LAB_CACHE_S = 30.0
DB_OUTAGE_WAIT_S = 120.0  # how long a task waits out an unreachable database before giving its message up


def node_name() -> str:
    """Celery's node name before the `@host`: unique even where workers share a host name and a pid, as containers
    on the host network do (each container's worker is a low pid of its own), whose identical names would collide on
    Celery's exclusive per-node control queue and stop the second worker ("RESOURCE_LOCKED ... pidbox")."""
    return f"labgrader-{os.getpid()}-{secrets.token_hex(3)}"


def plan_slots(jobs: int, gpus: Sequence[str], jobs_per_gpu: int) -> list[Slot]:
    """CPU slots (`jobs` of them), or `jobs_per_gpu` slots per listed GPU, each with its share of the card."""
    if jobs_per_gpu < 1:
        raise WorkerConfigError(f"--jobs-per-gpu must be at least 1, not {jobs_per_gpu}")
    if not gpus:
        if jobs < 1:
            raise WorkerConfigError(f"--jobs must be at least 1, not {jobs}")
        return [Slot(index) for index in range(jobs)]
    if len(set(gpus)) != len(gpus) or not all(g.isdigit() for g in gpus):
        raise WorkerConfigError(f"--gpus takes distinct device numbers such as 0,1; got {','.join(gpus)}")
    fraction = round(0.95 / jobs_per_gpu, 3)  # a little headroom for the CUDA context of each process
    return [Slot(index=i * jobs_per_gpu + k, gpu=gpu, gpu_memory_fraction=fraction)
            for i, gpu in enumerate(gpus) for k in range(jobs_per_gpu)]


def default_queues(slots: Sequence[Slot]) -> tuple[str, ...]:
    """GPU workers take the GPU queues, CPU workers the CPU queues; live first."""
    return GPU_QUEUES if any(s.gpu is not None for s in slots) else CPU_QUEUES


def check_queues(queues: Sequence[str], slots: Sequence[Slot]) -> tuple[str, ...]:
    unknown = [q for q in queues if q not in BROKER_QUEUES]
    if unknown or not queues:
        raise WorkerConfigError(f"unknown queue(s) {', '.join(unknown) or '(none given)'}; "
                                f"the queues are {', '.join(BROKER_QUEUES)}")
    if any(q in GPU_QUEUES for q in queues) and not any(s.gpu is not None for s in slots):
        raise WorkerConfigError("a worker without --gpus cannot take the GPU queues "
                                f"({', '.join(q for q in queues if q in GPU_QUEUES)})")
    return tuple(queues)


@dataclass
class LabClasses:
    """Which labs run on GPU and which on CPU, re-read every `LAB_CACHE_S` seconds."""

    factory: SessionFactory
    _read_at: float = -LAB_CACHE_S
    _gpu: frozenset[str] = frozenset()
    _cpu: frozenset[str] = frozenset()
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def labs(self, needs_gpu: bool) -> frozenset[str]:
        with self._lock:
            if time.monotonic() - self._read_at > LAB_CACHE_S:
                with self.factory() as session:
                    every = frozenset(session.scalars(select(Lab.id)))
                    self._gpu = gpu_lab_ids(session)
                self._cpu = every - self._gpu
                self._read_at = time.monotonic()
            return self._gpu if needs_gpu else self._cpu


class GradingWorker:
    """The state of one worker process: its slots, the queues it serves and one job runner per slot."""

    def __init__(self, settings: Settings, factory: SessionFactory, slots: Sequence[Slot],
                 queues: Sequence[str], announce: Callable[[dict[str, list[int]]], object]) -> None:
        self.settings, self.factory, self.queues = settings, factory, tuple(queues)
        self.announce = announce
        self.slots = list(slots)
        self._free: queue.Queue[Slot] = queue.Queue()
        for slot in self.slots:
            self._free.put(slot)
        self._runners = {slot.index: JobRunner(settings, factory, owner=new_owner_id(f"slot{slot.index}"))
                         for slot in self.slots}
        self.lab_classes = LabClasses(factory)
        # one event loop for every slot's jobs, as in the embedded executor: kernels and their clients live on it
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name="labgrader-jobs", daemon=True)
        self._loop_thread.start()

    def ledger_queues(self, needs_gpu: bool) -> tuple[JobQueue, ...]:
        """The ledger queues this worker serves for one device class, live first."""
        served = {ledger_queue(q) for q in self.queues}
        return tuple(q for q in (JobQueue.LIVE, JobQueue.REGRADE) if (q, needs_gpu) in served)

    def handle(self, job_id: int, broker_queue_name: str) -> str:
        """Grade one job for one message; returns what happened (for the log)."""
        slot = self._free.get()
        try:
            runner = self._runners[slot.index]
            claim = retry_during_outage(lambda: self.claim(runner, job_id, broker_queue_name), DB_OUTAGE_WAIT_S)
            if claim is None:
                return f"message for job {job_id}: nothing to grade (it is taken or done)"
            outcome = asyncio.run_coroutine_threadsafe(runner.run_claim(claim, slot), self._loop).result()
            if outcome is RunOutcome.FAILED:  # re-queued for another attempt (or `error`: then a no-op message)
                self._announce_retry(claim.job_id, broker_queue_name)
            return (f"message for job {job_id}: job {claim.job_id} attempt {claim.attempt} {outcome} "
                    f"on {slot.device_label}")
        finally:
            self._free.put(slot)

    def _announce_retry(self, job_id: int, broker_queue_name: str) -> None:
        try:
            self.announce({broker_queue_name: [job_id]})
        except Exception as exc:  # the sweeper re-announces it
            log.warning("could not re-announce job %s (%s: %s)", job_id, type(exc).__name__, exc)

    def claim(self, runner: JobRunner, job_id: int, broker_queue_name: str) -> ledger.Claim | None:
        _, needs_gpu = ledger_queue(broker_queue_name)
        labs = self.lab_classes.labs(needs_gpu)
        queues = self.ledger_queues(needs_gpu)
        lease_s = self.settings.lease_s
        return (ledger.claim_next(self.factory, runner.owner, lease_s, queues, lab_ids=labs)
                or ledger.claim_job(self.factory, job_id, runner.owner, lease_s)
                or ledger.claim_next(self.factory, runner.owner, lease_s, queues, lab_ids=labs,
                                     student_fair=False))


class Sweeper:
    """Re-queues expired leases and re-announces queued jobs whose broker message is missing."""

    def __init__(self, app: Celery, factory: SessionFactory, settings: Settings, every_s: float,
                 requeue_after_s: float) -> None:
        self.app, self.factory, self.settings = app, factory, settings
        self.every_s, self.requeue_after_s = every_s, requeue_after_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="labgrader-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.sweep()
            except Exception as exc:  # the database or the broker is restarting: the next sweep tries again
                log.warning("sweep failed (%s: %s); trying again in %.1f s", type(exc).__name__, exc, self.every_s)

    def sweep(self) -> dict[str, int]:
        """One pass; returns how many jobs were announced per broker queue."""
        reaped = ledger.reap_expired(self.factory, self.settings.max_attempts)
        announced: dict[str, int] = {}
        if reaped:
            with self.factory() as session:
                routed = route_jobs(session, reaped)
            publish(self.app, routed)
            log.warning("re-queued jobs whose worker stopped renewing its lease: %s", reaped)
            announced = {q: len(ids) for q, ids in routed.items()}
        with self.factory() as session:
            gpu_labs = gpu_lab_ids(session)
            waiting: dict[str, int] = dict.fromkeys(BROKER_QUEUES, 0)
            for (job_queue, lab_id), count in ledger.queued_by_lab(session).items():
                waiting[broker_queue(job_queue, lab_id in gpu_labs)] += count
        ready = self.broker_ready()
        missing = {q: waiting[q] - ready.get(q, 0) for q in BROKER_QUEUES if waiting[q] > ready.get(q, 0)}
        if not missing:
            return announced
        routed = {}
        for job_id, job_queue, lab_id in ledger.stale_queued(self.factory, self.requeue_after_s):
            name = broker_queue(job_queue, lab_id in gpu_labs)
            if len(routed.get(name, [])) < missing.get(name, 0):
                routed.setdefault(name, []).append(job_id)
        if routed:
            publish(self.app, routed)
            log.warning("re-announced queued jobs the broker had no message for: %s", routed)
            for name, ids in routed.items():
                announced[name] = announced.get(name, 0) + len(ids)
        return announced

    def broker_ready(self) -> dict[str, int]:
        """Messages waiting in each broker queue (delivered, unacknowledged ones are being worked on)."""
        counts = {}
        with self.app.connection_for_write() as conn:
            channel = conn.default_channel
            for name in BROKER_QUEUES:
                bound = self.app.amqp.queues[name].bind(channel)
                bound.declare()  # a queue no worker consumes yet still collects its messages
                counts[name] = int(bound.queue_declare(passive=True).message_count)
        return counts


_worker: GradingWorker | None = None


def _grade_job(task: Task, job_id: int) -> str:
    assert _worker is not None, "the task runs only inside `labgrader worker`"
    delivery: dict[str, Any] = task.request.delivery_info or {}
    name = str(delivery.get("routing_key") or JobQueue.LIVE.value)
    outcome = _worker.handle(int(job_id), name)
    log.info(outcome)
    return outcome


def build_app(settings: Settings) -> Celery:
    """The Celery app with the one task, `labgrader.grade_job(job_id)`."""
    app = make_celery(settings, "labgrader-worker")
    app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)(_grade_job)
    return app


def run_worker(settings: Settings, factory: SessionFactory, slots: Sequence[Slot], queues: Sequence[str],
               sweep_every_s: float, requeue_after_s: float) -> int:
    """Serve the queues until SIGTERM (warm shutdown: running jobs finish first)."""
    global _worker
    sweep_abandoned_jobs(settings.sandbox_config(), settings.jobs_root)
    app = build_app(settings)
    _worker = GradingWorker(settings, factory, slots, queues, announce=lambda routed: publish(app, routed))
    sweeper = Sweeper(app, factory, settings, sweep_every_s, requeue_after_s)
    sweeper.start()
    log.info("worker %s: %d slot(s) [%s] on queues %s", os.getpid(), len(slots),
             ", ".join(s.device_label for s in slots), ", ".join(queues))
    try:
        app.worker_main(["worker", "--pool=threads", f"--concurrency={len(slots)}", f"--queues={','.join(queues)}",
                         "--prefetch-multiplier=1", "--without-gossip", "--without-mingle", "--without-heartbeat",
                         "--loglevel=INFO", f"--hostname={node_name()}@%h"])
    finally:
        sweeper.stop()
    return 0
