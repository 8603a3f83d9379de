"""What warm kernels save: starting a submission with and without `grader.kernel.warm_pool`, against nbconvert.

    .venv/bin/python -m bench.warm_start [--runs 5]

In one process, for a trivial notebook and one that imports torch (and one that imports tensorflow), the whole
`grade_notebook` time (prepare, kernel start, set-up cell, cells, harness, scoring, teardown) is measured
- cold: a fresh kernel started for the job (what every job does without the pool);
- warm: the slot's warm kernel was started (and the lab's frameworks imported) while the worker was idle;
against nbclient executing the same notebook in a fresh plain `python3` kernel (no sandbox, no grading: the start
cost of `jupyter nbconvert --execute` without its process start-up) and the `jupyter nbconvert --execute` command.
The time to get a warm kernel ready and its memory are shown too; it is spent while no job waits.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_notebook

from bench import common
from bench.common import BENCH_ROOT, BENCH_UID_BASE, PYTHON, median, table, timed
from grader.data.lab_data import LabData
from grader.pipeline import GradingContext, WarmKernelPool, grade_notebook
from grader.sandbox.isolation import SandboxConfig
from grader.spec.lab import discover_labs
from lab_tasks import LABS_DIR

NOTEBOOKS = {
    "trivial": "x = sum(range(10))\nprint(x)",
    "torch": "import torch\nx = torch.ones(3).sum()\nprint(float(x))",
    "tensorflow": "import tensorflow as tf\nx = tf.reduce_sum(tf.ones(3))\nprint(float(x))",
}


class BenchSlot:
    """Slot 0 of a CPU worker."""

    index = 0

    def environment(self) -> dict[str, str]:
        return {"CUDA_VISIBLE_DEVICES": ""}

    def devices(self) -> tuple[str, ...]:
        return ()


def _notebook(code: str) -> NotebookNode:
    nb: NotebookNode = new_notebook(cells=[new_code_cell(code)])  # type: ignore[no-untyped-call]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


async def _nbclient_s(code: str) -> float:
    started = time.perf_counter()
    await NotebookClient(_notebook(code), kernel_name="python3", timeout=600).async_execute()
    return time.perf_counter() - started


def _nbconvert_s(code: str) -> float:
    work = common.fresh_dir(BENCH_ROOT / "warm-nbconvert")
    path = work / "nb.ipynb"
    nbformat.write(_notebook(code), str(path))  # type: ignore[no-untyped-call]
    jupyter = str(Path(PYTHON).parent / "jupyter")
    return timed([jupyter, "nbconvert", "--to", "notebook", "--execute", str(path), "--output",
                  str(work / "out.ipynb")], cwd=work).wall_s


def _to_first_cell(timings: dict[str, float]) -> float:
    """Seconds from the job's start to its first student cell: preparing, starting the kernel, the set-up cell."""
    return timings["prepare"] + timings["total"] - timings.get("cells", 0) - timings.get("harness", 0)


async def _measure(ctx: GradingContext, code: str, runs: int, frameworks: tuple[str, ...]) -> dict[str, object]:
    cold, warm, nbclient_s, nbconvert_s, ready_s, memory_mb = [], [], [], [], [], []
    cold_start, warm_start = [], []
    slot = BenchSlot()
    pool = WarmKernelPool(ctx.sandbox, ctx.jobs_root, [slot], frameworks, reserve_mb=0)
    pool.start()
    try:
        for _ in range(runs):
            started = time.perf_counter()
            outcome = await grade_notebook(_notebook(code), ctx)
            cold.append(time.perf_counter() - started)
            cold_start.append(_to_first_cell(outcome.report.timings_s))
            assert not outcome.report.cell_errors, outcome.report.cell_errors

            await pool.ready()  # the pool warms while the worker is idle
            task = pool._warming.get(slot.index)
            kernel = task.result() if task is not None and task.done() and task.exception() is None else None
            if kernel is not None:
                ready_s.append(kernel.ready_s)
                memory_mb.append(kernel.memory_mb)
            started = time.perf_counter()
            outcome = await pool.grade(_notebook(code), ctx)
            warm.append(time.perf_counter() - started)
            warm_start.append(_to_first_cell(outcome.report.timings_s))
            assert not outcome.report.cell_errors, outcome.report.cell_errors

            nbclient_s.append(await _nbclient_s(code))
            nbconvert_s.append(await asyncio.to_thread(_nbconvert_s, code))
    finally:
        await pool.close()
    return {"cold": median(cold), "warm": median(warm), "cold_start": median(cold_start),
            "warm_start": median(warm_start), "nbclient": median(nbclient_s),
            "nbconvert": median(nbconvert_s), "ready": median(ready_s), "memory": median(memory_mb),
            "warm_jobs": pool.stats.warm_jobs}


async def _main(args: argparse.Namespace) -> None:
    common.ensure_lab_data()
    spec = discover_labs(LABS_DIR)["frameworks"]
    config = SandboxConfig(uid_base=BENCH_UID_BASE)
    ctx = GradingContext(spec=spec, lab_data=LabData(BENCH_ROOT / "data", spec.id), jobs_root=BENCH_ROOT / "jobs",
                         sandbox=config, extra_env=BenchSlot().environment())
    print(f"machine: {common.machine()}", flush=True)
    rows = []
    for name in args.only.split(","):
        for frameworks in ((), tuple(spec.frameworks)):
            if name == "trivial" and frameworks:
                continue
            r = await _measure(ctx, NOTEBOOKS[name], args.runs, frameworks)
            label = "+".join(frameworks) or "none"
            rows.append([name, label, r["cold_start"], r["warm_start"], r["cold"], r["warm"], r["nbclient"],
                         r["nbconvert"],
                         float(r["cold"]) - float(r["warm"]),  # type: ignore[arg-type]
                         float(r["warm"]) / float(r["nbclient"]),  # type: ignore[arg-type]
                         r["ready"], r["memory"], r["warm_jobs"]])
            print(f"  {name} (preloaded: {label}) done", flush=True)
    print(table(["notebook", "preloaded", "cold to 1st cell s", "warm to 1st cell s", "cold grade s", "warm grade s",
                 "nbclient python3 s", "nbconvert s", "saved s", "warm/nbclient", "warm-up s", "warm kernel MB",
                 "warm jobs"], rows))
    print(f"machine after: {common.machine()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="trivial,torch,tensorflow")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
