"""Errors raised by the grader: one tree, so a caller can catch a family or all of them.

    GraderError
     ├── NotebookInvalid         the upload is not a gradable notebook (the message says why)
     ├── AttachmentsInvalid      files submitted with a notebook were refused (grader.upload.attachments)
     │    └── AttachmentsTooLarge  more files or more bytes than the limits
     ├── SpecInvalid             a lab spec does not validate against the schema
     │    └── SharedDatasetInvalid  a `shared = "ID"` table the course's datasets.toml cannot answer
     ├── DatasetError            a lab's data is missing, malformed or failed its checksum
     ├── EnvironmentUnavailable  a student environment is unknown, not built, or hidden from the sandbox
     │    └── EnvironmentNotReady  its build has begun and none is complete yet: its jobs wait
     ├── WorkerConfigError       a worker's slots or queues make no sense (also a ValueError; the message names the
     │                           option to fix)
     ├── SandboxUnavailable      the host cannot isolate student code and unsandboxed runs are not allowed
     ├── HarnessOutputInvalid    what came back from the sandbox is missing, oversized or malformed
     ├── NetworkRefused          an exported network is not one the grader can evaluate (the message says why)
     │    └── PolicyRefused      a policy network's outputs cannot choose an environment's action (also a ValueError)
     ├── StoredOutputUnreadable  stored scoring inputs are corrupt or in a format this grader no longer reads
     ├── KernelChannelError  the grader's channel to a kernel broke (grader.kernel.channel/driver/execute)
     │    ├── KernelProtocolViolation  the kernel sent what no honest kernel sends (graded, never retried)
     │    ├── DriverEnded     the driver's pipe closed or carried something that is not a frame
     │    ├── FrameTooLarge   a frame announced over the reader's cap
     │    ├── FrameRefused    a frame that is JSON but none of the protocol's kinds (also a ValueError)
     │    └── SetupFailed     grader code failed in the kernel before any student code ran
     └── InfrastructureError     the grader itself failed (kernel would not start, disk full): retry the job
          ├── KernelStartFailed  the sandboxed kernel died before it answered (the message holds its stderr)
          └── NoFreeUid          every sandbox uid is held by another job on this host

Third-party errors are mapped at the boundary (`raise InfrastructureError(...) from exc`); messages are written for
the person who can act on them, and never carry hidden data.
"""

from __future__ import annotations

from pathlib import Path


class GraderError(Exception):
    """Base of every grader error."""


class NotebookInvalid(GraderError):
    """The uploaded file is not a notebook we can grade."""


class AttachmentsInvalid(GraderError):
    """A file submitted with the notebook cannot be placed beside it (unsafe name, link, over a limit)."""


class AttachmentsTooLarge(AttachmentsInvalid):
    """The files submitted with the notebook are more, or larger, than the limits allow."""


class SpecInvalid(GraderError):
    """A lab spec failed validation."""


class SharedDatasetInvalid(SpecInvalid):
    """A `shared = "ID"` table that the course's datasets file cannot answer; `key` is where in the lab.toml."""

    def __init__(self, lab_toml: Path, key: str, message: str) -> None:
        super().__init__(f"{lab_toml}: {key}: {message}")
        self.key, self.message = key, message


class DatasetError(GraderError):
    """A dataset could not be downloaded, imported or prepared (the message says what to do)."""


class EnvironmentUnavailable(GraderError):
    """A student environment cannot run kernels here (unknown, not built, or where the sandbox cannot see it)."""


class EnvironmentNotReady(EnvironmentUnavailable):
    """A student environment's build is under way (or did not finish) and no complete build is in use: wait."""


class WorkerConfigError(GraderError, ValueError):
    """The worker's slots or queues make no sense (the message says which option to fix)."""


class SandboxUnavailable(GraderError):
    """Student code must not run: no isolation and no explicit permission to run without it."""


class HarnessOutputInvalid(GraderError):
    """The harness output is untrusted input that failed validation."""


class NetworkRefused(GraderError):
    """The export does not describe a network the grader can evaluate (the message says why)."""


class PolicyRefused(NetworkRefused, ValueError):
    """The policy's outputs cannot choose an action (wrong count, not numbers)."""


class StoredOutputUnreadable(GraderError):
    """Stored scoring inputs are corrupt or in a format this grader no longer reads (the message says which)."""


class InfrastructureError(GraderError):
    """A failure of the grading machinery, not of the student's notebook."""


class KernelStartFailed(InfrastructureError):
    """The sandboxed kernel did not start; `stderr_tail` is the end of what it printed."""

    def __init__(self, message: str, stderr_tail: str = "") -> None:
        super().__init__(message)
        self.stderr_tail = stderr_tail


class NoFreeUid(InfrastructureError):
    """Every sandbox uid in the range is held by another job on this host."""


class KernelChannelError(GraderError):
    """The channel between the grader, a job's kernel driver and the kernel broke."""


class KernelProtocolViolation(KernelChannelError):  # named like nbclient's DeadKernelError
    """The kernel sent something no honest kernel sends; `what` is grader-written text for the report."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class DriverEnded(KernelChannelError):
    """The driver's pipe closed or carried something that is not a frame."""


class FrameTooLarge(KernelChannelError):
    """The other side announced a frame over the reader's cap."""


class FrameRefused(KernelChannelError, ValueError):
    """A frame that is JSON but not exactly one of the protocol's kinds; `kind` is the kind it claimed ("" if none)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class SetupFailed(KernelChannelError):
    """Grader code failed in the kernel before any student code ran: an infrastructure failure."""
