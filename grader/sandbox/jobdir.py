"""A job's directories on the host: `work` (the student's home, a size-capped tmpfs), `evaluation` (root-owned,
read-only in the sandbox: the harness's request and inputs) and `host` (grader-only files)."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import functools
import os
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

OWNER_LOCK = "owner.lock"
MS_NOSUID, MS_NODEV = 2, 4  # mount(2) flags
MNT_DETACH = 2  # umount2(2): lazy, as `umount --lazy`


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library the interpreter runs on (its mount(2) and umount2(2)); None where it has none to offer."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc if hasattr(libc, "mount") and hasattr(libc, "umount2") else None
    except OSError:
        return None


def mount_tmpfs(target: Path, size_mb: int, uid: int | None) -> bool:
    """Mount a tmpfs of `size_mb` on `target`; False where this host does not allow it (not root, no mount(2)).
    The system call itself, not `mount(8)`: a job pays for no extra process at its start and end."""
    libc = _libc()
    if os.geteuid() != 0 or libc is None:
        return False
    options = f"size={size_mb}m,mode=0700"
    if uid is not None:
        options += f",uid={uid},gid={uid}"
    result: int = libc.mount(b"labgrader-job", os.fsencode(target), b"tmpfs", MS_NOSUID | MS_NODEV, options.encode())
    return result == 0


def unmount(target: Path) -> None:
    libc = _libc()
    if libc is not None:
        libc.umount2(os.fsencode(target), MNT_DETACH)


@dataclass(frozen=True)
class JobDirs:
    """`root` is host-only (mode 711); `work` is the student's home and the only writable place in the sandbox;
    `evaluation` (root-owned, bound read-only at the same path) is where the host writes what the harness reads, so
    no student process can swap it for a link while the host writes; `host` (mode 700) holds the kernelspec, the
    passwd files and the trusted copy of the harness output. The process that made the job holds an flock on
    `host/owner.lock` until `remove`: the kernel releases it if that process dies, which tells a sweep at the next
    start which job directories are abandoned and which belong to another live process sharing the jobs root."""

    root: Path
    work: Path
    host: Path
    work_is_tmpfs: bool
    evaluation: Path
    owner_lock: IO[bytes] | None = None

    @classmethod
    def create(cls, jobs_root: Path, job_key: str, uid: int | None, work_limit_mb: int | None) -> JobDirs:
        """Make a fresh job directory; with `work_limit_mb`, `work` is a tmpfs of that size where the host allows."""
        jobs_root.mkdir(parents=True, exist_ok=True)
        os.chmod(jobs_root, 0o711)  # noqa: S103 - the sandbox uid must traverse to its work dir
        root = jobs_root / job_key
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(mode=0o711)
        work, host, evaluation = root / "work", root / "host", root / "eval"
        work.mkdir(mode=0o700)
        host.mkdir(mode=0o700)
        owner_lock = (host / OWNER_LOCK).open("wb")
        fcntl.flock(owner_lock.fileno(), fcntl.LOCK_EX)
        evaluation.mkdir(mode=0o755)
        tmpfs = work_limit_mb is not None and mount_tmpfs(work, work_limit_mb, uid)
        if uid is not None:
            os.chown(work, uid, uid)
        return cls(root, work, host, tmpfs, evaluation, owner_lock)

    def remove(self) -> None:
        if self.work_is_tmpfs:
            unmount(self.work)
        shutil.rmtree(self.root, ignore_errors=True)
        if self.owner_lock is not None:
            self.owner_lock.close()  # releases the flock; closing twice is harmless


def abandoned_jobs(jobs_root: Path, grace_s: float = 60) -> list[Path]:
    """Job directories whose owner died: their owner lock is free (or, for a directory without one, it is older than
    `grace_s`: made before owner locks, or its maker died between mkdir and lock). Live jobs of other processes on the
    same jobs root hold their lock and are left alone."""
    if not jobs_root.is_dir():
        return []
    found = []
    for root in sorted(p for p in jobs_root.iterdir() if p.is_dir() and p.name.startswith("job-")):
        try:
            with (root / "host" / OWNER_LOCK).open("rb") as lock:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except FileNotFoundError:
            with contextlib.suppress(OSError):
                if time.time() - root.stat().st_mtime > grace_s:
                    found.append(root)
            continue
        except OSError:
            continue  # held (BlockingIOError): a live job of some process
        found.append(root)  # the lock was free; leaving the `with` released it again
    return found


def remove_job_dir(root: Path) -> None:
    """Unmount and delete a job directory (an abandoned one: no process of its own holds it any more)."""
    work = root / "work"
    if work.is_mount():
        unmount(work)
    shutil.rmtree(root, ignore_errors=True)


def take_untrusted_file(path: Path, destination: Path, max_bytes: int) -> str:
    """Copy a file the sandbox wrote to a host-only `destination` without following a link or blocking on a device
    or FIFO; return "" on success, otherwise why the file was refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return "the evaluation produced no output"
    except OSError:
        return "the evaluation output is not a regular file (a link, a device or a pipe): refused"
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return "the evaluation output is not a regular file (a link, a device or a pipe): refused"
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        return f"the evaluation output is over its {max_bytes} byte limit"
    destination.write_bytes(data)
    return ""
