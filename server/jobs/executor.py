"""The embedded executor of `labgrader serve`: N job slots on a thread with its own event loop.

It claims jobs from the same ledger the Celery workers use, so a job survives a crash of the server: after a restart
the reaper re-queues whatever the dead process held once its lease expires, and the job is graded exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from server.db import SessionFactory
from server.settings import Settings

if TYPE_CHECKING:  # grader is imported lazily: the API process may run without the kernel libraries loaded
    from grader import LabSpec, Slot
    from server.jobs.runner import JobRunner

log = logging.getLogger("labgrader.executor")


def owner_is_dead(owner: str, me: str) -> bool:
    """True for a lease owner (`host:pid:label:nonce`) of this host whose process no longer exists."""
    if owner == me:
        return False
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True  # our own pid with another nonce: a predecessor that had this pid (e.g. pid 1 in a container)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def cpu_lab_ids(specs: Sequence[LabSpec]) -> frozenset[str] | None:
    """The labs the embedded executor's CPU slots may take: all but those with `needs_gpu = true` (None: all)."""
    gpu = sorted(spec.id for spec in specs if spec.needs_gpu)
    if not gpu:
        return None
    log.warning("lab(s) %s need a GPU: `labgrader serve` runs jobs on CPU slots only, so their submissions stay "
                "queued for a `labgrader worker --gpus ...` (LABGRADER_QUEUE=celery)", ", ".join(gpu))
    return frozenset(spec.id for spec in specs if not spec.needs_gpu)


def ready_lab_ids(settings: Settings, specs: Sequence[LabSpec],
                  allowed: frozenset[str] | None) -> frozenset[str] | None:
    """Of the labs `allowed` (None: all), those whose student environment is not being built (None: every lab): a
    lab whose environment is being built keeps its jobs queued instead of grading them with another interpreter."""
    from server.environments import not_ready_reason

    ready = {spec.id for spec in specs
             if (allowed is None or spec.id in allowed) and not not_ready_reason(settings, spec.environment)}
    if allowed is None and len(ready) == len(specs):
        return None
    return frozenset(ready)


class EmbeddedExecutor:
    def __init__(self, settings: Settings, factory: SessionFactory) -> None:
        self.settings = settings
        self.factory = factory
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="labgrader-executor", daemon=True)
        self._thread.start()
        ready.wait(timeout=30)

    def wake(self) -> None:
        """A job was queued: let an idle slot claim it now instead of at its next poll."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def stop(self, timeout_s: float = 30) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def _run(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main(ready))
        finally:
            self._loop.close()

    async def _main(self, ready: threading.Event) -> None:
        from grader import Slot, WarmKernelPool, discover_labs, lab_frameworks, sweep_abandoned_jobs
        from server.jobs.runner import JobRunner, new_owner_id

        self._wake, self._stop = asyncio.Event(), asyncio.Event()
        await asyncio.to_thread(sweep_abandoned_jobs, self.settings.sandbox_config(), self.settings.jobs_root)
        slots = [Slot(i) for i in range(self.settings.jobs)]
        runner = JobRunner(self.settings, self.factory, owner=new_owner_id("embedded"))
        specs = list(discover_labs(self.settings.labs_dir).values())
        cpu_labs = cpu_lab_ids(specs)
        kernels = None
        if self.settings.warm_kernels > 0:
            frameworks = lab_frameworks(specs)
            pool_slots = [runner.job_slot(s) for s in slots]
            kernels = runner.kernels = WarmKernelPool(
                self.settings.sandbox_config(), self.settings.jobs_root, pool_slots,
                frameworks if self.settings.warm_kernels_import_frameworks else (), size=self.settings.warm_kernels)
            kernels.start()
        ready.set()
        def claimable() -> frozenset[str] | None:
            return ready_lab_ids(self.settings, specs, cpu_labs)

        tasks = [asyncio.create_task(self._slot_loop(runner, slot, claimable)) for slot in slots]
        tasks.append(asyncio.create_task(self._reaper(runner.owner)))
        await self._stop.wait()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if kernels is not None:
            await kernels.close()

    async def _slot_loop(self, runner: JobRunner, slot: Slot,
                         lab_ids: Callable[[], frozenset[str] | None]) -> None:
        assert self._wake is not None
        while True:
            try:
                found = await runner.run_next(slot, lab_ids=await asyncio.to_thread(lab_ids))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("slot %s: claiming or grading failed; retrying shortly", slot.index)
                found = False
                await asyncio.sleep(self.settings.poll_interval_s * 4)
            if not found:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_interval_s)

    async def _reaper(self, me: str) -> None:
        from server.jobs import ledger

        dead = [o for o in await asyncio.to_thread(ledger.running_owners, self.factory) if owner_is_dead(o, me)]
        if dead:
            log.warning("jobs of dead processes on this host will be re-queued now: %s", dead)
            await asyncio.to_thread(ledger.expire_leases_of, self.factory, dead)
        while True:
            try:
                reaped = await asyncio.to_thread(ledger.reap_expired, self.factory, self.settings.max_attempts)
                if reaped:
                    log.warning("re-queued jobs whose worker stopped renewing its lease: %s", reaped)
                    self.wake()
            except Exception:
                log.exception("the lease reaper failed; retrying")
            await asyncio.sleep(max(0.5, self.settings.lease_s / 3))
