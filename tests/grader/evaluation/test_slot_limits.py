"""A lab's per-slot limits (`[models.NAME]`) reach the evaluator's slot requests: the fewest parameters any
declaration allows, and the inference-time limit, for the slots whose data this host has."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader.data.lab_data import LabData
from grader.evaluation.request import run_slots, slot_max_parameters
from grader.spec.lab import LabSpec

IRIS = {"id": "iris", "title": "Iris", "classes": ["a", "b", "c"], "input_shape": [4]}


def spec(models: dict[str, object], cap: int | None = None) -> LabSpec:
    accuracy = {"id": "acc", "title": "t", "points": 1, "kind": "accuracy", "model": "net", "dataset": "iris",
                "full_credit_at": 0.9, "no_credit_at": 0.5, **({"max_parameters": cap} if cap else {})}
    return LabSpec.model_validate({"id": "lab", "title": "lab", "datasets": [IRIS], "checks": [accuracy],
                                   "models": models})


def test_the_fewest_parameters_of_the_slot_and_the_check_win() -> None:
    assert slot_max_parameters(spec({"net": {"max_parameters": 1000}})) == {"net": 1000}
    assert slot_max_parameters(spec({"net": {"max_parameters": 1000}}, cap=500)) == {"net": 500}
    assert slot_max_parameters(spec({"net": {"max_parameters": 300}}, cap=500)) == {"net": 300}
    assert slot_max_parameters(spec({})) == {}


def test_the_inference_limit_travels_with_the_slot(tmp_path: Path) -> None:
    lab = LabData(tmp_path, "lab")
    for part, arrays in ((lab.hidden, {"x": np.zeros((3, 4)), "y": np.zeros(3, np.int64)}),
                         (lab.visible, {"x_train": np.zeros((3, 4)), "y_train": np.zeros(3, np.int64)})):
        part.mkdir(parents=True)
        np.savez(part / "iris.npz", **arrays)
    [slot] = run_slots(spec({"net": {"max_inference_ms": 250, "max_parameters": 40}}), lab).slots
    assert (slot.name, slot.max_inference_ms, slot.max_parameters) == ("net", 250, 40)
