"""The driver's nbclient pieces: a kernel manager for a kernel the driver did not start (the root ends it), a
notebook client that stops storing outputs past a byte budget, and grader cells run privately (not in the student's
notebook or history). Used by `grader.kernel.cells`, inside the kernel driver only."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.session import Session
from nbclient import NotebookClient
from nbclient.exceptions import CellControlSignal, CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_notebook, new_output

from grader.kernel.channel import GuardedSocketsMixin, SandboxKernelClient, StrictSession

logger = logging.getLogger(__name__)

TRUNCATION_NOTE = "\n[labgrader: output truncated; the notebook printed more than {limit} kB]\n"
ALIVE_MARKER = "labgrader-kernel-responds"
RESPONSE_GRACE_S = 5.0
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
