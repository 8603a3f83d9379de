"""grader/kernel/frames.py: every frame kind survives the pipe unchanged; a frame that is JSON but not exactly one of
the kinds is refused where it is read, and the root grades it with the words it has always used
(`grader.kernel.execute`), against a real driver process that sends it."""

from __future__ import annotations

import asyncio
import json
import struct
import sys
from pathlib import Path
from typing import Any

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.errors import FrameRefused
from grader.kernel.driver_handle import KernelDriver
from grader.kernel.execute import ExecutionResult, RunLimits, _drive
from grader.kernel.frames import (
    Alive,
    AliveAsked,
    CellOutputs,
    CellStarted,
    Connect,
    Connected,
    ConnectionInfo,
    CutoffNumbers,
    DriverError,
    DriverLimits,
    Frame,
    Harness,
    HarnessWanted,
    KernelDead,
    Private,
    PrivateRan,
    Result,
    Run,
    SetupFailure,
    Timings,
    encode_frame,
    parse_event,
    parse_request,
    read_event,
    read_request,
)

CONNECTION = ConnectionInfo(transport="ipc", ip="/kernel/k", shell_port=1, iopub_port=2, stdin_port=3,
                            control_port=4, hb_port=5, key="0123abcd", signature_scheme="hmac-sha256")
LIMITS = DriverLimits(cell_timeout_s=60, notebook_timeout_s=600, harness_timeout_s=120, output_limit_bytes=1 << 20,
                      cpu_share_cores=2.0, cpu_clock_fd=11)
REQUESTS: list[Frame] = [
    Connect(connection=CONNECTION, timeout_s=60), Private(code="import numpy", timeout_s=30),
    Run(notebook='{"cells": []}', setup_code="x = 1", harness=True, limits=LIMITS),
    Harness(code="print(1)"), Harness(code=None), KernelDead(why="the memory limit"), Alive(alive=False),
]
RESULT = Result(
    note="cell 2 ran out of time", harness_ran=True, harness_error="", protocol_violation=False,
    timings_s=Timings(cells=1.5, cells_cpu=0.25),
    cutoff=CutoffNumbers(limit="cell", cell_number=2, ran_s=60.0, started_after_s=0.5, interrupted=True, clock="cpu",
                         cpu_s=59.9),
    cells=[CellOutputs(index=0, outputs=[{"output_type": "stream", "name": "stdout", "text": "é\n"}],
                       execution_count=1), CellOutputs(index=2, outputs=[], execution_count=None)])
EVENTS: list[Frame] = [
    Connected(error=""), Connected(error="TimeoutError: no answer"), PrivateRan(error=""), CellStarted(index=3),
    HarnessWanted(), AliveAsked(), SetupFailure(error="the set-up failed"), DriverError(error="unexpected request"),
    RESULT, RESULT.model_copy(update={"cutoff": None, "timings_s": Timings()}),
]
GOOD_RESULT: dict[str, Any] = RESULT.model_dump()


async def _through_a_pipe(frame: Frame, read: Any) -> object:
    reader = asyncio.StreamReader()
    reader.feed_data(encode_frame(frame))
    reader.feed_eof()
    return await read(reader, 1 << 20)


@pytest.mark.parametrize("frame", REQUESTS, ids=lambda f: type(f).__name__)
def test_every_request_kind_round_trips(frame: Frame) -> None:
    assert asyncio.run(_through_a_pipe(frame, read_request)) == frame


@pytest.mark.parametrize("frame", EVENTS, ids=lambda f: type(f).__name__)
def test_every_event_kind_round_trips(frame: Frame) -> None:
    assert asyncio.run(_through_a_pipe(frame, read_event)) == frame


def _with(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    """The good result frame with one value replaced (or, given `...`, removed)."""
    raw: dict[str, Any] = json.loads(json.dumps(GOOD_RESULT))
    *parents, last = path
    target: Any = raw
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return raw


@pytest.mark.parametrize(("raw", "message"), [
    ({"event": "cell", "index": "3"}, "a malformed 'cell' frame (at index: int_type)"),  # wrong type
    ({"event": "cell", "index": True}, "a malformed 'cell' frame (at index: int_type)"),  # a bool is no index
    ({"event": "cell"}, "a malformed 'cell' frame (at index: missing)"),  # missing key
    ({"event": "cell", "index": 3, "extra": 1}, "a malformed 'cell' frame (at extra: extra_forbidden)"),
    ({"event": "cell", "index": 10**30}, "a malformed 'cell' frame (at index: less_than)"),  # huge number
    ({"event": "cell", "index": -1}, "a malformed 'cell' frame (at index: greater_than_equal)"),
    ({"event": "nonsense"}, "a malformed 'nonsense' frame (at event: union_tag_invalid)"),
    ({"index": 3}, "a malformed 'unnamed' frame (at event: union_tag_not_found)"),
    (_with(("timings_s", "cells"), 1e400), "a malformed 'result' frame (at timings_s.cells: finite_number)"),
    (_with(("cutoff", "ran_s"), 1e12), "a malformed 'result' frame (at cutoff.ran_s: less_than)"),
    (_with(("cutoff", "clock"), "sundial"), "a malformed 'result' frame (at cutoff.clock: literal_error)"),
    (_with(("cells", 0, "execution_count"), 2**40),
     "a malformed 'result' frame (at cells.0.execution_count: less_than)"),
    (_with(("cells", 1, "outputs"), "x"), "a malformed 'result' frame (at cells.1.outputs: list_type)"),
    (_with(("note",), ...), "a malformed 'result' frame (at note: missing)"),
    (_with(("harness_ran",), 1), "a malformed 'result' frame (at harness_ran: bool_type)"),
])
def test_a_malformed_event_is_refused_naming_its_kind(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(FrameRefused) as refused:
        parse_event(raw)
    assert str(refused.value) == message
    assert refused.value.kind == raw.get("event", "")


def test_a_malformed_request_is_refused() -> None:
    raw = {"op": "run", "notebook": "{}", "setup_code": "", "harness": "yes", "limits": LIMITS.model_dump()}
    with pytest.raises(FrameRefused, match=r"^a malformed 'run' frame \(at harness: bool_type\)$"):
        parse_request(raw)
    with pytest.raises(FrameRefused, match=r"^a malformed 'kernel_dead' frame \(at why: missing\)$"):
        parse_request({"op": "kernel_dead"})


class _LiveKernel:
    """The kernel's process as the driver handle asks about it: alive throughout (no kernel is needed here)."""

    async def is_alive(self) -> bool:
        return True

    def crash_reason(self) -> str:
        return ""


async def _drive_against(frames: list[dict[str, Any]], tmp_path: Path) -> ExecutionResult:
    """Run `_drive` against a real driver process that sends these raw frames, then waits."""
    wire = b"".join(struct.pack(">I", len(body)) + body for body in (json.dumps(f).encode() for f in frames))
    (tmp_path / "frames.bin").write_bytes(wire)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; sys.stdout.buffer.write(open(sys.argv[1], 'rb').read()); "
        "sys.stdout.flush(); sys.stdin.read()", str(tmp_path / "frames.bin"),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    driver = KernelDriver(process, _LiveKernel())  # type: ignore[arg-type]
    nb = new_notebook(cells=[new_code_cell("print(1)"), new_markdown_cell("x"), new_code_cell("2")])
    result = ExecutionResult(notebook=nb)
    try:
        await asyncio.wait_for(_drive(driver, nb, "", RunLimits(cell_timeout_s=60, notebook_timeout_s=600), result,
                                      None, lambda: ""), timeout=60)
    finally:
        await driver.close()
    return result


@pytest.mark.parametrize("cell", [{"event": "cell", "index": "1"}, {"event": "cell", "index": 1, "why": "x"},
                                  {"event": "cell", "index": 2**31}, {"event": "nonsense"}])
def test_a_malformed_event_during_the_run_is_graded_as_an_unexpected_one(cell: dict[str, Any],
                                                                         tmp_path: Path) -> None:
    result = asyncio.run(_drive_against([{"event": "cell", "index": 0}, cell], tmp_path))
    assert result.note == "the grader's connection to the kernel sent something unexpected during cell 1"
    assert result.harness_error == result.note
    assert result.protocol_violation is False


@pytest.mark.parametrize("raw", [_with(("cells", 0, "index"), "0"), _with(("cells", 0, "extra"), 1),
                                 _with(("cells",), ...), _with(("timings_s", "harness"), 1e9)])
def test_a_malformed_result_is_graded_as_unreadable_outputs(raw: dict[str, Any], tmp_path: Path) -> None:
    result = asyncio.run(_drive_against([{"event": "cell", "index": 2}, raw], tmp_path))
    assert result.note == "the grader could not read the notebook's outputs back from its kernel connection"
    assert result.harness_error == result.note
    assert result.protocol_violation is True
    assert [c.get("outputs") for c in result.notebook.cells] == [[], None, []]


def test_a_well_formed_result_is_taken(tmp_path: Path) -> None:
    result = asyncio.run(_drive_against([{"event": "cell", "index": 0}, GOOD_RESULT], tmp_path))
    assert result.note == (
        "cell 2 used its 60 s of CPU time and was interrupted; the cells after it ran (the lab's limits: 60 s per "
        "cell, 600 s for the whole notebook, in CPU time at 1 core, so a busy worker does not shorten them). The "
        "networks are graded as they were trained when it stopped, 60 s into that cell; train for fewer epochs or "
        "with larger batches to finish within the limits")
    assert result.cutoff is not None and (result.cutoff.cell_number, result.cutoff.cpu_s) == (2, 59.9)
    assert result.timings_s == {"cells": 1.5, "cells_cpu": 0.25}
    assert result.notebook.cells[0].outputs[0]["text"] == "é\n"
    assert result.protocol_violation is False
