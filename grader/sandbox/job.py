"""A job's sandbox from start to end: prepared before its kernel starts (job directory on its own tmpfs, cgroups, the
kernel's environment, argv and kernelspec, the driver's argv), the same way for a cold and a warm kernel; ended with
every process of it; and what crashed graders left behind swept when a worker starts."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox import jobdir, kernel_command, reaper
from grader.sandbox.cgroups import JobCgroup
from grader.sandbox.evaluator_room import SUFFIX as EVALUATOR_CGROUP_SUFFIX
from grader.sandbox.isolation import Isolation, SandboxConfig, cpu_share_cores, job_cgroup
from grader.sandbox.jobdir import JobDirs

logger = logging.getLogger(__name__)

KERNEL_NAME = "labgrader-sandbox"


def _make_work_owned(path: Path, uid: int | None) -> None:
    if uid is None:
        return
    for item in [path, *path.rglob("*")]:
        os.chown(item, uid, uid, follow_symlinks=False)


@dataclass(frozen=True)
class PreparedJob:
    """A job's sandbox before its kernel starts: directories, cgroups, uid, kernel environment and kernelspec."""

    dirs: JobDirs
    cgroup: JobCgroup
    uid: int | None
    env: dict[str, str]
    kernel_dirs: Path
    driver_argv: tuple[str, ...] = ()  # the job's kernel driver (`grader.kernel.driver`)

    def end(self) -> None:
        """End every process of the job, then remove its cgroups and directories."""
        try:
            _end_job(self.cgroup, self.uid)
        finally:
            self.dirs.remove()


def _end_job(cgroup: JobCgroup, uid: int | None) -> None:
    """End every process of the job: its cgroups, then anything still running as the slot's uid (should be none)."""
    cgroup.remove()
    if uid is not None and (stragglers := reaper.kill_processes_owned_by(uid)):
        logger.warning("killed %d process(es) of uid %d that outlived their job's namespaces", stragglers, uid)


def sweep_abandoned_jobs(config: SandboxConfig, jobs_root: Path) -> int:
    """End and remove what crashed graders left on this host: job directories no live process owns, their tmpfs
    mounts and their cgroups (with any process still in them). Run when an executor or worker starts."""
    abandoned = jobdir.abandoned_jobs(jobs_root)
    for root in abandoned:
        for name in (root.name, root.name + EVALUATOR_CGROUP_SUFFIX):  # the kernel's groups and the evaluator's
            memory, pids, cpu, cpuacct = (
                group if (group := config.cgroup_root / c / config.cgroup_parent / name).is_dir() else None
                for c in ("memory", "pids", "cpu", "cpuacct"))
            if memory or pids or cpu or cpuacct:
                with contextlib.suppress(OSError):
                    JobCgroup(memory=memory, pids=pids, cpu=cpu, memory_limit_mb=0, max_processes=0,
                              cpuacct=cpuacct).remove()
        jobdir.remove_job_dir(root)
    if abandoned:
        logger.warning("removed %d job director%s that crashed graders left in %s", len(abandoned),
                       "y" if len(abandoned) == 1 else "ies", jobs_root)
    return len(abandoned)


def prepare_job(config: SandboxConfig, isolation: Isolation, jobs_root: Path, uid: int | None,
                extra_env: dict[str, str], devices: tuple[str, ...]) -> PreparedJob:
    """The job dir, cgroups and kernelspec of one kernel; the same steps for a cold and a warm kernel."""
    job_key = f"job-{secrets.token_hex(8)}"
    dirs = JobDirs.create(jobs_root, job_key, uid, config.limits.work_dir_limit_mb)
    cgroup = job_cgroup(config, isolation, job_key, cpu_share_cores(config.limits, extra_env))
    config_dirs = kernel_command.make_config_dirs(dirs.evaluation, dirs.work)
    job = PreparedJob(dirs, cgroup, uid, kernel_command.kernel_environment(dirs.work, extra_env, config.kernel_python,
                                                                           config_dirs), dirs.host)
    try:
        (dirs.work / ".tmp").mkdir()
        _make_work_owned(dirs.work, uid)
        (dirs.work / "data").mkdir(mode=0o755)  # root-owned; must exist when the kernel starts (it joins sys.path)
        argv = kernel_command.kernel_argv(config, isolation, dirs, uid or os.getuid(), job.env, cgroup, devices)
        driver = kernel_command.driver_argv(config, isolation, dirs, uid or os.getuid(), cgroup)
        return dataclasses.replace(job, kernel_dirs=write_kernelspec(dirs.host, argv), driver_argv=tuple(driver))
    except BaseException:
        job.end()
        raise


def write_kernelspec(host_dir: Path, argv: list[str]) -> Path:
    """A kernelspec whose argv is the sandbox command; interrupts travel as messages (signals can't cross bwrap)."""
    spec_dir = host_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {"argv": argv, "display_name": "Labgrader sandbox", "language": "python", "interrupt_mode": "message"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return host_dir / "kernels"
