"""The sandbox's pieces on this host: the isolation probe (and its refusal), per-job cgroups, job directories,
untrusted files, the slot sweep, and grading under the address-space fallback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from grader.data.lab_data import LabData
from grader.errors import SandboxUnavailable
from grader.pipeline import GradingContext, grade_notebook
from grader.sandbox import cgroups, jobdir, kernel_command, reaper
from grader.sandbox.isolation import (
    Isolation,
    IsolationMode,
    MemoryLimitMechanism,
    SandboxConfig,
    SandboxLimits,
    SandboxTools,
    probe_isolation,
    require_isolation,
)
from grader.spec.lab import discover_labs
from lab_tasks import LABS_DIR
from tests.lab_data import frameworks_data

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs a root worker")
TEST_PARENT = "labgrader-test-sandbox"


def test_missing_bubblewrap_refuses_student_code() -> None:
    config = SandboxConfig(tools=SandboxTools(bwrap="/nonexistent/bwrap"))
    isolation = probe_isolation(config)
    assert isolation == Isolation(IsolationMode.NONE, "refusing to run student code: /nonexistent/bwrap is not "
                                  "installed", allowed=False)
    with pytest.raises(SandboxUnavailable) as info:
        require_isolation(config)
    assert str(info.value) == (
        "refusing to run student code: /nonexistent/bwrap is not installed. Install bubblewrap and run the worker "
        "as root, or set LABGRADER_ALLOW_UNSANDBOXED=true on a development machine")


def test_development_setting_runs_unsandboxed_and_says_so() -> None:
    config = SandboxConfig(tools=SandboxTools(setpriv="/nonexistent/setpriv"), allow_unsandboxed=True)
    isolation = require_isolation(config)
    assert isolation.mode is IsolationMode.NONE
    assert isolation.detail == "unsandboxed (development setting): /nonexistent/setpriv is not installed"
    assert isolation.memory is MemoryLimitMechanism.ADDRESS_SPACE


async def test_grading_is_refused_before_any_job_directory_exists(tmp_path: Path) -> None:
    spec = discover_labs(LABS_DIR)["frameworks"]
    ctx = GradingContext(spec=spec, lab_data=LabData(tmp_path / "data", "frameworks"), jobs_root=tmp_path / "jobs",
                         sandbox=SandboxConfig(tools=SandboxTools(prlimit="/nonexistent/prlimit")))
    with pytest.raises(SandboxUnavailable):
        await grade_notebook(new_notebook(cells=[new_code_cell("print(1)")]), ctx)
    assert not (tmp_path / "jobs").exists()


@needs_root
def test_this_host_isolation_with_cgroups() -> None:
    isolation = require_isolation(SandboxConfig(limits=SandboxLimits(cpu_cores=1.5), cgroup_parent=TEST_PARENT))
    assert isolation.mode is IsolationMode.BUBBLEWRAP
    assert isolation.memory is MemoryLimitMechanism.CGROUP
    assert isolation.cgroups == cgroups.CgroupSupport(memory=True, memory_swap=True, pids=True, cpu=True, cpuacct=True)
    assert isolation.work_tmpfs
    assert isolation.detail == (
        f"{isolation.bwrap_version}: own network, pid, ipc and uts namespaces; unprivileged uid per slot, no "
        "capabilities, no_new_privs; memory 6144 MB by cgroup v1 memory controller (memory+swap); processes 512 by "
        "cgroup v1 pids + RLIMIT_NPROC; rlimits on file size (512 MB), open files (1024) and CPU (3600 s); work dir "
        "2048 MB tmpfs; /tmp 256 MB and /dev/shm 64 MB tmpfs; CPU share 1.5 cores by cgroup v1 cpu; cell and notebook "
        "limits in the job's CPU time (cgroup v1 cpuacct); seccomp filter "
        "denying user namespaces, mounts, io_uring, keyrings, bpf, perf events, userfaultfd, ptrace, socket families "
        "other than unix, inet, inet6 and netlink")
    assert isolation.seccomp


@needs_root
def test_without_cgroups_memory_falls_back_to_the_address_space_limit(tmp_path: Path) -> None:
    config = SandboxConfig(cgroup_root=tmp_path / "no-cgroups")
    isolation = require_isolation(config)
    assert isolation.memory is MemoryLimitMechanism.ADDRESS_SPACE
    assert "memory 6144 MB by address-space rlimit; processes 512 by RLIMIT_NPROC;" in isolation.detail
    dirs = jobdir.JobDirs.create(tmp_path / "jobs", "job-x", 61000, None)
    try:
        group = cgroups.JobCgroup.create(isolation.cgroups, "job-x", 100, 10, root=config.cgroup_root)
        argv = kernel_command.kernel_argv(config, isolation, dirs, 61000, {}, group)
    finally:
        dirs.remove()
    # no cgroup to enter: the launcher only opens the seccomp filter for bwrap
    assert argv[:2] == ["/bin/sh", "-c"] and argv[2].startswith("exec 3< ") and "echo" not in argv[2]
    assert argv[4] == config.tools.bwrap and argv[argv.index("--seccomp") + 1] == "3"
    assert f"--as={6144 * 1024 * 1024}" in argv


@needs_root
def test_with_cgroups_the_kernel_enters_them_and_has_no_address_space_limit(tmp_path: Path) -> None:
    config = SandboxConfig(cgroup_parent=TEST_PARENT)
    isolation = require_isolation(config)
    group = cgroups.JobCgroup.create(isolation.cgroups, "job-argv", 100, 10, parent=TEST_PARENT)
    dirs = jobdir.JobDirs.create(tmp_path / "jobs", "job-argv", 61000, 8)
    try:
        argv = kernel_command.kernel_argv(config, isolation, dirs, 61000, {}, group)
    finally:
        group.remove()
        dirs.remove()
    assert argv[:2] == ["/bin/sh", "-c"]
    assert argv[3:5] == ["labgrader-enter-cgroup", config.tools.bwrap]
    assert not [a for a in argv if a.startswith("--as=")]


@needs_root
def test_job_cgroup_limits_counts_and_kills_everything() -> None:
    support = cgroups.probe_cgroups(parent=TEST_PARENT)
    group = cgroups.JobCgroup.create(support, "job-kill", 64, 8, cpu_cores=0.5, parent=TEST_PARENT)
    try:
        assert group.memory is not None and group.pids is not None and group.cpu is not None
        assert (group.memory / "memory.memsw.limit_in_bytes").read_text().strip() == str(64 * 1024 * 1024)
        assert (group.pids / "pids.max").read_text().strip() == "8"
        assert (group.cpu / "cpu.cfs_quota_us").read_text().strip() == "50000"
        bomb = "b = bytearray(200 * 2**20)\nfor i in range(0, len(b), 4096):\n    b[i] = 1"
        script = f"sleep 600 & sleep 600 & {sys.executable} -c '{bomb}'; wait"
        proc = subprocess.Popen([*group.enter_command(), "/bin/sh", "-c", script])
        for _ in range(200):
            if group.oom_kills() > 0:
                break
            subprocess.run(["sleep", "0.05"], check=True)
        assert group.death_reason() == "it used more than its 64 MB memory limit"
        assert len(group.processes()) >= 3
        assert group.kill_all() >= 3
        assert proc.wait(timeout=10) == -signal.SIGKILL
        assert group.processes() == set()
    finally:
        group.remove()
    assert not group.memory.exists() and not group.pids.exists() and not group.cpu.exists()


@needs_root
def test_job_cgroup_counts_its_own_cpu_time_and_weighs_its_share_of_the_cores() -> None:
    """Issue 27 item 1: the cpuacct group counts every process of the job (here a child's busy loop, not the
    caller's time), the driver reads it through a descriptor, and cpu.shares is 1024 per core of the job's share."""
    from grader.kernel.cpu_clock import CpuClock, open_for_driver

    support = cgroups.probe_cgroups(parent=TEST_PARENT)
    assert support.cpu and support.cpuacct
    assert (Path("/sys/fs/cgroup/cpu") / TEST_PARENT / "cpu.shares").read_text().strip() == \
        str(1024 * (os.cpu_count() or 1))
    group = cgroups.JobCgroup.create(support, "job-cpuacct", 256, 32, parent=TEST_PARENT, cpu_share_cores=2)
    try:
        assert group.cpu is not None and group.cpuacct is not None
        assert (group.cpu / "cpu.shares").read_text().strip() == "2048"
        assert (group.cpu / "cpu.cfs_quota_us").read_text().strip() == "-1"  # no cap without cpu_cores
        assert group.cpu_seconds() == 0.0
        fd = open_for_driver(group.cpu_usage_file())
        assert fd is not None and fd >= 10
        try:
            clock = CpuClock.from_fd(fd)
            assert clock is not None and clock.seconds() == 0.0
            busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass"
            subprocess.run([*group.enter_command(), sys.executable, "-c", busy], check=True, timeout=120)
            used = clock.seconds()
            assert used is not None and 0.6 <= used < 5.0
            assert group.cpu_seconds() == pytest.approx(used, abs=0.05)
        finally:
            os.close(fd)
        assert CpuClock.from_fd(fd) is None and CpuClock.from_fd(None) is None  # closed or absent: wall-clock
    finally:
        group.remove()
    assert not group.cpu.exists() and not group.cpuacct.exists()


@needs_root
def test_work_dir_is_a_size_capped_tmpfs_owned_by_the_slot(tmp_path: Path) -> None:
    dirs = jobdir.JobDirs.create(tmp_path / "jobs", "job-tmpfs", 61000, 4)
    try:
        assert dirs.work_is_tmpfs and dirs.work.is_mount()
        assert os.stat(dirs.work).st_uid == 61000
        assert os.statvfs(dirs.work).f_blocks * os.statvfs(dirs.work).f_frsize == 4 * 1024 * 1024
    finally:
        dirs.remove()
    assert not dirs.root.exists()


@needs_root
def test_stale_job_directories_are_swept(tmp_path: Path) -> None:
    left = jobdir.JobDirs.create(tmp_path / "jobs", "job-crashed", 61000, 4)
    assert left.owner_lock is not None
    left.owner_lock.close()  # what the kernel does to a crashed maker's lock
    (tmp_path / "jobs" / "not-a-job").mkdir()
    assert jobdir.abandoned_jobs(tmp_path / "jobs") == [left.root]
    jobdir.remove_job_dir(left.root)
    assert not left.work.is_mount()
    assert sorted(p.name for p in (tmp_path / "jobs").iterdir()) == ["not-a-job"]


def test_untrusted_file_is_copied_only_when_regular(tmp_path: Path) -> None:
    good, copy = tmp_path / "out.json", tmp_path / "copy.json"
    good.write_text('{"nonce": "n"}')
    assert jobdir.take_untrusted_file(good, copy, 100) == ""
    assert copy.read_text() == '{"nonce": "n"}'
    link = tmp_path / "link.json"
    link.symlink_to("/dev/zero")
    refused = "the evaluation output is not a regular file (a link, a device or a pipe): refused"
    assert jobdir.take_untrusted_file(link, copy, 100) == refused
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    assert jobdir.take_untrusted_file(fifo, copy, 100) == refused
    assert jobdir.take_untrusted_file(good, copy, 5) == "the evaluation output is over its 5 byte limit"
    assert jobdir.take_untrusted_file(tmp_path / "missing", copy, 5) == "the evaluation produced no output"


@needs_root
def test_sweep_kills_every_process_of_a_slot_uid() -> None:
    uid = 61099
    procs = [subprocess.Popen(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "sleep", "600"])
             for _ in range(2)]
    for _ in range(100):
        if len(reaper.processes_owned_by(uid)) == 2:
            break
        subprocess.run(["sleep", "0.02"], check=True)
    assert sorted(reaper.processes_owned_by(uid)) == sorted(p.pid for p in procs)
    assert reaper.kill_processes_owned_by(uid) == 2
    assert [p.wait(timeout=10) for p in procs] == [-signal.SIGKILL, -signal.SIGKILL]
    assert reaper.processes_owned_by(uid) == []


def test_sweep_refuses_the_workers_own_uid() -> None:
    with pytest.raises(ValueError, match=f"refusing to sweep processes of uid {os.getuid()}"):
        reaper.kill_processes_owned_by(os.getuid())


@needs_root
async def test_memory_bomb_under_the_address_space_fallback(tmp_path: Path) -> None:
    """Without cgroups the report says the address-space rlimit holds memory, and a bomb meets MemoryError."""
    lab = frameworks_data(tmp_path / "data", mnist=None)
    spec = discover_labs(LABS_DIR)["frameworks"]
    spec = spec.model_copy(update={"checks": tuple(c for c in spec.checks if c.id == "iris_accuracy")})
    config = SandboxConfig(limits=SandboxLimits(memory_limit_mb=1024), cgroup_root=tmp_path / "no-cgroups")
    ctx = GradingContext(spec=spec, lab_data=lab, jobs_root=tmp_path / "jobs", sandbox=config, slot=11,
                         cell_timeout_s=30, notebook_timeout_s=60, harness_timeout_s=30)
    bomb = "blocks = []\nwhile True:\n    blocks.append(b'x' * (64 * 1024 * 1024))"
    outcome = await grade_notebook(new_notebook(cells=[new_code_cell(bomb), new_code_cell("print('alive')")]), ctx)
    assert "memory 1024 MB by address-space rlimit" in outcome.report.isolation
    assert [(e.cell_index, e.ename) for e in outcome.report.cell_errors] == [(0, "MemoryError")]
    assert outcome.report.execution_note == ""
    assert reaper.processes_owned_by(61011) == []
