"""The driver's nbclient side: run a job's cells in its kernel, with output caps and the lab's time limits, and
report what happened (`RunOutcome`); runs only inside the kernel driver (`grader.kernel.driver`). The nbclient
pieces it runs them with (the kernel manager, the capped client, private cells) are `grader.kernel.notebook_client`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_notebook, new_output

from grader.errors import KernelProtocolViolation, SetupFailed
from grader.kernel.channel import SandboxKernelClient
from grader.kernel.cpu_clock import Budget, CpuClock, WaitClock, used, watch_cell
from grader.kernel.frames import CONNECTION_KEYS, DEFAULT_DEATH_REASON
from grader.kernel.notebook_client import (
    RESPONSE_GRACE_S,
    CappedNotebookClient,
    RemoteKernelManager,
    cell_errors,
    kernel_responds,
    run_private_cell,
)
from grader.scoring.student_text import BUILTIN_EXCEPTIONS

logger = logging.getLogger(__name__)

# after a cell's reply, how long its outputs may still be arriving: the driver shares the job's CPU share with the
# kernel, so a cell that displayed hundreds of outputs may need more than nbclient's 4 s to be read
IOPUB_GRACE_S = 30
READ_FAILURE = "a reply the grader could not read"


@dataclass(frozen=True)
class DriverLimits:
    cell_timeout_s: float
    notebook_timeout_s: float
    harness_timeout_s: float
    output_limit_bytes: int
    cpu_share_cores: float = 1.0  # the limits are CPU seconds at this many cores (`grader.kernel.cpu_clock`)
    cpu_clock_fd: int | None = None  # the job's CPU counter, passed by the root; None: wall-clock limits
    cpu_wait_fd: int | None = None  # the job's wait for a CPU (`cpu_clock.WaitMeter`); None: the backstop is plain wall


HarnessRequest = Callable[[], Awaitable[str | None]]


@dataclass
class RunOutcome:
    """What the driver reports: per code cell its outputs (a timed-out cell ends with a CellTimeout error)."""

    nb: NotebookNode
    note: str = ""
    harness_ran: bool = False
    harness_error: str = ""
    protocol_violation: bool = False
    timings_s: dict[str, float] = field(default_factory=dict)
    ran: list[int] = field(default_factory=list)  # indices of the code cells that were executed (or started)
    # the limit that stopped the notebook, in numbers (the root writes the sentence: grader.scoring.report.Cutoff)
    cutoff: dict[str, Any] | None = None

    def as_frame(self) -> dict[str, Any]:
        return {
            "event": "result", "note": self.note, "harness_ran": self.harness_ran,
            "harness_error": self.harness_error, "protocol_violation": self.protocol_violation,
            "timings_s": self.timings_s, "cutoff": self.cutoff,
            "cells": [{"index": i, "outputs": self.nb.cells[i].get("outputs", []),
                       "execution_count": _count(self.nb.cells[i].get("execution_count"))} for i in self.ran],
        }


def _count(value: object) -> int | None:
    """A cell's execution count as the kernel's messages set it; anything but a count is none."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31 else None


def _why(state: KernelState) -> str:
    return state.km.dead_reason or DEFAULT_DEATH_REASON


@dataclass
class KernelState:
    km: RemoteKernelManager
    kc: SandboxKernelClient


async def run_notebook(state: KernelState, nb: NotebookNode, limits: DriverLimits, setup_code: str,
                       harness: HarnessRequest | None, progress: Callable[[int], None]) -> RunOutcome:
    """Execute every code cell (errors do not stop the run), then the harness code the root sends."""
    budget = Budget(limits.cell_timeout_s, limits.notebook_timeout_s, limits.cpu_share_cores,
                    CpuClock.from_fd(limits.cpu_clock_fd), WaitClock.from_fd(limits.cpu_wait_fd))
    client = CappedNotebookClient(
        nb, km=state.km, output_limit_bytes=limits.output_limit_bytes, timeout=int(budget.cell_ceiling_s),
        interrupt_on_timeout=True, allow_errors=True, record_timing=False, iopub_timeout=IOPUB_GRACE_S,
        error_on_timeout={"ename": "CellTimeout", "evalue": f"the cell ran longer than {budget.cell_ceiling_s:.0f} s"},
    )
    client.kc = state.kc
    state.kc.allow_stdin = False
    outcome = RunOutcome(nb=nb)
    phase = ["the set-up"]
    try:
        await _run_cells(client, state, nb, setup_code, limits, budget, outcome, harness, progress, phase)
    except DeadKernelError:
        outcome.note = outcome.note or f"the kernel died before the notebook finished ({_why(state)})"
    except SetupFailed:
        raise  # grader code failed before any student code ran: the root's infrastructure error
    except KernelProtocolViolation as violation:
        # graded, never retried: the notebook's own code sent it; the root stops the kernel
        _violated(outcome, f"the grader {violation.what}", phase[0])
    except Exception as exc:
        # nbclient (or this driver) failed on a message it could read but not use: an execute_reply without a
        # status, a reply of the wrong type. Only the kernel, which holds the key, can send one: the student's code
        # (before any student code ran, the environment's: the root's infrastructure error)
        logger.exception("a message the driver could not use during %s", phase[0])
        if phase[0] == "the set-up":
            raise SetupFailed(f"the sandbox set-up failed: {type(exc).__name__}") from exc
        _violated(outcome, READ_FAILURE, phase[0])
    return outcome


def _violated(outcome: RunOutcome, what: str, phase: str) -> None:
    outcome.protocol_violation = True
    outcome.note = (f"the notebook sent {what} during {phase}; the kernel was stopped there, so the cells after it "
                    "and the evaluation did not run")
    outcome.harness_error = outcome.note
    outcome.harness_ran = False


def _timeout_error(cell: NotebookNode, ename: str, evalue: str) -> None:
    cell.outputs = [o for o in cell.outputs if o.get("output_type") != "error"] + [
        new_output("error", ename=ename, evalue=evalue, traceback=[])]  # type: ignore[no-untyped-call]


async def _run_cells(client: CappedNotebookClient, state: KernelState, nb: NotebookNode, setup_code: str,
                     limits: DriverLimits, budget: Budget, outcome: RunOutcome, harness: HarnessRequest | None,
                     progress: Callable[[int], None], phase: list[str]) -> None:
    loop = asyncio.get_running_loop()
    setup_cell = await run_private_cell(client, setup_code)
    setup_errors = cell_errors(setup_cell)
    if setup_errors:
        raise SetupFailed(f"the sandbox set-up code failed: {setup_errors[0].ename}: {setup_errors[0].evalue[:200]}")
    deadline = loop.time() + budget.notebook_ceiling_s
    notebook = budget.start()
    cells_started = notebook.wall0
    notebook_cpu0 = notebook.cpu0
    kernel_usable = True
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        remaining = deadline - loop.time()
        notebook_cpu = used(notebook_cpu0, budget.now())
        over_cpu = notebook_cpu is not None and notebook_cpu >= budget.notebook_cpu_s
        over_wall = budget.clock is not None and budget.active(notebook) >= budget.notebook_wall_s
        if remaining <= 0 or over_cpu or over_wall:  # between cells: the kernel is idle; what it trained is graded
            outcome.cutoff = {"limit": "notebook", "cell_number": index + 1, "ran_s": 0.0,
                              "started_after_s": time.monotonic() - cells_started, "interrupted": False,
                              "clock": "cpu" if over_cpu else "wall", "cpu_s": notebook_cpu,
                              "waited_s": budget.waited(notebook)}
            outcome.note = (f"the notebook ran longer than its {limits.notebook_timeout_s:.0f} s limit; "
                            f"cell {index + 1} and later did not run")
            break
        phase[0] = f"cell {index + 1}"
        progress(index)
        outcome.ran.append(index)
        span = budget.start()
        cell_started, cell_cpu0 = span.wall0, span.cpu0
        cpu_cut = False
        running = asyncio.ensure_future(client.async_execute_cell(cell, index))
        try:
            struck = await watch_cell(running, budget, deadline, notebook, span)
            if struck is None:
                running.result()  # the cell's own end: its timeout (interrupted), a dead kernel
            elif struck[0] == "cell":  # the cell used its time: interrupted, and the cells after it run
                cell_cpu, waited = used(cell_cpu0, budget.now()), budget.waited(span)
                ran_s = time.monotonic() - cell_started
                client.timed_out_cells.append(id(cell))
                cpu_cut = True
                if not await _interrupt_and_wait(client, state, running):
                    what = (f"used more than its {budget.cell_cpu_s:.0f} s of CPU time" if struck[1] == "cpu" else
                            f"ran longer than {budget.cell_wall_s:.0f} s")
                    _timeout_error(cell, "CellTimeout", f"the cell {what}")
                    outcome.note = (f"cell {index + 1} {what} and did not stop when interrupted; the cells after it "
                                    "did not run")
                    kernel_usable = False
                    break
                outcome.cutoff = outcome.cutoff or {
                    "limit": "cell", "cell_number": index + 1, "ran_s": ran_s, "interrupted": True,
                    "started_after_s": cell_started - cells_started, "clock": struck[1], "cpu_s": cell_cpu,
                    "waited_s": waited}
            else:
                # the notebook's time ran out inside this cell: interrupt it, let it end, grade what it trained
                outcome.cutoff = {"limit": "notebook", "cell_number": index + 1,
                                  "ran_s": time.monotonic() - cell_started,
                                  "started_after_s": cell_started - cells_started, "interrupted": True,
                                  "clock": struck[1], "cpu_s": used(notebook_cpu0, budget.now()),
                                  "waited_s": budget.waited(notebook)}
                outcome.note = (f"the notebook ran longer than its {limits.notebook_timeout_s:.0f} s limit "
                                f"in cell {index + 1}")
                if await _interrupt_and_wait(client, state, running):
                    _timeout_error(cell, "NotebookTimeout", f"the notebook ran longer than "
                                   f"{limits.notebook_timeout_s:.0f} s; this cell was interrupted")
                else:
                    outcome.cutoff = None
                    outcome.note += ", which did not stop when interrupted; no network could be evaluated"
                    kernel_usable = False
                break
        except (TimeoutError, CellTimeoutError):
            pass  # a cell over its own limit: recorded below, from the cell's outputs
        except DeadKernelError:
            # nbclient turns the cancellation by `wait_for` into DeadKernelError: a live kernel past the deadline
            # ran out of time
            if state.km.dead_reason is None and loop.time() >= deadline:
                outcome.note = (f"the notebook ran longer than its {limits.notebook_timeout_s:.0f} s limit "
                                f"in cell {index + 1}")
            else:
                outcome.note = f"the kernel died while running cell {index + 1} ({_why(state)})"
            kernel_usable = False
            break
        if id(cell) in client.timed_out_cells:
            wall_cut = not cpu_cut or (outcome.cutoff or {}).get("clock") == "wall"
            what = (f"used {budget.cell_cpu_s:.0f} s of CPU time" if not wall_cut else
                    f"ran longer than {budget.cell_wall_s if cpu_cut else budget.cell_ceiling_s:.0f} s")
            _timeout_error(cell, "CellTimeout", f"the cell {what} and was interrupted")
            if not cpu_cut and not await kernel_responds(client):
                outcome.note = (f"cell {index + 1} ran longer than {budget.cell_ceiling_s:.0f} s and did not stop "
                                "when interrupted; the cells after it did not run")
                kernel_usable = False
                break
            outcome.note = outcome.note or f"cell {index + 1} {what} and was interrupted"
            if outcome.cutoff is None:  # nbclient's own timeout: the ceiling (without a CPU clock, the limit)
                outcome.cutoff = {"limit": "cell", "cell_number": index + 1, "ran_s": budget.cell_ceiling_s,
                                  "started_after_s": cell_started - cells_started, "interrupted": True,
                                  "clock": "wall", "cpu_s": used(cell_cpu0, budget.now()),
                                  "waited_s": budget.waited(span)}
    outcome.timings_s["cells"] = time.monotonic() - cells_started
    if (cells_cpu := used(notebook_cpu0, budget.now())) is not None:
        outcome.timings_s["cells_cpu"] = cells_cpu
    if harness is None:
        return
    if not kernel_usable:
        outcome.harness_error = outcome.note
        return
    harness_started = time.monotonic()
    phase[0] = "the evaluation"
    code = await harness()
    if code is None:
        return
    harness_cell = new_code_cell(code)
    harness_deadline = loop.time() + limits.harness_timeout_s
    try:
        await asyncio.wait_for(run_private_cell(client, code, harness_cell), timeout=limits.harness_timeout_s)
    except (TimeoutError, CellTimeoutError):
        outcome.harness_error = f"evaluating the models took longer than {limits.harness_timeout_s:.0f} s"
        return
    except DeadKernelError:
        if state.km.dead_reason is None and loop.time() >= harness_deadline:  # the cancelled wait (see above)
            outcome.harness_error = f"evaluating the models took longer than {limits.harness_timeout_s:.0f} s"
        else:
            outcome.harness_error = f"the kernel died while the models were evaluated ({_why(state)})"
        return
    finally:
        outcome.timings_s["harness"] = time.monotonic() - harness_started
    errors = cell_errors(harness_cell)
    if errors:
        # the class only if it is a built-in one, never the message: grader-written words for the student
        name = errors[0].ename if errors[0].ename in BUILTIN_EXCEPTIONS else "an exception"
        outcome.harness_error = f"the evaluation code could not run in this kernel (it raised {name})"
    outcome.harness_ran = True


async def _interrupt_and_wait(client: CappedNotebookClient, state: KernelState, running: asyncio.Future[Any]) -> bool:
    """Interrupt the kernel and let the running cell end; False when it does not end within the grace period."""
    with contextlib.suppress(Exception):
        await state.km.interrupt_kernel()
    done, _ = await asyncio.wait({running}, timeout=RESPONSE_GRACE_S * 2)
    if not done:
        running.cancel()
        return False
    if not running.cancelled() and isinstance(running.exception(), DeadKernelError):
        return False
    return await kernel_responds(client)


async def run_private(state: KernelState, code: str, timeout_s: float) -> str:
    """Run grader code before the notebook (warm kernels: set-up and framework imports); "" or what failed."""
    client = CappedNotebookClient(new_notebook(), km=state.km, output_limit_bytes=1 << 20,  # type: ignore[no-untyped-call]
                                  timeout=int(timeout_s), allow_errors=True, record_timing=False)
    client.kc = state.kc
    try:
        cell = await asyncio.wait_for(run_private_cell(client, code), timeout=timeout_s)
    except (TimeoutError, CellTimeoutError):
        return f"grader code took longer than {timeout_s:.0f} s"
    except (DeadKernelError, KernelProtocolViolation) as exc:
        return f"the kernel failed while grader code ran ({type(exc).__name__})"
    errors = cell_errors(cell)
    return f"{errors[0].ename}: {errors[0].evalue[:200]}" if errors else ""


async def connect(info: dict[str, Any], timeout_s: float, confirm_alive: Callable[[], Awaitable[bool]]) -> KernelState:
    km = RemoteKernelManager()
    km.load_connection_info({k: info[k] for k in CONNECTION_KEYS if k in info})  # type: ignore[arg-type]
    kc = km.client()
    kc.confirm_alive = confirm_alive
    await kc.start_channels(timeout_s=timeout_s)
    await kc.wait_for_ready(timeout=timeout_s)
    return KernelState(km, kc)
