"""Every way students write an honest network is evaluated (issue 23): each idiom a small notebook graded through the
real pipeline (real kernel, two epochs on the small MNIST). Shape arithmetic in forward(), ModuleList loops,
functional calls, Lightning modules, Keras subclassed and functional models: each earns what the network computes,
and the report says how it was exported and that the export agrees with the student's own forward()."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.data.lab_data import LabData
from grader.pipeline import GradingContext, grade_notebook
from grader.sandbox.isolation import SandboxConfig
from grader.spec.lab import LabSpec
from tests.lab_tasks.bundled import default_python
from tests.lab_tasks.frameworks import notebook_cells as cells
from tests.lab_tasks.frameworks.conftest import notebook

pytestmark = pytest.mark.slow

TORCH_FORWARD = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x):
        return self.net({flatten})

mnist_multi_model = Net()
mnist_multi_history = train(mnist_multi_model, 2)
"""

MODULE_LIST = """
class Net(nn.Module):
    def __init__(self, sizes=(784, 64, 10)):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))

    def forward(self, x):
        x = x.view(x.size(0), -1)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = nn.functional.relu(x)
        return nn.functional.log_softmax(x, dim=1)

mnist_multi_model = Net()
mnist_multi_history = train(mnist_multi_model, 2)
"""

FUNCTIONAL = """
import torch.nn.functional as F

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(64, 784) * 0.03)
        self.b1 = nn.Parameter(torch.zeros(64))
        self.w2 = nn.Parameter(torch.randn(10, 64) * 0.1)

    def forward(self, x):
        return F.linear(F.relu(F.linear(x.view(len(x), -1), self.w1, self.b1)), self.w2)

mnist_multi_model = Net()
mnist_multi_history = train(mnist_multi_model, 2)
"""

LIGHTNING = """
import lightning as L

class Classifier(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x):
        return self.net(x.view(len(x), -1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)

mnist_multi_model = Classifier()
mnist_multi_history = train(mnist_multi_model, 2)
"""

KERAS_MNIST = """
import keras
(x_train, y_train), (x_test, y_test) = labdata.load_mnist(flatten=True, scale=True)
{model}
mnist_multi_model.compile(optimizer='adam', loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
mnist_multi_history = mnist_multi_model.fit(x_train, y_train, epochs=2, batch_size=100,
                                            validation_data=(x_test, y_test), verbose=0)
"""

KERAS_SUBCLASSED = """
class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(64, activation='relu')
        self.out = keras.layers.Dense(10)

    def call(self, x):
        return self.out(self.hidden(x))

mnist_multi_model = Net()
"""

KERAS_FUNCTIONAL = """
inputs = keras.Input((784,))
hidden = keras.layers.Dense(64, activation='relu')(inputs)
mnist_multi_model = keras.Model(inputs, keras.layers.Dense(10)(hidden))
"""

TORCH_PATH = "torch.export on visible inputs (torch.fx could not trace it)"
IDIOMS = {
    "len": (TORCH_FORWARD.format(flatten="x.view(len(x), -1)"), TORCH_PATH),
    "size": (TORCH_FORWARD.format(flatten="x.view(x.size(0), -1)"), None),
    "shape": (TORCH_FORWARD.format(flatten="x.reshape(x.shape[0], -1)"), None),
    "torch.flatten": (TORCH_FORWARD.format(flatten="torch.flatten(x, 1)"), None),
    "view(-1, 784)": (TORCH_FORWARD.format(flatten="x.view(-1, 784)"), None),
    "ModuleList": (MODULE_LIST, None),
    "functional": (FUNCTIONAL, TORCH_PATH),
    "Lightning": (LIGHTNING, TORCH_PATH),
    "Keras subclassed": (KERAS_MNIST.format(model=KERAS_SUBCLASSED),
                         "its Keras layers in order, checked against its call() on visible inputs"),
    "Keras functional": (KERAS_MNIST.format(model=KERAS_FUNCTIONAL), None),
}


@pytest.mark.parametrize("idiom", list(IDIOMS))
async def test_an_honest_idiom_earns_what_its_network_computes(tmp_path: Path, small_spec: LabSpec,
                                                               small_lab: LabData, idiom: str) -> None:
    source, path = IDIOMS[idiom]
    # the default student environment: Lightning is there, not in the service's interpreter
    ctx = GradingContext(spec=small_spec, lab_data=small_lab, jobs_root=tmp_path / "jobs",
                         sandbox=SandboxConfig(kernel_python=default_python()))
    outcome = await grade_notebook(notebook(cells.TORCH_IRIS, cells.TORCH_MNIST, source), ctx)
    check = next(c for c in outcome.report.checks if c.id == "mnist_multi_layer_accuracy")
    assert check.score > 0, check.message
    assert "could not be evaluated" not in check.message
    line = next(line for line in outcome.report.discovery if line.startswith("multi-layer MNIST model: "))
    assert line.startswith("multi-layer MNIST model: `mnist_multi_model` (contract name; "), line
    if path is None:
        assert "exported by" not in line, line
    else:
        assert f"; exported by {path}; agrees with its forward() on 16 visible inputs)" in line, line
