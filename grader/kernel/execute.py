"""Run a notebook's code cells in a sandboxed kernel, then the harness in the same kernel.

The root side: it starts the kernel's process (`grader.kernel.kernel_process`: the sandbox argv of
`grader.sandbox.kernel_command`) and the job's kernel driver (`grader.kernel.driver`: the job's unprivileged uid,
the job's cgroups, its own sandbox; `grader.kernel.driver_handle` is the root's end), and never connects to the
kernel itself. The driver runs nbclient against the kernel and sends back, over a pipe, small frames: which
cell runs, a request for the harness code, and at the end each code cell's outputs and a note. The root checks every
frame as untrusted input, because the driver handles what student code sends: its size first, then JSON, then its
kind's model (`grader.kernel.frames`), then the notebook schema and the root's own limits; a driver that sends
nonsense or dies ends the job with a graded note, never a retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from grader.errors import DriverEnded, FrameRefused, InfrastructureError, KernelStartFailed
from grader.kernel.driver_handle import DeathReason, KernelDriver, bounded_text, no_reason, start_driver
from grader.kernel.frames import (
    DEFAULT_DEATH_REASON,
    CellOutputs,
    CellStarted,
    CutoffNumbers,
    DriverLimits,
    Harness,
    HarnessWanted,
    Result,
    Run,
    SetupFailure,
)
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


def _apply_outputs(nb: NotebookNode, cells: list[CellOutputs]) -> list[int]:
    """Put the driver's outputs into the root's own copy of the notebook (its sources were never sent back), then
    validate the notebook; raises ValueError on a cell out of order or not a code cell, ValidationError on outputs
    the notebook schema refuses."""
    ran: list[int] = []
    for entry in cells:
        index = entry.index
        if not index < len(nb.cells) or nb.cells[index].cell_type != "code" or (ran and index <= ran[-1]):
            raise ValueError("a cell index out of order or not a code cell")
        nb.cells[index].outputs = [nbformat.from_dict(o) for o in entry.outputs]
        nb.cells[index].execution_count = entry.execution_count
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
    driver.send(Run(notebook=nbformat.writes(nb), setup_code=setup_code,  # type: ignore[no-untyped-call]
                    harness=harness is not None,
                    limits=DriverLimits(cell_timeout_s=limits.cell_timeout_s,
                                        notebook_timeout_s=limits.notebook_timeout_s,
                                        harness_timeout_s=limits.harness_timeout_s,
                                        output_limit_bytes=limits.output_limit_bytes,
                                        cpu_share_cores=limits.cpu_share_cores, cpu_clock_fd=driver.cpu_clock_fd,
                                        cpu_wait_fd=driver.cpu_wait_fd)))
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
        except FrameRefused as refused:
            logger.warning("refused a frame of the kernel driver during %s: %s", current, refused)
            if refused.kind == "result":
                _refuse_outputs(nb, result)
            else:
                _unexpected(result, current)
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
        if isinstance(event, CellStarted):
            if event.index < len(nb.cells):
                current = f"cell {event.index + 1}"
        elif isinstance(event, HarnessWanted) and harness is not None and output_path is None:
            current = "the evaluation"
            code, output_path = await harness()
            driver.send(Harness(code=code))
        elif isinstance(event, SetupFailure):
            raise InfrastructureError(bounded_text(event.error, 400))
        elif isinstance(event, Result):
            _take_result(event, nb, result, output_path, limits)
            return
        else:
            _unexpected(result, current)
            return


def _unexpected(result: ExecutionResult, current: str) -> None:
    """A frame of the wrong kind, or one that is none of the protocol's kinds."""
    result.note = f"the grader's connection to the kernel sent something unexpected during {current}"
    result.harness_error = result.note


def _refuse_outputs(nb: NotebookNode, result: ExecutionResult) -> None:
    """A result whose outputs cannot be taken: none of what the driver sent is shown."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    result.note = "the grader could not read the notebook's outputs back from its kernel connection"
    result.harness_error = result.note
    result.protocol_violation = True


def _take_result(event: Result, nb: NotebookNode, result: ExecutionResult, output_path: Path | None,
                 limits: RunLimits) -> None:
    try:
        _apply_outputs(nb, event.cells)
    except Exception as exc:  # the notebook schema or a cell out of order: whatever the driver sent is refused
        logger.warning("refused the kernel driver's outputs: %s", type(exc).__name__)
        _refuse_outputs(nb, result)
        return
    result.note = bounded_text(event.note)
    result.cutoff = _cutoff(event.cutoff, nb, limits)
    if result.cutoff is not None:
        result.note = result.cutoff.describe()  # the grader's own sentence, from validated numbers only
    result.harness_error = bounded_text(event.harness_error)
    result.protocol_violation = event.protocol_violation
    result.timings_s.update(event.timings_s.model_dump(exclude_none=True))
    if event.harness_ran and output_path is not None:
        result.harness_output = output_path


def _cutoff(numbers: CutoffNumbers | None, nb: NotebookNode, limits: RunLimits) -> Cutoff | None:
    """The limit that stopped the notebook, as the driver reported it; None for a cell the notebook does not have or
    times past what the root's own limits allow.

    Only numbers cross: the limits come from the root's own settings, the sentence from `Cutoff.describe`."""
    if numbers is None or numbers.cell_number > len(nb.cells):
        return None
    ceiling = (limits.notebook_timeout_s + limits.cell_timeout_s) * WALL_CEILING_FACTOR + 60
    if numbers.ran_s > ceiling or numbers.started_after_s > ceiling:
        return None
    cpu_s = numbers.cpu_s if numbers.cpu_s is not None and numbers.cpu_s <= ceiling * 1024 else None
    waited_s = numbers.waited_s if cpu_s is not None and numbers.waited_s is not None and \
        numbers.waited_s <= ceiling else None
    return Cutoff(limit=numbers.limit, cell_number=numbers.cell_number, ran_s=round(numbers.ran_s, 1),
                  started_after_s=round(numbers.started_after_s, 1),
                  cell_timeout_s=limits.cell_timeout_s, notebook_timeout_s=limits.notebook_timeout_s,
                  interrupted=numbers.interrupted, clock="cpu" if numbers.clock == "cpu" and cpu_s is not None
                  else "wall", cpu_s=None if cpu_s is None else round(cpu_s, 1),
                  waited_s=None if waited_s is None else round(waited_s, 1),
                  cpu_share_cores=limits.cpu_share_cores)
