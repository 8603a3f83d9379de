"""The kernel driver: the one process that speaks the Jupyter protocol with a job's kernel.

It runs per job as the job's unprivileged uid, inside the job's cgroups (memory, pids, CPU share) and its own
bubblewrap sandbox (no network, nothing of the host but the system libraries, the service's Python and this package,
and the kernel's socket directory, read-only) - see `grader.sandbox.kernel_command.driver_argv`. The root worker never
connects to the kernel: it starts the kernel and this driver, and exchanges small length-prefixed JSON frames with
the driver over its stdin and stdout. Whatever the kernel sends is decoded here (`grader.kernel.channel`), so a
message that decodes to 26 times its size, a flood, or a busy output loop costs the job's memory and CPU, not the
worker's, and cannot slow another job's event loop. What comes back to the root is bounded and validated there
(`grader.kernel.execute`): the outputs of each code cell, a note, and timings.

Protocol (root -> driver, one request at a time; driver -> root, one reply each, plus events; each frame a model of
`grader.kernel.frames`, its JSON shown):

    {"op": "connect", "connection": {...}, "timeout_s": 60}     -> {"event": "connected", "error": ""}
    {"op": "private", "code": "...", "timeout_s": 60}           -> {"event": "private", "error": ""}
    {"op": "run", "notebook": "...", "limits": {...}, "setup_code": "...", "harness": true}
                                                                -> {"event": "cell", "index": 3} ...
                                                                -> {"event": "harness_wanted"}
    {"op": "harness", "code": "..." | null}                     -> {"event": "result", ...}
    {"op": "kernel_dead", "why": "..."}                         (at any time: the root saw the kernel's process end)
    {"event": "alive?"} -> {"op": "alive", "alive": true}       (the driver asks, after a disconnect)
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable

import nbformat

from grader.errors import FrameRefused, SetupFailed
from grader.kernel.cells import KernelState, connect, run_notebook, run_private
from grader.kernel.frames import (
    DEFAULT_DEATH_REASON,
    MAX_REQUEST_BYTES,
    Alive,
    AliveAsked,
    CellStarted,
    Connect,
    Connected,
    DriverError,
    Frame,
    Harness,
    HarnessWanted,
    KernelDead,
    Private,
    PrivateRan,
    Request,
    Run,
    SetupFailure,
    encode_frame,
    read_request,
)

logger = logging.getLogger(__name__)


class Driver:
    """Reads the root's requests from stdin, answers on stdout; `kernel_dead` may arrive at any moment."""

    def __init__(self, reader: asyncio.StreamReader, write: Callable[[bytes], None]) -> None:
        self.reader = reader
        self.write = write
        self.state: KernelState | None = None
        # the requests `serve` answers in turn; a FrameRefused is one the driver could not read (answered so)
        self.requests: asyncio.Queue[Request | FrameRefused | None] = asyncio.Queue()
        self.harness_code: asyncio.Future[str | None] | None = None
        self.alive_answer: asyncio.Future[bool] | None = None
        self.dead_reason: str | None = None

    def send(self, frame: Frame) -> None:
        self.write(encode_frame(frame))

    async def read_requests(self) -> None:
        while True:
            try:
                request = await read_request(self.reader, MAX_REQUEST_BYTES)
            except FrameRefused as refused:
                await self.requests.put(refused)
                continue
            if request is None:
                await self.requests.put(None)
                return
            if isinstance(request, KernelDead):
                self.dead_reason = request.why or DEFAULT_DEATH_REASON
                if self.state is not None:
                    self.state.km.dead_reason = self.dead_reason
            elif isinstance(request, Alive) and self.alive_answer is not None and not self.alive_answer.done():
                self.alive_answer.set_result(request.alive)
            elif isinstance(request, Harness) and self.harness_code is not None and not self.harness_code.done():
                self.harness_code.set_result(request.code)
            else:
                await self.requests.put(request)

    async def ask_alive(self) -> bool:
        """Only the root sees the kernel's process: after a disconnect, ask it (one question at a time)."""
        if self.dead_reason is not None:
            return False
        if self.alive_answer is None or self.alive_answer.done():
            self.alive_answer = asyncio.get_running_loop().create_future()
            self.send(AliveAsked())
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

    async def handle(self, request: Request | FrameRefused) -> None:
        if isinstance(request, Connect):
            try:
                self.state = await connect(request.connection, request.timeout_s, self.ask_alive)
                if self.dead_reason is not None:
                    self.state.km.dead_reason = self.dead_reason
                self.send(Connected(error=""))
            except Exception as exc:
                logger.exception("could not connect to the kernel")
                self.send(Connected(error=f"{type(exc).__name__}: {str(exc)[:300]}"))
        elif isinstance(request, Private) and self.state is not None:
            self.send(PrivateRan(error=await run_private(self.state, request.code, request.timeout_s)))
        elif isinstance(request, Run) and self.state is not None:
            await self.run(request)
        else:
            what = request.kind if isinstance(request, FrameRefused) else request.op
            self.send(DriverError(error=f"unexpected request {what[:40]!r}"))

    async def run(self, request: Run) -> None:
        nb = nbformat.reads(request.notebook, as_version=4)  # type: ignore[no-untyped-call]
        state = self.state
        assert state is not None

        async def harness() -> str | None:
            self.harness_code = asyncio.get_running_loop().create_future()
            self.send(HarnessWanted())
            return await self.harness_code

        try:
            outcome = await run_notebook(state, nb, request.limits, request.setup_code,
                                         harness if request.harness else None,
                                         lambda index: self.send(CellStarted(index=index)))
        except SetupFailed as exc:
            self.send(SetupFailure(error=str(exc)))
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
