"""Per-job cgroups (v1 memory, pids, cpu and cpuacct controllers): memory + swap, process and CPU-share limits, the
job's own CPU time, and a way to end every process of a job.

A job's kernel enters its cgroups before bubblewrap starts (see `enter_command`), so every process the student
starts is charged to them. `memory.memsw.limit_in_bytes` equals `memory.limit_in_bytes`, so swap buys nothing.
Where the hierarchy is missing or read-only the sandbox falls back to rlimits and says so in the report.

CPU: every job's cpu group gets `cpu.shares` in proportion to its share of the cores (and the worker's parent group
1024 per core), so under contention each slot still gets its share; `cpu_cores` > 0 also caps it with a CFS quota.
The cpuacct group counts the job's own CPU time, which the cell and notebook limits are measured in
(`grader.kernel.cpu_clock`). Only cgroup v1 is supported (as for memory and pids); on a v2-only host the limits fall
back to wall-clock time and the report says so.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import signal
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = Path("/sys/fs/cgroup")
PARENT = "labgrader"


@dataclass(frozen=True)
class CgroupSupport:
    """Which v1 controllers this host lets the worker create groups in."""

    memory: bool
    memory_swap: bool
    pids: bool
    cpu: bool = False
    cpuacct: bool = False


def _writable_parent(root: Path, controller: str, parent_name: str) -> Path | None:
    base = root / controller
    if not (base / "cgroup.procs").is_file():
        return None
    parent = base / parent_name
    try:
        parent.mkdir(exist_ok=True)
    except OSError:
        return None
    return parent if os.access(parent / "cgroup.procs", os.W_OK) else None


def probe_cgroups(root: Path = DEFAULT_ROOT, parent: str = PARENT) -> CgroupSupport:
    """Find the v1 controllers under `root` in which this process may create per-job groups (under `parent`)."""
    memory = _writable_parent(root, "memory", parent)
    pids = _writable_parent(root, "pids", parent)
    cpu = _writable_parent(root, "cpu", parent)
    cpuacct = _writable_parent(root, "cpuacct", parent)
    swap = memory is not None and (memory / "memory.memsw.limit_in_bytes").is_file()
    if cpu is not None:  # the worker's jobs together weigh as much as every core (against the host's other tasks)
        with contextlib.suppress(OSError):
            _write(cpu / "cpu.shares", str(1024 * (os.cpu_count() or 1)))
    return CgroupSupport(memory=memory is not None, memory_swap=swap, pids=pids is not None, cpu=cpu is not None,
                         cpuacct=cpuacct is not None and (cpuacct / "cpuacct.usage").is_file())


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _read_counter(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


@dataclass(frozen=True)
class JobCgroup:
    """One job's groups; a group is None where the host lacks that controller (or no CPU limit is asked for)."""

    memory: Path | None
    pids: Path | None
    cpu: Path | None
    memory_limit_mb: int
    max_processes: int
    cpuacct: Path | None = None  # the same directory as `cpu` where the host mounts cpu,cpuacct together
    cpu_share_cores: float = 1.0  # the job's share of the worker's cores: its limits are CPU seconds at this rate

    @classmethod
    def create(cls, support: CgroupSupport, name: str, memory_limit_mb: int, max_processes: int,
               cpu_cores: float = 0, root: Path = DEFAULT_ROOT, parent: str = PARENT,
               cpu_share_cores: float = 1.0) -> JobCgroup:
        """Create the job's groups; `cpu_cores` > 0 caps the job at that many cores' worth of CPU time, and
        `cpu_share_cores` is its guaranteed share under contention (`cpu.shares`, 1024 per core)."""
        memory = pids = cpu = cpuacct = None
        if support.memory:
            memory = root / "memory" / parent / name
            memory.mkdir()
            limit = str(memory_limit_mb * 1024 * 1024)
            _write(memory / "memory.limit_in_bytes", limit)
            if support.memory_swap:
                _write(memory / "memory.memsw.limit_in_bytes", limit)
        if support.pids:
            pids = root / "pids" / parent / name
            pids.mkdir()
            _write(pids / "pids.max", str(max_processes))
        if support.cpu:
            cpu = root / "cpu" / parent / name
            cpu.mkdir()
            _write(cpu / "cpu.shares", str(max(2, int(1024 * cpu_share_cores))))
            if cpu_cores > 0:
                period_us = int((cpu / "cpu.cfs_period_us").read_text())
                _write(cpu / "cpu.cfs_quota_us", str(int(period_us * cpu_cores)))
        if support.cpuacct:
            cpuacct = root / "cpuacct" / parent / name
            if cpu is not None and cpuacct.resolve() == cpu.resolve():
                cpuacct = cpu  # one hierarchy for both controllers: the directory exists already
            else:
                cpuacct.mkdir()
        return cls(memory, pids, cpu, memory_limit_mb, max_processes, cpuacct, cpu_share_cores)

    def groups(self) -> list[Path]:
        found: list[Path] = []
        for group in (self.memory, self.pids, self.cpu, self.cpuacct):
            if group is not None and group not in found:
                found.append(group)
        return found

    def cpu_usage_file(self) -> Path | None:
        """The counter of the job's CPU time in nanoseconds (every process of the job, all cores), if any."""
        return self.cpuacct / "cpuacct.usage" if self.cpuacct is not None else None

    def cpu_seconds(self) -> float | None:
        """The CPU time every process of the job used so far; None without a cpuacct group."""
        path = self.cpu_usage_file()
        if path is None:
            return None
        try:
            return int(path.read_text()) / 1e9
        except (OSError, ValueError):
            return None

    def enter_command(self) -> list[str]:
        """An argv prefix that moves the starting process into the job's groups, then execs the rest of the argv."""
        if not self.groups():
            return []
        script = " && ".join(f"echo $$ > {shlex.quote(str(g / 'cgroup.procs'))}" for g in self.groups())
        return ["/bin/sh", "-c", f'{script} && exec "$@"', "labgrader-enter-cgroup"]

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer ended in this job (0 without a memory group)."""
        if self.memory is None:
            return 0
        return _read_counter(self.memory / "memory.oom_control", "oom_kill")

    def fork_refusals(self) -> int:
        """How many times a fork was refused because the job reached its process limit."""
        if self.pids is None:
            return 0
        return _read_counter(self.pids / "pids.events", "max")

    def death_reason(self) -> str:
        """Why the job's kernel most likely died, from the groups' counters; empty when they show nothing."""
        if self.oom_kills() > 0:
            return f"it used more than its {self.memory_limit_mb} MB memory limit"
        if self.fork_refusals() > 0:
            return f"it reached its limit of {self.max_processes} processes"
        return ""

    def processes(self) -> set[int]:
        found: set[int] = set()
        for group in self.groups():
            try:
                found.update(int(p) for p in (group / "cgroup.procs").read_text().split())
            except OSError:
                continue
        return found

    def threads(self) -> list[int]:
        """Every thread of the job (host thread ids), from one of its groups; [] without any."""
        for group in self.groups():
            with contextlib.suppress(OSError, ValueError):
                return [int(t) for t in (group / "tasks").read_text().split()]
        return []

    def kill_all(self, timeout_s: float = 10.0) -> int:
        """SIGKILL every process in the groups until none is left; return how many were killed."""
        killed: set[int] = set()
        deadline = time.monotonic() + timeout_s
        while (pids := self.processes()) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
                except ProcessLookupError:
                    continue
            time.sleep(0.05)
        return len(killed)

    def remove(self) -> None:
        """Kill what is left and delete the groups (a group can only be removed once it is empty)."""
        self.kill_all()
        for group in self.groups():
            for _ in range(100):
                try:
                    group.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        raise
                    time.sleep(0.05)
