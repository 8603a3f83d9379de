"""Run a notebook's code cells in a sandboxed kernel, then the harness in the same kernel.

The root side: it starts the kernel's process (the sandbox argv of `grader.kernel_command`) and the job's kernel
driver (`grader.kernel.driver`: the job's unprivileged uid, the job's cgroups, its own sandbox), and never connects
to the kernel itself. The driver runs nbclient against the kernel and sends back, over a pipe, small frames: which
cell runs, a request for the harness code, and at the end each code cell's outputs and a note. The root checks every
frame (size first, then JSON, then the notebook schema) as untrusted input, because the driver handles what student
code sends; a driver that sends nonsense or dies ends the job with a graded note, never a retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import subprocess
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbformat import NotebookNode

from grader.errors import DriverEnded, FrameTooLarge, InfrastructureError, KernelStartFailed
from grader.kernel.frames import CONNECTION_KEYS, DEFAULT_DEATH_REASON, encode_frame, read_frame
from grader.kernel.limits import DEFAULT_HARNESS_TIMEOUT_S, DEFAULT_OUTPUT_LIMIT_KB
from grader.kernel.stderr_tail import StderrTail
from grader.scoring.report import CellError, Cutoff

logger = logging.getLogger(__name__)

KERNEL_NAME = "labgrader-sandbox"
DRIVER_START_TIMEOUT_S = 60
DRIVER_SMALL_FRAME_BYTES = 64 * 1024  # every frame but the result
DEATH_CONFIRM_S = 2.0  # how long the root waits for a kernel whose sockets closed to be reaped
STDERR_TAIL_BYTES = 4096


@dataclass(frozen=True)
class RunLimits:
    cell_timeout_s: float
    notebook_timeout_s: float
    harness_timeout_s: float = DEFAULT_HARNESS_TIMEOUT_S
    output_limit_bytes: int = DEFAULT_OUTPUT_LIMIT_KB * 1024
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
    protocol_violation: bool = False


class SandboxKernelManager(AsyncKernelManager):
    """Starts and ends a sandboxed kernel's process; never connects to it (the job's driver does). Hands the
    connection file (it holds this kernel's message key) to the sandbox uid that must read it."""

    sandbox_uid: int | None = None

    def write_connection_file(self, **kwargs: Any) -> None:
        super().write_connection_file(**kwargs)
        if self.sandbox_uid is not None:
            os.chown(self.connection_file, self.sandbox_uid, self.sandbox_uid)

    def _connect_control_socket(self) -> None:
        """Never: the root sends the kernel nothing (interrupts travel from the driver)."""

    # jupyter_client removes the connection file and ipc sockets by path, as root, when the kernel ends; the runtime
    # dir lies in the student's work dir, so a student process could have swapped it for a link and root would
    # delete files of those names wherever it points. The job dir is removed as a whole (without following links).
    def cleanup_connection_file(self) -> None:
        """Left to the job directory's removal (see above)."""

    def cleanup_ipc_files(self) -> None:
        """Left to the job directory's removal (see above)."""

    def connection_for_driver(self) -> dict[str, Any]:
        info: dict[str, Any] = dict(self.get_connection_info())
        info["key"] = info["key"].decode("ascii") if isinstance(info["key"], bytes) else info["key"]
        return {k: info[k] for k in CONNECTION_KEYS}


def write_kernelspec(host_dir: Path, argv: list[str]) -> Path:
    """A kernelspec whose argv is the sandbox command; interrupts travel as messages (signals can't cross bwrap)."""
    spec_dir = host_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {"argv": argv, "display_name": "Labgrader sandbox", "language": "python", "interrupt_mode": "message"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return host_dir / "kernels"


HarnessStep = Callable[[], Awaitable[tuple[str, Path]]]
DeathReason = Callable[[], str]


def _no_reason() -> str:
    return ""


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


async def start_kernel(km: SandboxKernelManager, env: dict[str, str], work: Path,
                       stderr: int = subprocess.DEVNULL) -> None:
    """Start the kernel's process (`stderr`: where its stderr goes, e.g. a `StderrTail`'s pipe)."""
    try:
        await km.start_kernel(env=env, cwd=str(work), stdout=subprocess.DEVNULL, stderr=stderr)
    except (OSError, RuntimeError) as exc:
        raise InfrastructureError(f"the sandboxed kernel did not start: {exc}") from exc


def bounded_text(value: Any, limit: int = 2000) -> str:
    """Text from the driver, made safe to show: a string, no control characters but newline and tab, capped."""
    text = value if isinstance(value, str) else ""
    text = "".join(c for c in text[:limit] if c in "\n\t" or unicodedata.category(c)[0] != "C")
    return text


class KernelDriver:
    """The root's handle on one job's driver process (see `grader.kernel.driver` for the protocol)."""

    def __init__(self, process: asyncio.subprocess.Process, km: SandboxKernelManager) -> None:
        self.process = process
        self.km = km
        self.death_reason: DeathReason = _no_reason
        self._stderr = bytearray()
        self._stderr_task = asyncio.ensure_future(self._drain_stderr())
        self._dead_sent = False

    @classmethod
    async def start(cls, argv: list[str], km: SandboxKernelManager, pass_fds: tuple[int, ...] = ()) -> KernelDriver:
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, pass_fds=pass_fds, env=_driver_host_env())
        except OSError as exc:
            raise InfrastructureError(f"the kernel driver did not start: {exc}") from exc
        return cls(process, km)

    async def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        while chunk := await self.process.stderr.read(65536):
            self._stderr = (self._stderr + chunk)[-STDERR_TAIL_BYTES:]

    def stderr_tail(self) -> str:
        return bounded_text(self._stderr.decode("utf-8", "replace"), STDERR_TAIL_BYTES).strip()[-600:]

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(ConnectionError, RuntimeError):
            self.process.stdin.write(encode_frame(message))

    async def _kernel_alive(self, confirm_s: float = 0.0) -> bool:
        """Whether the kernel's process lives; with `confirm_s`, wait that long for a dying one to be reaped."""
        deadline = time.monotonic() + confirm_s
        while await self.km.is_alive():
            if time.monotonic() >= deadline:
                return True
            await asyncio.sleep(0.1)
        return False

    def _tell_dead(self) -> None:
        if not self._dead_sent:
            self._dead_sent = True
            self.send({"op": "kernel_dead", "why": self.death_reason() or DEFAULT_DEATH_REASON})

    async def next_event(self, max_bytes: int = DRIVER_SMALL_FRAME_BYTES, poll_s: float = 0.5) -> dict[str, Any]:
        """The driver's next event; meanwhile, tell it when the kernel's process ends and answer its liveness
        questions. Raises DriverEnded when the pipe ends or carries something that is not a frame."""
        assert self.process.stdout is not None
        reading = asyncio.ensure_future(read_frame(self.process.stdout, max_bytes))
        try:
            while True:
                done, _ = await asyncio.wait({reading}, timeout=poll_s)
                if not done:
                    if not self._dead_sent and not await self.km.is_alive():
                        self._tell_dead()
                    continue
                try:
                    event = reading.result()
                except (FrameTooLarge, ValueError, UnicodeError, RecursionError) as exc:
                    raise DriverEnded(f"the driver sent an invalid frame ({type(exc).__name__})") from exc
                if event is None:
                    raise DriverEnded("the driver ended")
                if event.get("event") == "alive?":
                    alive = await self._kernel_alive(DEATH_CONFIRM_S)
                    if not alive:
                        self._tell_dead()
                    self.send({"op": "alive", "alive": alive})
                    reading = asyncio.ensure_future(read_frame(self.process.stdout, max_bytes))
                    continue
                return event
        finally:
            if not reading.done():
                reading.cancel()

    async def request(self, message: dict[str, Any], expect: str, timeout_s: float) -> dict[str, Any]:
        self.send(message)
        try:
            event = await asyncio.wait_for(self.next_event(), timeout=timeout_s)
        except TimeoutError as exc:
            raise InfrastructureError(f"the kernel driver did not answer {message['op']!r} in {timeout_s:.0f} s") \
                from exc
        except DriverEnded as exc:
            raise InfrastructureError(f"the kernel driver failed ({exc}): {self.stderr_tail()}") from exc
        if event.get("event") != expect:
            answered = str(event.get("event"))[:40]
            raise InfrastructureError(f"the kernel driver answered {answered!r} to {message['op']!r}")
        return event

    async def connect(self, timeout_s: float) -> None:
        """Have the driver connect to the kernel (once: the kernel has run no student code yet)."""
        event = await self.request({"op": "connect", "connection": self.km.connection_for_driver(),
                                    "timeout_s": timeout_s}, "connected", timeout_s + DRIVER_START_TIMEOUT_S)
        if event.get("error"):
            await asyncio.sleep(0.2)  # the driver's log of why
            raise InfrastructureError(f"the sandboxed kernel did not start: {bounded_text(event['error'], 300)} "
                                      f"({self.stderr_tail()[-300:]})")

    async def private(self, code: str, timeout_s: float) -> str:
        """Run grader code in the kernel before any student code; "" or what failed."""
        event = await self.request({"op": "private", "code": code, "timeout_s": timeout_s}, "private",
                                   timeout_s + DRIVER_START_TIMEOUT_S)
        return bounded_text(event.get("error"), 400)

    async def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.process.wait(), timeout=10)
        self._stderr_task.cancel()


def _driver_host_env() -> dict[str, str]:
    """The environment bwrap (or, unsandboxed, the driver) starts with: nothing of the service's."""
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


async def start_driver(argv: list[str], km: SandboxKernelManager, work: Path, timeout_s: float,
                       death_reason: DeathReason = _no_reason) -> KernelDriver:
    """Start the job's driver and have it connect to the (started) kernel. The kernel's socket directory is handed
    over as an open descriptor (bwrap binds it), so no path the sandbox can write is resolved again."""
    opened = os.open(work / ".kernel", os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:  # above the descriptors the launcher uses (the seccomp filter on 3)
        runtime_fd = fcntl.fcntl(opened, fcntl.F_DUPFD_CLOEXEC, 10)
    finally:
        os.close(opened)
    try:
        driver = await KernelDriver.start([a.replace("{kernel_dir_fd}", str(runtime_fd)) for a in argv], km,
                                          pass_fds=(runtime_fd,))
    finally:
        os.close(runtime_fd)
    driver.death_reason = death_reason
    try:
        await driver.connect(timeout_s)
    except BaseException:
        await driver.close()
        raise
    return driver


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
    death_reason: DeathReason = _no_reason, kernel_manager: SandboxKernelManager | None = None,
    driver: KernelDriver | None = None,
) -> ExecutionResult:
    """Execute every code cell (errors do not stop the run), then the harness code the `harness` step prepares.

    `death_reason` explains a dead kernel from what the sandbox measured (e.g. the memory cgroup's OOM kills).
    `kernel_manager` and `driver`: a kernel of this job already started and connected (a warm kernel).
    """
    km = kernel_manager or sandbox_kernel_manager(work, kernel_dirs, sandbox_uid)
    result = ExecutionResult(notebook=nb)
    started = time.monotonic()
    stderr = StderrTail()  # why a kernel that dies at start died (its stderr, bounded)
    try:
        try:
            if kernel_manager is None:
                await start_kernel(km, env, work, stderr.write_fd)
            stderr.close_writer()
            if driver is None:
                driver = await start_driver(driver_argv, km, work, limits.startup_timeout_s, death_reason)
        except InfrastructureError as exc:
            raise KernelStartFailed(str(exc), await asyncio.to_thread(stderr.text)) from exc
        driver.death_reason = death_reason
        result.timings_s["kernel_start"] = time.monotonic() - started
        await _drive(driver, nb, setup_code, limits, result, harness, death_reason)
    finally:
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
                            "output_limit_bytes": limits.output_limit_bytes}})
    for cell in code_cells:
        cell.outputs = []  # what the notebook came with is never shown as if it had run
    # the driver enforces every time limit; this one only catches a driver that stopped answering
    deadline = time.monotonic() + limits.notebook_timeout_s + limits.harness_timeout_s + \
        limits.cell_timeout_s + 120
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
                raise InfrastructureError(f"the kernel driver failed: {driver.stderr_tail()}") from None
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
        for key in ("cells", "harness"):
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
    ceiling = limits.notebook_timeout_s + limits.cell_timeout_s + 60
    numbers = (ran_s, started_after_s)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= ceiling for v in numbers):
        return None
    return Cutoff(limit=raw["limit"], cell_number=cell_number, ran_s=round(float(ran_s), 1),  # type: ignore[arg-type]
                  started_after_s=round(float(started_after_s), 1),  # type: ignore[arg-type]
                  cell_timeout_s=limits.cell_timeout_s, notebook_timeout_s=limits.notebook_timeout_s,
                  interrupted=raw.get("interrupted") is not False)
