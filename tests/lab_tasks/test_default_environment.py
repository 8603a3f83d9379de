"""The default student environment (lab_tasks/environments/default.txt) runs what the curriculum's students write:
each feature a small notebook, graded in the environment the suite builds (`.ci/prepare` runs
`labgrader kernels build default`), in the real sandbox, offline."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_notebook

from grader.data.lab_data import LabData
from grader.kernel.cpu_only import NEEDS_A_GPU
from grader.pipeline import GradingContext, GradingOutcome, grade_notebook
from grader.sandbox.isolation import SandboxConfig
from grader.spec.lab import LabSpec, discover_labs
from lab_tasks import LABS_DIR
from tests.lab_data import frameworks_data
from tests.lab_tasks.bundled import default_python

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs a root worker")]
REPO = Path(__file__).resolve().parents[2]
SMALL_MNIST = REPO / "lab_tasks" / "frameworks" / "testdata" / "mnist-small.npz"

TORCHVISION = """
import torch, torchvision
from torchvision import transforms
from torch.utils.data import DataLoader
transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
train = torchvision.datasets.MNIST(root='./data', train=True, download=True, transform=transform)
test = torchvision.datasets.MNIST(root='./data', train=False, download=True, transform=transform)
loader = DataLoader(train, batch_size=64, shuffle=True)
images, labels = next(iter(loader))
print('torchvision', len(train), len(test), tuple(images.shape), str(labels.dtype))
"""
LIGHTNING = TORCHVISION + """
import lightning as L
import pytorch_lightning as pl
from torch import nn

def lit_module(base):  # the same network for `pytorch_lightning` and for `lightning` (two packages, two bases)
    class Net(base):
        def __init__(self):
            super().__init__()
            self.model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = nn.functional.cross_entropy(self.model(x), y)
            self.log('train_loss', loss)
            return loss
        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-3)
    return Net()

auto = pl.Trainer(accelerator='auto', max_epochs=1, limit_train_batches=5, enable_progress_bar=False)
auto.fit(lit_module(pl.LightningModule), loader)
cpu = L.Trainer(accelerator='cpu', max_epochs=1, limit_train_batches=5, enable_progress_bar=False, logger=False)
cpu.fit(lit_module(L.LightningModule), loader)
print('lightning', type(auto.accelerator).__name__, type(cpu.accelerator).__name__, auto.global_step)
"""
KERAS = """
import numpy as np
from tensorflow import keras
import keras as standalone_keras
labels = np.array([0, 1, 2, 1, 0, 2])
n_values = np.max(labels) + 1
labels_onehot = np.eye(n_values)[labels]
model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(n_values, activation='softmax')])
model.compile(optimizer='adam', loss='categorical_crossentropy')
model.fit(np.random.rand(6, 4), labels_onehot, epochs=1, verbose=0)
other = standalone_keras.Sequential([standalone_keras.Input(shape=(4,)), standalone_keras.layers.Dense(n_values)])
(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
print('keras', standalone_keras.__version__, model.output_shape, other.output_shape, type(n_values).__name__,
      x_train.shape[1:])
"""
PLOTS = """
%matplotlib inline
import matplotlib.pyplot as plt
import seaborn as sns
from sklearn.datasets import load_iris
iris = load_iris(as_frame=True).frame
grid = sns.pairplot(iris, hue='target')
plt.show()
print('plots', type(grid).__name__)
"""
GPU_ONLY = [
    "import torch\nprint(torch.cuda.get_device_name(0))",
    "net = torch.nn.Linear(4, 3).cuda()",
    "import lightning as L\ntrainer = L.Trainer(accelerator='gpu', devices=1)",
]


# the curriculum's perceptron lesson: an ipywidgets slider over training snapshots and `%matplotlib widget` (ipympl);
# graded, the slider's function runs once with its default value and draws with the static inline backend
WIDGETS = """
%matplotlib widget
import ipympl
import ipywidgets as widgets
from ipywidgets import interact
import matplotlib.pyplot as plt
seen = []
def show(step):
    seen.append(step)
    plt.plot([0, step])
    plt.show()
interact(show, step=widgets.IntSlider(value=2, min=0, max=5))
print('widgets', seen, plt.get_backend())
plt.figure()
plt.plot([1, 2])
plt.show()
"""


@pytest.fixture(scope="module", name="default_python")
def default_python_fixture() -> str:
    return default_python()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabData:
    root = tmp_path_factory.mktemp("default-env-data")
    return frameworks_data(root)


@pytest.fixture(scope="module")
def iris_spec() -> LabSpec:
    spec = discover_labs(LABS_DIR)["frameworks"]
    return spec.model_copy(update={"checks": tuple(c for c in spec.checks if c.id == "iris_accuracy")})


async def _grade(sources: list[str], python: str, lab: LabData, spec: LabSpec, tmp_path: Path) -> GradingOutcome:
    ctx = GradingContext(spec=spec, lab_data=lab, jobs_root=tmp_path / "jobs",
                         sandbox=SandboxConfig(kernel_python=python), slot=31,
                         cell_timeout_s=600, notebook_timeout_s=900, harness_timeout_s=300)
    return await grade_notebook(new_notebook(cells=[new_code_cell(s) for s in sources]), ctx)


def _executed(outcome: GradingOutcome) -> NotebookNode:
    return nbformat.reads(outcome.executed_notebook.decode(), as_version=4)  # type: ignore[no-untyped-call]


def _stdout(cell: NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream" and o.name == "stdout")


@pytest.mark.parametrize(("source", "printed"), [
    (TORCHVISION, r"^torchvision 6000 1000 \(64, 1, 28, 28\) torch\.int64$"),
    (LIGHTNING, r"^lightning CPUAccelerator CPUAccelerator 5$"),
    # Keras 3.12 keeps the NumPy integer it was given as the layer's size
    (KERAS, r"^keras 3\.12\.4 \(None, np\.int64\(3\)\) \(None, np\.int64\(3\)\) int64 \(28, 28\)$"),
    (PLOTS, r"^plots PairGrid$"),
    (WIDGETS, r"^widgets \[2\] module://matplotlib_inline\.backend_inline$"),
], ids=["torchvision-mnist-download-offline", "lightning-auto-and-cpu", "keras-numpy-int-units", "inline-pairplot",
        "widgets-drawn-inline"])
async def test_the_curriculums_code_runs_in_the_default_environment(
        source: str, printed: str, default_python: str, lab: LabData, iris_spec: LabSpec, tmp_path: Path) -> None:
    outcome = await _grade([source], default_python, lab, iris_spec, tmp_path)
    assert [e.describe() for e in outcome.report.cell_errors] == []
    assert outcome.report.execution_note == ""
    cell = _executed(outcome).cells[0]
    lines = _stdout(cell).strip().splitlines()
    assert lines and re.match(printed, lines[-1]), _stdout(cell)[-2000:]
    if source is PLOTS or source is WIDGETS:
        assert any("image/png" in o.get("data", {}) for o in cell.outputs), json.dumps(cell.outputs)[:500]


async def test_gpu_only_code_in_the_default_environment_is_named_cell_by_cell(
        default_python: str, lab: LabData, iris_spec: LabSpec, tmp_path: Path) -> None:
    outcome = await _grade(GPU_ONLY, default_python, lab, iris_spec, tmp_path)
    errors = outcome.report.cell_errors
    assert [e.cell_index for e in errors] == [0, 1, 2]
    assert all(NEEDS_A_GPU.search(f"{e.ename}: {e.evalue}") for e in errors), [e.describe() for e in errors]
    assert outcome.report.execution_note.startswith(f"cell 1 needs a GPU ({errors[0].ename}: ")
    assert "but this lab is graded on CPU workers" in outcome.report.execution_note
