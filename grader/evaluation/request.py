"""What each side of an evaluation is given.

The kernel's request (`build_request`): which contract names to export, which histories to look for, and a sample of
*visible* training inputs for the student's preprocess_<dataset> to run on. No hidden input and no label enters the
job directory. The evaluator's job (`build_evaluation_job`): the hidden inputs (no labels; and those of a second
held-back sample where the lab declares one), the same visible sample with its public labels, and the export to
evaluate; it lives in the host-only part of the job.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader.data.lab_data import LabData
from grader.errors import HarnessOutputInvalid
from grader.evaluation.evaluator import DatasetInputs, HistoryRequest, SlotRequest, evaluate
from grader.evaluation.harness_output import read_harness_output
from grader.evaluation.memorisation import MAX_IMAGES
from grader.evaluation.messages import DatasetFiles, EvaluationJob, HistoryWanted, JobSlot, KernelRequest
from grader.evaluation.result import EvaluationResult
from grader.spec.lab import LabSpec
from grader.spec.slots import slot_architectures, slot_top_k


def slot_max_parameters(spec: LabSpec) -> dict[str, int]:
    """Contract model name -> the fewest `max_parameters` any check of that model, or its `[models.NAME]`, declares."""
    caps: dict[str, int] = {name: limits.max_parameters for name, limits in spec.models.items()
                            if limits.max_parameters is not None}
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


@dataclass(frozen=True)
class RunSlots:
    """The model slots and training histories one run evaluates, derived once per run (`run_slots`) and passed to
    the kernel's request, the evaluator's job and the quick evaluation alike."""

    slots: tuple[SlotRequest, ...]  # only those whose dataset this host has
    histories: tuple[HistoryRequest, ...]


def run_slots(spec: LabSpec, lab: LabData) -> RunSlots:
    caps, ranks = slot_max_parameters(spec), slot_top_k(spec)
    slots = tuple(SlotRequest(name, dataset, architecture, caps.get(name), ranks.get(name),
                              spec.models[name].max_inference_ms if name in spec.models else None)
                  for name, (dataset, architecture) in slot_architectures(spec).items() if lab.has_dataset(dataset))
    return RunSlots(slots, tuple(HistoryRequest(name, model) for name, model in spec.history_requests()))


def _histories(slots: RunSlots) -> list[HistoryWanted]:
    return [{"name": h.name, "model": h.model} for h in slots.histories]


def build_request(spec: LabSpec, lab: LabData, private: Path, nonce: str, output: Path,
                  slots: RunSlots | None = None) -> KernelRequest:
    """Write the visible samples into `private` and return the request the kernel's harness reads (JSON)."""
    slots = slots or run_slots(spec, lab)
    samples: dict[str, str] = {}
    preprocess: dict[str, str] = {}
    for slot in slots.slots:
        if slot.dataset not in samples:
            samples[slot.dataset] = _save(private / f"{slot.dataset}-sample-x.npy", lab.training_sample(slot.dataset).x)
            preprocess[slot.dataset] = spec.dataset(slot.dataset).preprocess_function
    # the model kinds the lab accepts, and for the NumPy kinds each dataset's number of classes (a perceptron's rows)
    classes = {dataset: len(spec.dataset(dataset).classes) for dataset in samples}
    return {"nonce": nonce, "slots": [{"name": s.name, "dataset": s.dataset} for s in slots.slots],
            "samples": samples, "preprocess": preprocess, "histories": _histories(slots), "output": str(output),
            "model_kinds": list(spec.model_kinds), "classes": classes}


def build_evaluation_job(spec: LabSpec, lab: LabData, host: Path, export: Path, nonce: str,
                         slots: RunSlots | None = None) -> EvaluationJob:
    """Write the hidden inputs (never labels) and the visible sample into the host-only `host` and return the job."""
    slots = slots or run_slots(spec, lab)
    datasets: dict[str, DatasetFiles] = {}
    for slot in slots.slots:
        if slot.dataset not in datasets:
            dataset = slot.dataset
            sample, declared = lab.training_sample(dataset), spec.dataset(dataset)
            datasets[dataset] = {
                "hidden_x": _save(host / f"{dataset}-hidden-x.npy", lab.hidden_split(dataset).x),
                "sample_x": _save(host / f"{dataset}-sample-x.npy", sample.x),
                "sample_y": _save(host / f"{dataset}-sample-y.npy", sample.y),
                "layouts": [list(layout) for layout in declared.layouts],
                "preprocessings": list(declared.preprocessings),
                "regression": declared.regression,
            }
            if declared.episodes is not None and declared.source.gymnasium is not None:
                datasets[dataset]["environment"] = {
                    "gymnasium": declared.source.gymnasium, "max_steps": declared.episodes.max_steps,
                    "success": declared.episodes.success, "visible_seeds": list(declared.episodes.visible_seeds)}
            second = lab.second_sample(dataset)
            if second is not None:
                datasets[dataset]["second_x"] = _save(host / f"{dataset}-second-x.npy", second.x)
            public = lab.visible_test_inputs(dataset, MAX_IMAGES)
            if public is not None:
                datasets[dataset]["public_x"] = _save(host / f"{dataset}-public-x.npy", public)
    job_slots: list[JobSlot] = [{"name": s.name, "dataset": s.dataset, "architecture": s.architecture,
                                 "max_parameters": s.max_parameters,
                                 "top_k": s.top_k, "max_inference_ms": s.max_inference_ms} for s in slots.slots]
    return {"nonce": nonce, "export": str(export), "slots": job_slots, "histories": _histories(slots),
            "datasets": datasets, "result": str(host / "evaluation-result.json"), "ops": spec.ops}


QUICK_EXPORT_BYTES = 256 * 1024  # an export without networks is a few KB (histories at most); larger goes to the room


def evaluate_without_networks(spec: LabSpec, lab: LabData, export: Path, nonce: str,
                              slots: RunSlots | None = None) -> EvaluationResult | None:
    """The evaluation of a trusted copy of an export that holds no network, computed here; None when the export holds
    a network (or is not a small valid export), which only the evaluator in its own room may rebuild and run.

    With no network there is nothing to run on any input: every slot is "not found" (or the contract's own error)
    and histories are not cross-checked, exactly what the evaluator answers, without its ~0.5 s start. The export is
    read with the same size cap and schema as the evaluator reads it."""
    try:
        if export.stat().st_size > QUICK_EXPORT_BYTES:
            return None
        parsed = read_harness_output(export, nonce)
    except (OSError, HarnessOutputInvalid):
        return None
    if parsed.networks:
        return None
    slots = slots or run_slots(spec, lab)
    datasets = {s.dataset: DatasetInputs(hidden_x=_NO_ROWS, sample_x=_NO_ROWS, sample_y=_NO_ROWS) for s in slots.slots}
    return evaluate(parsed, list(slots.slots), list(slots.histories), datasets, ops=spec.ops)


_NO_ROWS: np.ndarray[Any, Any] = np.zeros((0, 1))  # no network reads a dataset's rows when there is no network
