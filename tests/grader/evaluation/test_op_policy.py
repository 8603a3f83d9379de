"""A lab's op family and parameter caps (issue 23): what a network computes is what is counted. A layer of stored
images followed by pooling is a nearest-template lookup, refused in a fully-connected lab with the layer named; a
network over its model's `max_parameters` is refused, saying so. Real networks, exported by the in-kernel harness."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from grader.evaluation.evaluator import DatasetInputs, SlotRequest, evaluate
from grader.evaluation.harness_output import HarnessExport, read_harness_output

RNG = np.random.default_rng(3)
IMAGES = RNG.integers(0, 256, (200, 28, 28)).astype(np.uint8)
LABELS = RNG.integers(0, 10, 200)
TEMPLATES_PER_CLASS = 10


def template_lookup() -> nn.Module:
    """Rows = stored visible images grouped by class; MaxPool over each class's rows picks the nearest template."""
    rows = np.concatenate([IMAGES[c == LABELS][:TEMPLATES_PER_CLASS] for c in range(10)]).reshape(-1, 784) / 255.0
    linear = nn.Linear(784, len(rows), bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(rows / np.linalg.norm(rows, axis=1, keepdims=True), dtype=torch.float32))
    return nn.Sequential(nn.Flatten(), linear, nn.Unflatten(1, (1, 10, TEMPLATES_PER_CLASS)),
                         nn.MaxPool2d((1, TEMPLATES_PER_CLASS)), nn.Flatten())


def export(harness: dict[str, Any], tmp_path: Path, user_ns: dict[str, Any]) -> HarnessExport:
    np.save(tmp_path / "sample.npy", IMAGES)
    request = {"nonce": "n" * 32, "output": str(tmp_path / "out.json"),
               "samples": {"mnist": str(tmp_path / "sample.npy")},
               "slots": [{"name": name, "dataset": "mnist"} for name in user_ns], "histories": []}
    (tmp_path / "request.json").write_text(json.dumps(request))
    harness["run"](str(tmp_path / "request.json"), user_ns)
    return read_harness_output(tmp_path / "out.json", "n" * 32)


def grade(exported: HarnessExport, ops: str, *slots: SlotRequest) -> dict[str, Any]:
    data = {"mnist": DatasetInputs(hidden_x=IMAGES[:50], sample_x=IMAGES, sample_y=LABELS)}
    return {m.name: m for m in evaluate(exported, list(slots), [], data, ops).models}


def test_pooling_over_stored_rows_is_refused_in_a_dense_lab_with_the_layer_named(harness: dict[str, Any],
                                                                                  tmp_path: Path) -> None:
    exported = export(harness, tmp_path, {"mnist_single_model": template_lookup()})
    slot = SlotRequest("mnist_single_model", "mnist", "single_dense")
    dense = grade(exported, "dense", slot)["mnist_single_model"]
    assert (dense.found, dense.predictions) == (True, None)
    assert dense.error == ("could not be evaluated from its layers: its layer `3` (max_pool2d) takes a maximum over "
                           "the outputs of a dense layer; this lab counts fully-connected networks (affine layers and "
                           "non-linearities), and such pooling selects among stored rows")
    conv = grade(exported, "conv", slot)["mnist_single_model"]  # a lab of convolutional networks allows pooling
    assert conv.predictions is not None and conv.train_accuracy is None
    assert (np.asarray(conv.train_predictions) == LABELS).mean() > 0.5  # the lookup it is: half its rows stored


def test_pooling_over_an_image_is_spatial_and_left_to_the_architecture_check(harness: dict[str, Any],
                                                                              tmp_path: Path) -> None:
    cnn = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 4, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(4 * 12 * 12, 10))
    exported = export(harness, tmp_path, {"mnist_multi_model": nn.Sequential(nn.Flatten(), cnn)})
    model = grade(exported, "dense", SlotRequest("mnist_multi_model", "mnist", "multi_dense"))["mnist_multi_model"]
    assert model.predictions is not None and model.facts is not None and model.facts.conv is True


def test_a_network_over_its_models_parameter_cap_is_refused(harness: dict[str, Any], tmp_path: Path) -> None:
    torch.manual_seed(0)
    big = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    exported = export(harness, tmp_path, {"mnist_multi_model": big})
    capped = grade(exported, "dense", SlotRequest("mnist_multi_model", "mnist", "multi_dense", 50_000))
    assert capped["mnist_multi_model"].error == ("it has 50,890 parameters, over this model's cap of 50,000 (the "
                                                 "lab's own solutions need far fewer)")
    assert capped["mnist_multi_model"].predictions is None
    room = grade(exported, "dense", SlotRequest("mnist_multi_model", "mnist", "multi_dense", 50_890))
    assert room["mnist_multi_model"].predictions is not None


def test_an_empty_slot_names_its_own_architectures_network_over_the_cap_not_another_unreadable_one(
        harness: dict[str, Any], tmp_path: Path) -> None:
    # a notebook that rebuilt `net` cell after cell: a larger network that cannot be read comes first, the two-layer
    # network this check is about is over its cap, and the report says the cap (what keeps the check from it)
    torch.manual_seed(0)
    two_layers = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.Tanh(), nn.Linear(64, 10))
    exported = export(harness, tmp_path, {"net": template_lookup(), "net_before": two_layers})
    model = grade(exported, "dense", SlotRequest("two_layer_net", "mnist", "multi_dense", 50_000))["two_layer_net"]
    assert (model.found, model.source, model.predictions) == (False, "`net_before`", None)
    assert model.error == ("it has 50,890 parameters, over this model's cap of 50,000 (the lab's own solutions need "
                           "far fewer)")


def test_first_layer_rows_that_are_stored_images_are_counted(harness: dict[str, Any], tmp_path: Path) -> None:
    """A first layer of unit-norm hidden images whose ReLU fires only on an exact copy, beside an honest network."""
    torch.manual_seed(0)
    hidden = IMAGES[:50].reshape(50, -1) / 255.0
    unit = hidden / np.linalg.norm(hidden, axis=1, keepdims=True)
    first = nn.Linear(784, 50)
    second = nn.Linear(50, 10)
    with torch.no_grad():
        first.weight.copy_(torch.tensor(unit, dtype=torch.float32))
        first.bias.fill_(-0.999 * float(np.linalg.norm(hidden, axis=1).min()))
        second.weight.copy_(torch.tensor(np.eye(10)[LABELS[:50]].T, dtype=torch.float32))
    copies = nn.Sequential(nn.Flatten(), first, nn.ReLU(), second)
    honest = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    exported = export(harness, tmp_path, {"mnist_multi_model": copies, "other_model": honest})
    data = {"mnist": DatasetInputs(hidden_x=IMAGES[:50], sample_x=IMAGES[100:], sample_y=LABELS[100:])}
    models = {m.name: m for m in evaluate(exported, [SlotRequest("mnist_multi_model", "mnist", "multi_dense"),
                                                      SlotRequest("other_model", "mnist", "multi_dense")], [], data,
                                          "dense").models}
    assert (models["mnist_multi_model"].memorised_rows, models["mnist_multi_model"].rows_compared) == (50, 50)
    assert (models["other_model"].memorised_rows, models["other_model"].rows_compared) == (0, 32)


def test_rows_of_a_few_features_are_not_compared(harness: dict[str, Any], tmp_path: Path) -> None:
    """In 4 features a trained row often points the way of an input: Iris networks are not measured."""
    iris = RNG.random((60, 4))
    np.save(tmp_path / "iris.npy", iris)
    first = nn.Linear(4, 8)
    with torch.no_grad():
        first.weight.copy_(torch.tensor(iris[:8], dtype=torch.float32))  # copies, but of 4 numbers each
    request = {"nonce": "n" * 32, "output": str(tmp_path / "out.json"), "samples": {"iris": str(tmp_path / "iris.npy")},
               "slots": [{"name": "iris_model", "dataset": "iris"}], "histories": []}
    (tmp_path / "request.json").write_text(json.dumps(request))
    harness["run"](str(tmp_path / "request.json"), {"iris_model": nn.Sequential(first, nn.ReLU(), nn.Linear(8, 3))})
    exported = read_harness_output(tmp_path / "out.json", "n" * 32)
    data = {"iris": DatasetInputs(hidden_x=iris[:30], sample_x=iris, sample_y=RNG.integers(0, 3, 60))}
    model = evaluate(exported, [SlotRequest("iris_model", "iris")], [], data, "dense").models[0]
    assert model.predictions is not None
    assert (model.memorised_rows, model.rows_compared) == (None, None)


def test_a_network_of_another_architecture_is_told_its_architecture_not_its_size(harness: dict[str, Any],
                                                                                 tmp_path: Path) -> None:
    two = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    exported = export(harness, tmp_path, {"mnist_single_model": two})
    model = grade(exported, "dense", SlotRequest("mnist_single_model", "mnist", "single_dense", 10_000))
    entry = model["mnist_single_model"]
    assert (entry.error, entry.facts is not None and entry.facts.dense_layers) == (None, 2)  # the scorer says why


class TemplateMax(nn.Module):
    """The stored-row lookup written in forward(): scores against stored rows, then the best score of each class's
    rows, by `amax`, by `torch.max(...).values`, by `[0]` of `max`, by the worst score instead (`amin`), or (traced on
    visible inputs) after `view(len(x), -1)`."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.lookup = template_lookup()[1]
        self.how = how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.view(len(x), -1) if self.how == "traced" else x.flatten(1)
        scores = self.lookup(flat).view(-1, 10, TEMPLATES_PER_CLASS)
        if self.how == "values":
            return torch.max(scores, dim=2).values
        if self.how == "index0":
            return scores.max(2)[0]
        if self.how == "min":
            return torch.amin(scores, dim=2)
        return scores.amax(dim=2)


class TemplateGather(nn.Module):
    """Scores against every stored row, then the columns of ten chosen rows (one per class): a selection."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.lookup = template_lookup()[1]
        self.register_buffer("chosen", torch.arange(0, 10 * TEMPLATES_PER_CLASS, TEMPLATES_PER_CLASS))
        self.how = how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.lookup(x.view(len(x), -1) if self.how == "traced" else x.flatten(1))
        if self.how == "index_select":
            return torch.index_select(scores, 1, self.chosen)
        return scores[:, self.chosen]


@pytest.mark.parametrize("how", ["amax", "values", "index0", "min", "traced"])
def test_a_maximum_or_minimum_over_features_is_refused_in_a_dense_lab_with_the_layer_named(
        harness: dict[str, Any], tmp_path: Path, how: str) -> None:
    network = TemplateMax(how)
    exported = export(harness, tmp_path, {"mnist_single_model": network})
    slot = SlotRequest("mnist_single_model", "mnist", "single_dense")
    dense = grade(exported, "dense", slot)["mnist_single_model"]
    extreme = "minimum" if how == "min" else "maximum"
    assert (dense.found, dense.predictions) == (True, None)
    assert dense.error is not None and dense.error.startswith("could not be evaluated from its layers: its layer `")
    assert (f"(reduce_{extreme[:3]}) takes a {extreme} over features (axis 2); this lab counts fully-connected "
            f"networks (affine layers and non-linearities), and a {extreme} over a layer's outputs picks the "
            "best-matching stored row, a lookup rather than a layer") in dense.error
    conv = grade(exported, "conv", slot)["mnist_single_model"]  # computed where a lab allows it: the student's own
    with torch.no_grad():
        own = network(torch.tensor(IMAGES[:50] / 255.0, dtype=torch.float32)).argmax(1).numpy()
    assert conv.error is None and conv.predictions is not None
    assert list(conv.predictions) == [int(v) for v in own]


@pytest.mark.parametrize("how", ["getitem", "index_select", "traced"])
def test_a_selection_of_stored_positions_is_refused_in_a_dense_lab_with_the_layer_named(
        harness: dict[str, Any], tmp_path: Path, how: str) -> None:
    exported = export(harness, tmp_path, {"mnist_single_model": TemplateGather(how)})
    slot = SlotRequest("mnist_single_model", "mnist", "single_dense")
    dense = grade(exported, "dense", slot)["mnist_single_model"]
    assert (dense.found, dense.predictions) == (True, None)
    assert dense.error is not None and ("(gather) selects stored positions along axis 1; this lab counts "
                                        "fully-connected networks (affine layers and non-linearities), and selecting "
                                        "among features or stored rows is a lookup rather than a layer") in dense.error
    assert grade(exported, "conv", slot)["mnist_single_model"].predictions is not None
