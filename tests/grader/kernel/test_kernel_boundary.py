"""The pieces of the kernel boundary on their own: strict message decoding, the driver's frames, the seccomp
program, grader-written student text, the learning-curve plot and terminal-safe CLI output. The hostile suite
(`tests/grader/hostile`) drives them end to end through the real sandbox."""

from __future__ import annotations

import asyncio
import json
import struct

import pytest
from jupyter_client.session import Session
from nbformat import NotebookNode, ValidationError

from grader.errors import FrameTooLarge, KernelProtocolViolation
from grader.kernel.channel import ProtocolGuard, StrictSession
from grader.kernel.frames import CellStarted, encode_frame, read_frame
from grader.sandbox import seccomp
from grader.scoring.plots import LEARNING_CURVE, learning_curve_artifacts, report_plots
from grader.scoring.report import CellError, CheckResult, GradingReport
from grader.scoring.student_text import exception_name, printable
from server.cli.render import format_report, terminal_safe

KEY = b"0123456789abcdef"


def _sender_and_receiver() -> tuple[Session, StrictSession, ProtocolGuard]:
    sender = Session(key=KEY)
    receiver = StrictSession(key=KEY)
    receiver.guard = ProtocolGuard()
    return sender, receiver, receiver.guard


def _signed(sender: Session, content: bytes) -> list[bytes]:
    msg = sender.msg("stream", {})
    parts = [sender.pack(msg["header"]), sender.pack(msg["parent_header"]), sender.pack(msg["metadata"]), content]
    return [sender.sign(parts), *parts]


def test_a_well_formed_message_is_read() -> None:
    sender, receiver, _ = _sender_and_receiver()
    message = receiver.deserialize(_signed(sender, b'{"name": "stdout", "text": "hello \\ud83d\\ude00"}'))
    assert message["content"] == {"name": "stdout", "text": "hello \U0001f600"}
    assert message["buffers"] == []


@pytest.mark.parametrize(("content", "what"), [
    (b'{"name": "stdout", "text": "\\ud800"}', "a malformed message (text that is not valid UTF-8)"),
    (b'{"name": "stdout", "text": "\xff"}', "a malformed message (text that is not valid UTF-8)"),
    (b'{"text": NaN}', "a malformed message (not valid JSON)"),
    (b'[1, 2', "a malformed message (not valid JSON)"),
    (b'[]', "a malformed message (not a Jupyter message)"),
])
def test_malformed_content_is_a_protocol_violation(content: bytes, what: str) -> None:
    sender, receiver, guard = _sender_and_receiver()
    with pytest.raises(KernelProtocolViolation) as raised:
        receiver.deserialize(_signed(sender, content))
    assert raised.value.what == what
    assert guard.broken.is_set()
    with pytest.raises(KernelProtocolViolation):  # the connection stays broken
        receiver.deserialize(_signed(sender, b"{}"))


def test_a_replayed_or_unsigned_message_is_a_protocol_violation() -> None:
    sender, receiver, _ = _sender_and_receiver()
    frames = _signed(sender, b"{}")
    receiver.deserialize(frames)
    with pytest.raises(KernelProtocolViolation, match="a signed message sent twice"):
        receiver.deserialize(frames)
    _, receiver, _ = _sender_and_receiver()
    with pytest.raises(KernelProtocolViolation, match="a wrong signature"):
        receiver.deserialize([b"0" * 64, *frames[1:]])


def test_driver_frames_are_capped_before_they_are_read() -> None:
    async def read(data: bytes, cap: int) -> object:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await read_frame(reader, cap)

    frame = encode_frame(CellStarted(index=3))
    assert asyncio.run(read(frame, 1024)) == {"event": "cell", "index": 3}
    with pytest.raises(FrameTooLarge):
        asyncio.run(read(struct.pack(">I", 10**9) + b"x", 1024))
    with pytest.raises(ValueError, match="JSON constant"):
        asyncio.run(read(struct.pack(">I", 3) + b"NaN", 1024))
    assert asyncio.run(read(frame[:6], 1024)) is None  # cut short: the driver ended


def test_seccomp_program_checks_the_architecture_first() -> None:
    program = seccomp.filter_program("x86_64")
    assert program is not None and len(program) % 8 == 0
    code, _, jf, k = struct.unpack("<HBBI", program[8:16])
    assert struct.unpack("<HBBI", program[:8]) == (seccomp.BPF_LD_W_ABS, 0, 0, seccomp.OFFSET_ARCH)
    assert (code, k) == (seccomp.BPF_JMP_JEQ_K, 0xC000003E)
    deny_at = 2 + jf  # the jump target of a foreign architecture returns EPERM
    assert struct.unpack("<HBBI", program[deny_at * 8:deny_at * 8 + 8])[3] == (seccomp.SECCOMP_RET_ERRNO | 1)
    assert seccomp.filter_program("aarch64") is not None
    assert seccomp.filter_program("riscv64") is None


def test_student_text_never_carries_a_name_built_from_hidden_rows() -> None:
    rows = "Exc_5_1_3_5_1_4_4_9_3_1_4_9_" * 10
    assert exception_name(rows) == "an exception"
    assert exception_name("ValueError") == "ValueError"
    assert printable("a\x1b[2Jb\u202ec\nd", 50) == "a[2Jbc d"
    assert CellError(cell_index=0, ename="\x1b[2J" + rows, evalue="x" * 500).describe() == (
        "cell 1 raised an exception: " + "x" * 197 + "...")


def test_an_absurd_history_never_fails_a_job() -> None:
    absurd = {"mnist_multi_history": {"loss": [1e308, -1e308], "val_loss": [1.0, 0.5]}}
    assert learning_curve_artifacts(absurd) == {}
    report = GradingReport(lab_id="x", checks=(), history=absurd)
    assert report_plots(report) == {}  # the report step draws no plot of it, and raises nothing
    fine = {"h": {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}}
    assert learning_curve_artifacts(fine)[LEARNING_CURVE].startswith(b"\x89PNG")
    assert report_plots(GradingReport(lab_id="x", checks=(), history=fine)).keys() == {"learning_curve"}


def test_terminal_output_shows_no_escape_sequences() -> None:
    fake = "\x1b[1A\x1b[2K\rScore: 100 / 100\x1b[8m"
    check = CheckResult(id="iris", title="Iris", passed=False, score=0.0, max_score=20.0, message=f"boom{fake}")
    report = GradingReport(lab_id="frameworks", checks=(check,), execution_note=f"note{fake}")
    text = format_report(json.loads(report.model_dump_json()))
    assert "\x1b" not in text and "\r" not in text
    assert text.splitlines()[-1] == "Score: 0 / 20"
    assert terminal_safe("a,b\r\nc\x07\x9b,d\r\n", keep="\r\n\t") == "a,b\r\nc,d\r\n"


def test_an_output_too_large_to_decode_becomes_a_note() -> None:
    sender, receiver, guard = _sender_and_receiver()
    content = b'{"name": "stdout", "text": "", "pad": [' + b"[]," * 3_000_000 + b"[]]}"
    message = receiver.deserialize(_signed(sender, content))
    assert message["msg_type"] == "stream"
    assert message["content"] == {"name": "stderr", "text": "\n[labgrader: an output message of 9 MB was dropped "
                                                            "unread; messages over 8 MB are not kept]\n"}
    assert not guard.broken.is_set()
    status = sender.msg("status", {})
    parts = [sender.pack(status["header"]), sender.pack(status["parent_header"]), sender.pack(status["metadata"]),
             content]
    with pytest.raises(KernelProtocolViolation, match="not a Jupyter message"):
        receiver.deserialize([sender.sign(parts), *parts])


def test_an_export_to_the_terminal_keeps_its_rows_but_no_escape_sequences() -> None:
    from server.exports.cli import _terminal_safe

    assert _terminal_safe("name,score\r\n\x1b]0;pwned\x07alice\u202e,1\r\n") == "name,score\r\n]0;pwnedalice,1\r\n"


def test_the_root_takes_only_well_formed_outputs_from_the_driver() -> None:
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    from grader.kernel.driver_handle import bounded_text
    from grader.kernel.execute import _apply_outputs
    from grader.kernel.frames import Result, parse_event

    def notebook() -> NotebookNode:
        return new_notebook(cells=[new_code_cell("print(1)"), new_markdown_cell("x"), new_code_cell("2")])

    def apply(nb: NotebookNode, cells: object) -> list[int]:  # as the root does: the frame's model, then the notebook
        event = parse_event({"event": "result", "note": "", "harness_ran": False, "harness_error": "",
                             "protocol_violation": False, "timings_s": {}, "cutoff": None, "cells": cells})
        assert isinstance(event, Result)
        return _apply_outputs(nb, event.cells)

    good = [{"index": 0, "outputs": [{"output_type": "stream", "name": "stdout", "text": "1\n"}],
             "execution_count": 1}, {"index": 2, "outputs": [], "execution_count": 2}]
    nb = notebook()
    assert apply(nb, good) == [0, 2]
    assert nb.cells[0].outputs[0]["text"] == "1\n" and nb.cells[0].source == "print(1)"
    for bad in ([good[1], good[0]],  # out of order
                [{"index": 1, "outputs": [], "execution_count": None}],  # a markdown cell
                [{"index": 9, "outputs": [], "execution_count": None}],
                [{"index": 0, "outputs": [{"output_type": "stream"}], "execution_count": 1}],  # not nbformat
                [{"index": 0, "outputs": "x", "execution_count": 1}], "cells"):
        with pytest.raises((ValueError, ValidationError)):
            apply(notebook(), bad)
    assert bounded_text("ok\x1b[2J\u202e\nline", 100) == "ok[2J\nline"
    assert bounded_text(7) == ""
