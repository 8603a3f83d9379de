"""The root's handle on one job's kernel driver (`grader.kernel.driver`, in the job's sandbox): start it, hand it the
kernel's socket directory as a descriptor, read its frames (size-capped, untrusted), answer its questions about the
kernel's process, keep the end of its stderr."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from grader.errors import DriverEnded, FrameTooLarge, InfrastructureError
from grader.kernel.cpu_clock import WaitMeter, open_for_driver
from grader.kernel.frames import DEFAULT_DEATH_REASON, encode_frame, read_frame
from grader.kernel.kernel_process import SandboxKernelManager

DRIVER_START_TIMEOUT_S = 60
DRIVER_SMALL_FRAME_BYTES = 64 * 1024  # every frame but the result
DEATH_CONFIRM_S = 2.0  # how long the root waits for a kernel whose sockets closed to be reaped
STDERR_TAIL_BYTES = 4096

DeathReason = Callable[[], str]


def no_reason() -> str:
    return ""


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
        self.death_reason: DeathReason = no_reason
        self._stderr = bytearray()
        self._stderr_task = asyncio.ensure_future(self._drain_stderr())
        self._dead_sent = False
        self.cpu_clock_fd: int | None = None  # the job's CPU counter as the driver numbers it (`cpu_clock`)
        self.cpu_wait: WaitMeter | None = None  # the job's wait for a CPU, which the root samples while a run lasts
        self.cpu_wait_fd: int | None = None  # its read-only descriptor as the driver numbers it

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
            why = self.death_reason() or self.km.crash_reason() or DEFAULT_DEATH_REASON
            self.send({"op": "kernel_dead", "why": why})

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
        if self.cpu_wait is not None:
            self.cpu_wait.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.process.wait(), timeout=10)
        self._stderr_task.cancel()


def _driver_host_env() -> dict[str, str]:
    """The environment bwrap (or, unsandboxed, the driver) starts with: nothing of the service's."""
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


async def start_driver(argv: list[str], km: SandboxKernelManager, work: Path, timeout_s: float,
                       death_reason: DeathReason = no_reason, cpu_usage: Path | None = None,
                       cpu_threads: Callable[[], Iterable[int]] | None = None) -> KernelDriver:
    """Start the job's driver and have it connect to the (started) kernel. The kernel's socket directory is handed
    over as an open descriptor (bwrap binds it), so no path the sandbox can write is resolved again; so is the job
    cgroup's CPU counter (`cpu_usage`, read-only), which the cell and notebook limits are counted in, and the job's
    wait for a CPU summed over `cpu_threads` (the cgroup's threads), which their wall-clock backstop leaves out."""
    opened = os.open(work / ".kernel", os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:  # above the descriptors the launcher uses (the seccomp filter on 3)
        runtime_fd = fcntl.fcntl(opened, fcntl.F_DUPFD_CLOEXEC, 10)
    finally:
        os.close(opened)
    cpu_fd = open_for_driver(cpu_usage)
    meter = WaitMeter(cpu_threads) if cpu_fd is not None and cpu_threads is not None else None
    wait_fd = meter.driver_fd() if meter is not None else None
    passed = tuple(fd for fd in (runtime_fd, cpu_fd, wait_fd) if fd is not None)
    try:
        driver = await KernelDriver.start([a.replace("{kernel_dir_fd}", str(runtime_fd)) for a in argv], km,
                                          pass_fds=passed)
    except BaseException:
        if meter is not None:
            meter.close()
        raise
    finally:
        for fd in passed:
            os.close(fd)
    driver.cpu_clock_fd = cpu_fd
    driver.cpu_wait, driver.cpu_wait_fd = (meter, wait_fd) if wait_fd is not None else (None, None)
    if meter is not None and wait_fd is None:
        meter.close()
    driver.death_reason = death_reason
    try:
        await driver.connect(timeout_s)
    except BaseException:
        await driver.close()
        raise
    return driver
