"""The in-kernel harness code, run in this process on real torch models (the kernel runs the same source text)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from grader.in_kernel import source


@pytest.fixture(scope="module")
def harness() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "labgrader_harness"}
    code = "\n".join(source(name) for name in ("model_facts.py", "histories.py", "harness.py"))
    exec(compile(code, "labgrader_harness.py", "exec"), namespace)
    return namespace


class FunctionalNet(nn.Module):
    """Activations applied in forward(), invisible in the module list."""

    def __init__(self, activation: bool) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(784, 32), nn.Linear(32, 10)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.fc1(x.flatten(1))
        out: torch.Tensor = self.fc2(torch.relu(hidden) if self.activation else hidden)
        return out


def facts_of(harness: dict[str, Any], model: nn.Module) -> dict[str, Any]:
    facts: dict[str, Any] = harness["architecture_facts"](model, "torch")
    return facts


def test_facts_of_a_single_layer_and_a_multi_layer_network(harness: dict[str, Any]) -> None:
    single = facts_of(harness, nn.Sequential(nn.Flatten(), nn.Linear(784, 10)))
    assert {k: single[k] for k in ("dense_layers", "nonlinear_between", "conv", "input_size", "output_size",
                                   "parameters", "framework", "device")} == {
        "dense_layers": 1, "nonlinear_between": False, "conv": False, "input_size": 784, "output_size": 10,
        "parameters": 7850, "framework": "torch", "device": "cpu"}
    multi = facts_of(harness, nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10)))
    assert (multi["dense_layers"], multi["nonlinear_between"], multi["activations"]) == (2, True, ["relu"])
    assert harness["architecture_fits"](multi, "multi_dense")
    assert not harness["architecture_fits"](multi, "single_dense")


def test_a_cnn_is_an_mnist_model_that_is_not_fully_connected(harness: dict[str, Any]) -> None:
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 64), nn.ReLU(),
                        nn.Linear(64, 10))
    facts = facts_of(harness, cnn)
    assert (facts["conv"], facts["dense_layers"], harness["dataset_of"](facts)) == (True, 2, "mnist")
    assert not harness["architecture_fits"](facts, "multi_dense")


def test_functional_activations_are_found_by_measuring_linearity(harness: dict[str, Any]) -> None:
    for activation in (True, False):
        model = FunctionalNet(activation)
        facts = facts_of(harness, model)
        assert facts["nonlinear_between"] is False  # no activation module to see
        assert harness["is_affine"](model, "torch", (784,)) is (not activation)


class ReLU(nn.Module):
    """Named like an activation, computes nothing."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class RawParameterNet(nn.Module):
    """A two-layer network of raw parameters, beside a Linear layer it never uses."""

    def __init__(self) -> None:
        super().__init__()
        self.decoy = nn.Linear(784, 10)
        self.w1, self.w2 = nn.Parameter(torch.randn(784, 32) * 0.05), nn.Parameter(torch.randn(32, 10) * 0.05)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x.flatten(1) @ self.w1) @ self.w2


def _mnist_slot(harness: dict[str, Any], model: nn.Module) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    data = {"train_x": rng.integers(0, 255, (64, 28, 28)).astype(np.uint8), "train_y": rng.integers(0, 10, 64)}
    slot = {"dataset": "mnist", "architecture": "multi_dense"}
    evaluated: dict[str, Any] = harness["evaluate_candidate"]("net", model, slot, {}, data)
    return evaluated


def test_what_a_network_computes_decides_its_architecture_not_its_layer_names(harness: dict[str, Any]) -> None:
    fake = _mnist_slot(harness, nn.Sequential(nn.Flatten(), nn.Linear(784, 32), ReLU(), nn.Linear(32, 10)))
    assert (fake["facts"]["dense_layers"], fake["facts"]["nonlinear_between"]) == (2, False)
    softmax_only = _mnist_slot(harness, nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.Linear(32, 10),
                                                      nn.Softmax(dim=1)))
    assert softmax_only["facts"]["nonlinear_between"] is False  # a final softmax is not a non-linearity between
    real = _mnist_slot(harness, nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.BatchNorm1d(32), nn.ReLU(),
                                              nn.Linear(32, 10), nn.Softmax(dim=1)))
    assert (real["facts"]["nonlinear_between"], real["facts"]["unrecognised_parameters"]) == (True, 0)
    assert harness["architecture_fits"](real["facts"], "multi_dense")


def test_parameters_outside_dense_layers_fit_no_fully_connected_slot(harness: dict[str, Any]) -> None:
    facts = facts_of(harness, RawParameterNet())
    assert (facts["dense_layers"], facts["unrecognised_parameters"]) == (1, 784 * 32 + 32 * 10)
    assert not harness["architecture_fits"](facts, "single_dense")
    assert not harness["architecture_fits"](facts, "multi_dense")


def test_models_are_found_in_the_namespace_and_inside_dicts_and_lists(harness: dict[str, Any]) -> None:
    net, other, third = nn.Linear(4, 3), nn.Linear(784, 10), nn.Linear(784, 10)
    namespace = {"net": net, "models": {"big": other}, "history": [third], "_hidden": nn.Linear(4, 3),
                 "loss_fn": nn.CrossEntropyLoss(), "klass": nn.Linear, "number": 3}
    found = harness["collect_models"](namespace)
    assert [label for label, _ in found] == ["`net`", "`models['big']`", "`history[0]`", "`loss_fn`"]


def test_preprocessing_is_chosen_by_accuracy_on_training_data(harness: dict[str, Any]) -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.5, 2.0]], dtype=np.float32)
    y = np.repeat(np.arange(3), 40)
    x = (centres[y] + rng.normal(0, 0.3, (120, 4))).astype(np.float32)
    mean, std = x.mean(axis=0), x.std(axis=0)
    # a least-squares classifier fitted on standardised features: it only works on standardised inputs
    design = np.hstack([(x - mean) / std, np.ones((120, 1), np.float32)])
    weights = np.linalg.lstsq(design, np.eye(3)[y], rcond=None)[0]
    model = nn.Linear(4, 3)
    with torch.no_grad():
        model.weight.copy_(torch.tensor(weights[:4].T))
        model.bias.copy_(torch.tensor(weights[4]))
    best, tried, problem = harness["choose_preprocessing"](model, "torch", "iris", x, y, {})
    assert (best[0], problem) == ("standardised", "")
    assert tried["standardised"] > tried["raw"]
    own = {"preprocess_iris": lambda features: (features - mean) / std}
    assert harness["choose_preprocessing"](model, "torch", "iris", x, y, own)[0][0] == "preprocess_iris"


def test_histories_are_found_by_shape(harness: dict[str, Any]) -> None:
    namespace = {"hist": {"train_loss": [1.0, 0.5], "val_loss": [1.1, np.float32(0.7)], "train_acc": [0.5, 0.8]},
                 "config": {"loss": "cross-entropy"}, "torch": torch}
    found = harness["collect_histories"](namespace)
    assert [(label, curves) for label, _, curves in found] == [
        ("`hist`", ([1.0, 0.5], [1.1, pytest.approx(0.7)], "a dict of per-epoch lists"))]


def test_paired_lists_are_histories_when_their_names_and_lengths_match(harness: dict[str, Any]) -> None:
    namespace = {
        "train_loss3": [0.9, 0.5, 0.3], "val_loss3": [np.float64(1.0), 0.6, 0.5],  # a pair (tvboelens' names)
        "losses_train": [1.0, 0.8], "losses_val": [1.1, 0.9],  # the words after the noun
        "train_loss1": [0.9] * 600, "val_loss1": [1.0] * 101,  # per-batch and per-epoch values: lengths differ
        "val_loss_only": [1.0, 0.9],  # no training partner
        "interval_loss": [1.0], "train_acc": [0.5, 0.6], "val_acc": [0.4, 0.5],  # 'val' inside a word; accuracies
    }
    found = harness["collect_histories"](namespace)
    assert [(label, curves) for label, _, curves in found] == [
        ("`train_loss3` and `val_loss3`", ([0.9, 0.5, 0.3], [1.0, 0.6, 0.5], "two lists of per-epoch losses")),
        ("`losses_train` and `losses_val`", ([1.0, 0.8], [1.1, 0.9], "two lists of per-epoch losses")),
    ]


def test_rows_of_loss_and_validation_loss_or_accuracy(harness: dict[str, Any]) -> None:
    namespace = {"epochs": [(0.9, 1.0), (0.5, 0.7)], "loss_acc": [[torch.tensor(0.9), 0.9], [torch.tensor(0.4), 0.8]],
                 "epoch_data": [[2.3, 0.41], [0.6, 0.83]],  # [loss, val_acc]: its values say accuracy
                 "matrix": [[1, 2, 3, 4, 5], [1, 2, 3, 4, 5]], "names": [("a", "b"), ("c", "d")]}
    found = harness["collect_histories"](namespace)
    assert [(label, curves) for label, _, curves in found] == [
        ("`epochs`", ([0.9, 0.5], [1.0, 0.7], "rows of [loss, validation loss]")),
        ("`loss_acc`", ([pytest.approx(0.9), pytest.approx(0.4)], [], "rows of [loss, accuracy]")),
        ("`epoch_data`", ([2.3, 0.6], [], "rows of [loss, accuracy]")),
    ]


class Logged(nn.Module):
    """What the start-up code leaves on a LightningModule whose steps call self.log()."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)
        self._labgrader_logged = {"train_loss": {0: [3.0, 3], 1: [1.5, 3]}, "val_loss": {0: [2.4, 2], 1: [1.0, 2]},
                                  "val_acc": {0: [1.0, 2]}}


def test_a_lightning_modules_logged_metrics_are_its_history(harness: dict[str, Any]) -> None:
    module = Logged()
    found = harness["collect_histories"]({"net": module})
    assert [(label, curves) for label, _, curves in found] == [
        ("`net`", ([1.0, 0.5], [1.2, 0.5], "the metrics its LightningModule logged"))]
    assert harness["_history_model"](module) is module


def test_run_writes_predictions_facts_and_histories(harness: dict[str, Any], tmp_path: Path) -> None:
    torch.manual_seed(0)
    x = np.random.default_rng(1).random((40, 4)).astype(np.float32)
    y = (x[:, 0] > 0.5).astype(np.int64)
    for name, array in (("in", x[:10]), ("tx", x), ("ty", y)):
        np.save(tmp_path / f"{name}.npy", array)
    request = {"nonce": "abc", "output": str(tmp_path / "out.json"),
               "slots": [{"name": "iris_model", "dataset": "iris", "architecture": "any",
                          "inputs": str(tmp_path / "in.npy"), "train_x": str(tmp_path / "tx.npy"),
                          "train_y": str(tmp_path / "ty.npy")}],
               "histories": [{"name": "mnist_multi_history", "model": None}]}
    (tmp_path / "request.json").write_text(json.dumps(request))
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    harness["run"](str(tmp_path / "request.json"), {"net": net, "hist": {"loss": [2.0, float("nan")]}})
    result = json.loads((tmp_path / "out.json").read_text())
    model = result["models"][0]
    assert (model["found"], model["via"], model["source"]) == (True, "discovery", "`net`")
    assert len(model["predictions"]) == 10
    assert len(model["train_predictions"]) == 40
    assert (model["considered"], model["train_accuracy"]) == (1, pytest.approx(model["train_accuracy"]))
    assert result["histories"] == [{"name": "mnist_multi_history", "found": True, "via": "discovery",
                                    "source": "`hist`", "error": None, "loss": [2.0, None], "val_loss": [],
                                    "shape": "a dict of per-epoch lists", "linked": False}]


def test_a_history_of_a_network_for_another_dataset_is_not_used(harness: dict[str, Any], tmp_path: Path) -> None:
    iris_module = Logged()
    iris_module.fc = nn.Linear(4, 3)  # an Iris network that logged its losses
    x = np.random.default_rng(1).random((20, 784)).astype(np.float32)
    for name, array in (("in", x[:5]), ("tx", x), ("ty", (x[:, 0] > 0.5).astype(np.int64))):
        np.save(tmp_path / f"{name}.npy", array)
    request = {"nonce": "n", "output": str(tmp_path / "out.json"),
               "slots": [{"name": "mnist_multi_model", "dataset": "mnist", "architecture": "multi_dense",
                          "inputs": str(tmp_path / "in.npy"), "train_x": str(tmp_path / "tx.npy"),
                          "train_y": str(tmp_path / "ty.npy")}],
               "histories": [{"name": "mnist_multi_history", "model": "mnist_multi_model"}]}
    (tmp_path / "request.json").write_text(json.dumps(request))
    harness["run"](str(tmp_path / "request.json"), {"iris_net": iris_module, "curves": {"loss": [1.0, 0.5]}})
    histories = json.loads((tmp_path / "out.json").read_text())["histories"]
    assert (histories[0]["found"], histories[0]["source"]) == (True, "`curves`")
    harness["run"](str(tmp_path / "request.json"), {"iris_net": iris_module})
    assert json.loads((tmp_path / "out.json").read_text())["histories"][0]["found"] is False
