"""Replies the kernel driver cannot use: signed with the kernel's own key (student code holds it), well-formed as
Jupyter envelopes, wrong inside. Every one ends the run with the grader's own words and a graded report, never an
exception that would make the job an infrastructure failure (a retry, `grade` exit 4).

The fuzz drives the driver's nbclient side (`grader.kernel.cells`) against one real kernel, many messages: each case
arms a one-shot mutator in the kernel's session, then makes the kernel send a message of the case's type. The end to
end test grades the issue's attack (an `execute_reply` with empty content) through the real sandbox."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from jupyter_client.manager import AsyncKernelManager
from nbformat.v4 import new_code_cell, new_notebook

from grader.kernel.cells import KernelState, RunOutcome, connect, run_notebook
from grader.kernel.execute import ExecutionResult, RunLimits, _take_result
from grader.kernel.frames import ConnectionInfo, DriverLimits, Result, encode_frame, parse_event
from grader.pipeline import GradingContext, grade_notebook
from grader.sandbox.isolation import SandboxConfig
from grader.scoring.report import Cutoff
from grader.spec.lab import discover_labs
from lab_tasks import LABS_DIR
from tests.conftest import LABGRADER, notebook_bytes, server_env
from tests.lab_data import frameworks_data

pytestmark = pytest.mark.asyncio(loop_scope="module")  # one kernel for the whole fuzz
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs a root worker")

STOPPED = "; the kernel was stopped there, so the cells after it and the evaluation did not run"
UNREADABLE = "the notebook sent a reply the grader could not read during cell {cell}" + STOPPED

# Student code: replace the kernel session's `send` with one that corrupts the next message of type `target`.
ARM = """
import types as _types
def _arm(target, mutation):
    session = get_ipython().kernel.session
    spent = []
    def corrupt(content):
        if mutation == "empty":
            return {}
        if mutation == "wrong_types":
            return {key: [7, {"x": None}] for key in content} or {"status": 7}
        if mutation == "huge":
            return {key: "x" * 3_000_000 if isinstance(value, str) else [list(range(100))] * 1000
                    for key, value in content.items()}
        if mutation == "no_parent":
            return content
        raise ValueError(mutation)
    def send(self, stream, msg_or_type, content=None, parent=None, ident=None, buffers=None, track=False,
             header=None, metadata=None):
        state = (content or {}).get("execution_state") if isinstance(content, dict) else None
        if not spent and msg_or_type == target and (target != "status" or state == "busy"):
            spent.append(1)
            content = corrupt(dict(content or {}))
            if mutation == "no_parent":
                parent = {}
        return type(self).send(self, stream, msg_or_type, content, parent, ident, buffers, track, header, metadata)
    session.send = _types.MethodType(send, session)
_arm(@TARGET@, @MUTATION@)
"""
# what makes the kernel send a message of each type (the cell after the one that armed the mutator)
TRIGGERS = {
    "stream": "print('triggered')",
    "display_data": "from IPython.display import display\ndisplay({'text/plain': 'shown'}, raw=True)",
    "update_display_data": "from IPython.display import display\nh = display('a', display_id=True)\nh.update('b')",
    "execute_result": "41 + 1",
    "error": "raise ValueError('expected')",
    "clear_output": "from IPython.display import clear_output\nprint('x')\nclear_output()",
    "execute_input": "x = 1",
    "status": "x = 2",
    "comm_open": "from comm import create_comm\nc = create_comm(target_name='fuzz')\nc.send({'a': 1})\nc.close()",
    "comm_msg": "from comm import create_comm\nc = create_comm(target_name='fuzz')\nc.send({'a': 1})\nc.close()",
    "comm_close": "from comm import create_comm\nc = create_comm(target_name='fuzz')\nc.close()",
    "execute_reply": "x = 3",
}
MUTATIONS = ("empty", "wrong_types", "huge", "no_parent")
CASES = [(target, mutation) for target in TRIGGERS for mutation in MUTATIONS]
LIMITS = DriverLimits(cell_timeout_s=5, notebook_timeout_s=60, harness_timeout_s=10, output_limit_bytes=1 << 20)
# the cases that end otherwise than with the message dropped (the first cell, which arms the mutator, gets them):
# a reply nbclient reads fields of without a check stops the run; a reply to no request leaves its cell waiting
NOT_DROPPED = {
    ("execute_reply", "empty"): UNREADABLE.format(cell=1),
    ("execute_reply", "no_parent"): Cutoff(limit="cell", cell_number=1, ran_s=5, started_after_s=0, cell_timeout_s=5,
                                           notebook_timeout_s=60).describe(),
}


def _notebook(target: str, mutation: str) -> Any:
    arm = ARM.replace("@TARGET@", repr(target)).replace("@MUTATION@", repr(mutation))
    return new_notebook(cells=[new_code_cell(arm), new_code_cell(TRIGGERS[target]), new_code_cell("print('after')")])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def kernel(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConnectionInfo]:
    """One real IPython kernel on Unix sockets, as the sandbox starts it; each case connects a fresh driver side."""
    runtime = tmp_path_factory.mktemp("kernel")
    km = AsyncKernelManager(transport="ipc", ip=str(runtime / "kernel"),
                            connection_file=str(runtime / "connection.json"))
    km.kernel_spec_manager.ensure_native_kernel = True
    await km.start_kernel(cwd=str(runtime), env={"PATH": os.environ["PATH"], "HOME": str(runtime)},
                          extra_arguments=[])
    try:
        info: dict[str, Any] = dict(km.get_connection_info())
        yield ConnectionInfo(**{k: v.decode() if isinstance(v, bytes) else v for k, v in info.items()
                                if k in ConnectionInfo.model_fields})
    finally:
        await km.shutdown_kernel(now=True)


async def _run(info: ConnectionInfo, target: str, mutation: str) -> tuple[RunOutcome, ExecutionResult]:
    async def alive() -> bool:
        return True

    state: KernelState = await connect(info, 30, alive)
    try:
        nb = _notebook(target, mutation)
        outcome = await run_notebook(state, nb, LIMITS, "", None, lambda index: None)
    finally:
        state.kc.stop_channels()
    # the root's side reads the driver's frame as it does in a job: what it records is the report's note
    frame = encode_frame(outcome.as_frame())
    assert len(frame) < 8 * 1024 * 1024
    root_nb = _notebook(target, mutation)
    result = ExecutionResult(notebook=root_nb)
    event = parse_event(json.loads(frame[4:]))
    assert isinstance(event, Result)
    _take_result(event, root_nb, result, None, RunLimits(cell_timeout_s=5, notebook_timeout_s=60))
    return outcome, result


@pytest.mark.parametrize(("target", "mutation"), CASES, ids=[f"{t}-{m}" for t, m in CASES])
async def test_a_signed_reply_the_driver_cannot_use_ends_graded(kernel: ConnectionInfo, target: str,
                                                                  mutation: str) -> None:
    _, result = await _run(kernel, target, mutation)
    assert result.note == NOT_DROPPED.get((target, mutation), "")
    assert result.protocol_violation is ((target, mutation) == ("execute_reply", "empty"))
    if result.protocol_violation:
        return
    # the message was dropped (or its cell interrupted): the run goes on to the last cell, which prints
    last = result.notebook.cells[2]
    assert [o.get("text") for o in last.outputs if o.get("output_type") == "stream"] == ["after\n"]


ATTACK = ("k = get_ipython().kernel\n_send = k.session.send\n"
          "def send(stream, msg_or_type, content=None, *args, **kwargs):\n"
          "    content = {} if msg_or_type == 'execute_reply' else content\n"
          "    return _send(stream, msg_or_type, content, *args, **kwargs)\n"
          "k.session.send = send")


@needs_root
async def test_grade_exits_0_with_the_note_not_4(tmp_path: Path) -> None:
    """The issue's report: `labgrader grade` exited 4 ("the student environment did not start") on this notebook."""
    notebook = tmp_path / "attack.ipynb"
    notebook.write_bytes(notebook_bytes("x = 1", ATTACK, "print('never')"))
    env = server_env(tmp_path, LABGRADER_KERNEL_PYTHON=sys.executable)
    done = await asyncio.to_thread(subprocess.run, [*LABGRADER, "grade", str(notebook), "--lab", "frameworks",
                                                    "--json"], cwd=tmp_path, env=env, capture_output=True, text=True,
                                   timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["note"] == UNREADABLE.format(cell=2)


@needs_root
async def test_an_execute_reply_with_empty_content_is_graded(tmp_path: Path) -> None:
    """The issue's attack, end to end: a graded report with the grader's note, not an infrastructure failure."""
    spec = discover_labs(LABS_DIR)["frameworks"]
    spec = spec.model_copy(update={"checks": tuple(c for c in spec.checks if c.id == "iris_accuracy")})
    lab = frameworks_data(tmp_path / "data", mnist=None)
    ctx = GradingContext(spec=spec, lab_data=lab, jobs_root=tmp_path / "jobs",
                         sandbox=SandboxConfig(kernel_python=sys.executable), slot=24,
                         cell_timeout_s=30, notebook_timeout_s=60, harness_timeout_s=30)
    nb = new_notebook(cells=[new_code_cell("x = 1"), new_code_cell(ATTACK), new_code_cell("print('never')")])
    outcome = await grade_notebook(nb, ctx)
    report = outcome.report
    assert report.execution_note == UNREADABLE.format(cell=2)
    assert report.checks[0].score == 0
    assert report.checks[0].message == (
        "no trained model named `iris_model` was found after the notebook ran, and no Iris model turned up among its "
        f"variables; train the network and assign it to `iris_model` ({UNREADABLE.format(cell=2)})")


async def test_an_exception_in_the_evaluator_ends_with_the_graders_words(tmp_path: Path) -> None:
    """The evaluator's side of the same rule: whatever breaks inside it, its answer is a grader-written problem
    (a built-in exception's class at most), never its traceback, and the job is graded with it."""
    from grader.evaluation.__main__ import main

    result = tmp_path / "result.json"
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"result": str(result), "nonce": "0" * 32}))  # no export: KeyError inside
    assert main([str(job)]) == 0
    assert json.loads(result.read_text()) == {
        "problem": "the grader could not evaluate the exported networks: it could not read them (KeyError)"}
