"""The kernel driver: the one process that speaks the Jupyter protocol with a job's kernel.

It runs per job as the job's unprivileged uid, inside the job's cgroups (memory, pids, CPU share) and its own
bubblewrap sandbox (no network, nothing of the host but the system libraries, the service's Python and this package,
and the kernel's socket directory, read-only) - see `grader.sandbox.kernel_command.driver_argv`. The root worker never
connects to the kernel: it starts the kernel and this driver, and exchanges small length-prefixed JSON frames with
the driver over its stdin and stdout. Whatever the kernel sends is decoded here (`grader.kernel.channel`), so a
message that decodes to 26 times its size, a flood, or a busy output loop costs the job's memory and CPU, not the
worker's, and cannot slow another job's event loop. What comes back to the root is bounded and validated there
(`grader.kernel.execute`): the outputs of each code cell, a note, and timings.

Protocol (root -> driver, one request at a time; driver -> root, one reply each, plus events):

    {"op": "connect", "connection": {...}, "timeout_s": 60}     -> {"event": "connected", "error": ""}
    {"op": "private", "code": "...", "timeout_s": 60}           -> {"event": "private", "error": ""}
    {"op": "run", "notebook": "...", "limits": {...}, "setup_code": "...", "harness": true}
                                                                -> {"event": "cell", "index": 3} ...
                                                                -> {"event": "harness_wanted"}
    {"op": "harness", "code": "..." | null}                     -> {"event": "result", ...}
    {"op": "kernel_dead", "why": "..."}                         (at any time: the root saw the kernel's process end)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import nbformat
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.session import Session
from nbclient import NotebookClient
from nbclient.exceptions import CellControlSignal, CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_notebook, new_output

from grader.errors import FrameTooLarge, KernelProtocolViolation, SetupFailed
from grader.kernel.channel import (
    GuardedSocketsMixin,
    SandboxKernelClient,
    StrictSession,
)
from grader.scoring.student_text import BUILTIN_EXCEPTIONS

logger = logging.getLogger(__name__)

TRUNCATION_NOTE = "\n[labgrader: output truncated; the notebook printed more than {limit} kB]\n"
DEFAULT_DEATH_REASON = "memory or process limit reached, or the process was killed"
ALIVE_MARKER = "labgrader-kernel-responds"
RESPONSE_GRACE_S = 5.0
# after a cell's reply, how long its outputs may still be arriving: the driver shares the job's CPU share with the
# kernel, so a cell that displayed hundreds of outputs may need more than nbclient's 4 s to be read
IOPUB_GRACE_S = 30
FRAME_HEADER = struct.Struct(">I")
MAX_REQUEST_BYTES = 256 * 1024 * 1024  # the root's requests: the notebook (capped by the upload limit) and code


# ---- framing (both sides) -------------------------------------------------------------------------------------------

def encode_frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, ensure_ascii=True, allow_nan=False).encode("ascii")
    return FRAME_HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader, max_bytes: int) -> dict[str, Any] | None:
    """The next frame, or None at end of stream; the size is checked before a byte of the body is read."""
    try:
        header = await reader.readexactly(FRAME_HEADER.size)
    except asyncio.IncompleteReadError:
        return None
    (size,) = FRAME_HEADER.unpack(header)
    if size > max_bytes:
        raise FrameTooLarge(f"a frame of {size} bytes, over the {max_bytes} byte cap")
    try:
        body = await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        return None
    value = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    if not isinstance(value, dict):
        raise ValueError("a frame that is not a JSON object")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"JSON constant {name}")


# ---- the nbclient side (runs in the driver) ------------------------------------------------------------------------

@dataclass(frozen=True)
class DriverLimits:
    cell_timeout_s: float
    notebook_timeout_s: float
    harness_timeout_s: float
    output_limit_bytes: int


class RemoteKernelManager(GuardedSocketsMixin, AsyncKernelManager):  # type: ignore[misc]
    """The driver's view of a kernel it did not start: the root says when its process ended; interrupts travel as
    messages on the control socket, connected once with the other sockets."""

    dead_reason: str | None = None

    def _session_default(self) -> Session:
        return StrictSession(parent=self)

    def _client_factory_default(self) -> type[SandboxKernelClient]:
        return SandboxKernelClient

    @property
    def has_kernel(self) -> bool:
        return self.dead_reason is None

    async def is_alive(self) -> bool:  # type: ignore[override]
        return self.dead_reason is None

    _async_is_alive = is_alive  # what the client's wait_for_ready calls

    def client(self, **kwargs: Any) -> SandboxKernelClient:  # type: ignore[override]
        kc = super().client(**kwargs)
        assert isinstance(kc, SandboxKernelClient)
        kc.kernel_alive = self.is_alive
        kc.sockets_ready = self._connect_control_when_bound
        return kc

    _control_bound = False

    def _connect_control_socket(self) -> None:
        if self._control_socket is None and self._control_bound:
            super()._connect_control_socket()

    def _connect_control_when_bound(self) -> None:
        self._control_bound = True
        self._connect_control_socket()

    async def interrupt_kernel(self) -> None:  # type: ignore[override]
        if self.dead_reason is not None or self._control_socket is None:
            return
        self.session.send(self._control_socket, self.session.msg("interrupt_request", content={}))

    async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:  # type: ignore[override]
        """The root ends the kernel's process; the driver only closes its sockets."""
        self._close_control_socket()


class CappedNotebookClient(NotebookClient):
    """An nbclient that stops storing outputs past a byte budget, so a flood of output cannot exhaust the job."""

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
        """The kernel holds its message key, so student code can send any iopub message: one whose envelope is sound
        but whose content nbclient cannot use (a stream without text, an empty error) is dropped."""
        try:
            return super().process_message(msg, cell, cell_index)
        except CellControlSignal:
            raise  # "cell finished" and timeouts travel as exceptions
        except Exception as exc:  # a stream without text, a display map gone stale when the harness swapped cells
            logger.info("dropped a malformed %s message from the kernel: %s",
                        msg.get("header", {}).get("msg_type", "?"), type(exc).__name__)
            return None

    async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None) -> dict[str, Any] | None:
        if cell is not None:
            self.timed_out_cells.append(id(cell))
        return await super()._async_handle_timeout(timeout, cell)


@dataclass(frozen=True)
class CellErrorText:
    ename: str
    evalue: str


def cell_errors(cell: NotebookNode) -> list[CellErrorText]:
    return [CellErrorText(str(out.get("ename", "Error")), str(out.get("evalue", "")))
            for out in cell.get("outputs", []) if out.get("output_type") == "error"]


async def run_private_cell(client: CappedNotebookClient, code: str, cell: NotebookNode | None = None) -> NotebookNode:
    """Run grader code in the kernel without it appearing in the student's notebook or history."""
    cell = cell if cell is not None else new_code_cell(code)
    student_nb = client.nb
    client.nb = new_notebook(cells=[cell])
    try:
        return await client.async_execute_cell(cell, 0, store_history=False)
    finally:
        client.nb = student_nb


async def kernel_responds(client: CappedNotebookClient) -> bool:
    """After an interrupt: does the kernel run code again (not stopped, not still in an uninterruptible loop)?"""
    probe = new_code_cell(f"print({ALIVE_MARKER!r})")
    try:
        await asyncio.wait_for(run_private_cell(client, "", probe), timeout=RESPONSE_GRACE_S)
    except (TimeoutError, CellTimeoutError, DeadKernelError):
        return False
    return any(ALIVE_MARKER in str(out.get("text", "")) for out in probe.get("outputs", []))


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
                       "execution_count": self.nb.cells[i].get("execution_count")} for i in self.ran],
        }


def _why(state: KernelState) -> str:
    return state.km.dead_reason or DEFAULT_DEATH_REASON


@dataclass
class KernelState:
    km: RemoteKernelManager
    kc: SandboxKernelClient


async def run_notebook(state: KernelState, nb: NotebookNode, limits: DriverLimits, setup_code: str,
                       harness: HarnessRequest | None, progress: Callable[[int], None]) -> RunOutcome:
    """Execute every code cell (errors do not stop the run), then the harness code the root sends."""
    client = CappedNotebookClient(
        nb, km=state.km, output_limit_bytes=limits.output_limit_bytes, timeout=int(limits.cell_timeout_s),
        interrupt_on_timeout=True, allow_errors=True, record_timing=False, iopub_timeout=IOPUB_GRACE_S,
        error_on_timeout={"ename": "CellTimeout", "evalue": f"the cell ran longer than {limits.cell_timeout_s:.0f} s"},
    )
    client.kc = state.kc
    state.kc.allow_stdin = False
    outcome = RunOutcome(nb=nb)
    phase = ["the set-up"]
    try:
        await _run_cells(client, state, nb, setup_code, limits, outcome, harness, progress, phase)
    except DeadKernelError:
        outcome.note = outcome.note or f"the kernel died before the notebook finished ({_why(state)})"
    except KernelProtocolViolation as violation:
        # graded, never retried: the notebook's own code sent it; the root stops the kernel
        outcome.protocol_violation = True
        outcome.note = (f"the notebook sent the grader {violation.what} during {phase[0]}; the kernel was "
                        "stopped there, so the cells after it and the evaluation did not run")
        outcome.harness_error = outcome.note
        outcome.harness_ran = False
    return outcome


async def _run_cells(client: CappedNotebookClient, state: KernelState, nb: NotebookNode, setup_code: str,
                     limits: DriverLimits, outcome: RunOutcome, harness: HarnessRequest | None,
                     progress: Callable[[int], None], phase: list[str]) -> None:
    loop = asyncio.get_running_loop()
    setup_cell = await run_private_cell(client, setup_code)
    setup_errors = cell_errors(setup_cell)
    if setup_errors:
        raise SetupFailed(f"the sandbox set-up code failed: {setup_errors[0].ename}: {setup_errors[0].evalue[:200]}")
    deadline = loop.time() + limits.notebook_timeout_s
    cells_started = time.monotonic()
    kernel_usable = True
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        remaining = deadline - loop.time()
        if remaining <= 0:  # between cells: the kernel is idle, and what it trained so far is graded
            outcome.cutoff = {"limit": "notebook", "cell_number": index + 1, "ran_s": 0.0,
                              "started_after_s": time.monotonic() - cells_started, "interrupted": False}
            outcome.note = (f"the notebook ran longer than its {limits.notebook_timeout_s:.0f} s limit; "
                            f"cell {index + 1} and later did not run")
            break
        phase[0] = f"cell {index + 1}"
        progress(index)
        outcome.ran.append(index)
        cell_started = time.monotonic()
        running = asyncio.ensure_future(client.async_execute_cell(cell, index))
        try:
            done, _ = await asyncio.wait({running}, timeout=remaining)
            if done:
                running.result()  # the cell's own end: its timeout (interrupted), a dead kernel
            else:
                # the notebook's time ran out inside this cell: interrupt it, let it end, grade what it trained
                outcome.cutoff = {"limit": "notebook", "cell_number": index + 1,
                                  "ran_s": time.monotonic() - cell_started,
                                  "started_after_s": cell_started - cells_started, "interrupted": True}
                outcome.note = (f"the notebook ran longer than its {limits.notebook_timeout_s:.0f} s limit "
                                f"in cell {index + 1}")
                if await _interrupt_and_wait(client, state, running):
                    evalue = (f"the notebook ran longer than {limits.notebook_timeout_s:.0f} s; this cell was "
                              "interrupted")
                    cell.outputs = [o for o in cell.outputs if o.get("output_type") != "error"] + [
                        new_output("error", ename="NotebookTimeout", evalue=evalue,  # type: ignore[no-untyped-call]
                                   traceback=[])]
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
            evalue = f"the cell ran longer than {limits.cell_timeout_s:.0f} s and was interrupted"
            cell.outputs = [o for o in cell.outputs if o.get("output_type") != "error"] + [
                new_output("error", ename="CellTimeout", evalue=evalue, traceback=[])  # type: ignore[no-untyped-call]
            ]
            if not await kernel_responds(client):
                outcome.note = (f"cell {index + 1} ran longer than {limits.cell_timeout_s:.0f} s and did not stop "
                                "when interrupted; the cells after it did not run")
                kernel_usable = False
                break
            outcome.note = outcome.note or (
                f"cell {index + 1} ran longer than {limits.cell_timeout_s:.0f} s and was interrupted")
            if outcome.cutoff is None:
                outcome.cutoff = {"limit": "cell", "cell_number": index + 1, "ran_s": limits.cell_timeout_s,
                                  "started_after_s": cell_started - cells_started, "interrupted": True}
    outcome.timings_s["cells"] = time.monotonic() - cells_started
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


CONNECTION_KEYS = ("transport", "ip", "shell_port", "iopub_port", "stdin_port", "control_port", "hb_port", "key",
                   "signature_scheme")


async def connect(info: dict[str, Any], timeout_s: float, confirm_alive: Callable[[], Awaitable[bool]]) -> KernelState:
    km = RemoteKernelManager()
    km.load_connection_info({k: info[k] for k in CONNECTION_KEYS if k in info})  # type: ignore[arg-type]
    kc = km.client()
    kc.confirm_alive = confirm_alive
    await kc.start_channels(timeout_s=timeout_s)
    await kc.wait_for_ready(timeout=timeout_s)
    return KernelState(km, kc)


# ---- the driver process --------------------------------------------------------------------------------------------

class Driver:
    """Reads the root's requests from stdin, answers on stdout; `kernel_dead` may arrive at any moment."""

    def __init__(self, reader: asyncio.StreamReader, write: Callable[[bytes], None]) -> None:
        self.reader = reader
        self.write = write
        self.state: KernelState | None = None
        self.requests: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.harness_code: asyncio.Future[str | None] | None = None
        self.alive_answer: asyncio.Future[bool] | None = None
        self.dead_reason: str | None = None

    def send(self, message: dict[str, Any]) -> None:
        self.write(encode_frame(message))

    async def read_requests(self) -> None:
        while True:
            request = await read_frame(self.reader, MAX_REQUEST_BYTES)
            if request is None:
                await self.requests.put(None)
                return
            op = request.get("op")
            if op == "kernel_dead":
                self.dead_reason = str(request.get("why") or DEFAULT_DEATH_REASON)
                if self.state is not None:
                    self.state.km.dead_reason = self.dead_reason
            elif op == "alive" and self.alive_answer is not None and not self.alive_answer.done():
                self.alive_answer.set_result(request.get("alive") is True)
            elif op == "harness" and self.harness_code is not None and not self.harness_code.done():
                code = request.get("code")
                self.harness_code.set_result(code if isinstance(code, str) else None)
            else:
                await self.requests.put(request)

    async def ask_alive(self) -> bool:
        """Only the root sees the kernel's process: after a disconnect, ask it (one question at a time)."""
        if self.dead_reason is not None:
            return False
        if self.alive_answer is None or self.alive_answer.done():
            self.alive_answer = asyncio.get_running_loop().create_future()
            self.send({"event": "alive?"})
        return await asyncio.shield(self.alive_answer)

    async def serve(self) -> None:
        reading = asyncio.ensure_future(self.read_requests())
        try:
            while (request := await self.requests.get()) is not None:
                await self.handle(request)
        finally:
            reading.cancel()
            if self.state is not None:
                self.state.kc.stop_channels()

    async def handle(self, request: dict[str, Any]) -> None:
        op = request.get("op")
        if op == "connect":
            try:
                self.state = await connect(request["connection"], float(request.get("timeout_s", 60)),
                                           self.ask_alive)
                if self.dead_reason is not None:
                    self.state.km.dead_reason = self.dead_reason
                self.send({"event": "connected", "error": ""})
            except Exception as exc:
                logger.exception("could not connect to the kernel")
                self.send({"event": "connected", "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
        elif op == "private" and self.state is not None:
            error = await run_private(self.state, str(request["code"]), float(request.get("timeout_s", 60)))
            self.send({"event": "private", "error": error})
        elif op == "run" and self.state is not None:
            await self.run(request)
        else:
            self.send({"event": "error", "error": f"unexpected request {str(op)[:40]!r}"})

    async def run(self, request: dict[str, Any]) -> None:
        nb = nbformat.reads(request["notebook"], as_version=4)  # type: ignore[no-untyped-call]
        limits = DriverLimits(**request["limits"])
        state = self.state
        assert state is not None

        async def harness() -> str | None:
            self.harness_code = asyncio.get_running_loop().create_future()
            self.send({"event": "harness_wanted"})
            return await self.harness_code

        try:
            outcome = await run_notebook(state, nb, limits, str(request["setup_code"]),
                                         harness if request.get("harness") else None,
                                         lambda index: self.send({"event": "cell", "index": index}))
        except SetupFailed as exc:
            self.send({"event": "setup_failed", "error": str(exc)})
            return
        self.send(outcome.as_frame())


async def _main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_REQUEST_BYTES)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    sys.stdout = sys.stderr  # nothing but frames on the root's pipe

    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = out.write(view)
            view = view[written or 0:]

    await Driver(reader, write).serve()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(_main())


if __name__ == "__main__":
    main()
