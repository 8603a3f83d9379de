"""Host-wide exclusive leases on sandbox uids.

Each running kernel needs a uid no other live job on the host uses: the process limit (RLIMIT_NPROC) is per uid,
and the end-of-job sweep kills every process of the job's uid. Slots of one worker never collide, but two processes
on one host (a server and a `labgrader grade`, two workers, parallel test runs) would; an flock per uid prevents it.
The lock is released by the kernel when the holder exits, so a crashed worker never leaks a uid.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from grader.errors import NoFreeUid

DEFAULT_LOCK_DIR = Path("/run/labgrader/uids")
UID_RANGE = 512


@contextmanager
def lease_uid(base: int, preferred_slot: int, lock_dir: Path = DEFAULT_LOCK_DIR) -> Iterator[int]:
    """Hold an exclusive lease on one uid in [base, base + UID_RANGE), trying the slot's own uid first."""
    lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    order = [preferred_slot % UID_RANGE, *(i for i in range(UID_RANGE) if i != preferred_slot % UID_RANGE)]
    for offset in order:
        uid = base + offset
        fd = os.open(lock_dir / f"uid-{uid}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield uid
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        return
    raise NoFreeUid(f"all {UID_RANGE} sandbox uids from {base} are in use on this host")
