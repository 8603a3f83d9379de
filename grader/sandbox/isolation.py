"""What isolation this host gives student code, and the refusal to run it without isolation (fail closed).

The kernel process tree (built by `grader.sandbox.kernel_command`) is: sh (enters the job's cgroups, then execs) ->
bwrap (own network, pid, ipc and uts namespaces; a root filesystem holding only the system libraries, the kernel's
Python, size-capped tmpfs /tmp and /dev/shm, and the job's work directory) -> prlimit -> setpriv (drop to the slot's
uid, no capabilities, no_new_privs) -> python -m ipykernel_launcher. Ending bwrap ends the pid namespace and with it
every process the student started; the job's cgroups and a sweep of the slot uid's processes make sure of it.
Without bubblewrap, student code runs only if `allow_unsandboxed` says so (development).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from grader.errors import SandboxUnavailable
from grader.sandbox import cgroups, jobdir, seccomp


class IsolationMode(StrEnum):
    BUBBLEWRAP = "bubblewrap"
    NONE = "none"


class MemoryLimitMechanism(StrEnum):
    CGROUP = "cgroup v1 memory controller (memory+swap)"
    CGROUP_NO_SWAP = "cgroup v1 memory controller (no swap accounting)"
    ADDRESS_SPACE = "address-space rlimit"


DEFAULT_UID_BASE = 61000  # sandbox uids are [base, base + uid_lease.UID_RANGE)


class SandboxLimits(BaseModel):
    """Per-job resource limits; each name carries its unit. Defined only here: the service's settings are these
    fields (`LABGRADER_MEMORY_LIMIT_MB`, ...; `server.settings.Settings` inherits them), bounds included."""

    model_config = ConfigDict(frozen=True)

    memory_limit_mb: int = Field(default=6144, ge=256)
    max_processes: int = Field(default=512, ge=16)
    file_size_limit_mb: int = Field(default=512, ge=1)
    open_files: int = Field(default=1024, ge=64)
    cpu_time_s: int = Field(default=3600, ge=10)
    work_dir_limit_mb: int = Field(default=2048, ge=16)
    tmp_limit_mb: int = Field(default=256, ge=1)
    shm_limit_mb: int = Field(default=64, ge=1)
    cpu_cores: float = Field(default=0, ge=0)  # 0: no CPU-share cap (CPU time is still limited by cpu_time_s)
    # the evaluator that rebuilds exported networks outside the kernel (its own cgroup; capped by memory_limit_mb)
    evaluator_memory_limit_mb: int = Field(default=1536, ge=256)

    def limits(self) -> SandboxLimits:
        """Just the limits (of the service's settings, which are more than them)."""
        return SandboxLimits(**{name: getattr(self, name) for name in SandboxLimits.model_fields})


@dataclass(frozen=True)
class SandboxTools:
    """Paths of the programs the sandbox is built from (a missing one means no isolation)."""

    bwrap: str = "/usr/bin/bwrap"
    setpriv: str = "/usr/bin/setpriv"
    prlimit: str = "/usr/bin/prlimit"


@dataclass(frozen=True)
class SandboxConfig:
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    uid_base: int = DEFAULT_UID_BASE
    allow_unsandboxed: bool = False
    kernel_python: str = sys.executable
    tools: SandboxTools = field(default_factory=SandboxTools)
    cgroup_root: Path = cgroups.DEFAULT_ROOT
    cgroup_parent: str = cgroups.PARENT  # one per worker installation; jobs are groups below it

    def __post_init__(self) -> None:
        # the sandbox mounts the interpreter's venv at its real path, so a link among the folders above `bin/python`
        # (a student environment's `NAME -> NAME@STAMP`) would not exist inside it: those folders are resolved here.
        # `bin/python` itself stays as it is (a venv is found beside the path that started it, not the base binary)
        if os.path.isabs(self.kernel_python):
            folder, name = os.path.split(self.kernel_python)
            object.__setattr__(self, "kernel_python", os.path.join(os.path.realpath(folder), name))


@dataclass(frozen=True)
class Isolation:
    """What this host enforces; `/healthz` and every report show `detail`."""

    mode: IsolationMode
    detail: str
    allowed: bool
    memory: MemoryLimitMechanism = MemoryLimitMechanism.ADDRESS_SPACE
    cgroups: cgroups.CgroupSupport = field(default_factory=lambda: cgroups.CgroupSupport(False, False, False, False))
    work_tmpfs: bool = False
    bwrap_version: str = ""
    seccomp: bool = False  # the kernel and the driver run under `grader.sandbox.seccomp`'s filter

    @property
    def runs_student_code(self) -> bool:
        return self.allowed


def _bwrap_problem(tools: SandboxTools) -> str | None:
    if os.geteuid() != 0:
        return "the worker does not run as root, so it cannot switch student code to an unprivileged uid"
    for tool in (tools.bwrap, tools.setpriv, tools.prlimit):
        if not os.access(tool, os.X_OK):
            return f"{tool} is not installed"
    try:
        proc = subprocess.run(
            [tools.bwrap, "--unshare-net", "--unshare-pid", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin",
             "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--proc", "/proc",
             "--dev", "/dev", "--", tools.setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
             "--no-new-privs", "/bin/true"],
            capture_output=True, text=True, timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap failed to start: {exc}"
    if proc.returncode != 0:
        return f"bubblewrap cannot create namespaces here: {proc.stderr.strip()[:200]}"
    return None


def _seccomp_works(tools: SandboxTools) -> bool:
    """bubblewrap loads the filter, and under it a process still runs but cannot make a user namespace."""
    program = seccomp.filter_program()
    if program is None:
        return False
    sandbox = [tools.bwrap, "--unshare-net", "--unshare-pid", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin",
               "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev",
               "/dev", "--seccomp", "3", "--", tools.setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
               "--no-new-privs"]
    with tempfile.TemporaryDirectory(prefix="labgrader-seccomp-") as probe:
        path = Path(probe) / "filter.bpf"
        path.write_bytes(program)
        codes = []
        for command in (["/bin/true"], ["/usr/bin/unshare", "--user", "/bin/true"]):
            try:
                codes.append(subprocess.run(["/bin/sh", "-c", 'exec 3< "$0" && exec "$@"', str(path), *sandbox,
                                             *command], capture_output=True, timeout=20).returncode)
            except (OSError, subprocess.TimeoutExpired):
                return False
    return codes[0] == 0 and codes[1] != 0


def _bwrap_version(bwrap: str) -> str:
    try:
        return subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return ""


def _tmpfs_works() -> bool:
    with tempfile.TemporaryDirectory(prefix="labgrader-probe-") as probe:
        if not jobdir.mount_tmpfs(Path(probe), 1, None):
            return False
        jobdir.unmount(Path(probe))
        return True


def _memory_mechanism(support: cgroups.CgroupSupport) -> MemoryLimitMechanism:
    if not support.memory:
        return MemoryLimitMechanism.ADDRESS_SPACE
    return MemoryLimitMechanism.CGROUP if support.memory_swap else MemoryLimitMechanism.CGROUP_NO_SWAP


def _describe(config: SandboxConfig, version: str, memory: MemoryLimitMechanism,
              support: cgroups.CgroupSupport, work_tmpfs: bool) -> str:
    limits = config.limits
    pids = "cgroup v1 pids + RLIMIT_NPROC" if support.pids else "RLIMIT_NPROC"
    work = f"{limits.work_dir_limit_mb} MB tmpfs" if work_tmpfs else "host directory (file-size rlimit only)"
    cpu = f"; CPU share {limits.cpu_cores:g} cores by cgroup v1 cpu" if support.cpu and limits.cpu_cores > 0 else ""
    cpu += ("; cell and notebook limits in the job's CPU time (cgroup v1 cpuacct)" if support.cpuacct
            else "; cell and notebook limits in wall-clock time (no cgroup v1 cpuacct)")
    return (
        f"{version or 'bubblewrap'}: own network, pid, ipc and uts namespaces; unprivileged uid per slot, "
        f"no capabilities, no_new_privs; memory {limits.memory_limit_mb} MB by {memory}; "
        f"processes {limits.max_processes} by {pids}; rlimits on file size ({limits.file_size_limit_mb} MB), "
        f"open files ({limits.open_files}) and CPU ({limits.cpu_time_s} s); work dir {work}; "
        f"/tmp {limits.tmp_limit_mb} MB and /dev/shm {limits.shm_limit_mb} MB tmpfs{cpu}"
    )


@cache
def probe_isolation(config: SandboxConfig) -> Isolation:
    """Find out once per configuration what isolation this host provides (what `/healthz` should report)."""
    problem = _bwrap_problem(config.tools)
    if problem is not None:
        if config.allow_unsandboxed:
            return Isolation(IsolationMode.NONE, f"unsandboxed (development setting): {problem}", allowed=True)
        return Isolation(IsolationMode.NONE, f"refusing to run student code: {problem}", allowed=False)
    support = cgroups.probe_cgroups(config.cgroup_root, config.cgroup_parent)
    memory = _memory_mechanism(support)
    version = _bwrap_version(config.tools.bwrap)
    work_tmpfs = _tmpfs_works()
    filtered = _seccomp_works(config.tools)
    detail = _describe(config, version, memory, support, work_tmpfs)
    detail += "; " + (seccomp.describe() if filtered else "no seccomp filter (bubblewrap could not load it)")
    return Isolation(IsolationMode.BUBBLEWRAP, detail, allowed=True, memory=memory, cgroups=support,
                     work_tmpfs=work_tmpfs, bwrap_version=version, seccomp=filtered)


def require_isolation(config: SandboxConfig) -> Isolation:
    """The isolation in force, or SandboxUnavailable when student code must not run on this host."""
    isolation = probe_isolation(config)
    if not isolation.runs_student_code:
        raise SandboxUnavailable(
            f"{isolation.detail}. Install bubblewrap and run the worker as root, or set "
            "LABGRADER_ALLOW_UNSANDBOXED=true on a development machine"
        )
    return isolation


def slot_uid(config: SandboxConfig, slot: int) -> int:
    return config.uid_base + slot


def cpu_share_cores(limits: SandboxLimits, job_env: dict[str, str]) -> float:
    """The job's share of the worker's cores: `cpu_cores` where set, else the math threads its slot grants
    (`LABGRADER_CPU_THREADS`, the worker's cores divided by its jobs; 1 for `labgrader grade`)."""
    if limits.cpu_cores > 0:
        return limits.cpu_cores
    try:
        return max(1.0, float(job_env.get("LABGRADER_CPU_THREADS", "1")))
    except ValueError:
        return 1.0


def job_cgroup(config: SandboxConfig, isolation: Isolation, job_key: str,
               share_cores: float = 1.0) -> cgroups.JobCgroup:
    """The job's cgroups (possibly none of them, where the host has no writable controllers)."""
    limits = config.limits
    return cgroups.JobCgroup.create(isolation.cgroups, job_key, limits.memory_limit_mb, limits.max_processes,
                                    limits.cpu_cores, config.cgroup_root, config.cgroup_parent, share_cores)
