"""The sandboxed kernel's process as the root starts and ends it: its kernelspec (whose argv is the sandbox command)
and a kernel manager that never connects to the kernel (the job's driver does, `grader.kernel.driver_handle`)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

from grader.errors import InfrastructureError
from grader.kernel.frames import ConnectionInfo
from grader.sandbox.job import KERNEL_NAME

# signals of a crash inside compiled code (the sandbox's shell reports a signal N as exit status 128 + N)
CRASH_SIGNALS = {signal.SIGSEGV: "a segmentation fault", signal.SIGBUS: "a bus error",
                 signal.SIGILL: "an illegal instruction", signal.SIGFPE: "a floating-point exception",
                 signal.SIGABRT: "an abort"}


def crash_reason(exit_status: int | None) -> str:
    """Why a kernel whose process ended with `exit_status` died, when a crash signal ended it; else empty."""
    if exit_status is None:
        return ""
    number = -exit_status if exit_status < 0 else exit_status - 128
    crash = next((name for sig, name in CRASH_SIGNALS.items() if sig.value == number), None)
    if crash is None:
        return ""
    return (f"its Python process crashed with {crash} (signal {number}) inside a compiled library, not a limit of "
            "the grader; two libraries that clash can do this, and importing them in another order may avoid it")


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

    def crash_reason(self) -> str:
        """Why the kernel's (ended) process died, from its exit status, when a crash signal ended it; else empty."""
        process = getattr(self.provisioner, "process", None)
        status = getattr(process, "returncode", None)
        return crash_reason(status if isinstance(status, int) else None)

    def connection_for_driver(self) -> ConnectionInfo:
        info: dict[str, Any] = dict(self.get_connection_info())
        info["key"] = info["key"].decode("ascii") if isinstance(info["key"], bytes) else info["key"]
        return ConnectionInfo(**{k: info[k] for k in ConnectionInfo.model_fields})


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
