"""Grade each reference solution N times on the full data and print the spread of every measured value.

    .venv/bin/python -m tests.lab_tasks.frameworks.reference_spread --runs 5 --mnist /work/shared/datasets/mnist.npz
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import nbformat

from grader.pipeline import GradingContext, grade_notebook
from grader.sandbox.isolation import SandboxConfig
from grader.spec.lab import discover_labs
from lab_tasks import LABS_DIR
from tests.lab_data import FRAMEWORKS_DIR, frameworks_data

SOLUTIONS = FRAMEWORKS_DIR / "solutions"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mnist", type=Path, required=True)
    parser.add_argument("--solutions", nargs="*", default=["solution_pytorch.ipynb", "solution_keras.ipynb"])
    args = parser.parse_args()
    spec = discover_labs(LABS_DIR)["frameworks"]
    with tempfile.TemporaryDirectory() as root:
        lab = frameworks_data(Path(root) / "data", args.mnist)
        for solution in args.solutions:
            nb = nbformat.read(SOLUTIONS / solution, as_version=4)
            runs = []
            for run in range(args.runs):
                ctx = GradingContext(spec=spec, lab_data=lab, jobs_root=Path(root) / "jobs", sandbox=SandboxConfig())
                started = time.monotonic()
                outcome = await grade_notebook(nb, ctx)
                row = {"solution": solution, "run": run + 1, "score": outcome.report.score,
                       "wall_s": round(time.monotonic() - started, 1),
                       **{c.id: c.measured for c in outcome.report.checks},
                       **{f"{c.id}_passed": c.passed for c in outcome.report.checks}}
                print(json.dumps(row), flush=True)
                runs.append(row)
            for check in spec.checks:
                values = [r[check.id] for r in runs if r[check.id] is not None]
                verdicts = {r[f"{check.id}_passed"] for r in runs}
                print(f"{solution} {check.id}: min {min(values)} max {max(values)} "
                      f"spread {round(max(values) - min(values), 4)} passed {sorted(verdicts)}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
