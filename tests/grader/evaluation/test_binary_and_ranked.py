"""What the evaluator computes beyond the best class: a one-output network's class by the threshold its last
operation implies (a sigmoid's probability at 0.5, a logit at 0), and the ranked classes a top-k check reads; the
networks are real torch modules exported by the in-kernel harness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from grader.evaluation.evaluator import DatasetInputs, SlotRequest, evaluate
from tests.grader.evaluation.test_harness import IMAGES, LABELS, export


def _centred(binary: nn.Sequential, last_linear: int) -> np.ndarray:
    """Half the rows above 0 at the last linear layer's output; the labels a logit > 0 gives."""
    flat = torch.tensor(IMAGES.reshape(len(IMAGES), -1) / 255.0, dtype=torch.float32)
    with torch.no_grad():
        binary[last_linear].bias -= binary[:last_linear + 1](flat)[:, 0].median()
        logit = binary[:last_linear + 1](flat)[:, 0].numpy()
    labels: np.ndarray = (logit > 0).astype(np.int64)
    return labels


def test_a_one_output_logit_is_class_1_above_zero(harness: dict[str, Any], tmp_path: Path) -> None:
    """BCEWithLogitsLoss: no sigmoid at the end; compared with 0.5 half the class-1 rows would be class 0."""
    torch.manual_seed(0)
    logits = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 1))
    labels = _centred(logits, 3)
    flat = torch.tensor(IMAGES.reshape(len(IMAGES), -1) / 255.0, dtype=torch.float32)
    with torch.no_grad():
        between = ((logits(flat)[:, 0] > 0) & (logits(flat)[:, 0] <= 0.5)).sum().item()
    assert between > 10  # rows a 0.5 threshold would get wrong
    exported = export(harness, tmp_path, {"logits": logits}, slots=("logits",))
    data = {"mnist": DatasetInputs(hidden_x=IMAGES[:100], sample_x=IMAGES, sample_y=labels)}
    entry = evaluate(exported, [SlotRequest("logits", "mnist")], [], data).models[0]
    assert (entry.found, entry.preprocessing) == (True, "scaled_255")
    assert entry.predictions == labels[:100].tolist()


def test_a_one_output_sigmoid_is_still_compared_with_one_half(harness: dict[str, Any], tmp_path: Path) -> None:
    torch.manual_seed(1)
    probability = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 1), nn.Sigmoid())
    labels = _centred(probability, 3)  # logit > 0 is probability > 0.5
    exported = export(harness, tmp_path, {"probability": probability}, slots=("probability",))
    data = {"mnist": DatasetInputs(hidden_x=IMAGES[:100], sample_x=IMAGES, sample_y=labels)}
    entry = evaluate(exported, [SlotRequest("probability", "mnist")], [], data).models[0]
    assert entry.predictions == labels[:100].tolist()


def test_a_top_k_slot_carries_each_inputs_classes_best_first(harness: dict[str, Any], tmp_path: Path) -> None:
    torch.manual_seed(2)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    exported = export(harness, tmp_path, {"net": net}, slots=("net",))
    data = {"mnist": DatasetInputs(hidden_x=IMAGES[:50], sample_x=IMAGES, sample_y=LABELS)}
    plain, ranked = (evaluate(exported, [SlotRequest("net", "mnist", top_k=k)], [], data).models[0]
                     for k in (None, 3))
    assert plain.ranked is None
    with torch.no_grad():
        scores = net(torch.tensor(IMAGES[:50] / 255.0, dtype=torch.float32))
    assert ranked.preprocessing == "scaled_255"
    assert ranked.ranked == scores.topk(3, dim=1).indices.tolist()
    assert ranked.ranked is not None and ranked.predictions == [row[0] for row in ranked.ranked]
