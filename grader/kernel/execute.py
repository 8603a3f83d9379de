"""Run a notebook's code cells in a sandboxed kernel, then the harness in the same kernel.

The root side: it starts the kernel's process (`grader.kernel.kernel_process`: the sandbox argv of
`grader.sandbox.kernel_command`) and the job's kernel driver (`grader.kernel.driver`: the job's unprivileged uid,
the job's cgroups, its own sandbox; `grader.kernel.driver_handle` is the root's end), and never connects to the
kernel itself. The driver runs nbclient against the kernel and sends back, over a pipe, small frames: which
cell runs, a request for the harness code, and at the end each code cell's outputs and a note. The root checks every
frame (size first, then JSON, then the notebook schema) as untrusted input, because the driver handles what student
code sends; a driver that sends nonsense or dies ends the job with a graded note, never a retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from grader.errors import DriverEnded, InfrastructureError, KernelStartFailed
from grader.kernel.driver_handle import DeathReason, KernelDriver, bounded_text, no_reason, start_driver
from grader.kernel.frames import DEFAULT_DEATH_REASON
from grader.kernel.kernel_process import SandboxKernelManager, sandbox_kernel_manager, start_kernel
from grader.kernel.limits import DEFAULT_HARNESS_TIMEOUT_S, DEFAULT_OUTPUT_LIMIT_KB, WALL_CEILING_FACTOR
from grader.kernel.stderr_tail import StderrTail
from grader.scoring.report import CellError, Cutoff

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class RunLimits:
    cell_timeout_s: float
    notebook_timeout_s: float
    harness_timeout_s: float = DEFAULT_HARNESS_TIMEOUT_S
    output_limit_bytes: int = DEFAULT_OUTPUT_LIMIT_KB * 1024
    startup_timeout_s: float = 60
    cpu_share_cores: float = 1.0  # the job's cores: the limits are CPU seconds at this rate (`grader.kernel.cpu_clock`)


@dataclass
class ExecutionResult:
    """What happened when the student's cells ran; `note` explains an abnormal end in words a student can act on."""

    notebook: NotebookNode
    cell_errors: list[CellError] = field(default_factory=list)
    note: str = ""
    cutoff: Cutoff | None = None
    harness_output: Path | None = None
    harness_error: str = ""
    timings_s: dict[str, float] = field(default_factory=dict)
    protocol_violation: bool = False


HarnessStep = Callable[[], Awaitable[tuple[str, Path]]]


def _result_cap(nb: NotebookNode, limits: RunLimits) -> int:
    return 2 * limits.output_limit_bytes + 2048 * len(nb.cells) + 1024 * 1024


def _apply_outputs(nb: NotebookNode, cells: Any) -> list[int]:
    """Put the driver's outputs into the root's own copy of the notebook (its sources were never sent back), then
    validate the notebook; raises ValueError on anything malformed."""
    if not isinstance(cells, list):
        raise ValueError("cells is not a list")
    ran: list[int] = []
    for entry in cells:
        index = entry.get("index") if isinstance(entry, dict) else None
        if not isinstance(index, int) or not 0 <= index < len(nb.cells) or nb.cells[index].cell_type != "code" \
                or (ran and index <= ran[-1]):
            raise ValueError("a cell index out of order or not a code cell")
        outputs, count = entry.get("outputs"), entry.get("execution_count")
        if not isinstance(outputs, list) or not (count is None or isinstance(count, int)):
            raise ValueError("malformed outputs")
        nb.cells[index].outputs = [nbformat.from_dict(o) for o in outputs]
        nb.cells[index].execution_count = count
        ran.append(index)
    nbformat.validate(nb)
    return ran


def _cell_errors(cell: NotebookNode, index: int) -> list[CellError]:
    return [
        CellError(cell_index=index, ename=str(out.get("ename", "Error")), evalue=str(out.get("evalue", "")),
                  traceback="\n".join(str(line) for line in out.get("traceback", []))[-20000:])
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]


async def execute_notebook(
    nb: NotebookNode, *, work: Path, kernel_dirs: Path, env: dict[str, str], limits: RunLimits,
    setup_code: str, harness: HarnessStep | None, sandbox_uid: int | None, driver_argv: list[str],
    death_reason: DeathReason = no_reason, kernel_manager: SandboxKernelManager | None = None,
    driver: KernelDriver | None = None, cpu_usage: Path | None = None,
    cpu_threads: Callable[[], Iterable[int]] | None = None,
) -> ExecutionResult:
    """Execute every code cell (errors do not stop the run), then the harness code the `harness` step prepares.

    `death_reason` explains a dead kernel from what the sandbox measured (e.g. the memory cgroup's OOM kills).
    `kernel_manager` and `driver`: a kernel of this job already started and connected (a warm kernel).
    `cpu_usage`: the job cgroup's CPU counter, which the cell and notebook limits are counted in (else wall-clock);
    `cpu_threads`: the job cgroup's threads, whose wait for a CPU the wall-clock backstop leaves out.
    """
    km = kernel_manager or sandbox_kernel_manager(work, kernel_dirs, sandbox_uid)
    result = ExecutionResult(notebook=nb)
    started = time.monotonic()
    # why a kernel that dies at start died (its stderr, bounded); a warm kernel's is kept by its WarmKernel
    stderr = StderrTail() if kernel_manager is None else None
    try:
        try:
            if stderr is not None:
                await start_kernel(km, env, work, stderr.write_fd)
                stderr.close_writer()
            if driver is None:
                driver = await start_driver(driver_argv, km, work, limits.startup_timeout_s, death_reason, cpu_usage,
                                            cpu_threads)
        except InfrastructureError as exc:
            tail = await asyncio.to_thread(stderr.text) if stderr is not None else ""
            raise KernelStartFailed(str(exc), tail) from exc
        driver.death_reason = death_reason
        result.timings_s["kernel_start"] = time.monotonic() - started
        waiting = asyncio.ensure_future(driver.cpu_wait.follow()) if driver.cpu_wait is not None else None
        try:
            await _drive(driver, nb, setup_code, limits, result, harness, death_reason)
        finally:
            if waiting is not None:
                waiting.cancel()
                with contextlib.suppress(BaseException):
                    await waiting
    finally:
        if stderr is not None:
            stderr.close_writer()
        if driver is not None:
            await driver.close()
        with contextlib.suppress(Exception):
            await km.shutdown_kernel(now=True)
        result.timings_s["total"] = time.monotonic() - started
    for index, cell in enumerate(nb.cells):
        result.cell_errors.extend(_cell_errors(cell, index))
    return result


async def _drive(driver: KernelDriver, nb: NotebookNode, setup_code: str, limits: RunLimits,
                 result: ExecutionResult, harness: HarnessStep | None, death_reason: DeathReason) -> None:
    """Hand the notebook to the driver and follow it until its result (or its end)."""
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    driver.send({"op": "run", "notebook": nbformat.writes(nb), "setup_code": setup_code,  # type: ignore[no-untyped-call]
                 "harness": harness is not None,
                 "limits": {"cell_timeout_s": limits.cell_timeout_s, "notebook_timeout_s": limits.notebook_timeout_s,
                            "harness_timeout_s": limits.harness_timeout_s,
                            "output_limit_bytes": limits.output_limit_bytes,
                            "cpu_share_cores": limits.cpu_share_cores, "cpu_clock_fd": driver.cpu_clock_fd,
                            "cpu_wait_fd": driver.cpu_wait_fd}})
    for cell in code_cells:
        cell.outputs = []  # what the notebook came with is never shown as if it had run
    # the driver enforces every time limit; this one only catches a driver that stopped answering
    deadline = time.monotonic() + (limits.notebook_timeout_s + limits.cell_timeout_s) * WALL_CEILING_FACTOR + \
        limits.harness_timeout_s + 120
    current = "the set-up"
    output_path: Path | None = None
    while True:
        remaining = deadline - time.monotonic()
        try:
            event = await asyncio.wait_for(driver.next_event(_result_cap(nb, limits)), timeout=max(remaining, 0.01))
        except TimeoutError:
            result.note = f"the grader lost track of the notebook during {current} (it stopped answering)"
            result.harness_error = result.note
            return
        except DriverEnded:
            why = death_reason()
            if not why and driver.process.returncode is not None and driver.process.returncode > 0:
                if current == "the set-up":  # no student code ran yet: the grader's own failure
                    raise InfrastructureError(f"the kernel driver failed: {driver.stderr_tail()}") from None
                # after student code ran, the driver's failure is graded with the grader's words, never retried;
                # its traceback (with the service's paths) is for instructors only
                logger.warning("the kernel driver failed during %s: %s", current, driver.stderr_tail())
                why = "the grader could not read what the kernel sent"
            result.note = (f"the grader's connection to the kernel ended during {current} "
                           f"({why or DEFAULT_DEATH_REASON}); the cells after it and the evaluation did not run")
            result.harness_error = result.note
            return
        kind = event.get("event")
        if kind == "cell":
            index = event.get("index")
            if isinstance(index, int) and 0 <= index < len(nb.cells):
                current = f"cell {index + 1}"
        elif kind == "harness_wanted" and harness is not None and output_path is None:
            current = "the evaluation"
            code, output_path = await harness()
            driver.send({"op": "harness", "code": code})
        elif kind == "setup_failed":
            raise InfrastructureError(bounded_text(event.get("error"), 400))
        elif kind == "result":
            _take_result(event, nb, result, output_path, limits)
            return
        else:
            result.note = f"the grader's connection to the kernel sent something unexpected during {current}"
            result.harness_error = result.note
            return


def _take_result(event: dict[str, Any], nb: NotebookNode, result: ExecutionResult, output_path: Path | None,
                 limits: RunLimits) -> None:
    try:
        _apply_outputs(nb, event.get("cells"))
    except Exception as exc:  # the notebook schema or a malformed entry: whatever the driver sent is refused
        logger.warning("refused the kernel driver's outputs: %s", type(exc).__name__)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
        result.note = "the grader could not read the notebook's outputs back from its kernel connection"
        result.harness_error = result.note
        result.protocol_violation = True
        return
    result.note = bounded_text(event.get("note"))
    result.cutoff = _cutoff(event.get("cutoff"), nb, limits)
    if result.cutoff is not None:
        result.note = result.cutoff.describe()  # the grader's own sentence, from validated numbers only
    result.harness_error = bounded_text(event.get("harness_error"))
    result.protocol_violation = event.get("protocol_violation") is True
    timings = event.get("timings_s")
    if isinstance(timings, dict):
        for key in ("cells", "cells_cpu", "harness"):
            value = timings.get(key)
            if isinstance(value, int | float) and 0 <= value < 1e7:
                result.timings_s[key] = float(value)
    if event.get("harness_ran") is True and output_path is not None:
        result.harness_output = output_path


def _cutoff(raw: object, nb: NotebookNode, limits: RunLimits) -> Cutoff | None:
    """The limit that stopped the notebook, as the driver reported it; None for anything malformed or absurd.

    Only numbers cross: the limits come from the root's own settings, the sentence from `Cutoff.describe`."""
    if not isinstance(raw, dict) or raw.get("limit") not in ("cell", "notebook"):
        return None
    cell_number, ran_s, started_after_s = raw.get("cell_number"), raw.get("ran_s"), raw.get("started_after_s")
    if not isinstance(cell_number, int) or isinstance(cell_number, bool) or not 1 <= cell_number <= len(nb.cells):
        return None
    ceiling = (limits.notebook_timeout_s + limits.cell_timeout_s) * WALL_CEILING_FACTOR + 60
    numbers = (ran_s, started_after_s)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= ceiling for v in numbers):
        return None
    cpu_s = raw.get("cpu_s")
    cpu_ok = isinstance(cpu_s, int | float) and not isinstance(cpu_s, bool) and 0 <= cpu_s <= ceiling * 1024
    clock = "cpu" if raw.get("clock") == "cpu" and cpu_ok else "wall"
    waited_s = raw.get("waited_s")
    waited_ok = cpu_ok and isinstance(waited_s, int | float) and not isinstance(waited_s, bool) and \
        0 <= waited_s <= ceiling
    return Cutoff(limit=raw["limit"], cell_number=cell_number, ran_s=round(float(ran_s), 1),  # type: ignore[arg-type]
                  started_after_s=round(float(started_after_s), 1),  # type: ignore[arg-type]
                  cell_timeout_s=limits.cell_timeout_s, notebook_timeout_s=limits.notebook_timeout_s,
                  interrupted=raw.get("interrupted") is not False, clock=clock,
                  cpu_s=round(float(cpu_s), 1) if cpu_ok else None,  # type: ignore[arg-type]
                  waited_s=round(float(waited_s), 1) if waited_ok else None,  # type: ignore[arg-type]
                  cpu_share_cores=limits.cpu_share_cores)
