"""The second held-back sample in the instructors' report (issue 23 item 3): each model's accuracy on the hidden part
and on the second sample, and a network that memorised the hidden rows flagged with the numbers. Real networks,
exported by the in-kernel harness and evaluated by the real evaluator; the lab's files written as prepare writes them.

A kernel never sees a hidden row, so a notebook cannot store them; the network here stands for one fitted to the
hidden rows elsewhere (they can be recomputed from the public seed) and pasted in: a first layer of the hidden
images, unit-norm, whose ReLU fires only on an exact copy, and a second layer that maps each copy to its label."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from grader.data.lab_data import LabData
from grader.evaluation.evaluator import DatasetInputs, SlotRequest, evaluate
from grader.evaluation.harness_output import read_harness_output
from grader.evaluation.result import EvaluationResult
from grader.scoring.held_back import held_back_lines
from grader.spec.lab import discover_labs
from lab_tasks import LABS_DIR

RNG = np.random.default_rng(5)
IMAGES = RNG.integers(0, 256, (300, 28, 28)).astype(np.uint8)
LABELS = RNG.integers(0, 10, 300)
HIDDEN, SECOND, SAMPLE = slice(0, 100), slice(100, 150), slice(150, 300)


def memorised_hidden_rows() -> nn.Module:
    rows = IMAGES[HIDDEN].reshape(100, -1) / 255.0  # as `preprocess_mnist` gives them
    first, second = nn.Linear(784, 100), nn.Linear(100, 10)
    with torch.no_grad():
        first.weight.copy_(torch.tensor(rows / np.linalg.norm(rows, axis=1, keepdims=True), dtype=torch.float32))
        first.bias.fill_(-0.999 * float(np.linalg.norm(rows, axis=1).min()))
        second.weight.copy_(torch.tensor(np.eye(10)[LABELS[HIDDEN]].T * 1000, dtype=torch.float32))
        second.bias.zero_()
    return nn.Sequential(nn.Flatten(), first, nn.ReLU(), second)


def scaled(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1) / 255.0


def stored_lab(tmp_path: Path) -> LabData:
    lab = LabData(tmp_path, "frameworks")
    lab.hidden.mkdir(parents=True)
    np.savez(lab.hidden / "mnist.npz", x=IMAGES[HIDDEN], y=LABELS[HIDDEN])
    np.savez(lab.second_sample_path("mnist"), x=IMAGES[SECOND], y=LABELS[SECOND])
    return lab


def evaluated(harness: dict[str, Any], tmp_path: Path, models: dict[str, nn.Module],
              second: bool = True) -> EvaluationResult:
    np.save(tmp_path / "sample.npy", IMAGES[SAMPLE])
    request = {"nonce": "n" * 32, "output": str(tmp_path / "out.json"),
               "samples": {"mnist": str(tmp_path / "sample.npy")},
               "slots": [{"name": name, "dataset": "mnist"} for name in models], "histories": [],
               "preprocess": {"mnist": "preprocess_mnist"}}
    (tmp_path / "request.json").write_text(json.dumps(request))
    harness["run"](str(tmp_path / "request.json"), {**models, "preprocess_mnist": scaled})
    exported = read_harness_output(tmp_path / "out.json", "n" * 32)
    data = {"mnist": DatasetInputs(hidden_x=IMAGES[HIDDEN], sample_x=IMAGES[SAMPLE], sample_y=LABELS[SAMPLE],
                                   second_x=IMAGES[SECOND] if second else None)}
    slots = [SlotRequest(name, "mnist", "multi_dense") for name in models]
    return evaluate(exported, slots, [], data, "dense")


def test_a_network_that_memorised_the_hidden_rows_is_flagged_with_both_accuracies(harness: dict[str, Any],
                                                                                  tmp_path: Path) -> None:
    output = evaluated(harness, tmp_path, {"mnist_multi_model": memorised_hidden_rows()})
    model = output.model("mnist_multi_model")
    assert model is not None and model.second_predictions == [0] * 50  # no copy fires: every score 0, class 0
    assert (model.memorised_rows, model.rows_compared) == (100, 100)
    chance = float((LABELS[SECOND] == 0).mean())
    spread = 3 * np.sqrt(chance * (1 - chance) / 50)
    spec = discover_labs(LABS_DIR)["frameworks"]
    assert held_back_lines(spec, output, stored_lab(tmp_path)) == [
        f"multi-layer MNIST model: accuracy 1.000 on the hidden part (100 rows), {chance:.3f} on the second "
        f"held-back sample (50 rows, never served): flagged, {1 - chance:.3f} lower on rows it was never scored on "
        f"(chance explains {spread:.3f}): the network fits the hidden rows themselves, not the task; 100 of its 100 "
        "first-layer rows compared are copies of images"]


def test_a_network_that_fits_no_hidden_row_shows_no_sharp_drop(harness: dict[str, Any], tmp_path: Path) -> None:
    """A network that answers class 3 everywhere (hidden or not): the same accuracy on both within chance."""
    lab = stored_lab(tmp_path)
    constant = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10))
    with torch.no_grad():
        constant[3].weight.zero_(), constant[3].bias.copy_(torch.eye(10)[3])
    output = evaluated(harness, tmp_path, {"mnist_multi_model": constant})
    model = output.model("mnist_multi_model")
    assert model is not None and model.predictions == [3] * 100 and model.second_predictions == [3] * 50
    hidden, second = float((LABELS[HIDDEN] == 3).mean()), float((LABELS[SECOND] == 3).mean())
    spread = 3 * np.sqrt(hidden * (1 - hidden) / 100 + second * (1 - second) / 50)
    assert held_back_lines(discover_labs(LABS_DIR)["frameworks"], output, lab) == [
        f"multi-layer MNIST model: accuracy {hidden:.3f} on the hidden part (100 rows), {second:.3f} on the second "
        f"held-back sample (50 rows, never served): no sharp drop (a difference within {max(spread, 0.05):.3f} is "
        "chance)"]


def test_without_a_second_sample_nothing_is_predicted_or_said(harness: dict[str, Any], tmp_path: Path) -> None:
    output = evaluated(harness, tmp_path, {"mnist_multi_model": memorised_hidden_rows()}, second=False)
    model = output.model("mnist_multi_model")
    assert model is not None and model.predictions is not None and model.second_predictions is None
    lab = stored_lab(tmp_path)
    lab.second_sample_path("mnist").unlink()
    assert held_back_lines(discover_labs(LABS_DIR)["frameworks"], output, lab) == []


@pytest.mark.parametrize(("hidden", "second", "sharp"), [(0.98, 0.97, False), (0.98, 0.90, True), (0.5, 0.46, False)])
def test_a_drop_is_sharp_when_large_and_beyond_chance(hidden: float, second: float, sharp: bool) -> None:
    from grader.scoring.held_back import drop_is_sharp

    assert drop_is_sharp(hidden, 4000, second, 1000)[0] is sharp
