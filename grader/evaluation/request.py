"""The request the in-kernel harness reads: which models to find, on which inputs, and which histories.

Only inputs enter the job directory: hidden inputs without labels, and a sample of the *visible* training set with
its labels (students have those anyway) for choosing the input preprocessing and measuring training accuracy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from grader.datasets import LabData
from grader.spec import AccuracyCheck, EarlyStoppingCheck, LabSpec, OverfittingGapCheck

DATASET_NAMES = {"mnist": "MNIST", "iris": "Iris"}


def role_of(architecture: str, dataset: str) -> str:
    """How a report names a slot: "multi-layer MNIST model"."""
    shown = DATASET_NAMES.get(dataset, dataset)
    prefix = {"single_dense": "single-layer ", "multi_dense": "multi-layer "}.get(architecture, "")
    return f"{prefix}{shown} model"


def slot_architectures(spec: LabSpec) -> dict[str, tuple[str, str]]:
    """Contract model name -> (dataset, required architecture) for every model a check evaluates."""
    slots: dict[str, tuple[str, str]] = {}
    for check in spec.checks:
        if isinstance(check, AccuracyCheck):
            previous = slots.get(check.model)
            if previous is None or previous[1] == "any":
                slots[check.model] = (check.dataset, check.architecture)
        elif isinstance(check, OverfittingGapCheck):
            slots.setdefault(check.model, (check.dataset, "any"))
    return slots


def _save(path: Path, array: np.ndarray[Any, Any]) -> str:
    if not path.exists():
        np.save(path, array, allow_pickle=False)
        os.chmod(path, 0o444)
    return str(path)


def build_request(spec: LabSpec, lab: LabData, private: Path, nonce: str, output: Path) -> dict[str, Any]:
    """Write the inputs into `private` and return the JSON-able request."""
    slots = []
    for name, (dataset, architecture) in slot_architectures(spec).items():
        if not lab.has_dataset(dataset):
            continue
        sample = lab.training_sample(dataset)
        slots.append({
            "name": name, "dataset": dataset, "architecture": architecture,
            "inputs": _save(private / f"{dataset}-inputs.npy", lab.hidden_split(dataset).x),
            "train_x": _save(private / f"{dataset}-train-x.npy", sample.x),
            "train_y": _save(private / f"{dataset}-train-y.npy", sample.y),
        })
    histories = [{"name": c.history, "model": c.model} for c in spec.checks if isinstance(c, EarlyStoppingCheck)]
    return {"nonce": nonce, "slots": slots, "histories": histories, "output": str(output)}
