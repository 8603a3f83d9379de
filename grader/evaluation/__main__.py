"""The evaluator process: `python -m grader.evaluation JOB.json`.

It reads the kernel's export (untrusted, validated here), the hidden inputs (no labels) and a visible training sample
with its public labels, computes every prediction in NumPy and writes an EvaluationResult as JSON to the job's
`result` path, or `{"problem": ...}` when the export is unusable. It runs no student code.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from grader.errors import HarnessOutputInvalid
from grader.evaluation.evaluator import DatasetInputs, HistoryRequest, SlotRequest, evaluate
from grader.evaluation.harness_output import read_harness_output
from grader.evaluation.messages import EnvironmentWanted, EvaluationJob, EvaluatorAnswer
from grader.evaluation.rollout import EnvironmentSetting


def _load(path: str) -> np.ndarray[Any, Any]:
    array: np.ndarray[Any, Any] = np.load(path, allow_pickle=False)
    return array


def _environment(wanted: EnvironmentWanted | None) -> dict[str, Any]:
    if wanted is None:
        return {}
    return {"environment": EnvironmentSetting(wanted["gymnasium"], wanted["max_steps"], wanted["success"]),
            "visible_seeds": tuple(int(s) for s in wanted["visible_seeds"])}


def run_job(job: EvaluationJob) -> EvaluatorAnswer:
    """The evaluation of one job description (paths and names only); returns the JSON-able answer."""
    try:
        export = read_harness_output(Path(job["export"]), job["nonce"])
    except HarnessOutputInvalid as exc:
        return {"problem": str(exc)}
    data = {name: DatasetInputs(hidden_x=_load(paths["hidden_x"]), sample_x=_load(paths["sample_x"]),
                                sample_y=_load(paths["sample_y"]).astype(
                                    np.float64 if paths.get("regression") else np.int64),
                                layouts=tuple(tuple(layout) for layout in paths.get("layouts", [])),
                                preprocessings=tuple(paths.get("preprocessings", [])),
                                regression=bool(paths.get("regression", False)),
                                **_environment(paths.get("environment")),
                                second_x=_load(paths["second_x"]) if paths.get("second_x") else None,
                                public_x=_load(paths["public_x"]) if paths.get("public_x") else None)
            for name, paths in job["datasets"].items()}
    slots = [SlotRequest(s["name"], s["dataset"], s["architecture"], s.get("max_parameters"), s.get("top_k"),
                         s.get("max_inference_ms")) for s in job["slots"]]
    histories = [HistoryRequest(h["name"], h.get("model")) for h in job["histories"]]
    return {"result": evaluate(export, slots, histories, data, job.get("ops", "conv")).model_dump(mode="json")}


UNREADABLE = "the grader could not evaluate the exported networks: it could not read them ({what})"


def main(argv: list[str]) -> int:
    job: EvaluationJob = json.loads(Path(argv[0]).read_text())  # written by the host (grader.evaluation.runner)
    try:
        answer = run_job(job)
    except Exception as exc:  # an export that passed validation but broke the evaluation: graded, with a note
        traceback.print_exc()  # for instructors: the host logs the end of the evaluator's stderr
        builtin = type(exc).__module__ == "builtins"  # a class of the export's making is named by no one
        answer = {"problem": UNREADABLE.format(what=type(exc).__name__ if builtin else "an exception")}
    tmp = Path(job["result"] + ".tmp")
    tmp.write_text(json.dumps(answer))
    tmp.replace(job["result"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
