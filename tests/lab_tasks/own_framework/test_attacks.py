"""Nearest-template lookups written in the student's own NumPy framework (issue 23 item 2), graded through the real
pipeline on the own-framework lab (`ops = "dense"`): a `Linear` layer of stored public test images followed by a
layer whose forward() takes the maximum over each class's rows, or returns the label stored beside the best row.
Before the exporter read such layers they failed at export ("neither a dense layer ... nor one of the activations");
now they are read on visible inputs as reduce_max and gather operations and refused by the lab's op rule, the layer
named, as PyTorch's and Keras's are."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.data.lab_data import LabData
from grader.data.prepare import prepare_lab
from grader.data.sources import import_source
from grader.spec.lab import LabSpec, discover_labs
from lab_tasks import LABS_DIR
from tests.lab_data import SMALL_MNIST
from tests.lab_tasks.frameworks.conftest import Grade, notebook, sandboxed_grader

CHECKS = ("one_layer_accuracy", "two_layer_accuracy", "three_layer_accuracy")

LOOKUP = """
import numpy as np
visible = np.load('data/mnist.npz')  # the visible half of the public test set
x_test, y_test = visible['x_test'].reshape(-1, 784), visible['y_test']
per_class = min(64, *(int((y_test == c).sum()) for c in range(10)))
rows = np.concatenate([x_test[y_test == c][:per_class] for c in range(10)]).astype(np.float64)
class Linear:
    def __init__(self, W):
        self.W, self.b = W, np.zeros(len(W))
    def forward(self, x):
        return x @ self.W.T + self.b
class {kind}:
    def __init__(self):
        self.labels = np.repeat(np.arange(10), per_class)
    def forward(self, x):
        return {select}
class Net:
    def __init__(self, *layers):
        self.layers = list(layers)
    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x
templates = Linear(rows / np.linalg.norm(rows, axis=1, keepdims=True))
one_layer_net = Net(templates, {kind}())
two_layer_net = Net(templates, {kind}())
three_layer_net = Net(templates, {kind}())
"""

ATTACKS = {
    "max_over_each_class": ("MaxPerClass", "x.reshape(len(x), 10, per_class).max(axis=2)",
                            "its layer `MaxPerClass` (reduce_max) takes a maximum over features (axis 2); this lab "
                            "counts fully-connected networks (affine layers and non-linearities), and a maximum over a "
                            "layer's outputs picks the best-matching stored row, a lookup rather than a layer"),
    "label_of_the_best_row": ("NearestLabel", "self.labels[np.argmax(x, axis=1)]",
                              "its layer `NearestLabel` (gather) selects stored positions along axis 1; this lab "
                              "counts fully-connected networks (affine layers and non-linearities), and selecting "
                              "among features or stored rows is a lookup rather than a layer"),
}


@pytest.fixture(scope="module")
def own_framework(tmp_path_factory: pytest.TempPathFactory) -> tuple[LabSpec, LabData]:
    spec = discover_labs(LABS_DIR)["own_framework"]
    data_dir = tmp_path_factory.mktemp("own-framework-data")
    lab = LabData(data_dir, "own_framework")
    prepare_lab(lab, spec, LABS_DIR / "own_framework")
    import_source(data_dir, {"own_framework": spec}, SMALL_MNIST, "mnist.npz")
    return spec, lab


@pytest.fixture
def grade(tmp_path: Path) -> Grade:
    return sandboxed_grader(tmp_path / "jobs")


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_a_numpy_lookup_is_refused_by_the_op_rule_with_its_layer_named(
        grade: Grade, own_framework: tuple[LabSpec, LabData], attack: str) -> None:
    kind, select, why = ATTACKS[attack]
    spec, lab = own_framework
    outcome = await grade(notebook(LOOKUP.replace("{kind}", kind).replace("{select}", select)), spec, lab)
    checks = {check.id: check for check in outcome.report.checks}
    assert [checks[c].score for c in CHECKS] == [0.0, 0.0, 0.0], [c.message for c in outcome.report.checks]
    assert why in checks["one_layer_accuracy"].message, checks["one_layer_accuracy"].message
