"""The clean evaluator's sandbox on this host: its own uid (never the kernel's), no socket, read-only inputs that the
kernel's uid cannot open, one writable directory for its result, a memory limit that ends it with a reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.evaluation.runner import run_evaluator
from grader.sandbox import reaper
from grader.sandbox.evaluator_room import UID_OFFSET, EvaluatorRoom, evaluator_room
from grader.sandbox.isolation import IsolationMode, SandboxConfig, SandboxLimits, require_isolation, slot_uid

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs a root worker")
SLOT = 43
PROBE = """
import errno, os, socket
def attempt(label, action):
    try:
        action()
        print(f"{label}: ok")
    except OSError as exc:
        print(f"{label}: {errno.errorcode.get(exc.errno, exc.errno)}")
print("uid:", os.getuid())
attempt("socket inet", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
attempt("socket unix", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
attempt("socketpair", lambda: socket.socketpair())
attempt("read input", lambda: open("/evaluation/in/hidden-x.npy", "rb").read())
attempt("write input", lambda: open("/evaluation/in/planted", "w"))
attempt("write result", lambda: open("/evaluation/out/evaluation-result.json", "w").write("{}"))
attempt("jobs root", lambda: os.listdir(JOBS_ROOT))
"""

EVALUATOR_MEMORY_MB = 768  # the setting (LABGRADER_EVALUATOR_MEMORY_LIMIT_MB), lowered: the death says this number


@pytest.fixture
def room(tmp_path: Path) -> Iterator[EvaluatorRoom]:
    config = SandboxConfig(limits=SandboxLimits(evaluator_memory_limit_mb=EVALUATOR_MEMORY_MB))
    isolation = require_isolation(config)
    if isolation.mode is not IsolationMode.BUBBLEWRAP:
        pytest.skip("no bubblewrap on this host")
    job_root = tmp_path / "job-evaluatortest"
    job_root.mkdir(mode=0o711)
    with evaluator_room(config, isolation, job_root, SLOT) as made:
        yield made
    assert sorted(job_root.iterdir()) == []  # its directories are gone before its uid is released
    assert not (config.cgroup_root / "memory" / config.cgroup_parent / f"{job_root.name}-evaluator").exists()


def test_the_evaluator_has_its_own_uid_no_socket_and_writes_only_its_result(room: EvaluatorRoom) -> None:
    (room.inputs / "hidden-x.npy").write_bytes(b"hidden inputs")
    os.chmod(room.inputs / "hidden-x.npy", 0o444)
    probe = PROBE.replace("JOBS_ROOT", repr(str(room.inputs.parent.parent)))
    done = subprocess.run(room.argv([sys.executable, "-c", probe]), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    kernel_uid = slot_uid(room.config, SLOT)
    assert room.uid == room.config.uid_base + SLOT + UID_OFFSET != kernel_uid
    assert done.stdout == (
        f"uid: {room.uid}\nsocket inet: EPERM\nsocket unix: EPERM\nsocketpair: EPERM\nread input: ok\n"
        "write input: EROFS\nwrite result: ok\njobs root: ENOENT\n")
    assert (room.outputs / "evaluation-result.json").read_text() == "{}"
    assert not (room.inputs / "planted").exists()


def test_the_kernels_uid_cannot_open_the_evaluators_inputs(room: EvaluatorRoom) -> None:
    """Even a process of the kernel's uid that outlived its sandbox, on the host, is refused the hidden inputs."""
    (room.inputs / "hidden-x.npy").write_bytes(b"hidden inputs")
    os.chmod(room.inputs / "hidden-x.npy", 0o444)
    kernel_uid = slot_uid(room.config, SLOT)
    done = subprocess.run([room.config.tools.setpriv, f"--reuid={kernel_uid}", f"--regid={kernel_uid}",
                           "--clear-groups", "/bin/cat", str(room.inputs / "hidden-x.npy")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "Permission denied" in done.stderr
    assert done.stdout == ""


def test_an_evaluator_past_its_memory_limit_ends_with_a_reason_and_nothing_left(room: EvaluatorRoom) -> None:
    """A stand-in for the evaluator that allocates past its limit: the answer is a sentence of the grader's."""
    class Hungry:
        inputs, result = room.inputs, room.result

        def job_as_seen(self, job: object) -> object:
            return room.job_as_seen(job)

        def command(self, job_file: Path) -> list[str]:
            return room.argv([sys.executable, "-c", "b = [bytearray(2**20) for _ in range(4096)]"])

        def death_reason(self) -> str:
            return room.death_reason()

    result, why = run_evaluator({"nonce": "n" * 32}, Hungry(), timeout_s=120)
    assert result is None
    assert why == ("the grader could not evaluate the exported networks: it used more than its "
                   f"{EVALUATOR_MEMORY_MB} MB memory limit")
    assert json.loads((room.inputs / "evaluation-job.json").read_text())["result"] == \
        "/evaluation/out/evaluation-result.json"
    assert room.uid is not None
    assert reaper.processes_owned_by(room.uid) == []
