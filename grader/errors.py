"""Errors raised by the grader.

    GraderError
     ├── NotebookInvalid       the upload is not a gradable notebook (the message says why)
 ├── AttachmentsInvalid    files submitted with a notebook were refused (grader.attachments says which and why)
 │    └── AttachmentsTooLarge  more files or more bytes than the limits
     ├── SpecInvalid           a lab spec does not validate against the schema
     ├── SandboxUnavailable    the host cannot isolate student code and unsandboxed runs are not allowed
     ├── HarnessOutputInvalid  what came back from the sandbox is missing, oversized or malformed
     ├── DatasetError          a lab's data is missing, malformed or failed its checksum (grader.datasets)
     └── InfrastructureError   the grader itself failed (kernel would not start, disk full): retry the job
"""


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


class SandboxUnavailable(GraderError):
    """Student code must not run: no isolation and no explicit permission to run without it."""


class HarnessOutputInvalid(GraderError):
    """The harness output is untrusted input that failed validation."""


class InfrastructureError(GraderError):
    """A failure of the grading machinery, not of the student's notebook."""
