"""What a crashed grader leaves behind is swept at the next start; live jobs of other processes are left alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.sandbox.isolation import SandboxConfig
from grader.sandbox.job import sweep_abandoned_jobs
from grader.sandbox.jobdir import JobDirs, abandoned_jobs

REPO = Path(__file__).resolve().parents[3]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="job tmpfs mounts and cgroups need a root worker")
CRASH = ("import os, sys\nfrom pathlib import Path\nfrom grader.sandbox.jobdir import JobDirs\n"
         "JobDirs.create(Path(sys.argv[1]), 'job-dead', None, 16)\nos._exit(0)  # no cleanup: as under SIGKILL")


def test_a_job_held_by_a_live_process_is_not_abandoned(tmp_path: Path) -> None:
    live = JobDirs.create(tmp_path, "job-live", None, None)
    try:
        assert abandoned_jobs(tmp_path) == []
    finally:
        live.remove()
        live.remove()  # twice: harmless
    assert list(tmp_path.iterdir()) == []


@needs_root
def test_a_crashed_graders_job_dir_mount_and_cgroup_are_swept_and_live_jobs_kept(tmp_path: Path) -> None:
    jobs_root = tmp_path / "jobs"
    live = JobDirs.create(jobs_root, "job-live", None, 16)
    subprocess.run([sys.executable, "-c", CRASH, str(jobs_root)], cwd=REPO, check=True, timeout=60)
    assert (jobs_root / "job-dead" / "work").is_mount()
    config = SandboxConfig(cgroup_parent="labgrader-sweep-test")
    group = config.cgroup_root / "pids" / config.cgroup_parent / "job-dead"
    group.mkdir(parents=True)
    straggler = subprocess.Popen(["sleep", "300"])
    (group / "cgroup.procs").write_text(str(straggler.pid))
    try:
        assert sweep_abandoned_jobs(config, jobs_root) == 1
        assert straggler.wait(timeout=15) == -9
        assert sorted(p.name for p in jobs_root.iterdir()) == ["job-live"]
        assert not group.exists()
        assert f"{jobs_root}/job-dead/" not in Path("/proc/mounts").read_text()
        assert (jobs_root / "job-live" / "work").is_mount()  # another process's live job: untouched
    finally:
        straggler.kill()
        live.remove()
        group.parent.rmdir()
    assert f"{jobs_root}/" not in Path("/proc/mounts").read_text()
