"""Every hostile notebook is graded through the real pipeline and sandbox and must end exactly as its case says:
a graded report whose note says what happened, nothing of the service leaked, no process, cgroup, mount or job
directory left behind, and the next job unaffected.

The cases run three at a time in their own slots (uids), as a worker with three job slots would run them; each test
then checks one case's recorded outcome."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_notebook

from grader.pipeline import GradingContext, GradingOutcome, grade_notebook
from grader.sandbox import reaper
from grader.sandbox.isolation import slot_uid
from tests.grader.hostile.hostile_cases import CASES, NO_MODEL, HostileCase
from tests.grader.hostile.hostile_env import SECRET, SUITE_LIMITS, Listener, ServiceFiles
from tests.lab_data import TRAIN_IRIS

TIMINGS_FILE = Path(__file__).resolve().parents[3] / "test-artifacts" / "hostile_timings.json"
SLOTS = (7, 8, 9)
LONG_FIRST = ("many_cells", "uninterruptible_loop", "sigstop", "infinite_loop", "pip_install", "fork_bomb")


@dataclass
class CaseRun:
    """What one graded case left: its outcome, its duration, and what of its slot survived it."""

    outcome: GradingOutcome
    seconds: float
    uid: int
    leftover_pids: list[int]
    straggler_warnings: list[str]


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _fill(source: str, files: ServiceFiles, listener: Listener, uid: int) -> str:
    return (source.replace("@UID@", str(uid)).replace("@PORT@", str(listener.port))
            .replace("@DATA_DIR@", str(files.data_dir)).replace("@DB_FILE@", str(files.db_file))
            .replace("@DECOY@", str(files.decoy)).replace("@JOBS_ROOT@", str(files.jobs_root))
            .replace("@HOST_SOCKET@", listener.unix_path))


def _stdout(cell: NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")


async def _grade(cells: tuple[str, ...], ctx: GradingContext, files: ServiceFiles, listener: Listener,
                 warnings: _Warnings) -> CaseRun:
    uid = slot_uid(ctx.sandbox, ctx.slot)
    nb = new_notebook(cells=[new_code_cell(_fill(source, files, listener, uid)) for source in cells])
    started, seen = time.monotonic(), len(warnings.messages)
    outcome = await grade_notebook(nb, ctx)
    seconds = time.monotonic() - started
    mine = [m for m in warnings.messages[seen:] if f"of uid {uid} " in m]
    return CaseRun(outcome, seconds, uid, reaper.processes_owned_by(uid), mine)


async def _run_all(ctx: GradingContext, files: ServiceFiles, listener: Listener,
                   warnings: _Warnings) -> dict[str, CaseRun]:
    slots: asyncio.Queue[int] = asyncio.Queue()
    for slot in SLOTS:
        slots.put_nowait(slot)
    runs: dict[str, CaseRun] = {}

    async def run(case: HostileCase) -> None:
        slot = await slots.get()
        try:
            case_ctx = dataclasses.replace(ctx, slot=slot, cell_timeout_s=case.cell_timeout_s or ctx.cell_timeout_s,
                                           notebook_timeout_s=case.notebook_timeout_s or ctx.notebook_timeout_s)
            runs[case.name] = await _grade(case.cells, case_ctx, files, listener, warnings)
        finally:
            slots.put_nowait(slot)

    ordered = sorted(CASES, key=lambda c: LONG_FIRST.index(c.name) if c.name in LONG_FIRST else len(LONG_FIRST))
    await asyncio.gather(*(run(case) for case in ordered))
    return runs


@pytest.fixture(scope="module")
def suite(hostile_context: GradingContext, service_files: ServiceFiles, listener: Listener) -> Iterator[
        dict[str, CaseRun]]:
    """Grade every hostile case once (three at a time), then an honest notebook after all of them."""
    warnings = _Warnings()
    logger = logging.getLogger("grader.sandbox.job")  # where `_end_job` warns of stragglers
    logger.addHandler(warnings)
    started = time.monotonic()
    try:
        runs = asyncio.run(_run_all(hostile_context, service_files, listener, warnings))
        runs["honest_after_suite"] = asyncio.run(
            _grade((TRAIN_IRIS,), hostile_context, service_files, listener, warnings))
    finally:
        logger.removeHandler(warnings)
    total = time.monotonic() - started
    TIMINGS_FILE.parent.mkdir(exist_ok=True)
    TIMINGS_FILE.write_text(json.dumps({"total_seconds": round(total, 1), "cases": {
        name: {"seconds": round(run.seconds, 1), "note": run.outcome.report.execution_note,
               "score": run.outcome.report.score, "iris": run.outcome.report.checks[0].message,
               "cell_errors": [e.describe() for e in run.outcome.report.cell_errors],
               "stdout": [_stdout(c)[:300] for c in
                          nbformat.reads(run.outcome.executed_notebook.decode(), as_version=4).cells[:3]]}
        for name, run in runs.items()}}, indent=1))
    yield runs


def _note_pattern(note: str) -> str:
    """The expected note as a pattern: `{s}` stands for a whole number of seconds that depends on the machine."""
    return re.escape(note).replace(re.escape("{s}"), r"\d+")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_notebook(case: HostileCase, suite: dict[str, CaseRun], service_files: ServiceFiles,
                          listener: Listener) -> None:
    run = suite[case.name]
    report = run.outcome.report
    iris = report.checks[0]
    expected = case.expected
    if expected.starved is not None and re.fullmatch(_note_pattern(expected.starved.note), report.execution_note):
        expected = expected.starved  # the machine starved the job: the backstop's outcome, checked just as exactly
    assert re.fullmatch(_note_pattern(expected.note), report.execution_note), report.execution_note
    assert [(e.cell_index, e.ename) for e in report.cell_errors] == list(expected.cell_errors)
    executed = nbformat.reads(run.outcome.executed_notebook.decode(), as_version=4)
    for index, text in expected.stdout.items():
        assert _stdout(executed.cells[index]) == _fill(text, service_files, listener, run.uid), f"cell {index + 1}"
    assert iris.score == expected.iris_score
    assert expected.iris_measured is None or iris.measured == expected.iris_measured
    if expected.iris_message is not None:
        assert iris.message == expected.iris_message
    elif expected.iris_score == 0 and expected.iris_measured is None:
        assert iris.message.startswith(NO_MODEL)
        assert re.search(_note_pattern(expected.note), iris.message), iris.message
    assert len(run.outcome.executed_notebook) <= expected.notebook_max_bytes
    everything = run.outcome.executed_notebook.decode() + report.model_dump_json()
    assert SECRET not in everything
    assert "another student's notebook" not in everything
    # no process of the slot survived, and the pid namespace and cgroups ended them: the sweep by uid found none
    assert run.leftover_pids == []
    assert run.straggler_warnings == []


def test_next_job_is_unaffected(suite: dict[str, CaseRun]) -> None:
    """After the whole hostile suite, an honest notebook in a slot the hostile ones used gets full credit."""
    report = suite["honest_after_suite"].outcome.report
    assert report.execution_note == ""
    assert report.cell_errors == ()
    iris = report.checks[0]
    assert (iris.passed, iris.score) == (True, 20.0)
    assert iris.measured is not None and iris.measured >= 0.93
    assert suite["honest_after_suite"].leftover_pids == []


def test_no_file_is_removed_through_a_planted_link(suite: dict[str, CaseRun], service_files: ServiceFiles) -> None:
    assert suite["kernel_runtime_link"].outcome.report.score == 20.0
    assert (service_files.decoy / ".kernel" / "connection.json").read_text() == "{}"


def test_nothing_of_the_suite_is_left(suite: dict[str, CaseRun], hostile_context: GradingContext,
                                      service_files: ServiceFiles, listener: Listener) -> None:
    """No job directory, tmpfs mount or cgroup outlived its job, and the host's listener was never reached."""
    assert sorted(p.name for p in service_files.jobs_root.iterdir()) == [service_files.decoy.parent.name]
    mounts = Path("/proc/mounts").read_text().splitlines()
    assert [line for line in mounts if str(service_files.jobs_root) in line] == []
    for controller in ("memory", "pids", "cpu", "cpuacct"):
        parent = hostile_context.sandbox.cgroup_root / controller / hostile_context.sandbox.cgroup_parent
        assert sorted(p.name for p in parent.iterdir() if p.is_dir()) == []
    for slot in SLOTS:
        assert reaper.processes_owned_by(slot_uid(hostile_context.sandbox, slot)) == []
    assert listener.accepted == []
    assert listener.unix_accepted == []  # the grader never connected where a notebook pointed its kernel sockets


LEFTOVER_PROBE = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
librt = ctypes.CDLL('librt.so.1', use_errno=True)
def result(label, value):
    print(f"{label}: {'ok' if value >= 0 else errno.errorcode.get(ctypes.get_errno())}")
def exists(label, path):
    print(f"{label}: {'present' if os.path.exists(path) else 'absent'}")
FILES = {'work dir': os.path.expanduser('~/labgrader-left'), '/tmp': '/tmp/labgrader-left',
         '/dev/shm': '/dev/shm/labgrader-left'}
"""
LEAVE_BEHIND = LEFTOVER_PROBE + """
result('keyring add_key', libc.syscall(248, b'user', b'labgrader-left', b'secret', 6, -4))
result('sysv shm', libc.shmget(0x4C47, 4096, 0o1666))
result('sysv msg', libc.msgget(0x4C47, 0o1666))
result('sysv sem', libc.semget(0x4C47, 1, 0o1666))
result('posix mqueue', librt.mq_open(b'/labgrader-left', os.O_CREAT | os.O_RDWR, 0o666, None))
for label, path in FILES.items():
    with open(path, 'w') as handle:
        handle.write('left behind')
    exists(label, path)
"""
LOOK_FOR_IT = LEFTOVER_PROBE + """
result('keyring search', libc.syscall(250, 10, -4, b'user', b'labgrader-left', 0))
result('sysv shm', libc.shmget(0x4C47, 0, 0))
result('sysv msg', libc.msgget(0x4C47, 0))
result('sysv sem', libc.semget(0x4C47, 0, 0))
result('posix mqueue', librt.mq_open(b'/labgrader-left', os.O_RDWR, 0, None))
for label, path in FILES.items():
    exists(label, path)
"""


def test_nothing_outlives_a_job(hostile_context: GradingContext, service_files: ServiceFiles,
                                listener: Listener) -> None:
    """One job leaves something in every shared place it can reach; the next job on the same uid finds nothing:
    keyrings are out of reach (seccomp), SysV and POSIX IPC die with the job's IPC namespace, /tmp and /dev/shm with
    its mount namespace, the work directory with the job."""
    ctx = dataclasses.replace(hostile_context, slot=10)
    warnings = _Warnings()
    first = asyncio.run(_grade((LEAVE_BEHIND,), ctx, service_files, listener, warnings))
    second = asyncio.run(_grade((LOOK_FOR_IT,), ctx, service_files, listener, warnings))
    assert first.uid == second.uid
    cells = [nbformat.reads(run.outcome.executed_notebook.decode(), as_version=4).cells[0] for run in (first, second)]
    assert _stdout(cells[0]) == (
        "keyring add_key: EPERM\nsysv shm: ok\nsysv msg: ok\nsysv sem: ok\nposix mqueue: ok\n"
        "work dir: present\n/tmp: present\n/dev/shm: present\n")
    assert _stdout(cells[1]) == (
        "keyring search: EPERM\nsysv shm: ENOENT\nsysv msg: ENOENT\nsysv sem: ENOENT\nposix mqueue: ENOENT\n"
        "work dir: absent\n/tmp: absent\n/dev/shm: absent\n")
    assert first.leftover_pids == second.leftover_pids == []


EXPORT_BOMB = """
import glob, os, threading, time
with open('.bomb', 'wb') as fh:  # 81 MB, under the 80 MiB export cap: 27 million empty JSON lists, ~2 GB parsed
    fh.write(b'{"nonce": "' + b'0' * 32 + b'", "junk": [' + b'[],' * 27_000_000 + b'[]]}')
def swap():
    while True:
        for path in glob.glob('.labgrader-output-*.json'):
            nonce = path[len('.labgrader-output-'):-len('.json')]
            with open('.bomb', 'r+b') as fh:
                fh.seek(11)
                fh.write(nonce.encode())
            os.replace('.bomb', path)
            return
        time.sleep(0.001)
threading.Thread(target=swap, daemon=True).start()
print(os.path.getsize('.bomb') // 2**20, 'MB ready')
"""


def test_an_export_that_exhausts_the_evaluators_memory_is_graded_with_a_note(
        hostile_context: GradingContext, service_files: ServiceFiles, listener: Listener) -> None:
    """A thread swaps the harness's export for one with the right nonce that parses into ~2 GB of Python lists (the
    review's 26x amplification, in the export this time). The evaluator, in its own sandbox and cgroup, is killed at
    its memory limit; the job ends graded with a note the grader wrote, nothing of the evaluator's uid left."""
    from grader.sandbox.evaluator_room import UID_OFFSET

    roomy = SUITE_LIMITS.model_copy(update={"file_size_limit_mb": 128, "work_dir_limit_mb": 256})
    ctx = dataclasses.replace(hostile_context, slot=11, sandbox=dataclasses.replace(hostile_context.sandbox,
                                                                                    limits=roomy))
    run = asyncio.run(_grade((TRAIN_IRIS, EXPORT_BOMB), ctx, service_files, listener, _Warnings()))
    report = run.outcome.report
    limit_mb = roomy.evaluator_memory_limit_mb
    assert report.execution_note == (
        f"the grader could not evaluate the exported networks: it used more than its {limit_mb} MB memory limit")
    assert report.cell_errors == ()
    cell = nbformat.reads(run.outcome.executed_notebook.decode(), as_version=4).cells[1]
    assert _stdout(cell) == "77 MB ready\n"
    assert report.checks[0].score == 0
    assert run.leftover_pids == []
    assert reaper.processes_owned_by(ctx.sandbox.uid_base + ctx.slot + UID_OFFSET) == []
    print(f"\nexport bomb graded in {run.seconds:.1f} s: {report.execution_note}")
