"""The runner of one grading job: claim it, grade it (through the grader's front door) under a renewed lease, write
the result with the fenced ledger write.

Both dispatchers use it: the embedded executor inside `labgrader serve` and the Celery task of `labgrader worker`.
The grader itself never touches the database; this module is where a job's rows and a grading run meet.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from grader import (
    CheckResult,
    EnvironmentNotReady,
    FileLimits,
    GraderError,
    GradingContext,
    GradingOutcome,
    GradingReport,
    InfrastructureError,
    NotebookInvalid,
    Slot,
    WarmKernelPool,
    grade_notebook,
    parse_notebook,
    unbundle,
)
from server.db import SessionFactory
from server.jobs import ledger
from server.jobs.models import Artifact, ArtifactKind, JobQueue
from server.jobs.outage import database_unreachable, retry_during_outage_async
from server.jobs.results import outcome_to_result
from server.jobs.stored_artifacts import artifact_content
from server.labs.service import get_spec
from server.settings import Settings

log = logging.getLogger("labgrader.worker")
T = TypeVar("T")


def new_owner_id(label: str = "worker") -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{label}:{uuid.uuid4().hex[:8]}"


class RunOutcome(StrEnum):
    """How one claimed attempt ended, as seen by the worker that ran it."""

    GRADED = "graded"  # the fenced write of the report succeeded
    DISCARDED = "discarded"  # graded, but the lease was gone: another attempt owns the job
    FAILED = "failed"  # an infrastructure failure: re-queued or, after max_attempts, `error`
    LOST_LEASE = "lost lease"  # stopped mid-run because this worker could no longer hold the job
    WAITING = "waiting"  # given back, no attempt counted: its lab's student environment is being built


def refused_report(lab_id: str, spec_checks: list[tuple[str, str, float]], reason: str) -> GradingReport:
    """A report for a notebook that cannot run at all (e.g. stored before validation rules tightened)."""
    checks = tuple(CheckResult(id=i, title=t, passed=False, score=0.0, max_score=p,
                               message=f"the notebook could not be graded: {reason}") for i, t, p in spec_checks)
    return GradingReport(lab_id=lab_id, checks=checks, execution_note=reason)


@dataclass
class JobRunner:
    """Runs claimed jobs; `stop` asks running jobs to give their lease back at the next chance."""

    settings: Settings
    factory: SessionFactory
    owner: str = field(default_factory=new_owner_id)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    kernels: WarmKernelPool | None = None  # warm kernels, each used for one job (grader.kernel.warm_pool)

    async def run_next(self, slot: Slot, queues: tuple[JobQueue, ...] = (JobQueue.LIVE, JobQueue.REGRADE),
                       lab_ids: frozenset[str] | None = None) -> bool:
        """Claim and grade one job (of `lab_ids` only, when given); False when the queues are empty."""
        claim = await asyncio.to_thread(ledger.claim_next, self.factory, self.owner, self.settings.lease_s, queues,
                                        lab_ids=lab_ids)
        if claim is None:
            return False
        await self.run_claim(claim, slot)
        return True

    async def run_claim(self, claim: ledger.Claim, slot: Slot) -> RunOutcome:
        grading = asyncio.create_task(self._grade(claim, slot))
        lost_lease = False
        renewed_at = time.monotonic()
        while not grading.done():
            done, _ = await asyncio.wait({grading}, timeout=self.settings.lease_s / 3)
            if done:
                break
            renewed = await self._renew(claim)
            if renewed:
                renewed_at = time.monotonic()
            # an unreachable database is not a lost lease until the lease could have expired meanwhile
            if renewed is False or time.monotonic() - renewed_at > self.settings.lease_s:
                log.warning("lost the lease on job %s; stopping its kernel", claim.job_id)
                lost_lease = True
                grading.cancel()
        try:
            outcome = await grading
        except asyncio.CancelledError:
            if lost_lease:
                return RunOutcome.LOST_LEASE
            await asyncio.to_thread(ledger.release, self.factory, claim)
            raise
        except EnvironmentNotReady as exc:
            # the lab's student environment is not ready (a build under way): the job waits, no attempt counted
            log.warning("job %s waits: %s", claim.job_id, exc)
            await asyncio.to_thread(ledger.release, self.factory, claim)
            return RunOutcome.WAITING  # not re-announced at once: the sweeper (or the executor's next poll) does
        except (InfrastructureError, OSError, GraderError) as exc:
            log.exception("job %s attempt %s failed in the grader", claim.job_id, claim.attempt)
            await self._retrying(ledger.fail_attempt, self.factory, claim, f"{type(exc).__name__}: {exc}",
                                 self.settings.max_attempts)
            return RunOutcome.FAILED
        except Exception as exc:
            log.exception("job %s attempt %s crashed", claim.job_id, claim.attempt)
            await self._retrying(ledger.fail_attempt, self.factory, claim, f"{type(exc).__name__}: {exc}",
                                 self.settings.max_attempts)
            return RunOutcome.FAILED
        written = await self._retrying(ledger.complete, self.factory, claim, outcome_to_result(outcome))
        if not written:
            log.warning("job %s attempt %s: lease lost before the result was written; result discarded",
                        claim.job_id, claim.attempt)
            return RunOutcome.DISCARDED
        return RunOutcome.GRADED

    async def _renew(self, claim: ledger.Claim) -> bool | None:
        """True: renewed; False: another worker holds the job now; None: the database did not answer."""
        try:
            return await asyncio.to_thread(ledger.renew, self.factory, claim, self.settings.lease_s)
        except DBAPIError as exc:
            if not database_unreachable(exc):
                raise
            log.warning("could not renew the lease on job %s: the database did not answer", claim.job_id)
            return None

    async def _retrying(self, write: Callable[..., T], *args: object) -> T:
        """Run a ledger write, retrying while the database is unreachable (a restart) for up to two leases;
        after that the lease has expired anyway and the reaper gives the job to another worker."""
        return await retry_during_outage_async(functools.partial(write, *args), max(2 * self.settings.lease_s, 30))

    def _load(self, claim: ledger.Claim) -> tuple[bytes, GradingContext]:
        with self.factory() as session:
            spec = get_spec(session, claim.lab_id)
            stored = {a.kind: artifact_content(a) for a in session.scalars(select(Artifact).where(
                Artifact.submission_id == claim.submission_id,
                Artifact.kind.in_([ArtifactKind.SUBMITTED_NOTEBOOK.value, ArtifactKind.SUBMITTED_FILES.value])))}
        notebook = stored.get(ArtifactKind.SUBMITTED_NOTEBOOK.value)
        stored_files = stored.get(ArtifactKind.SUBMITTED_FILES.value)
        if notebook is None:
            raise InfrastructureError(f"submission {claim.submission_id} has no stored notebook")
        # checked on upload; a bundle stored under older, looser limits is read with no limit of its own
        files = unbundle(stored_files, FileLimits(max_files=10**6, max_total_bytes=2**62)) if stored_files else ()
        return notebook, dataclasses.replace(self.settings.grading_context(spec), files=files)

    def job_slot(self, slot: Slot) -> Slot:
        """`slot` as its jobs' kernels get it: with its share of the cores (warm kernels are started with exactly
        this, see `grader.kernel.warm_pool`)."""
        threads = max(1, (os.cpu_count() or 1) // max(1, self.settings.jobs))
        return dataclasses.replace(slot, cpu_threads=threads)

    def job_environment(self, slot: Slot) -> dict[str, str]:
        """What a job's kernel on `slot` gets in its environment: the slot's devices and its share of the cores."""
        return self.job_slot(slot).environment()

    async def _grade(self, claim: ledger.Claim, slot: Slot) -> GradingOutcome:
        notebook, ctx = await asyncio.to_thread(self._load, claim)
        env = self.job_environment(slot)
        ctx = dataclasses.replace(ctx, slot=slot.index, extra_env=env, devices=slot.devices(),
                                  device_label=slot.device_label)
        try:
            nb = parse_notebook(notebook, max(len(notebook), self.settings.max_upload_bytes))
        except NotebookInvalid as exc:
            checks = [(c.id, c.title, c.points) for c in ctx.spec.checks]
            report = refused_report(ctx.spec.id, checks, str(exc))
            return GradingOutcome(report=report, executed_notebook=notebook)
        return await (self.kernels.grade if self.kernels is not None else grade_notebook)(nb, ctx)
