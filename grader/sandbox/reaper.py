"""Find and end host processes that run as a sandbox slot's uid: the last sweep after a job, and the tests' check."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

PROC = Path("/proc")


def _uids(status: str) -> tuple[int, ...]:
    """The uids of a live process; a zombie holds no resources and cannot be killed, so it has none here."""
    for line in status.splitlines():
        if line.startswith("State:") and line.split()[1] == "Z":
            return ()
        if line.startswith("Uid:"):
            return tuple(int(v) for v in line.split()[1:])
    return ()


def processes_owned_by(uid: int) -> list[int]:
    """Pids of every live host process whose real, effective, saved or filesystem uid is `uid`."""
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue  # the process ended while we looked
        if uid in _uids(status):
            found.append(int(entry.name))
    return found


def kill_processes_owned_by(uid: int, timeout_s: float = 10.0) -> int:
    """SIGKILL every process of `uid` until none is left; return how many were found (0 when the namespaces did it)."""
    if uid == os.getuid() or uid == 0:
        raise ValueError(f"refusing to sweep processes of uid {uid}: it is not a sandbox uid")
    seen: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while (pids := processes_owned_by(uid)) and time.monotonic() < deadline:
        for pid in pids:
            seen.add(pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        time.sleep(0.05)
    return len(seen)
