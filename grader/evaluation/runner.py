"""Start the evaluator process for one job and read its answer (the host side of `python -m grader.evaluation`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from grader.evaluation.result import EvaluationResult

EVALUATOR_TIMEOUT_S = 300
# the evaluator needs no secret: it gets a bare environment, one math thread per job like the kernels
PASSED_ENV = ("PATH", "PYTHONPATH", "HOME", "LANG", "LC_ALL", "TMPDIR")


def run_evaluator(job: dict[str, Any], host: Path, timeout_s: float = EVALUATOR_TIMEOUT_S) -> tuple[
        EvaluationResult | None, str]:
    """(the result, "") or (None, why there is none) for a job built by `build_evaluation_job`."""
    job_file = host / "evaluation-job.json"
    job_file.write_text(json.dumps(job))
    env = {k: v for k, v in os.environ.items() if k in PASSED_ENV}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        done = subprocess.run([sys.executable, "-m", "grader.evaluation", str(job_file)], env=env,
                              capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return None, f"the grader's evaluation of the exported networks took longer than {timeout_s:.0f} s"
    if done.returncode != 0:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        return None, f"the grader's evaluation of the exported networks failed: {last[:300]}"
    try:
        answer = json.loads(Path(job["result"]).read_text())
        if "problem" in answer:
            return None, str(answer["problem"])[:500]
        return EvaluationResult.model_validate(answer["result"]), ""
    except (OSError, ValueError, KeyError, ValidationError) as exc:
        return None, f"the grader's evaluation wrote no readable result: {str(exc)[:200]}"
