"""The clock the cell and notebook limits are counted in: the job's own CPU time (its cgroup's cpuacct counter), so a
grade does not depend on what else the worker was doing.

The root opens the job's `cpuacct.usage` read-only and hands the open descriptor to the job's kernel driver
(`open_for_driver`), which has no /sys of its own; the driver reads it (`CpuClock`) while a cell runs. A limit of
`cell_timeout_s` is `cell_timeout_s * share` CPU seconds, where the share is the job's cores (`cpu_cores`, else the
math threads its slot grants), with a wall-clock backstop `WALL_BACKSTOP_FACTOR` times larger for code that sleeps.
Without a cpuacct group (no cgroup v1 controller) the limits stay wall-clock, as the report says.

The backstop counts wall time minus the time the job waited, runnable, for a CPU behind other work (`WaitMeter`:
the root sums the run-queue wait, `/proc/<tid>/schedstat`, of the job cgroup's threads), so a starved job meets its
CPU-time limit, not the backstop, and only code that sleeps meets the backstop. A job starved below
1/`WALL_CEILING_FACTOR` of its share still stops at that many times its limit in plain wall-clock time. Where the
wait cannot be read (no schedstat), it counts as zero: the backstop is plain wall-clock time, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.kernel.limits import WALL_BACKSTOP_FACTOR, WALL_CEILING_FACTOR

POLL_S = 0.5  # how often the driver reads the counters while a cell runs
WAIT_SAMPLE_S = 0.25  # how often the root sums the job's run-queue wait


def open_for_driver(usage: Path | None, follow: bool = False) -> int | None:
    """A read-only descriptor (numbered 10 or above, above the launcher's) of the job's CPU counter; None if none.
    `follow`: the path may be a link (the root's own `/proc/self/fd/N`)."""
    if usage is None:
        return None
    try:
        opened = os.open(usage, os.O_RDONLY | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW))
    except OSError:
        return None
    try:
        return fcntl.fcntl(opened, fcntl.F_DUPFD_CLOEXEC, 10)
    finally:
        os.close(opened)


class CpuClock:
    """The driver's end: the job's CPU seconds so far, read from the descriptor the root passed."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def from_fd(cls, fd: object) -> CpuClock | None:
        """A clock on `fd` if it reads as a counter, else None (the limits stay wall-clock)."""
        if not isinstance(fd, int) or isinstance(fd, bool) or fd < 0:
            return None
        clock = cls(fd)
        return clock if clock.seconds() is not None else None

    def seconds(self) -> float | None:
        try:
            os.lseek(self.fd, 0, os.SEEK_SET)
            return int(os.read(self.fd, 64).split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            return None


class WaitClock(CpuClock):
    """The driver's end of the `WaitMeter`: seconds the job waited for a CPU so far. The root rewrites the number
    while it is read, so a reading counts only when two in a row agree."""

    def seconds(self) -> float | None:
        last = super().seconds()
        for _ in range(3):
            now = super().seconds()
            if now == last:
                return now
            last = now
        return None


def run_queue_wait_ns(tid: int) -> int | None:
    """How long thread `tid` has waited, runnable, for a CPU (nanoseconds, `/proc/<tid>/schedstat`); None if gone."""
    try:
        with open(f"/proc/{tid}/schedstat", "rb") as f:
            return int(f.read(128).split()[1])
    except (OSError, ValueError, IndexError):
        return None


class WaitMeter:
    """The root's end: the job's run-queue wait so far, as wall-clock nanoseconds, in a memory file whose read-only
    descriptor the driver gets (it cannot see the kernel's processes from its own PID namespace).

    Each sample adds the growth of every thread's run-queue wait since the last one (a thread first seen after the
    meter started counts whole: it was born since), but never more than the wall time between the samples: threads
    that wait together wait the same seconds, and only wall time that the job spent waiting is taken off its clock."""

    def __init__(self, threads: Callable[[], Iterable[int]]) -> None:
        self.threads = threads
        self.fd = os.memfd_create("labgrader-cpu-wait", os.MFD_CLOEXEC)
        self.waited_ns = 0
        self._seen: dict[int, int] = {}
        self._last: float | None = None
        self._write()

    def driver_fd(self) -> int | None:
        return open_for_driver(Path(f"/proc/self/fd/{self.fd}"), follow=True)

    def _write(self) -> None:
        os.pwrite(self.fd, f"{self.waited_ns:<23d}\n".encode(), 0)

    def _readings(self) -> dict[int, int]:
        try:
            tids = list(self.threads())
        except OSError:
            return {}
        return {tid: ns for tid in tids if (ns := run_queue_wait_ns(tid)) is not None}

    def sample(self) -> None:
        now, readings = time.monotonic(), self._readings()
        if self._last is None:  # the start: what the threads waited before does not count
            self._seen, self._last = readings, now
            return
        grown = sum(ns - self._seen.get(tid, 0) for tid, ns in readings.items() if ns >= self._seen.get(tid, 0))
        self.waited_ns += min(grown, int((now - self._last) * 1e9))
        self._seen.update(readings)
        self._last = now
        self._write()

    async def follow(self) -> None:
        """Sample until cancelled (the job's run)."""
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(WAIT_SAMPLE_S)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


@dataclass(frozen=True)
class Span:
    """Where a cell's or the notebook's time is counted from: the wall clock, the job's CPU time and its wait."""

    wall0: float
    cpu0: float | None
    wait0: float | None


@dataclass(frozen=True)
class Budget:
    """One run's limits in the clock it is counted in."""

    cell_timeout_s: float
    notebook_timeout_s: float
    share_cores: float
    clock: CpuClock | None
    wait: CpuClock | None = None  # the job's run-queue wait (`WaitMeter`); None: the backstop is plain wall time

    @property
    def cell_cpu_s(self) -> float:
        return self.cell_timeout_s * self.share_cores

    @property
    def notebook_cpu_s(self) -> float:
        return self.notebook_timeout_s * self.share_cores

    @property
    def factor(self) -> float:
        return WALL_BACKSTOP_FACTOR if self.clock is not None else 1.0

    @property
    def cell_wall_s(self) -> float:
        return self.cell_timeout_s * self.factor

    @property
    def notebook_wall_s(self) -> float:
        return self.notebook_timeout_s * self.factor

    @property
    def ceiling_factor(self) -> float:
        return WALL_CEILING_FACTOR if self.clock is not None else 1.0

    @property
    def cell_ceiling_s(self) -> float:
        """Plain wall-clock time after which a cell stops whatever it waited for (the limit itself without a clock)."""
        return self.cell_timeout_s * self.ceiling_factor

    @property
    def notebook_ceiling_s(self) -> float:
        return self.notebook_timeout_s * self.ceiling_factor

    def now(self) -> float | None:
        return self.clock.seconds() if self.clock is not None else None

    def start(self) -> Span:
        return Span(time.monotonic(), self.now(), self.wait.seconds() if self.wait is not None else None)

    def waited(self, span: Span) -> float | None:
        """Seconds of the span the job waited for a CPU (at most the span's wall time); None where not measured."""
        if self.wait is None or span.wait0 is None or (now := self.wait.seconds()) is None:
            return None
        return min(max(0.0, now - span.wait0), time.monotonic() - span.wall0)

    def active(self, span: Span) -> float:
        """The span's wall time less its wait for a CPU: what the backstop counts."""
        return time.monotonic() - span.wall0 - (self.waited(span) or 0.0)


def used(start: float | None, now: float | None) -> float | None:
    return None if start is None or now is None else max(0.0, now - start)


async def watch_cell(running: asyncio.Future[Any], budget: Budget, deadline: float, notebook: Span,
                     cell: Span) -> tuple[str, str] | None:
    """Wait for the cell; None when it ended, else (limit, clock) of what struck first: the job's CPU time over the
    cell's or the notebook's limit ("cpu"), their backstop in wall time less the wait for a CPU ("wall"), or the
    notebook's plain wall-clock `deadline` (its ceiling; without a CPU clock, its limit)."""
    loop = asyncio.get_running_loop()
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return "notebook", "wall"
        wait_s = min(remaining, POLL_S) if budget.clock is not None else remaining
        done, _ = await asyncio.wait({running}, timeout=wait_s)
        if done:
            return None
        now = budget.now()
        if (notebook_cpu := used(notebook.cpu0, now)) is not None and notebook_cpu >= budget.notebook_cpu_s:
            return "notebook", "cpu"
        if (cell_cpu := used(cell.cpu0, now)) is not None and cell_cpu >= budget.cell_cpu_s:
            return "cell", "cpu"
        if budget.clock is not None and budget.active(notebook) >= budget.notebook_wall_s:
            return "notebook", "wall"
        if budget.clock is not None and budget.active(cell) >= budget.cell_wall_s:
            return "cell", "wall"
