"""Warm kernels: sandboxed exactly like cold ones, each used for one submission, destroyed after it, never shared."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_notebook

from grader.data.lab_data import LabData
from grader.kernel.warm_pool import UID_OFFSET, lab_frameworks, start_warm_kernel
from grader.pipeline import GradingContext, GradingOutcome, WarmKernelPool, grade_notebook
from grader.sandbox import reaper
from grader.sandbox.isolation import SandboxConfig, SandboxLimits
from grader.spec.lab import discover_labs
from lab_tasks import LABS_DIR
from tests.conftest import make_server, notebook_bytes
from tests.lab_data import frameworks_data

LIMITS = SandboxLimits(memory_limit_mb=1024, max_processes=64, cpu_time_s=300, work_dir_limit_mb=96)
CONFIG = SandboxConfig(limits=LIMITS, uid_base=62000)

# what a notebook can see of its sandbox, printed as one JSON line
PROBE = """
import json, os, socket, sys
try:
    socket.create_connection(("127.0.0.1", 22), timeout=1).close()
    network = "reachable"
except OSError as exc:
    network = type(exc).__name__
print(json.dumps({
    "uid": os.getuid(), "euid": os.geteuid(), "groups": os.getgroups(), "cwd": os.getcwd(),
    "home": os.environ["HOME"], "data": sorted(os.listdir("data")),
    "data_on_path": os.path.join(os.getcwd(), "data") in sys.path,
    "work_entries": sorted(e for e in os.listdir(".") if not e.startswith(".")), "network": network,
    "no_new_privs": [l.split()[1] for l in open("/proc/self/status") if l.startswith("NoNewPrivs")][0],
    "cap_eff": [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0],
    "pid": os.getpid(), "env_keys": sorted(os.environ),
}))
"""


class Slot:
    def __init__(self, index: int, visible_devices: str = "") -> None:
        self.index = index
        self.visible_devices = visible_devices

    def environment(self) -> dict[str, str]:
        return {"CUDA_VISIBLE_DEVICES": self.visible_devices}

    def devices(self) -> tuple[str, ...]:
        return ()


@pytest.fixture(scope="module")
def lab_data(tmp_path_factory: pytest.TempPathFactory) -> LabData:
    return frameworks_data(tmp_path_factory.mktemp("warm-data"), mnist=None)


@pytest.fixture
def ctx(lab_data: LabData, tmp_path_factory: pytest.TempPathFactory) -> GradingContext:
    spec = discover_labs(LABS_DIR)["frameworks"]
    return GradingContext(spec=spec, lab_data=lab_data, jobs_root=tmp_path_factory.mktemp("jobs"), sandbox=CONFIG,
                          extra_env=Slot(0).environment(), cell_timeout_s=120, notebook_timeout_s=300)


@pytest.fixture
async def pool(ctx: GradingContext) -> AsyncIterator[WarmKernelPool]:
    kernels = WarmKernelPool(CONFIG, ctx.jobs_root, [Slot(0)], reserve_mb=0, idle_grace_s=0)
    kernels.start()
    yield kernels
    await kernels.close()


def notebook(*sources: str) -> NotebookNode:
    nb: NotebookNode = new_notebook(cells=[new_code_cell(s) for s in sources])  # type: ignore[no-untyped-call]
    return nb


def text_of(outcome: GradingOutcome, cell: int) -> str:
    """What one cell of the executed notebook printed (its only output)."""
    outputs = json.loads(outcome.executed_notebook)["cells"][cell]["outputs"]
    assert [o["output_type"] for o in outputs] == ["stream"], outputs
    text = outputs[0]["text"]
    return "".join(text) if isinstance(text, list) else str(text)


def printed(outcome: GradingOutcome, cell: int = 0) -> dict[str, object]:
    result: dict[str, object] = json.loads(text_of(outcome, cell))
    return result


def job_dirs(jobs_root: Path) -> list[str]:
    return sorted(p.name for p in jobs_root.iterdir()) if jobs_root.exists() else []


async def test_a_warm_kernel_sees_exactly_the_sandbox_of_a_cold_one(ctx: GradingContext,
                                                                     pool: WarmKernelPool) -> None:
    cold = printed(await grade_notebook(notebook(PROBE), ctx))
    await pool.ready()
    warm = printed(await pool.grade(notebook(PROBE), ctx))
    assert pool.stats.warm_jobs == 1 and pool.stats.cold_jobs == 0
    differing = {"uid", "euid", "groups", "cwd", "home", "pid"}
    assert {k: v for k, v in warm.items() if k not in differing} == {k: v for k, v in cold.items()
                                                                      if k not in differing}
    assert warm["network"] != "reachable"
    assert (warm["no_new_privs"], warm["cap_eff"], warm["data_on_path"]) == ("1", "0000000000000000", True)
    assert warm["data"] == ["iris.npz", "labdata.py"]  # the lab's student_files come with its data
    assert warm["uid"] == warm["euid"] == CONFIG.uid_base + UID_OFFSET
    assert cold["uid"] == CONFIG.uid_base
    assert warm["cwd"] != cold["cwd"] and str(warm["cwd"]).startswith(str(ctx.jobs_root))


async def test_each_warm_kernel_serves_one_submission_and_is_destroyed_with_it(ctx: GradingContext,
                                                                                pool: WarmKernelPool) -> None:
    first = notebook("secret_answer = 'alice'\nopen('alice.txt', 'w').write('alice')\n" + PROBE)
    second = notebook("print('secret_answer' in globals())", PROBE)
    await pool.ready()
    alice = printed(await pool.grade(first, ctx))
    assert reaper.processes_owned_by(int(str(alice["uid"]))) == []
    await pool.ready()
    bob_outcome = await pool.grade(second, ctx)
    bob = printed(bob_outcome, 1)
    assert text_of(bob_outcome, 0) == "False\n"
    assert "alice.txt" not in bob["work_entries"]
    assert bob["cwd"] != alice["cwd"]
    assert not Path(str(alice["cwd"])).exists()
    assert pool.stats.warm_jobs == 2
    await pool.ready()
    assert len(job_dirs(ctx.jobs_root)) == 1  # only the next warm kernel's job


async def test_the_labs_frameworks_are_imported_ahead_without_entering_the_notebooks_namespace(
        ctx: GradingContext) -> None:
    spec = discover_labs(LABS_DIR)["frameworks"]
    assert lab_frameworks([spec]) == tuple(spec.frameworks)
    kernels = WarmKernelPool(CONFIG, ctx.jobs_root, [Slot(0)], frameworks=("torch",), reserve_mb=0, idle_grace_s=0)
    kernels.start()
    try:
        await kernels.ready()
        outcome = await kernels.grade(notebook(
            "import sys\nprint('torch' in sys.modules, 'torch' in dir())",
            "import torch\nprint(torch.initial_seed())",
        ), ctx)
    finally:
        await kernels.close()
    assert (text_of(outcome, 0), text_of(outcome, 1)) == ("True False\n", "0\n")
    assert kernels.stats.warm_jobs == 1


async def test_a_kernel_warmed_for_another_slot_environment_is_thrown_away_and_the_job_starts_cold(
        ctx: GradingContext) -> None:
    kernels = WarmKernelPool(CONFIG, ctx.jobs_root, [Slot(0, visible_devices="0")], reserve_mb=0, idle_grace_s=0)
    kernels.start()
    try:
        await kernels.ready()
        probe = printed(await kernels.grade(notebook(PROBE), ctx))
    finally:
        await kernels.close()
    assert (kernels.stats.discarded, kernels.stats.cold_jobs, kernels.stats.warm_jobs) == (1, 1, 0)
    assert probe["uid"] == CONFIG.uid_base
    assert job_dirs(ctx.jobs_root) == []


async def test_no_kernel_is_warmed_without_memory_for_it_and_a_running_job(ctx: GradingContext) -> None:
    kernels = WarmKernelPool(CONFIG, ctx.jobs_root, [Slot(0)], reserve_mb=10**9, idle_grace_s=0)
    kernels.start()
    try:
        await kernels.ready()
        assert job_dirs(ctx.jobs_root) == []
        printed(await kernels.grade(notebook(PROBE), ctx))
    finally:
        await kernels.close()
    assert (kernels.stats.cold_jobs, kernels.stats.warm_jobs, kernels.stats.ready_s) == (1, 0, [])
    assert kernels.stats.skipped_for_memory >= 1


async def test_a_job_arriving_within_the_idle_grace_starts_cold_and_nothing_was_started(
        ctx: GradingContext) -> None:
    kernels = WarmKernelPool(CONFIG, ctx.jobs_root, [Slot(0)], reserve_mb=0, idle_grace_s=60)
    kernels._refill(0)
    try:
        printed(await kernels.grade(notebook(PROBE), ctx))
    finally:
        await kernels.close()
    assert (kernels.stats.cold_jobs, kernels.stats.warm_jobs, kernels.stats.ready_s) == (1, 0, [])
    assert job_dirs(ctx.jobs_root) == []


async def test_closing_the_pool_destroys_unused_kernels(ctx: GradingContext) -> None:
    kernel = await start_warm_kernel(CONFIG, ctx.jobs_root, Slot(1))
    uid = kernel.job.uid
    assert uid is not None and reaper.processes_owned_by(uid) != []
    assert await kernel.alive()
    kernel.end()
    assert reaper.processes_owned_by(uid) == []
    assert job_dirs(ctx.jobs_root) == []
    kernels = WarmKernelPool(CONFIG, ctx.jobs_root, [Slot(0), Slot(1)], reserve_mb=0, idle_grace_s=0)
    kernels.start()
    await kernels.ready()
    assert len(job_dirs(ctx.jobs_root)) == 2
    await kernels.close()
    assert job_dirs(ctx.jobs_root) == []
    assert all(reaper.processes_owned_by(CONFIG.uid_base + UID_OFFSET + i) == [] for i in (0, 1))
    assert os.path.isdir(ctx.jobs_root)


async def test_a_warm_kernel_that_dies_at_start_says_why_from_its_stderr(ctx: GradingContext) -> None:
    """A warm kernel keeps the end of its stderr as a cold one does: an interpreter that dies at start is named with
    what it printed (a broken environment says which module is missing), and nothing of the job is left."""
    import dataclasses
    import shutil
    import tempfile

    from grader.errors import KernelStartFailed

    prefix = Path(tempfile.mkdtemp(prefix="labgrader-broken-env-", dir="/var/tmp"))  # /tmp is the sandbox's own
    try:
        python = prefix / "bin" / "python"
        python.parent.mkdir()
        python.write_text(f'#!/bin/sh\nif [ "$1" = "-c" ]; then echo {prefix}; echo {prefix}; exit 0; fi\n'
                          'echo "ModuleNotFoundError: No module named ipykernel_launcher" >&2\nexit 1\n')
        python.chmod(0o755)
        prefix.chmod(0o755)
        broken = dataclasses.replace(CONFIG, kernel_python=str(python))
        with pytest.raises(KernelStartFailed) as info:
            await start_warm_kernel(broken, ctx.jobs_root, Slot(2), startup_timeout_s=20)
    finally:
        shutil.rmtree(prefix)
    assert "ModuleNotFoundError: No module named ipykernel_launcher" in info.value.stderr_tail
    assert str(info.value).startswith("a warm kernel did not start: ")
    assert str(info.value).endswith("(its stderr ends: ModuleNotFoundError: No module named ipykernel_launcher)")
    assert job_dirs(ctx.jobs_root) == []
    assert reaper.processes_owned_by(CONFIG.uid_base + UID_OFFSET + 2) == []


def test_labgrader_serve_grades_in_warm_kernels_when_configured(tmp_path: Path) -> None:
    server = make_server(tmp_path, LABGRADER_WARM_KERNELS="1", LABGRADER_WARM_KERNELS_IMPORT_FRAMEWORKS="false")
    server.start()
    try:
        token = server.add_user("alice")
        with server.client(token) as client:
            created = client.post("/api/v1/labs/frameworks/submissions",
                                  files={"notebook": ("lab.ipynb", notebook_bytes(PROBE))})
            assert created.status_code == 202, created.text
            done = server.wait_for(token, created.json()["id"])
            executed = client.get(f"/api/v1/submissions/{created.json()['id']}/notebook").json()
    finally:
        server.stop()
    assert done["status"] == "graded"
    text = executed["cells"][0]["outputs"][0]["text"]
    probe = json.loads("".join(text) if isinstance(text, list) else text)
    warm_uid = int(str(probe["uid"]))
    assert warm_uid >= 61000 + UID_OFFSET  # the server's default uid base: a warm kernel's lease, not a slot's
    assert reaper.processes_owned_by(warm_uid) == []
