"""The end of what a kernel writes to its stderr: the reason a kernel that died at start gives, kept bounded."""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque

STDERR_TAIL_BYTES = 16 * 1024


class StderrTail:
    """A pipe for the kernel's stderr, drained by a thread that keeps only the last `limit_bytes` (the kernel writes
    as much as it likes; nothing of it reaches a disk)."""

    def __init__(self, limit_bytes: int = STDERR_TAIL_BYTES) -> None:
        self._read_fd, self.write_fd = os.pipe()
        self._limit = limit_bytes
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._writer_open = True
        self._thread = threading.Thread(target=self._drain, name="labgrader-kernel-stderr", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        try:
            while chunk := os.read(self._read_fd, 65536):
                self._chunks.append(chunk)
                self._size += len(chunk)
                while self._size - len(self._chunks[0]) >= self._limit:
                    self._size -= len(self._chunks.popleft())
        except OSError:
            pass
        finally:
            os.close(self._read_fd)

    def close_writer(self) -> None:
        """Drop this process's end once the kernel holds its own copy (then the pipe ends when the kernel does)."""
        if self._writer_open:
            self._writer_open = False
            with contextlib.suppress(OSError):
                os.close(self.write_fd)

    def text(self, wait_s: float = 3.0) -> str:
        """What the kernel wrote last, once it has exited (or after `wait_s`)."""
        self.close_writer()
        self._thread.join(wait_s)
        return b"".join(list(self._chunks))[-self._limit:].decode("utf-8", "replace")
