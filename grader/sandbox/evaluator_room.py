"""Where the clean evaluator (`python -m grader.evaluation`) runs: a sandbox of its own, as a uid of its own.

The evaluator parses the kernel's export, which is untrusted, so it gets the walls a kernel gets and fewer doors:
- its own uid, leased like a slot's uid (preferring `uid_base + UID_OFFSET + slot`): never the uid of the job's
  kernel, nor of any other live process of the sandbox (leases are exclusive). The hidden inputs lie in `inputs`
  (root:evaluator-uid, 0750): the kernel's uid cannot open them whether or not a process of the kernel is still
  alive, and the kernel's mount namespace never held the job's root;
- bubblewrap with its own network, pid, ipc and uts namespaces; of the host only the system libraries, the service's
  Python, this package (read-only), `inputs` (read-only) and `outputs` (the only writable place, for its result);
- the sandbox's seccomp filter with `socket` and `socketpair` denied too: it opens no socket at all;
- its own cgroup (`<job>-evaluator`): at most `evaluator_memory_limit_mb` of memory and `EVALUATOR_MAX_PROCESSES`
  processes; an rlimit on CPU time and the caller's wall-clock timeout.
Where bubblewrap is missing (`allow_unsandboxed`, development) it runs as the service's uid with the rlimits and, where
the host has them, the cgroups: the same as a kernel there.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.sandbox import reaper, seccomp
from grader.sandbox.cgroups import JobCgroup
from grader.sandbox.isolation import Isolation, IsolationMode, MemoryLimitMechanism, SandboxConfig
from grader.sandbox.kernel_command import (
    DRIVER_PACKAGE_ROOT,
    SECCOMP_FD,
    launcher,
    mount_parents,
    rlimit_args,
    service_python_room,
    write_identity_files,
)
from grader.sandbox.uid_lease import UID_RANGE, lease_uid

# its memory is `SandboxLimits.evaluator_memory_limit_mb` (1536 by default): a 60 MB export (an MLP) peaks at 223 MB
EVALUATOR_MAX_PROCESSES = 32  # one process; OpenBLAS may start threads, which count
EVALUATOR_OPEN_FILES = 64
EVALUATOR_CPU_S = 600
EVALUATOR_TMP_MB = 16
# evaluators prefer base + 384 + slot: cold kernels prefer base + slot, warm ones base + 256 + slot (warm_pool); a lease
# is exclusive host-wide whichever uid it falls back to
UID_OFFSET = UID_RANGE * 3 // 4
INSIDE = "/evaluation"  # where the evaluator sees its two directories
SUFFIX = "-evaluator"  # its cgroup: the job's name and this, so a sweep of the job finds it


@dataclass(frozen=True)
class EvaluatorRoom:
    """One job's evaluator sandbox: write the job's inputs into `inputs`, start `command(...)`, read `result`."""

    config: SandboxConfig
    isolation: Isolation
    inputs: Path
    outputs: Path
    cgroup: JobCgroup
    uid: int | None
    memory_limit_mb: int

    @property
    def sandboxed(self) -> bool:
        return self.isolation.mode is IsolationMode.BUBBLEWRAP

    @property
    def result(self) -> Path:
        """The host path of the result file the evaluator writes."""
        return self.outputs / "evaluation-result.json"

    def seen(self, path: Path) -> str:
        """`path` (in `inputs` or `outputs`) as the evaluator sees it."""
        if not self.sandboxed:
            return str(path)
        for host, inside in ((self.inputs, f"{INSIDE}/in"), (self.outputs, f"{INSIDE}/out")):
            if path == host or host in path.parents:
                return inside + str(path)[len(str(host)):]
        raise ValueError(f"{path} is outside the evaluator's directories")

    def job_as_seen(self, job: Any) -> Any:
        """The job description with every path under `inputs` or `outputs` as the evaluator sees it."""
        if isinstance(job, dict):
            return {key: self.job_as_seen(value) for key, value in job.items()}
        if isinstance(job, list):
            return [self.job_as_seen(value) for value in job]
        if isinstance(job, str) and self.sandboxed and job.startswith((f"{self.inputs}/", f"{self.outputs}/")):
            return self.seen(Path(job))
        return job

    def command(self, job_file: Path) -> list[str]:
        """The command line of the evaluator for a job file in `inputs`."""
        return self.argv([sys.executable, "-m", "grader.evaluation", self.seen(job_file)])

    def argv(self, program: list[str]) -> list[str]:
        """`program` (the service's Python and its arguments) in the evaluator's sandbox."""
        package = Path(__file__).resolve().parents[1]  # the `grader` package
        limit_address_space = self.isolation.memory is MemoryLimitMechanism.ADDRESS_SPACE or not self.cgroup.memory
        limits = self.config.limits.model_copy(update={
            "memory_limit_mb": self.memory_limit_mb, "max_processes": EVALUATOR_MAX_PROCESSES,
            "open_files": EVALUATOR_OPEN_FILES, "cpu_time_s": EVALUATOR_CPU_S,
            "file_size_limit_mb": 64})
        rlimits = rlimit_args(self.config.tools.prlimit, limits, limit_address_space)
        threads = ["OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1", "MKL_NUM_THREADS=1"]
        if not self.sandboxed:
            env = ["/usr/bin/env", "-i", f"PYTHONPATH={package.parent}", "PATH=/usr/bin:/bin", "LANG=C.UTF-8",
                   "PYTHONDONTWRITEBYTECODE=1", *threads]
            return self.cgroup.enter_command() + rlimits + env + program
        assert self.uid is not None
        filter_path = self.inputs / "seccomp.bpf"  # root-only (0600): the launcher opens it, the evaluator cannot
        program_bytes = seccomp.filter_program(deny_sockets=True) if self.isolation.seccomp else None
        if program_bytes is not None and not filter_path.exists():
            filter_path.write_bytes(program_bytes)
            os.chmod(filter_path, 0o600)
        filter_args = ["--seccomp", str(SECCOMP_FD)] if program_bytes is not None else []
        argv, made = service_python_room(
            launcher(self.cgroup, filter_path if program_bytes is not None else None), self.config.tools.bwrap,
            "evaluator", filter_args, self.inputs, ("passwd", "group"), EVALUATOR_TMP_MB, package)
        argv += [*mount_parents(f"{INSIDE}/in", made), "--ro-bind", str(self.inputs), f"{INSIDE}/in",
                 "--bind", str(self.outputs), f"{INSIDE}/out"]
        for key, value in (("PATH", "/usr/bin:/bin"), ("HOME", "/tmp"), ("LANG", "C.UTF-8"),
                           ("PYTHONPATH", DRIVER_PACKAGE_ROOT), ("PYTHONDONTWRITEBYTECODE", "1"),
                           *(t.split("=") for t in threads)):
            argv += ["--setenv", key, value]
        argv += ["--chdir", "/tmp", *rlimits]
        argv += [self.config.tools.setpriv, f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                 "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all", "--"]
        return argv + program

    def death_reason(self) -> str:
        """Why the evaluator most likely died, from its cgroup's counters; empty when they show nothing."""
        return self.cgroup.death_reason()


@contextmanager
def evaluator_room(config: SandboxConfig, isolation: Isolation, job_root: Path, slot: int) -> Iterator[EvaluatorRoom]:
    """The evaluator's directories (under the job's host-only `job_root`), cgroup and uid for one job; on leaving,
    everything the evaluator started is ended, its cgroup removed and its directories deleted, then the uid released."""
    if isolation.mode is IsolationMode.BUBBLEWRAP:
        with lease_uid(config.uid_base, slot + UID_OFFSET) as uid:
            yield from _room(config, isolation, job_root, uid)
    else:
        yield from _room(config, isolation, job_root, None)


def _room(config: SandboxConfig, isolation: Isolation, job_root: Path, uid: int | None) -> Iterator[EvaluatorRoom]:
    inputs, outputs = job_root / "evaluator-in", job_root / "evaluator-out"
    inputs.mkdir(mode=0o700)
    outputs.mkdir(mode=0o700)
    if uid is not None:
        write_identity_files(inputs, uid)
        os.chown(inputs, 0, uid)  # the evaluator's group may read; the kernel's uid may not even look inside
        os.chmod(inputs, 0o750)  # noqa: S103 - group: the evaluator uid only
        os.chown(outputs, uid, uid)
    memory_mb = min(config.limits.memory_limit_mb, config.limits.evaluator_memory_limit_mb)
    cgroup = JobCgroup.create(isolation.cgroups, job_root.name + SUFFIX, memory_mb, EVALUATOR_MAX_PROCESSES,
                              config.limits.cpu_cores, config.cgroup_root, config.cgroup_parent)
    try:
        yield EvaluatorRoom(config, isolation, inputs, outputs, cgroup, uid, memory_mb)
    finally:
        try:
            cgroup.remove()
        finally:
            if uid is not None:
                reaper.kill_processes_owned_by(uid)
            # before the uid's lease ends: whoever leases it next finds no directory of this job readable by it
            shutil.rmtree(inputs, ignore_errors=True)
            shutil.rmtree(outputs, ignore_errors=True)
