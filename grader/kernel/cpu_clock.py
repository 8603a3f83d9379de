"""The clock the cell and notebook limits are counted in: the job's own CPU time (its cgroup's cpuacct counter), so a
grade does not depend on what else the worker was doing.

The root opens the job's `cpuacct.usage` read-only and hands the open descriptor to the job's kernel driver
(`open_for_driver`), which has no /sys of its own; the driver reads it (`CpuClock`) while a cell runs. A limit of
`cell_timeout_s` is `cell_timeout_s * share` CPU seconds, where the share is the job's cores (`cpu_cores`, else the
math threads its slot grants), with a wall-clock backstop `WALL_BACKSTOP_FACTOR` times larger for code that sleeps.
Without a cpuacct group (no cgroup v1 controller) the limits stay wall-clock, as the report says.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from grader.kernel.limits import WALL_BACKSTOP_FACTOR

POLL_S = 0.5  # how often the driver reads the counter while a cell runs


def open_for_driver(usage: Path | None) -> int | None:
    """A read-only descriptor (numbered 10 or above, above the launcher's) of the job's CPU counter; None if none."""
    if usage is None:
        return None
    try:
        opened = os.open(usage, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
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


@dataclass(frozen=True)
class Budget:
    """One run's limits in the clock it is counted in."""

    cell_timeout_s: float
    notebook_timeout_s: float
    share_cores: float
    clock: CpuClock | None

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

    def now(self) -> float | None:
        return self.clock.seconds() if self.clock is not None else None


def used(start: float | None, now: float | None) -> float | None:
    return None if start is None or now is None else max(0.0, now - start)


async def watch_cell(running: asyncio.Future[Any], budget: Budget, deadline: float, notebook_cpu0: float | None,
                     cell_cpu0: float | None) -> tuple[Literal["cell", "notebook"], Literal["cpu", "wall"]] | None:
    """Wait for the cell; None when it ended, else (limit, clock) of what struck first: the job's CPU time over the
    cell's or the notebook's limit, or the notebook's wall-clock backstop."""
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
        if (notebook := used(notebook_cpu0, now)) is not None and notebook >= budget.notebook_cpu_s:
            return "notebook", "cpu"
        if (cell := used(cell_cpu0, now)) is not None and cell >= budget.cell_cpu_s:
            return "cell", "cpu"
