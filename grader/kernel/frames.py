"""The frames the root and a job's kernel driver exchange: a 4-byte length, then a JSON object (no NaN, ASCII), read
once where it arrives into one frozen, checked model per kind; nothing past the reader sees a raw dict.

    root -> driver (`Request`, keyed by "op")         driver -> root (`Event`, keyed by "event")
      Connect      connect to the kernel               Connected      connected, or why not
      Private      run grader code before the notebook PrivateRan     that code ran, or what failed
      Run          the notebook, its limits            CellStarted    which code cell runs now
      Harness      the evaluation code (or none)       HarnessWanted  the cells ended: the evaluation code, please
      KernelDead   the kernel's process ended, why     AliveAsked     after a disconnect: does the kernel live?
      Alive        the answer                          SetupFailure   grader code failed before any student code
                                                       DriverError    a request the driver could not take
                                                       Result         each ran cell's outputs, a note, timings

The driver is near student code, so each event is untrusted: every model forbids extra keys, converts nothing (a
string is not a number, a bool is not a count), refuses NaN and infinities and bounds every number. A frame that is
JSON but none of these kinds raises FrameRefused, which names the kind it claimed, so the root can answer it with the
graded error it has always given (`grader.kernel.execute`). Both sides import this module; the root never imports
the driver's nbclient side (`grader.kernel.cells`).
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from grader.errors import FrameRefused, FrameTooLarge

FRAME_HEADER = struct.Struct(">I")
MAX_REQUEST_BYTES = 256 * 1024 * 1024  # the root's requests: the notebook (capped by the upload limit) and code
DEFAULT_DEATH_REASON = "memory or process limit reached, or the process was killed"

Count = Annotated[int, Field(ge=0, lt=2**31)]
Port = Annotated[int, Field(ge=0, le=65535)]
Seconds = Annotated[float, Field(ge=0, lt=1e7)]  # ~116 days: past any limit a lab can set
T = TypeVar("T")


class Frame(BaseModel):
    """One frame: strict, closed and frozen."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


# root -> driver

class ConnectionInfo(Frame):
    """The kernel's sockets and key (`SandboxKernelManager.connection_for_driver`)."""

    transport: Literal["ipc", "tcp"]
    ip: str
    shell_port: Port
    iopub_port: Port
    stdin_port: Port
    control_port: Port
    hb_port: Port
    key: str
    signature_scheme: str


class DriverLimits(Frame):
    """The limits the driver enforces for one run."""

    cell_timeout_s: Seconds
    notebook_timeout_s: Seconds
    harness_timeout_s: Seconds
    output_limit_bytes: Count
    cpu_share_cores: Annotated[float, Field(gt=0, le=4096)] = 1.0  # the limits are CPU seconds at this many cores
    cpu_clock_fd: Count | None = None  # the job's CPU counter, passed by the root; None: wall-clock limits
    cpu_wait_fd: Count | None = None  # the job's wait for a CPU (`cpu_clock.WaitMeter`); None: plain wall backstop


class Connect(Frame):
    op: Literal["connect"] = "connect"
    connection: ConnectionInfo
    timeout_s: Seconds = 60


class Private(Frame):
    op: Literal["private"] = "private"
    code: str
    timeout_s: Seconds = 60


class Run(Frame):
    op: Literal["run"] = "run"
    notebook: str  # nbformat JSON
    setup_code: str
    harness: bool
    limits: DriverLimits


class Harness(Frame):
    op: Literal["harness"] = "harness"
    code: str | None  # None: no evaluation after all


class KernelDead(Frame):
    op: Literal["kernel_dead"] = "kernel_dead"
    why: str


class Alive(Frame):
    op: Literal["alive"] = "alive"
    alive: bool


Request = Annotated[Connect | Private | Run | Harness | KernelDead | Alive, Field(discriminator="op")]


# driver -> root

class Connected(Frame):
    event: Literal["connected"] = "connected"
    error: str  # "" when connected


class PrivateRan(Frame):
    event: Literal["private"] = "private"
    error: str  # "" when the code ran


class CellStarted(Frame):
    event: Literal["cell"] = "cell"
    index: Count


class HarnessWanted(Frame):
    event: Literal["harness_wanted"] = "harness_wanted"


class AliveAsked(Frame):
    event: Literal["alive?"] = "alive?"


class SetupFailure(Frame):
    event: Literal["setup_failed"] = "setup_failed"
    error: str


class DriverError(Frame):
    event: Literal["error"] = "error"
    error: str


class CellOutputs(Frame):
    """One executed code cell: its outputs (checked against the notebook schema by the root) and count."""

    index: Count
    outputs: list[dict[str, Any]]
    execution_count: Count | None


class CutoffNumbers(Frame):
    """The limit that stopped the notebook, in numbers only (the root writes the sentence:
    `grader.scoring.report.Cutoff`)."""

    limit: Literal["cell", "notebook"]
    cell_number: Annotated[int, Field(ge=1, lt=2**31)]
    ran_s: Seconds
    started_after_s: Seconds
    interrupted: bool
    clock: Literal["cpu", "wall"]
    cpu_s: Seconds | None
    waited_s: Seconds | None = None  # the time the job waited for a CPU, left out of the wall-clock backstop


class Timings(Frame):
    cells: Seconds | None = None
    cells_cpu: Seconds | None = None
    harness: Seconds | None = None


class Result(Frame):
    event: Literal["result"] = "result"
    note: str
    harness_ran: bool
    harness_error: str
    protocol_violation: bool
    timings_s: Timings
    cutoff: CutoffNumbers | None
    cells: list[CellOutputs]


Event = Annotated[Connected | PrivateRan | CellStarted | HarnessWanted | AliveAsked | SetupFailure | DriverError |
                  Result, Field(discriminator="event")]

_REQUEST: TypeAdapter[Request] = TypeAdapter(Request)
_EVENT: TypeAdapter[Event] = TypeAdapter(Event)


def encode_frame(frame: Frame) -> bytes:
    body = json.dumps(frame.model_dump(), ensure_ascii=True, allow_nan=False).encode("ascii")
    return FRAME_HEADER.pack(len(body)) + body


def parse_event(raw: dict[str, Any]) -> Event:
    """The driver's event, checked; FrameRefused for anything that is not exactly one of the kinds."""
    return _parse(_EVENT, raw, "event")


def parse_request(raw: dict[str, Any]) -> Request:
    """The root's request, checked; FrameRefused for anything that is not exactly one of the kinds."""
    return _parse(_REQUEST, raw, "op")


def _parse(adapter: TypeAdapter[T], raw: dict[str, Any], key: str) -> T:
    try:
        return adapter.validate_python(raw)
    except ValidationError as exc:
        claimed = raw.get(key)
        kind = claimed[:40] if isinstance(claimed, str) else ""
        where = ".".join(str(part) for part in exc.errors()[0]["loc"][1:])[:80] or key
        raise FrameRefused(kind, f"a malformed {kind or 'unnamed'!r} frame (at {where}: "
                                 f"{exc.errors()[0]['type']})") from None


async def read_frame(reader: asyncio.StreamReader, max_bytes: int) -> dict[str, Any] | None:
    """The next frame's JSON object, or None at end of stream; the size is checked before a byte of the body is
    read."""
    try:
        header = await reader.readexactly(FRAME_HEADER.size)
    except asyncio.IncompleteReadError:
        return None
    (size,) = FRAME_HEADER.unpack(header)
    if size > max_bytes:
        raise FrameTooLarge(f"a frame of {size} bytes, over the {max_bytes} byte cap")
    try:
        body = await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        return None
    value = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    if not isinstance(value, dict):
        raise ValueError("a frame that is not a JSON object")
    return value


async def read_event(reader: asyncio.StreamReader, max_bytes: int) -> Event | None:
    """The driver's next event, checked (see `read_frame`, `parse_event`)."""
    raw = await read_frame(reader, max_bytes)
    return None if raw is None else parse_event(raw)


async def read_request(reader: asyncio.StreamReader, max_bytes: int) -> Request | None:
    """The root's next request, checked (see `read_frame`, `parse_request`)."""
    raw = await read_frame(reader, max_bytes)
    return None if raw is None else parse_request(raw)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"JSON constant {name}")
