"""What a student environment of its own costs: the built `default` venv against the service's venv as the kernel.

    .venv/bin/python -m bench.kernel_environments [--runs 3] [--kernels-dir DIR]

In one process, for each interpreter, every measure in a fresh sandboxed kernel through `grade_notebook` (the path
every job takes):
- kernel start, cold: the first job of that interpreter in this run (its files possibly not in the page cache yet;
  the benchmark does not drop the machine's caches, so on a machine that ran it before this is closer to warm);
- kernel start, warm: the median of the next `--runs` jobs. "Start" is from the job's start to its first student
  cell: preparing the job directory, starting the kernel, the set-up cell;
- first-cell latency: the round trip of one trivial cell;
- `import torch` and `import tensorflow`: measured inside the kernel (time.perf_counter around the import).
Ratios are the new environment over the service's venv, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from bench import common
from bench.common import BENCH_ROOT, BENCH_UID_BASE, median, table
from grader.data.lab_data import LabData
from grader.kernel.environments import read_environment_marker
from grader.pipeline import GradingContext, grade_notebook
from grader.sandbox.isolation import SandboxConfig
from grader.spec.lab import discover_labs
from lab_tasks import LABS_DIR

TRIVIAL = "x = sum(range(10))\nprint(x)"
IMPORT = "import time\n_t = time.perf_counter()\nimport {module}\nprint('import-s', time.perf_counter() - _t)"


async def _grade(ctx: GradingContext, code: str) -> tuple[dict[str, float], str]:
    outcome = await grade_notebook(new_notebook(cells=[new_code_cell(code)]), ctx)
    assert not outcome.report.cell_errors, [e.describe() for e in outcome.report.cell_errors]
    executed = nbformat.reads(outcome.executed_notebook.decode(), as_version=4)  # type: ignore[no-untyped-call]
    out = "".join(o.get("text", "") for o in executed.cells[0].outputs if o.get("output_type") == "stream")
    return outcome.report.timings_s, out


def _to_first_cell(timings: dict[str, float]) -> float:
    return timings["prepare"] + timings["total"] - timings.get("cells", 0) - timings.get("harness", 0)


async def _measure(ctx: GradingContext, runs: int) -> dict[str, float]:
    starts, cells = [], []
    started = time.perf_counter()
    first, _ = await _grade(ctx, TRIVIAL)
    wall_cold = time.perf_counter() - started
    for _ in range(runs):
        timings, _ = await _grade(ctx, TRIVIAL)
        starts.append(_to_first_cell(timings))
        cells.append(timings["cells"])
    imports: dict[str, float] = {}
    for module in ("torch", "tensorflow"):
        values = []
        for _ in range(runs):
            _, out = await _grade(ctx, IMPORT.format(module=module))
            values.append(float(out.split("import-s")[-1].split()[0]))
        imports[module] = median(values)
    return {"cold start": _to_first_cell(first), "cold job": wall_cold, "warm start": median(starts),
            "first cell": median(cells), "import torch": imports["torch"],
            "import tensorflow": imports["tensorflow"]}


async def _main(args: argparse.Namespace) -> None:
    common.ensure_lab_data()
    kernels = Path(args.kernels_dir or os.environ.get("LABGRADER_KERNELS_DIR")
                   or common.REPO / "labgrader-data" / "kernels")
    marker = read_environment_marker(kernels / "default")
    if marker is None:
        raise SystemExit(f"no built default environment in {kernels}: `labgrader kernels build` first "
                         "(--kernels-dir or LABGRADER_KERNELS_DIR name the folder)")
    spec = discover_labs(LABS_DIR)["frameworks"]
    spec = spec.model_copy(update={"checks": tuple(c for c in spec.checks if c.id == "iris_accuracy")})
    lab = LabData(BENCH_ROOT / "data", spec.id)
    print(f"machine: {common.machine()}", flush=True)
    results = {}
    pythons = {"service venv": sys.executable, "default env": str(kernels / "default" / "bin" / "python")}
    for label, python in pythons.items():
        ctx = GradingContext(spec=spec, lab_data=lab, jobs_root=BENCH_ROOT / "jobs",
                             sandbox=SandboxConfig(uid_base=BENCH_UID_BASE, kernel_python=python),
                             extra_env={"CUDA_VISIBLE_DEVICES": ""}, cell_timeout_s=600, notebook_timeout_s=900)
        results[label] = await _measure(ctx, args.runs)
        print(f"  {label} ({python}) done", flush=True)
    base, new = results["service venv"], results["default env"]
    rows = [[name, base[name], new[name], new[name] / base[name]] for name in base]
    print(table(["measure (s)", "service venv", "default env", "default / service"], rows))
    versions = marker.get("versions", {})
    print(f"default env: {marker.get('size_mb')} MB; torch {versions.get('torch')}, "
          f"tensorflow {versions.get('tensorflow')}, keras {versions.get('keras')}")
    print(f"machine after: {common.machine()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kernels-dir", default=None)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
