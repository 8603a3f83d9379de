"""Issue 27: the wall-clock backstop leaves out the time a job waited for a CPU behind other work
(`grader.kernel.cpu_clock.WaitMeter`), so a job a loaded worker starves meets its CPU-time limit, and only a job that
sleeps meets the backstop. The jobs here are real sandboxed kernels, pinned with bounded busy loops onto one core so
that they wait."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from grader.kernel.cpu_clock import WaitClock, WaitMeter
from grader.kernel.limits import WALL_BACKSTOP_FACTOR, WALL_CEILING_FACTOR
from grader.pipeline import GradingContext, GradingOutcome, grade_notebook
from grader.sandbox import cgroups
from grader.sandbox.isolation import SandboxConfig
from grader.spec.lab import discover_labs
from lab_tasks import LABS_DIR
from tests.lab_data import frameworks_data

PARENT = "labgrader-test-cpu-wait"
needs_cpuacct = pytest.mark.skipif(os.geteuid() != 0 or not cgroups.probe_cgroups(parent=PARENT).cpuacct,
                                   reason="CPU-time limits need a root worker with cgroup v1 cpuacct")
HOG = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end:\n    pass\n"
HOGS = 5  # beside a job weighing 2 of the host's cores' shares on one core: it gets at most 2/7 of it, under a third
CELL_LIMIT_S = 3.0


@contextlib.contextmanager
def one_core_with_hogs(count: int, seconds: float) -> Iterator[int]:
    """This process (so every job it starts from now on) and `count` busy loops, each ending by itself after
    `seconds`, pinned onto one core; the core's number."""
    before = os.sched_getaffinity(0)
    core = min(before)
    os.sched_setaffinity(0, {core})
    # each in a session of its own: with the scheduler's autogroups, busy loops sharing the test's session would
    # weigh as one task together, and the job would get most of the core on a quiet machine
    hogs = [subprocess.Popen(["taskset", "-c", str(core), sys.executable, "-c", HOG.format(s=seconds)],
                             start_new_session=True)
            for _ in range(count)]
    try:
        yield core
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait(timeout=30)
        os.sched_setaffinity(0, before)


def _waited_beside(command: list[str], hogs: int, seconds: float) -> tuple[float, float]:
    """(seconds the meter counted, wall seconds) for `command` run for `seconds` beside `hogs` on one core, read
    through the driver's read-only end."""
    with one_core_with_hogs(hogs, seconds + 30):
        child = subprocess.Popen(command)
        meter = WaitMeter(lambda: [child.pid])
        fd = meter.driver_fd()
        try:
            assert fd is not None and fd >= 10
            clock = WaitClock.from_fd(fd)
            assert clock is not None and clock.seconds() == 0.0
            with pytest.raises(OSError):
                os.write(fd, b"0")  # the driver can read the number, never set it
            meter.sample()
            started = time.monotonic()
            for _ in range(int(seconds / 0.25)):
                time.sleep(0.25)
                meter.sample()
            wall = time.monotonic() - started
            waited = clock.seconds()
            assert waited is not None
            return waited, wall
        finally:
            child.kill()
            child.wait(timeout=30)
            if fd is not None:
                os.close(fd)
            meter.close()


def test_the_meter_counts_a_busy_threads_wait_for_a_cpu_and_never_more_than_wall_time() -> None:
    busy = [sys.executable, "-c", HOG.format(s=60)]
    waited, wall = _waited_beside(busy, hogs=2, seconds=3.0)
    assert 0.4 * wall <= waited <= wall  # one of three busy loops on one core waits about two thirds of the time
    sleeping = ["sleep", "60"]
    waited, wall = _waited_beside(sleeping, hogs=2, seconds=2.0)
    assert waited < 0.1 * wall  # a sleeping process is not waiting for a CPU


def _context(tmp_path: Path) -> GradingContext:
    spec = discover_labs(LABS_DIR)["frameworks"]
    spec = spec.model_copy(update={"checks": tuple(c for c in spec.checks if c.id == "iris_accuracy")})
    lab = frameworks_data(tmp_path / "data", mnist=None)
    return GradingContext(spec=spec, lab_data=lab, jobs_root=tmp_path / "jobs",
                          sandbox=SandboxConfig(kernel_python=sys.executable, cgroup_parent=PARENT),
                          slot=27, cell_timeout_s=CELL_LIMIT_S, notebook_timeout_s=600, harness_timeout_s=60)


async def _grade_on_one_busy_core(tmp_path: Path, code: str) -> GradingOutcome:
    with one_core_with_hogs(HOGS, 600) as core:
        nb = new_notebook(cells=[new_code_cell("import os\nprint(sorted(os.sched_getaffinity(0)))"),
                                 new_code_cell(code), new_code_cell("print('after')")])
        outcome = await grade_notebook(nb, _context(tmp_path))
    executed = nbformat.reads(outcome.executed_notebook.decode(), as_version=4)
    assert executed.cells[0].outputs[0]["text"] == f"[{core}]\n"  # the job's kernel shared the core with the hogs
    assert executed.cells[2].outputs[0]["text"] == "after\n"
    return outcome


@needs_cpuacct
async def test_a_starved_busy_cell_meets_its_cpu_limit_not_the_backstop(tmp_path: Path) -> None:
    outcome = await _grade_on_one_busy_core(tmp_path, "x = 0\nwhile True:\n    x += 1")
    cutoff = outcome.report.cutoff
    assert cutoff is not None and cutoff.waited_s is not None and cutoff.cpu_s is not None
    assert (cutoff.limit, cutoff.cell_number, cutoff.clock) == ("cell", 2, "cpu")
    assert CELL_LIMIT_S <= cutoff.cpu_s < CELL_LIMIT_S + 2
    # it got under a third of its core: the wall-clock backstop, counting plain wall time, would have struck first
    assert WALL_BACKSTOP_FACTOR * CELL_LIMIT_S < cutoff.ran_s < WALL_CEILING_FACTOR * CELL_LIMIT_S
    assert cutoff.waited_s > cutoff.ran_s / 2
    assert outcome.report.execution_note.startswith(
        f"cell 2 used its {CELL_LIMIT_S:.0f} s of CPU time and was interrupted; the cells after it ran")


@needs_cpuacct
async def test_a_sleeping_cell_beside_the_same_load_is_still_stopped_by_the_backstop(tmp_path: Path) -> None:
    outcome = await _grade_on_one_busy_core(tmp_path, "import time\ntime.sleep(600)")
    cutoff = outcome.report.cutoff
    assert cutoff is not None and cutoff.waited_s is not None and cutoff.cpu_s is not None
    assert (cutoff.limit, cutoff.cell_number, cutoff.clock) == ("cell", 2, "wall")
    backstop = WALL_BACKSTOP_FACTOR * CELL_LIMIT_S
    assert backstop <= cutoff.ran_s - cutoff.waited_s < backstop + 2 and cutoff.waited_s < CELL_LIMIT_S
    assert outcome.report.execution_note.startswith(
        f"cell 2 was stopped by the wall-clock backstop after {cutoff.ran_s - cutoff.waited_s:.0f} s (not counting "
        f"{cutoff.waited_s:.0f} s it waited for a CPU behind other work) having used only {cutoff.cpu_s:.0f} s of its "
        f"{CELL_LIMIT_S:.0f} s of CPU time; the cells after it ran")
