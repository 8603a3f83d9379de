"""Run a notebook's code cells in a sandboxed kernel with nbclient, then the harness in the same kernel."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import inspect
import json
import logging
import os
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellControlSignal, CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_notebook, new_output

from grader.errors import InfrastructureError, KernelStartFailed
from grader.kernel.stderr_tail import StderrTail
from grader.scoring.report import CellError, Cutoff

logger = logging.getLogger(__name__)

KERNEL_NAME = "labgrader-sandbox"
TRUNCATION_NOTE = "\n[labgrader: output truncated; the notebook printed more than {limit} kB]\n"


@dataclass(frozen=True)
class RunLimits:
    cell_timeout_s: float
    notebook_timeout_s: float
    harness_timeout_s: float = 300
    output_limit_bytes: int = 2 * 1024 * 1024
    startup_timeout_s: float = 60


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


class CappedNotebookClient(NotebookClient):
    """An nbclient that stops storing outputs past a byte budget, so a flood of output cannot exhaust the host."""

    def __init__(self, nb: NotebookNode, km: AsyncKernelManager, output_limit_bytes: int, **kw: Any) -> None:
        super().__init__(nb, km=km, **kw)
        self._budget = output_limit_bytes
        self._used = 0
        self._truncated_cells: set[int] = set()
        self.timed_out_cells: list[int] = []
        self.capture_disabled = False
        self._display_sizes: dict[str, int] = {}  # display id -> size of the data its outputs now show

    def output(self, outs: list[NotebookNode], msg: dict[str, Any], display_id: str | None,
               cell_index: int) -> NotebookNode | None:
        if self.capture_disabled:
            return None
        size = len(json.dumps(msg.get("content", {}), default=str))
        if self._used + size > self._budget:
            if cell_index not in self._truncated_cells:
                self._truncated_cells.add(cell_index)
                note = TRUNCATION_NOTE.format(limit=self._budget // 1024)
                outs.append(new_output("stream", name="stderr", text=note))  # type: ignore[no-untyped-call]
            return None
        self._used += size
        return super().output(outs, msg, display_id, cell_index)

    def _update_display_id(self, display_id: str, msg: dict[str, Any]) -> None:
        """A display with an id rewrites every earlier output with that id: what the copies grow by is charged."""
        if self.capture_disabled:
            return
        copies = sum(len(indices) for indices in self._display_id_map.get(display_id, {}).values())
        content = msg.get("content", {})
        size = len(json.dumps([content.get("data"), content.get("metadata")], default=str))
        growth = max(0, size - self._display_sizes.get(display_id, size)) * copies
        if self._used + growth > self._budget:
            return  # dropped: those outputs keep what they showed before
        self._used += growth
        self._display_sizes[display_id] = size
        super()._update_display_id(display_id, msg)

    def process_message(self, msg: dict[str, Any], cell: NotebookNode, cell_index: int) -> NotebookNode | None:
        """The kernel holds its message key, so student code can send any iopub message: a malformed one is dropped."""
        try:
            return super().process_message(msg, cell, cell_index)
        except CellControlSignal:
            raise  # "cell finished" and timeouts travel as exceptions
        except Exception as exc:  # a stream without text, a display map gone stale when the harness swapped cells
            logger.info("dropped a malformed %s message from the kernel: %r",
                        msg.get("header", {}).get("msg_type", "?"), exc)
            return None

    async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None) -> dict[str, Any] | None:
        if cell is not None:
            self.timed_out_cells.append(id(cell))
        return await super()._async_handle_timeout(timeout, cell)


class SandboxKernelManager(AsyncKernelManager):
    """Hands the connection file (it holds this kernel's message key) to the sandbox uid that must read it."""

    sandbox_uid: int | None = None

    def write_connection_file(self, **kwargs: Any) -> None:
        super().write_connection_file(**kwargs)
        if self.sandbox_uid is not None:
            os.chown(self.connection_file, self.sandbox_uid, self.sandbox_uid)

    # jupyter_client removes the connection file and ipc sockets by path, as root, when the kernel ends; the runtime
    # dir lies in the student's work dir, so a student process could have swapped it for a link and root would
    # delete files of those names wherever it points. The job dir is removed as a whole (without following links).
    def cleanup_connection_file(self) -> None:
        """Left to the job directory's removal (see above)."""

    def cleanup_ipc_files(self) -> None:
        """Left to the job directory's removal (see above)."""


def write_kernelspec(host_dir: Path, argv: list[str]) -> Path:
    """A kernelspec whose argv is the sandbox command; interrupts travel as messages (signals can't cross bwrap)."""
    spec_dir = host_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {"argv": argv, "display_name": "Labgrader sandbox", "language": "python", "interrupt_mode": "message"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return host_dir / "kernels"


def _cell_errors(cell: NotebookNode, index: int) -> list[CellError]:
    return [
        CellError(cell_index=index, ename=str(out.get("ename", "Error")), evalue=str(out.get("evalue", "")),
                  traceback="\n".join(out.get("traceback", []))[-20000:])
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]


HarnessStep = Callable[[], Awaitable[tuple[str, Path]]]
DeathReason = Callable[[], str]
DEFAULT_DEATH_REASON = "memory or process limit reached, or the process was killed"


def _no_reason() -> str:
    return ""


def _why(death_reason: DeathReason) -> str:
    return death_reason() or DEFAULT_DEATH_REASON


def sandbox_kernel_manager(work: Path, kernel_dirs: Path, sandbox_uid: int | None) -> SandboxKernelManager:
    """The (unstarted) manager of a job's kernel: ipc transport, connection file in the job's private runtime dir."""
    km = SandboxKernelManager(kernel_name=KERNEL_NAME,
                              kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dirs)]))
    km.sandbox_uid = sandbox_uid
    runtime = work / ".kernel"
    runtime.mkdir(mode=0o700, exist_ok=True)
    if sandbox_uid is not None:
        os.chown(runtime, sandbox_uid, sandbox_uid)
    km.transport = "ipc"
    km.ip = str(runtime / "ipc")
    km.connection_file = str(runtime / "connection.json")
    return km


async def execute_notebook(
    nb: NotebookNode, *, work: Path, kernel_dirs: Path, env: dict[str, str], limits: RunLimits,
    setup_code: str, harness: HarnessStep | None, sandbox_uid: int | None, death_reason: DeathReason = _no_reason,
    kernel_manager: SandboxKernelManager | None = None, kernel_client: Any = None,
) -> ExecutionResult:
    """Execute every code cell (errors do not stop the run), then the harness code the `harness` step prepares.

    `death_reason` explains a dead kernel from what the sandbox measured (e.g. the memory cgroup's OOM kills).
    `kernel_manager`: a kernel of this job already started by `sandbox_kernel_manager` (a warm kernel), and
    `kernel_client` its connected client (skips the ready handshake, which waits 0.2 s for output to settle).
    """
    km = kernel_manager or sandbox_kernel_manager(work, kernel_dirs, sandbox_uid)
    client = CappedNotebookClient(
        nb, km=km, output_limit_bytes=limits.output_limit_bytes, timeout=int(limits.cell_timeout_s),
        interrupt_on_timeout=True, allow_errors=True, startup_timeout=int(limits.startup_timeout_s),
        kernel_name=KERNEL_NAME, shutdown_kernel="immediate", record_timing=False,
        error_on_timeout={"ename": "CellTimeout", "evalue": f"the cell ran longer than {limits.cell_timeout_s:.0f} s"},
    )
    if kernel_client is not None:
        client.kc = kernel_client
        kernel_client.allow_stdin = False
    result = ExecutionResult(notebook=nb)
    started = time.monotonic()
    stderr = StderrTail()  # why a kernel that dies at start died (its stderr, bounded)
    try:
        async with client.async_setup_kernel(env=env, cwd=str(work), stdout=subprocess.DEVNULL,
                                             stderr=stderr.write_fd):
            stderr.close_writer()
            result.timings_s["kernel_start"] = time.monotonic() - started
            await _run_cells(client, nb, setup_code, limits, result, harness, death_reason)
    except DeadKernelError:
        result.note = result.note or f"the kernel died before the notebook finished ({_why(death_reason)})"
    except RuntimeError as exc:
        if "Kernel didn't respond" in str(exc) or "Kernel died before replying" in str(exc):
            tail = await asyncio.to_thread(stderr.text)
            atexit.unregister(client._cleanup_kernel)  # nbclient leaves it registered for a manager it dropped
            raise KernelStartFailed(f"the sandboxed kernel did not start: {exc}", tail) from exc
        raise
    finally:
        stderr.close_writer()
        result.timings_s["total"] = time.monotonic() - started
    return result


async def _run_private_cell(client: CappedNotebookClient, code: str,
                            cell: NotebookNode | None = None) -> NotebookNode:
    """Run grader code in the kernel without it appearing in the student's notebook or history."""
    cell = cell if cell is not None else new_code_cell(code)
    student_nb = client.nb
    client.nb = new_notebook(cells=[cell])
    try:
        return await client.async_execute_cell(cell, 0, store_history=False)
    finally:
        client.nb = student_nb


def _replace_error(cell: NotebookNode, error: CellError) -> None:
    """The cell's error output replaced by the grader's words (a KeyboardInterrupt traceback says nothing useful)."""
    cell.outputs = [o for o in cell.outputs if o.get("output_type") != "error"] + [
        new_output("error", ename=error.ename, evalue=error.evalue, traceback=[])]


async def _interrupt_and_wait(client: CappedNotebookClient, running: asyncio.Future[Any]) -> bool:
    """Interrupt the kernel and let the running cell end; False when it does not end within the grace period."""
    with contextlib.suppress(Exception):
        interrupting = client.km.interrupt_kernel() if client.km is not None else None
        if inspect.isawaitable(interrupting):
            await interrupting
    done, _ = await asyncio.wait({running}, timeout=RESPONSE_GRACE_S * 2)
    if not done:
        running.cancel()
        return False
    with contextlib.suppress(CellTimeoutError, CellControlSignal):
        if running.exception() is not None and isinstance(running.exception(), DeadKernelError):
            return False
    return await _kernel_responds(client)


ALIVE_MARKER = "labgrader-kernel-responds"
RESPONSE_GRACE_S = 5.0


async def _kernel_responds(client: CappedNotebookClient) -> bool:
    """After an interrupt: does the kernel run code again (not stopped, not still in an uninterruptible loop)?"""
    probe = new_code_cell(f"print({ALIVE_MARKER!r})")
    try:
        await asyncio.wait_for(_run_private_cell(client, "", probe), timeout=RESPONSE_GRACE_S)
    except (TimeoutError, CellTimeoutError, DeadKernelError):
        return False
    return any(ALIVE_MARKER in str(out.get("text", "")) for out in probe.get("outputs", []))


async def _run_cells(client: CappedNotebookClient, nb: NotebookNode, setup_code: str, limits: RunLimits,
                     result: ExecutionResult, harness: HarnessStep | None, death_reason: DeathReason) -> None:
    loop = asyncio.get_running_loop()
    setup_cell = await _run_private_cell(client, setup_code)
    setup_errors = _cell_errors(setup_cell, -1)
    if setup_errors:
        raise InfrastructureError(f"the sandbox set-up code failed: {setup_errors[0].describe()}")
    deadline = loop.time() + limits.notebook_timeout_s
    cells_started = time.monotonic()
    kernel_usable = True
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        remaining = deadline - loop.time()
        if remaining <= 0:  # between cells: the kernel is idle, and what it trained so far is graded
            result.cutoff = Cutoff(limit="notebook", cell_number=index + 1, ran_s=0.0, started_after_s=round(
                time.monotonic() - cells_started, 1), cell_timeout_s=limits.cell_timeout_s,
                notebook_timeout_s=limits.notebook_timeout_s, interrupted=False)
            result.note = result.cutoff.describe()
            break
        cell_started = time.monotonic()
        running = asyncio.ensure_future(client.async_execute_cell(cell, index))
        try:
            done, _ = await asyncio.wait({running}, timeout=remaining)
            if done:
                running.result()  # the cell's own errors: its timeout (interrupted), a dead kernel
            else:
                # the notebook's time ran out inside this cell: interrupt it, let it end, grade what it trained
                result.cutoff = Cutoff(limit="notebook", cell_number=index + 1,
                                       ran_s=round(time.monotonic() - cell_started, 1),
                                       started_after_s=round(cell_started - cells_started, 1),
                                       cell_timeout_s=limits.cell_timeout_s,
                                       notebook_timeout_s=limits.notebook_timeout_s)
                if await _interrupt_and_wait(client, running):
                    result.note = result.cutoff.describe()
                    _replace_error(cell, CellError(
                        cell_index=index, ename="NotebookTimeout",
                        evalue=f"the notebook ran longer than {limits.notebook_timeout_s:.0f} s; this cell was "
                               "interrupted"))
                    result.cell_errors.extend(_cell_errors(cell, index))
                else:
                    result.note = (f"the notebook ran longer than its {limits.notebook_timeout_s:.0f} s limit in cell "
                                   f"{index + 1}, which did not stop when interrupted; no network could be evaluated")
                    kernel_usable = False
                break
        except CellTimeoutError:
            pass  # recorded below, from the cell's outputs
        except DeadKernelError:
            result.note = f"the kernel died while running cell {index + 1} ({_why(death_reason)})"
            result.cell_errors.extend(_cell_errors(cell, index))
            kernel_usable = False
            break
        errors = _cell_errors(cell, index)
        if id(cell) in client.timed_out_cells:
            errors = [CellError(cell_index=index, ename="CellTimeout",
                                evalue=f"the cell ran longer than {limits.cell_timeout_s:.0f} s and was interrupted")]
            _replace_error(cell, errors[0])
            result.cell_errors.extend(errors)
            if not await _kernel_responds(client):
                result.note = (f"cell {index + 1} ran longer than {limits.cell_timeout_s:.0f} s and did not stop "
                               "when interrupted; the cells after it did not run")
                kernel_usable = False
                break
            if result.cutoff is None:
                result.cutoff = Cutoff(limit="cell", cell_number=index + 1, ran_s=limits.cell_timeout_s,
                                       started_after_s=round(cell_started - cells_started, 1),
                                       cell_timeout_s=limits.cell_timeout_s,
                                       notebook_timeout_s=limits.notebook_timeout_s)
                result.note = result.note or result.cutoff.describe()
            continue
        result.cell_errors.extend(errors)
    result.timings_s["cells"] = time.monotonic() - cells_started
    if harness is None:
        return
    if not kernel_usable:
        result.harness_error = result.note
        return
    harness_started = time.monotonic()
    code, output_path = await harness()
    harness_cell = new_code_cell(code)
    try:
        await asyncio.wait_for(_run_private_cell(client, code, harness_cell), timeout=limits.harness_timeout_s)
    except (TimeoutError, CellTimeoutError):
        result.harness_error = f"evaluating the models took longer than {limits.harness_timeout_s:.0f} s"
        return
    except DeadKernelError:
        result.harness_error = f"the kernel died while the models were evaluated ({_why(death_reason)})"
        return
    finally:
        result.timings_s["harness"] = time.monotonic() - harness_started
    harness_errors = _cell_errors(harness_cell, -1)
    if harness_errors:
        first = harness_errors[0]
        result.harness_error = f"the evaluation code could not run in this kernel: {first.ename}: {first.evalue[:200]}"
    result.harness_output = output_path
