"""Warm sandboxed kernels: started ahead of demand, each used for exactly one submission, then destroyed.

A warm kernel is prepared by the same code as a cold one (`grader.sandbox.job.prepare_job`: its own job directory
and tmpfs, its own cgroups, the argv of `kernel_command.kernel_argv`) under its own host-wide uid lease, started, given
the private set-up cell (`in_kernel.startup_source`) and, optionally, the lab's frameworks imported. No student code has
run in it. `grader.pipeline.WarmKernelPool.grade` hands it to exactly one job; the job's end (`PreparedJob.end`) kills
it and removes its directory, cgroups and uid, exactly as for a cold kernel, and the pool starts a fresh one for that
slot.

The lab's visible data is copied into `./data` when the kernel is taken (a warm kernel does not know its lab yet);
the directory exists from the start so the set-up cell puts it on `sys.path`, and the first private cell of the job
refreshes the import caches. The pool keeps at most one warm kernel per slot, and starts one only while the host has
memory for it and for a job growing to its limit.

Errors: a warm kernel that fails to start is logged and the job starts a cold kernel instead (`InfrastructureError`
from the cold start then reaches the worker as usual).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from grader.errors import InfrastructureError, KernelStartFailed
from grader.evaluation.in_kernel import startup_source
from grader.kernel.driver_handle import KernelDriver, start_driver
from grader.kernel.kernel_process import SandboxKernelManager, sandbox_kernel_manager, start_kernel
from grader.kernel.slot import KernelSlot
from grader.kernel.stderr_tail import StderrTail
from grader.sandbox.isolation import IsolationMode, SandboxConfig, require_isolation
from grader.sandbox.job import PreparedJob, prepare_job
from grader.sandbox.uid_lease import lease_uid

log = logging.getLogger("labgrader.warm_pool")

# modules imported ahead for each framework a lab spec names (`frameworks = ["torch", "tensorflow"]`)
FRAMEWORK_MODULES: dict[str, tuple[str, ...]] = {"torch": ("torch",), "tensorflow": ("tensorflow", "keras")}
# what a warm kernel holds until the first one is measured (MB; on the development VM a bare warm kernel's cgroup
# held 43 MB, one with torch and tensorflow imported 434 MB)
BASE_KERNEL_MB = 60
FRAMEWORK_MB: dict[str, int] = {"torch": 200, "tensorflow": 350}
# the job's first private cell: files copied into ./data after the kernel started must be importable
TAKE_CODE = "__import__('importlib').invalidate_caches()\n"
# warm kernels lease uids after the slots' own ones, so a running job and its slot's next kernel never share one
UID_OFFSET = 256


def _preload_code(modules: Sequence[str]) -> str:
    """Import the modules (the set-up cell's hooks seed them), then re-seed what imports may have consumed."""
    return (
        "def __labgrader_preload():\n"
        "    import importlib, random\n"
        f"    for name in {list(modules)!r}:\n"
        "        try:\n"
        "            importlib.import_module(name)\n"
        "        except Exception:\n"
        "            pass\n"
        "    random.seed(0)\n"
        "    try:\n"
        "        importlib.import_module('numpy').random.seed(0)\n"
        "    except ImportError:\n"
        "        pass\n"
        "__labgrader_preload()\n"
        "del __labgrader_preload\n"
    )


class JobPlacement(Protocol):
    """Where and how a job runs (`grader.pipeline.GradingContext`): a warm kernel serves it only when prepared alike."""

    @property
    def slot(self) -> int: ...
    @property
    def extra_env(self) -> dict[str, str]: ...
    @property
    def devices(self) -> tuple[str, ...]: ...
    @property
    def sandbox(self) -> SandboxConfig: ...
    @property
    def jobs_root(self) -> Path: ...


@dataclass
class WarmKernel:
    """A started, set-up kernel in its own prepared job; no student code has run in it."""

    job: PreparedJob
    kernel_manager: SandboxKernelManager
    driver: KernelDriver | None  # the job's kernel driver, connected once the kernel started; handed to the job
    slot: int
    extra_env: dict[str, str]
    devices: tuple[str, ...]
    config: SandboxConfig
    jobs_root: Path
    frameworks: tuple[str, ...]
    ready_s: float
    memory_mb: float
    setup_code: str = TAKE_CODE
    # the end of the kernel's stderr (16 kB, drained by a thread for the kernel's whole life), as a cold kernel keeps
    stderr: StderrTail = field(default_factory=StderrTail, repr=False)
    _uid_lease: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)
    _ended: bool = False

    def suits(self, ctx: JobPlacement) -> bool:
        """Whether this kernel was prepared exactly as a cold one for `ctx` would be."""
        return (ctx.slot == self.slot and ctx.extra_env == self.extra_env and ctx.devices == self.devices
                and ctx.sandbox == self.config and ctx.jobs_root == self.jobs_root)

    async def alive(self) -> bool:
        return bool(await self.kernel_manager.is_alive()) and self.driver is not None \
            and self.driver.process.returncode is None

    def take_driver(self) -> KernelDriver | None:
        """The driver, handed to the job that grades in this kernel (which closes it)."""
        driver, self.driver = self.driver, None
        return driver

    def end(self) -> None:
        """Kill the kernel and its driver, remove its job directory and cgroups, give its uid back (idempotent)."""
        if self._ended:
            return
        self._ended = True
        try:
            self.job.end()  # every process of the job's cgroups, the driver included
        finally:
            self.stderr.close_writer()  # the drain ends with the kernel, whose copy of the pipe closed with it
            self._uid_lease.close()


def _memory_usage_mb(job: PreparedJob) -> float:
    """The job's memory cgroup usage (0 where the host has no memory cgroup)."""
    group = job.cgroup.memory
    if group is None:
        return 0.0
    try:
        return int((group / "memory.usage_in_bytes").read_text()) / 2**20
    except (OSError, ValueError):
        return 0.0


def available_memory_mb(meminfo: Path = Path("/proc/meminfo")) -> float:
    """MemAvailable of this host in MB."""
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _run_private(driver: KernelDriver, code: str, timeout_s: float) -> None:
    error = await driver.private(code, timeout_s)
    if error:
        raise InfrastructureError(f"a warm kernel's set-up failed: {error}")


async def start_warm_kernel(config: SandboxConfig, jobs_root: Path, slot: KernelSlot,
                            frameworks: Sequence[str] = (), startup_timeout_s: float = 120) -> WarmKernel:
    """Prepare a job exactly as a cold one, start its kernel, run the set-up cell and import `frameworks`."""
    started = time.monotonic()
    isolation = require_isolation(config)
    lease = contextlib.ExitStack()
    uid: int | None = None
    if isolation.mode is IsolationMode.BUBBLEWRAP:
        uid = lease.enter_context(lease_uid(config.uid_base, UID_OFFSET + slot.index))
    env, devices = slot.environment(), slot.devices()
    try:
        job = prepare_job(config, isolation, jobs_root, uid, env, devices)  # in the loop: a cancel cannot leak it
    except BaseException:
        lease.close()
        raise
    km = sandbox_kernel_manager(job.dirs.work, job.kernel_dirs, uid)
    warm = WarmKernel(job=job, kernel_manager=km, driver=None, slot=slot.index, extra_env=env, devices=devices,
                      config=config, jobs_root=jobs_root, frameworks=tuple(frameworks), ready_s=0.0, memory_mb=0.0,
                      _uid_lease=lease)
    try:
        await start_kernel(km, job.env, job.dirs.work, warm.stderr.write_fd)
        warm.stderr.close_writer()
        driver = warm.driver = await start_driver(list(job.driver_argv), km, job.dirs.work, startup_timeout_s,
                                                  job.cgroup.death_reason, job.cgroup.cpu_usage_file(),
                                                  job.cgroup.threads)
        await _run_private(driver, startup_source(), startup_timeout_s)
        modules = [m for name in frameworks for m in FRAMEWORK_MODULES.get(name, (name,))]
        if modules:
            await _run_private(driver, _preload_code(modules), startup_timeout_s)
    except BaseException as exc:
        if warm.driver is not None:
            await warm.driver.close()
        warm.end()
        if isinstance(exc, RuntimeError | TimeoutError | InfrastructureError):
            # as a cold kernel's: the end of what the kernel printed says why (a broken environment, a crash)
            tail = await asyncio.to_thread(warm.stderr.text)
            last = " | ".join(tail.strip().splitlines()[-3:])[-300:]
            raise KernelStartFailed(f"a warm kernel did not start: {exc}" + (f" (its stderr ends: {last})" if last
                                                                            else ""), tail) from exc
        raise
    warm.ready_s = time.monotonic() - started
    warm.memory_mb = _memory_usage_mb(job)
    return warm


@dataclass
class PoolStats:
    """What the pool did: jobs that got a warm kernel, jobs that started cold, kernels thrown away unused."""

    warm_jobs: int = 0
    cold_jobs: int = 0
    discarded: int = 0
    skipped_for_memory: int = 0
    ready_s: list[float] = field(default_factory=list)


class WarmKernels:
    """At most one warm kernel per slot (`size` slots, by default all), started while the host has memory for it.

    A slot's next kernel is warmed only once the slot has been idle for `idle_grace_s`: under a backlog the next job
    follows at once and starts cold, so warming never competes with the jobs for the cores (it cannot make a busy
    worker faster: it moves the start-up work into idle time). Call `start()` inside the event loop that grades,
    `take()` per job (`grader.pipeline.WarmKernelPool.grade` does), `close()` at shutdown.
    """

    def __init__(self, config: SandboxConfig, jobs_root: Path, slots: Sequence[KernelSlot],
                 frameworks: Sequence[str] = (), size: int | None = None, reserve_mb: float | None = None,
                 idle_grace_s: float = 2.0) -> None:
        self.config = config
        self.jobs_root = jobs_root
        self.frameworks = tuple(dict.fromkeys(frameworks))
        self._slots = {s.index: s for s in slots}
        self.size = len(self._slots) if size is None else max(0, min(size, len(self._slots)))
        self._warm_slots = set(list(self._slots)[: self.size])
        # a warm kernel may only use memory a running job could not need: keep one job's limit free
        self.reserve_mb = config.limits.memory_limit_mb if reserve_mb is None else reserve_mb
        self.expected_mb = float(BASE_KERNEL_MB + sum(FRAMEWORK_MB.get(f, 0) for f in self.frameworks))
        self._measured_mb = 0.0  # the largest warm kernel so far replaces the estimate
        self.idle_grace_s = idle_grace_s
        self._warming: dict[int, asyncio.Task[WarmKernel | None]] = {}
        self._begun: set[int] = set()
        self._closed = False
        self.stats = PoolStats()

    def start(self) -> None:
        """Start a warm kernel for each pooled slot (in the background)."""
        for index in sorted(self._warm_slots):
            self._refill(index, delay_s=0)

    def _memory_allows(self) -> bool:
        return available_memory_mb() >= self.expected_mb + self.reserve_mb

    def _refill(self, index: int, delay_s: float | None = None) -> None:
        if self._closed or index not in self._warm_slots or index in self._warming:
            return
        delay_s = self.idle_grace_s if delay_s is None else delay_s
        self._warming[index] = asyncio.create_task(self._warm(index, delay_s), name=f"warm-kernel-{index}")

    async def _warm(self, index: int, delay_s: float) -> WarmKernel | None:
        """Wait out the idle grace, then start the slot's kernel (None: too little memory now)."""
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        if not self._memory_allows():
            self.stats.skipped_for_memory += 1
            log.info("not warming a kernel for slot %d: the host has too little free memory", index)
            return None
        self._begun.add(index)
        kernel = await start_warm_kernel(self.config, self.jobs_root, self._slots[index], self.frameworks)
        self._measured_mb = max(self._measured_mb, kernel.memory_mb)
        self.expected_mb = self._measured_mb or self.expected_mb
        self.stats.ready_s.append(kernel.ready_s)
        return kernel

    async def ready(self) -> None:
        """Wait until every warm kernel being started is ready (or failed)."""
        await asyncio.gather(*self._warming.values(), return_exceptions=True)

    async def take(self, ctx: JobPlacement) -> WarmKernel | None:
        """The slot's warm kernel (waiting for it if it is still starting), or None: the job starts cold."""
        task = self._warming.pop(ctx.slot, None)
        if task is None:
            return None
        if not task.done() and ctx.slot not in self._begun:
            task.cancel()  # the job came within the idle grace: nothing was started, the job starts cold
            return None
        self._begun.discard(ctx.slot)
        try:
            kernel = await task
        except Exception:
            log.warning("a warm kernel for slot %d failed to start; starting one cold", ctx.slot, exc_info=True)
            return None
        if kernel is None:
            return None
        if not kernel.suits(ctx) or not await kernel.alive():
            log.warning("discarding slot %d's warm kernel: it was started for another environment or died", ctx.slot)
            self.stats.discarded += 1
            await asyncio.to_thread(kernel.end)
            return None
        return kernel

    async def close(self) -> None:
        """Stop warming and destroy every unused warm kernel."""
        self._closed = True
        tasks = list(self._warming.values())
        self._warming.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                kernel = await task
                if kernel is not None:
                    await asyncio.to_thread(kernel.end)


def lab_frameworks(specs: Sequence[Any]) -> tuple[str, ...]:
    """The frameworks to import ahead: every framework any of the labs (`LabSpec`s) names, in order."""
    return tuple(dict.fromkeys(f for spec in specs for f in spec.frameworks))
