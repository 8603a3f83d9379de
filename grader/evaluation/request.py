"""What each side of an evaluation is given.

The kernel's request (`build_request`): which contract names to export, which histories to look for, and a sample of
*visible* training inputs for the student's preprocess_<dataset> to run on. No hidden input and no label enters the
job directory. The evaluator's job (`build_evaluation_job`): the hidden inputs (no labels), the same visible sample
with its public labels, and the export to evaluate; it lives in the host-only part of the job.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from grader.datasets import LabData
from grader.spec import LabSpec


def role_of(architecture: str, title: str) -> str:
    """How a report names a slot: "multi-layer <dataset title> model" ("3-layer ..." for exactly three)."""
    architecture, _, count = architecture.partition(":")  # "multi_dense:3": exactly three dense layers
    prefix = f"{count}-layer " if count else {"single_dense": "single-layer ",
                                              "multi_dense": "multi-layer "}.get(architecture, "")
    return f"{prefix}{title} model"


def slot_role(spec: LabSpec, name: str, dataset: str = "") -> str:
    """How a report names the model slot `name` of `spec`: the strictest architecture its checks ask for, and its
    dataset by the title the lab declares (`dataset` when no check of `spec` evaluates the slot)."""
    slot = slot_architectures(spec).get(name)
    dataset, architecture = slot if slot is not None else (dataset, "any")
    return role_of(architecture, spec.dataset_title(dataset))


def slot_architectures(spec: LabSpec) -> dict[str, tuple[str, str]]:
    """Contract model name -> (dataset, required architecture) for every model a check evaluates."""
    slots: dict[str, tuple[str, str]] = {}
    for check in spec.checks:
        if (slot := check.model_slot()) is not None:
            name, dataset, architecture = slot
            previous = slots.get(name)
            if previous is None or previous[1] == "any":
                slots[name] = (dataset, architecture)
    return slots


def slot_max_parameters(spec: LabSpec) -> dict[str, int]:
    """Contract model name -> the fewest `max_parameters` any check of that model declares."""
    caps: dict[str, int] = {}
    for check in spec.checks:
        cap, slot = getattr(check, "max_parameters", None), check.model_slot()
        if cap is not None and slot is not None:
            caps[slot[0]] = min(cap, caps.get(slot[0], cap))
    return caps


def _save(path: Path, array: np.ndarray[Any, Any]) -> str:
    if not path.exists():
        np.save(path, array, allow_pickle=False)
        os.chmod(path, 0o444)
    return str(path)


def build_request(spec: LabSpec, lab: LabData, private: Path, nonce: str, output: Path) -> dict[str, Any]:
    """Write the visible samples into `private` and return the JSON-able request the kernel's harness reads."""
    slots, samples, preprocess = [], {}, {}
    for name, (dataset, _) in slot_architectures(spec).items():
        if not lab.has_dataset(dataset):
            continue
        if dataset not in samples:
            samples[dataset] = _save(private / f"{dataset}-sample-x.npy", lab.training_sample(dataset).x)
            preprocess[dataset] = spec.dataset(dataset).preprocess_function
        slots.append({"name": name, "dataset": dataset})
    histories = [{"name": name, "model": model} for name, model in spec.history_requests()]
    # the model kinds the lab accepts, and for the NumPy kinds each dataset's number of classes (a perceptron's rows)
    classes = {dataset: len(spec.dataset(dataset).classes) for dataset in samples}
    return {"nonce": nonce, "slots": slots, "samples": samples, "preprocess": preprocess, "histories": histories,
            "output": str(output), "model_kinds": list(spec.model_kinds), "classes": classes}


def build_evaluation_job(spec: LabSpec, lab: LabData, host: Path, export: Path, nonce: str) -> dict[str, Any]:
    """Write the hidden inputs (never labels) and the visible sample into the host-only `host` and return the job."""
    slots, datasets = [], {}
    for name, (dataset, architecture) in slot_architectures(spec).items():
        if not lab.has_dataset(dataset):
            continue
        if dataset not in datasets:
            sample, declared = lab.training_sample(dataset), spec.dataset(dataset)
            datasets[dataset] = {
                "hidden_x": _save(host / f"{dataset}-hidden-x.npy", lab.hidden_split(dataset).x),
                "sample_x": _save(host / f"{dataset}-sample-x.npy", sample.x),
                "sample_y": _save(host / f"{dataset}-sample-y.npy", sample.y),
                "layouts": [list(layout) for layout in declared.layouts],
                "preprocessings": list(declared.preprocessings),
            }
        slots.append({"name": name, "dataset": dataset, "architecture": architecture,
                      "max_parameters": slot_max_parameters(spec).get(name)})
    histories = [{"name": name, "model": model} for name, model in spec.history_requests()]
    return {"nonce": nonce, "export": str(export), "slots": slots, "histories": histories, "datasets": datasets,
            "result": str(host / "evaluation-result.json"), "ops": spec.ops}
