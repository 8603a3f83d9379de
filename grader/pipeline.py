"""One grading run as an ordered list of steps: validate -> prepare job dir -> execute -> harness -> score -> report.

The top of the grader: the one module that imports every room (upload, spec, data, sandbox, kernel, evaluation,
scoring) and puts their steps in order; no room imports it. `WarmKernelPool` is the warm kernels of
`grader.kernel.warm_pool` with the step that grades in them."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import nbformat
from nbformat import NotebookNode

from grader.data.lab_data import LabData, MemoisedLabData
from grader.data.serve import course_call, link_served_paths, served_code
from grader.errors import KernelStartFailed
from grader.evaluation.harness_output import MAX_HARNESS_OUTPUT_BYTES
from grader.evaluation.in_kernel import harness_source, source, startup_source
from grader.evaluation.request import (
    QUICK_EXPORT_BYTES,
    RunSlots,
    build_evaluation_job,
    build_request,
    evaluate_without_networks,
    run_slots,
)
from grader.evaluation.result import EvaluationResult
from grader.evaluation.runner import run_evaluator
from grader.kernel.cpu_only import cpu_only_note
from grader.kernel.driver_handle import KernelDriver
from grader.kernel.environments import start_failure
from grader.kernel.execute import ExecutionResult, RunLimits, execute_notebook
from grader.kernel.kernel_process import SandboxKernelManager
from grader.kernel.limits import DEFAULT_HARNESS_TIMEOUT_S, DEFAULT_OUTPUT_LIMIT_KB
from grader.kernel.warm_pool import WarmKernels
from grader.sandbox.evaluator_room import evaluator_room
from grader.sandbox.isolation import Isolation, IsolationMode, SandboxConfig, require_isolation
from grader.sandbox.job import PreparedJob, prepare_job
from grader.sandbox.jobdir import JobDirs, take_untrusted_file
from grader.sandbox.uid_lease import lease_uid
from grader.scoring.cause import with_causes
from grader.scoring.report import GradingReport
from grader.scoring.stored import StoredEvaluation, evaluation_plan, score_report
from grader.spec.lab import LabSpec
from grader.upload.attachments import SubmittedFile, place_files


@dataclass(frozen=True)
class GradingContext:
    """Everything a run needs besides the notebook; built by the worker or the `grade` command."""

    spec: LabSpec
    lab_data: LabData
    jobs_root: Path
    sandbox: SandboxConfig
    slot: int = 0
    output_limit_bytes: int = DEFAULT_OUTPUT_LIMIT_KB * 1024
    harness_timeout_s: float = DEFAULT_HARNESS_TIMEOUT_S
    extra_env: dict[str, str] = field(default_factory=dict)
    devices: tuple[str, ...] = ()
    device_label: str = "cpu"
    cell_timeout_s: float | None = None
    notebook_timeout_s: float | None = None
    environment: str = "default"  # the student environment's name, for messages (`sandbox` holds its interpreter)
    files: tuple[SubmittedFile, ...] = ()  # submitted with the notebook; placed in the kernel's working directory


@dataclass(frozen=True)
class GradingOutcome:
    """The report, the executed notebook and the report's plots (PNG by kind: `grader.scoring.plots`)."""

    report: GradingReport
    executed_notebook: bytes
    artifacts: dict[str, bytes] = field(default_factory=dict)  # plot kind -> PNG, drawn by the report step
    stored_evaluation: StoredEvaluation | None = None  # stored beside the report: `labgrader rescore` reuses it


def _harness_step(ctx: GradingContext, work: Path, evaluation: Path, slots: RunSlots) -> tuple[str, Path]:
    """Copy a visible sample in (no hidden input, no label) and return the harness cell's code and its output path."""
    nonce = secrets.token_hex(16)
    private = evaluation / nonce  # root-owned and read-only in the sandbox: no student thread can swap it
    private.mkdir(mode=0o755)
    output = work / f".labgrader-output-{nonce}.json"
    request = private / "request.json"
    request.write_text(json.dumps(build_request(ctx.spec, ctx.lab_data, private, nonce, output, slots)))
    os.chmod(request, 0o444)
    harness = private / "labgrader_harness.py"  # beside the request: root-owned, read-only in the sandbox
    harness.write_text(harness_source(ctx.spec.model_kinds), encoding="utf-8")  # only the kinds the lab declares
    os.chmod(harness, 0o444)
    # a small cell: it first gives back the address space the start-up kept, then reads and runs the harness
    code = (
        "__import__('sys').__dict__.pop('_labgrader_reserve', None)\n"
        "def __labgrader_harness():\n"
        "    namespace = {'__name__': 'labgrader_harness'}\n"
        f"    with open({str(harness)!r}, encoding='utf-8') as source:\n"
        f"        exec(compile(source.read(), {str(harness)!r}, 'exec'), namespace)\n"
        f"    namespace['run']({str(request)!r}, globals())\n"
        "__labgrader_harness()\n"
        "del __labgrader_harness\n"
    )
    return code, output


def prepare_work(spec: LabSpec, lab_data: LabData, work: Path, files: tuple[SubmittedFile, ...] = (),
                 uid: int | None = None) -> None:
    """A job's working directory (the notebook's folder) before any of its code runs: the lab's visible data as
    ./data, the files submitted with the notebook, and the course's served files where its notebooks read them."""
    lab_data.copy_visible_into(work / "data")
    place_files(files, work, uid)  # before any student code runs: nothing there can be a link yet
    link_served_paths(spec, work)  # the course's files where its notebooks read them, unless uploaded


def job_setup_code(spec: LabSpec, startup: str) -> str:
    """The private set-up cell of one job of `spec`, after `startup` (the kernel start-up, `startup_source()`, or what
    a warm kernel that already ran it still needs): what the lab serves offline, the course's files, then the
    notebook's folder on `sys.path`."""
    return (startup + served_code(spec) + source("course_files.py") + course_call(spec)
            + source("notebook_path.py"))


class StartedKernel(Protocol):
    """A kernel started ahead for exactly one job (`grader.kernel.warm_pool.WarmKernel`); no student code ran in it."""

    job: PreparedJob
    kernel_manager: SandboxKernelManager
    setup_code: str

    def take_driver(self) -> KernelDriver | None:
        """Its connected kernel driver, handed to the job (which closes it)."""


async def grade_notebook(nb: NotebookNode, ctx: GradingContext, warm: StartedKernel | None = None) -> GradingOutcome:
    """Run one notebook in a fresh sandbox and score it; the job's processes, cgroups and directory end with it.

    `warm`: a kernel started ahead for this one job by `grader.kernel.warm_pool` (ended with the job like a cold one).
    """
    isolation = require_isolation(ctx.sandbox)
    if warm is not None:
        return await _grade_as(nb, ctx, isolation, warm.job.uid, warm)
    if isolation.mode is not IsolationMode.BUBBLEWRAP:
        return await _grade_as(nb, ctx, isolation, None)
    with lease_uid(ctx.sandbox.uid_base, ctx.slot) as uid:
        return await _grade_as(nb, ctx, isolation, uid)


async def _grade_as(nb: NotebookNode, ctx: GradingContext, isolation: Isolation,
                    uid: int | None, warm: StartedKernel | None = None) -> GradingOutcome:
    started = time.monotonic()
    if not isinstance(ctx.lab_data, MemoisedLabData):  # the request, the evaluator and the scorers read each array once
        ctx = dataclasses.replace(ctx, lab_data=MemoisedLabData(ctx.lab_data.data_dir, ctx.lab_data.lab_id))
    job = warm.job if warm is not None else prepare_job(
        ctx.sandbox, isolation, ctx.jobs_root, uid, ctx.extra_env, ctx.devices)
    dirs, cgroup = job.dirs, job.cgroup
    try:
        prepare_work(ctx.spec, ctx.lab_data, dirs.work, ctx.files, uid)
        limits = RunLimits(
            cell_timeout_s=ctx.cell_timeout_s or ctx.spec.limits.cell_timeout_s,
            notebook_timeout_s=ctx.notebook_timeout_s or ctx.spec.limits.notebook_timeout_s,
            harness_timeout_s=ctx.harness_timeout_s, output_limit_bytes=ctx.output_limit_bytes,
            cpu_share_cores=cgroup.cpu_share_cores,
        )
        slots = run_slots(ctx.spec, ctx.lab_data)  # the model slots and histories of this run, derived once
        plan = evaluation_plan(ctx.spec, ctx.lab_data, slots)  # what the evaluation below is asked for
        prepare_s = time.monotonic() - started

        async def harness() -> tuple[str, Path]:
            for stale in dirs.work.glob(".labgrader-output-*"):
                # planted by the notebook (a file, a link, even a directory): never a reason to fail the job
                with contextlib.suppress(OSError):
                    stale.unlink()
            return _harness_step(ctx, dirs.work, dirs.evaluation, slots)

        try:
            result = await execute_notebook(
                nb, work=dirs.work, kernel_dirs=job.kernel_dirs, env=job.env, limits=limits,
                setup_code=job_setup_code(ctx.spec, warm.setup_code if warm is not None else startup_source()),
                harness=harness,
                sandbox_uid=uid, death_reason=cgroup.death_reason,
                driver_argv=list(job.driver_argv),
                kernel_manager=warm.kernel_manager if warm is not None else None,
                driver=warm.take_driver() if warm is not None else None, cpu_usage=cgroup.cpu_usage_file(),
                cpu_threads=cgroup.threads,
            )
        except KernelStartFailed as exc:
            line = start_failure(ctx.environment, ctx.sandbox.kernel_python, exc.stderr_tail or str(exc))
            raise KernelStartFailed(line, exc.stderr_tail) from exc
        output, harness_problem = await asyncio.to_thread(_evaluate, ctx, result, dirs, isolation, slots)
        inputs = StoredEvaluation(plan=plan, output=output)
        report = _report(ctx, result, inputs, harness_problem, isolation, prepare_s)
        return GradingOutcome(report=report, executed_notebook=notebook_bytes(nb), artifacts=_plots(report),
                              stored_evaluation=inputs)
    finally:
        job.end()


def _plots(report: GradingReport) -> dict[str, bytes]:
    """The report's plots, the last step of the report (none without a history)."""
    if not report.history:
        return {}
    from grader.scoring.plots import report_plots  # matplotlib: ~1 s to import, only when something is drawn

    return report_plots(report)


def notebook_bytes(nb: NotebookNode) -> bytes:
    """The executed notebook as UTF-8; text the kernel sent that UTF-8 cannot hold (a lone surrogate that got past the
    message checks) becomes U+FFFD instead of failing the job."""
    text: str = nbformat.writes(nb)  # type: ignore[no-untyped-call]
    return text.encode("utf-8", errors="replace")


def _evaluate(ctx: GradingContext, result: ExecutionResult, dirs: JobDirs, isolation: Isolation,
              slots: RunSlots) -> tuple[EvaluationResult | None, str]:
    """Take the kernel's export (untrusted) out of the sandbox and have the clean evaluator compute predictions, in a
    sandbox of its own as a uid other than the kernel's (`grader.sandbox.evaluator_room`)."""
    if result.harness_output is None:
        return None, result.harness_error
    nonce = result.harness_output.name.removeprefix(".labgrader-output-").removesuffix(".json")
    started = time.monotonic()
    quick = dirs.host / "harness-output.json"  # host-only (mode 700): the kernel's uid cannot reach this copy
    if not take_untrusted_file(result.harness_output, quick, QUICK_EXPORT_BYTES):
        output = evaluate_without_networks(ctx.spec, ctx.lab_data, quick, nonce, slots)
        if output is not None:  # no network to rebuild: no evaluator to start (its room costs ~0.5 s)
            result.timings_s["evaluate"] = time.monotonic() - started
            return output, ""
    with evaluator_room(ctx.sandbox, isolation, dirs.root, ctx.slot) as room:
        trusted_copy = room.inputs / "harness-output.json"
        refused = take_untrusted_file(result.harness_output, trusted_copy, MAX_HARNESS_OUTPUT_BYTES)
        if refused:
            return None, result.harness_error or refused
        os.chmod(trusted_copy, 0o444)
        job = build_evaluation_job(ctx.spec, ctx.lab_data, room.inputs, trusted_copy, nonce, slots)
        output, problem = run_evaluator(job, room)
    result.timings_s["evaluate"] = time.monotonic() - started
    if output is None:
        return None, result.harness_error or problem
    return output, ""


def cell_numbers(nb: NotebookNode) -> dict[int, int]:
    """Execution count -> the cell's number in the notebook (1-based, markdown cells counted), as reports name cells."""
    numbers = {}
    for index, cell in enumerate(nb.cells):
        count = cell.get("execution_count")
        if cell.get("cell_type") == "code" and isinstance(count, int):
            numbers[count] = index + 1
    return numbers


def _report(ctx: GradingContext, result: ExecutionResult, inputs: StoredEvaluation, harness_problem: str,
            isolation: Isolation, prepare_s: float) -> GradingReport:
    gpu = cpu_only_note(result.cell_errors) if ctx.device_label == "cpu" else ""
    note = "; ".join(part for part in (result.note or harness_problem, gpu) if part)
    timings = {"prepare": round(prepare_s, 3), **{k: round(v, 3) for k, v in result.timings_s.items()}}
    sources = {index: str(cell.get("source", "")) for index, cell in enumerate(result.notebook.cells)
               if cell.get("cell_type") == "code"}
    return score_report(ctx.spec, inputs, ctx.lab_data, cell_errors=tuple(with_causes(result.cell_errors, sources)),
                        execution_note=note, device=ctx.device_label,
                        isolation=isolation.detail, timings_s=timings, cutoff=result.cutoff,
                        cell_numbers=cell_numbers(result.notebook))


class WarmKernelPool(WarmKernels):
    """Warm kernels (`grader.kernel.warm_pool`) that grade: each job takes its slot's kernel, or starts cold."""

    async def grade(self, nb: NotebookNode, ctx: GradingContext) -> GradingOutcome:
        """Grade one notebook in the slot's warm kernel (cold if none), then warm a fresh kernel for the slot."""
        kernel = await self.take(ctx)
        try:
            if kernel is None:
                self.stats.cold_jobs += 1
            else:
                self.stats.warm_jobs += 1
            return await grade_notebook(nb, ctx, warm=kernel)
        finally:
            if kernel is not None:
                await asyncio.to_thread(kernel.end)  # grade_notebook ended the job; this gives the uid back
            self._refill(ctx.slot)
